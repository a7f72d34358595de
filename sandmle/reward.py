"""Rewards for RL episodes from their grades (REFERENCE §6).

Three schemes, each adding 0.1 * format_rate, where format_rate is the share of assistant
turns with a non-empty <think> block:
- "paper" (cumulative milestones, weights sum to 1): 0.3 for a valid score, then 0.1 at
  the median, 0.2 at bronze, 0.2 at silver and 0.1 at gold, each tier reached adding its
  weight.
- "release" (the released code's dense reward): 0.2 for a valid score plus only the
  highest tier reached: median 0.1, bronze 0.5, silver 0.6, gold 0.7.
- "sparse" (the paper's ablation): 0.9 for a valid score at gold.
The tier is MLE-bench's (`sandmle.leaderboard.tier_of`): a medal when the score is at least
as good as its threshold (equal counts), "above median" only when strictly better than the
median, so a score tying the median earns the valid term alone, as its tier "none" says.
An invalid or missing submission earns only the format term, and so does a copy of the
task's sample submission (`Grade.sample_copy`: graded valid, as MLE-bench grades it, but
the task's placeholder earns no credit as a prediction of the agent's).

`compute_rewards` scores a batch with the compiled kernel (sandmle._native.reward);
`reward_for_grade` scores one sandmle.grading.Grade, or None for no submission.
"""
from __future__ import annotations

import numpy as np

from sandmle.errors import UserError, native_module

_kernel = native_module("reward", "reward kernel")

SCHEMES = ("paper", "release", "sparse")


def _scheme_code(scheme: str) -> int:
    try:
        return SCHEMES.index(scheme)
    except ValueError:
        raise UserError(f"unknown reward scheme {scheme!r}; choose one of "
                        f"{', '.join(SCHEMES)}") from None


def _flags(x, n: int, role: str) -> np.ndarray:
    a = np.asarray(x)
    if a.shape != (n,):
        raise UserError(f"{role} has shape {a.shape}, expected ({n},)")
    if a.dtype != np.bool_:
        if a.dtype.kind not in "iuf" or not np.isin(a, (0, 1)).all():
            raise UserError(f"{role} must hold booleans, got {a.dtype}")
        a = a.astype(np.bool_)
    return np.ascontiguousarray(a).view(np.uint8)


def _floats(x, shape: tuple | None, role: str) -> np.ndarray:
    """x as contiguous float64 of `shape` (None: any 1-D shape)."""
    try:
        a = np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{role} must be numeric ({exc})") from None
    wrong = a.ndim != 1 if shape is None else a.shape != shape
    if wrong:
        raise UserError(f"{role} has shape {a.shape}, expected {shape or '(n,)'}")
    return a


def compute_rewards(valid, score, thresholds, is_lower_better, format_rate,
                    scheme: str = "paper") -> np.ndarray:
    """Rewards of n episodes as float64 (n,).

    valid: bool (n,); score: float (n,), ignored (NaN allowed) where not valid;
    thresholds: (n, 4) as (median, bronze, silver, gold); is_lower_better: bool (n,);
    format_rate: float (n,) in [0, 1].
    """
    code = _scheme_code(scheme)
    score = _floats(score, None, "score")
    n = score.shape[0]
    valid_u8 = _flags(valid, n, "valid")
    lower_u8 = _flags(is_lower_better, n, "is_lower_better")
    thresholds = _floats(thresholds, (n, 4), "thresholds")
    format_rate = _floats(format_rate, (n,), "format_rate")
    bad = np.flatnonzero(valid_u8.astype(bool) & ~np.isfinite(score))
    if bad.size:
        raise UserError(f"score[{bad[0]}] is {score[bad[0]]} for a valid episode; "
                        "valid scores must be finite")
    bad = np.flatnonzero(~np.isfinite(thresholds).all(axis=1))
    if bad.size:
        raise UserError(f"thresholds[{bad[0]}] is {thresholds[bad[0]].tolist()}; "
                        "thresholds must be finite")
    bad = np.flatnonzero(~((format_rate >= 0.0) & (format_rate <= 1.0)))
    if bad.size:
        raise UserError(f"format_rate[{bad[0]}] is {format_rate[bad[0]]}; it must be in [0, 1]")
    out = np.empty(n, dtype=np.float64)
    _kernel.rewards(valid_u8, score, thresholds, lower_u8, format_rate, code, out)
    return out


def reward_for_grade(grade, format_rate: float, scheme: str = "paper") -> float:
    """Reward of one episode from its grade (fields valid, score, thresholds,
    is_lower_better, sample_copy), or from None when the episode left no submission."""
    if grade is None:
        valid, score, thresholds, lower = False, float("nan"), (0.0, 0.0, 0.0, 0.0), False
    else:
        valid = bool(grade.valid) and not grade.sample_copy
        score = float("nan") if grade.score is None else float(grade.score)
        thresholds = grade.thresholds.as_tuple()
        lower = bool(grade.is_lower_better)
    out = compute_rewards(np.array([valid]), np.array([score]), np.array([thresholds]),
                          np.array([lower]), [format_rate],
                          scheme)
    return float(out[0])
