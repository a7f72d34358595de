"""Sampling from a `DataModel`: rows from the copula, labels from the teacher.

    cells = sample_cells(model, n, rng)                 # per column: floats (NaN = empty) or levels
    raw = model.head.teacher.raw(encode(model.columns, cells))
    labels = draw_labels(model.head, raw, rng)          # class indices or target values, and the oracle

Rows: normal scores z ~ N(0, correlation), u = Phi(z), each column's inverse CDF at u
(interpolated quantiles, or the discrete values' cumulative frequencies), then one joint
missingness pattern per row. `shift` moves chosen columns' normal scores on chosen rows (the
covariate-shift mutation) before the inverse CDFs, so shifted rows stay on the marginal's
support. Everything draws from the one numpy Generator passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from sandmle.synth.twin.model import QUANTILE_POINTS, ColumnModel, DataModel, LabelHead

PROBS = np.linspace(0.0, 1.0, QUANTILE_POINTS)
ORACLE_DRAWS = 64


def normal_draws(correlation: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, d) draws of N(0, correlation)."""
    corr = np.asarray(correlation, dtype=float)
    for jitter in (0.0, 1e-6, 1e-4, 1e-2):
        try:
            chol = np.linalg.cholesky(corr + jitter * np.eye(len(corr)))
            break
        except np.linalg.LinAlgError:
            continue
    else:
        raise ValueError("the copula correlation is not positive definite")
    return rng.standard_normal((n, len(corr))) @ chol.T


def column_values(col: ColumnModel, u: np.ndarray) -> np.ndarray:
    """The column's inverse CDF at probabilities u: floats, or an object array of levels."""
    if col.is_discrete:
        cum = np.cumsum(col.probs)
        idx = np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(col.values) - 1)
        if col.kind == "categorical":
            return np.array(col.values, dtype=object)[idx]
        return np.asarray(col.values, dtype=float)[idx]
    values = np.interp(u, PROBS, np.asarray(col.quantiles, dtype=float))
    if col.kind == "datetime":
        return np.round(values) if col.decimals else np.round(values / 86400.0) * 86400.0
    return np.round(values, col.decimals)


def sample_cells(model: DataModel, n: int, rng: np.random.Generator,
                 shift: dict[int, float] | None = None, shift_rows: np.ndarray | None = None) -> list[np.ndarray]:
    """n rows of the model's columns (file order); `shift` maps a column index to a shift of
    its normal scores, applied to `shift_rows` (a boolean mask)."""
    z = normal_draws(np.asarray(model.correlation), n, rng)
    for j, amount in (shift or {}).items():
        z[shift_rows, j] += amount
    u = np.clip(ndtr(z), 1e-9, 1 - 1e-9)
    cells = [column_values(col, u[:, j]) for j, col in enumerate(model.columns)]
    empty = missing_mask(model, n, rng)
    for j, col in enumerate(model.columns):
        if empty[:, j].any():
            if col.kind == "categorical":
                cells[j] = cells[j].copy()
                cells[j][empty[:, j]] = None
            else:
                cells[j] = np.where(empty[:, j], np.nan, cells[j])
    return cells


def missing_mask(model: DataModel, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, columns) bool: one joint pattern per row, drawn with the patterns' shares."""
    mask = np.zeros((n, len(model.columns)), dtype=bool)
    if not model.missing:
        return mask
    shares = np.array([share for _, share in model.missing] + [max(0.0, 1 - sum(s for _, s in model.missing))])
    pick = rng.choice(len(shares), size=n, p=shares / shares.sum())
    for k, (cols, _) in enumerate(model.missing):
        rows = pick == k
        for j in cols:
            mask[rows, j] = True
    return mask


# ---- labels ----------------------------------------------------------------------------------

def class_probs(kind: str, raw: np.ndarray, temperature: float, bias: np.ndarray) -> np.ndarray:
    """(n, classes) probabilities from teacher logits (binary: one logit column)."""
    logits = raw / temperature + bias
    if kind == "binary":
        p1 = 1.0 / (1.0 + np.exp(-np.clip(logits[:, 0], -40, 40)))
        return np.stack([1 - p1, p1], axis=1)
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def bias_for_shares(kind: str, raw: np.ndarray, temperature: float, shares: np.ndarray) -> np.ndarray:
    """Per-class offsets so that the mean probabilities over `raw`'s rows equal `shares`."""
    shares = np.asarray(shares, dtype=float)
    if kind == "binary":
        low, high = -40.0, 40.0
        for _ in range(60):
            mid = (low + high) / 2
            if class_probs(kind, raw, temperature, np.array([mid]))[:, 1].mean() < shares[1]:
                low = mid
            else:
                high = mid
        return np.array([(low + high) / 2])
    bias = np.log(shares)
    for _ in range(200):
        mean = class_probs(kind, raw, temperature, bias).mean(axis=0)
        step = np.log(shares / np.maximum(mean, 1e-12))
        bias = bias + step
        if np.abs(step).max() < 1e-6:
            break
    return bias


def noise_grid(residuals) -> np.ndarray:
    """ORACLE_DRAWS evenly spaced quantiles of the residual distribution (deterministic)."""
    return np.interp((np.arange(ORACLE_DRAWS) + 0.5) / ORACLE_DRAWS, PROBS, np.asarray(residuals, dtype=float))


def target_values(head: LabelHead, z: np.ndarray) -> np.ndarray:
    """Normal scores -> the real target's units through its quantiles."""
    return np.interp(ndtr(z / head.z_sd), PROBS, np.asarray(head.target_quantiles, dtype=float))


def matched_grades(score: np.ndarray, shares) -> np.ndarray:
    """Grades of rows ranked by `score`, cut so that each grade takes its share of the rows:
    the noise-free prediction a kappa metric rewards (it scores agreement beyond the grades'
    distribution, so a prediction with the true distribution beats rounded expectations)."""
    cuts = np.quantile(score, np.clip(np.cumsum(shares)[:-1], 0.0, 1.0))
    return np.searchsorted(cuts, score)


def grade_index(head: LabelHead, z: np.ndarray) -> np.ndarray:
    cuts = ndtri(np.clip(np.cumsum(head.shares)[:-1], 1e-9, 1 - 1e-9)) * head.z_sd
    return np.searchsorted(cuts, z)


@dataclass(frozen=True)
class Labels:
    values: np.ndarray      # class indices (classification, ordinal) or target values (regression)
    oracle: np.ndarray      # class probabilities (n, classes), expected grades, or expected values
    probs: np.ndarray | None = None
    score: np.ndarray | None = None     # ordinal: the noise-free normal score of each row


def draw_labels(head: LabelHead, raw: np.ndarray, rng: np.random.Generator) -> Labels:
    """Labels of rows with teacher outputs `raw`, with the head's calibrated noise."""
    if head.kind in ("binary", "multiclass"):
        p = class_probs(head.kind, raw, head.temperature, np.asarray(head.bias, dtype=float))
        y = (p.cumsum(axis=1) < rng.random((len(p), 1))).sum(axis=1).clip(0, p.shape[1] - 1)
        return Labels(y, p, p)
    e = np.interp(rng.random(len(raw)), PROBS, np.asarray(head.residuals, dtype=float))
    z = raw[:, 0] + head.noise_scale * e
    grid = raw[:, :1] + head.noise_scale * noise_grid(head.residuals)[None, :]
    if head.kind == "ordinal":
        expected = grade_index(head, grid).mean(axis=1)
        return Labels(grade_index(head, z), np.rint(expected).astype(int), score=raw[:, 0])
    values = target_values(head, z)
    return Labels(values, target_values(head, grid).mean(axis=1))
