"""Medal thresholds from a leaderboard: MLE-bench's Kaggle progression rule (REFERENCE §4).

    thresholds = medal_thresholds(scores, is_lower_better)
    tier_of(score, thresholds, is_lower_better)   # "gold" | "silver" | "bronze" | "above_median" | "none"

With N scores sorted best first, each medal's threshold is the score at a rank that depends
on N (`medal_ranks`); the median threshold is the leaderboard's median. Medals are exclusive
(gold beats silver beats bronze); a score reaches a medal tier when it is at least as good as
the threshold, and is "above median" only when strictly better than the median.
Ranks use exact integer floors, so no float rounding can move a boundary.
"""
from __future__ import annotations

import math
from typing import Iterable

from sandmle.errors import UserError
from sandmle.task import Thresholds

TIERS = ("gold", "silver", "bronze", "above_median", "none")   # best first
MEDAL_TIERS = ("gold", "silver", "bronze")


def medal_ranks(num_teams: int) -> tuple[int, int, int]:
    """1-based leaderboard ranks (gold, silver, bronze) whose scores set the medal thresholds."""
    n = num_teams
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"a leaderboard needs at least one team, got num_teams={num_teams!r}")
    if n < 100:
        return max(1, n // 10), max(1, n // 5), max(1, 2 * n // 5)
    if n < 250:
        return 10, max(1, n // 5), max(1, 2 * n // 5)
    if n < 1000:
        return 10 + n // 500, 50, 100
    return 10 + n // 500, max(1, n // 20), max(1, n // 10)


def medal_thresholds(scores: Iterable[float], is_lower_better: bool) -> Thresholds:
    """Median, bronze, silver and gold thresholds of a leaderboard of (finite) scores."""
    values = [float(s) for s in scores]
    if not values:
        raise UserError("cannot set medal thresholds from an empty leaderboard")
    bad = [s for s in values if not math.isfinite(s)]
    if bad:
        raise UserError(f"leaderboard scores must be finite, got {bad[0]!r}")
    ranked = sorted(values, reverse=not is_lower_better)      # best first
    gold, silver, bronze = (ranked[rank - 1] for rank in medal_ranks(len(ranked)))
    return Thresholds(median=_median(ranked), bronze=bronze, silver=silver, gold=gold)


def tier_of(score: float, thresholds: Thresholds, is_lower_better: bool) -> str:
    """The best tier `score` reaches; "none" for a NaN score."""
    if math.isnan(score):
        return "none"

    def at_least(threshold: float) -> bool:
        return score <= threshold if is_lower_better else score >= threshold

    if at_least(thresholds.gold):
        return "gold"
    if at_least(thresholds.silver):
        return "silver"
    if at_least(thresholds.bronze):
        return "bronze"
    beats_median = score < thresholds.median if is_lower_better else score > thresholds.median
    return "above_median" if beats_median else "none"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    low, high = ordered[mid - 1], ordered[mid]
    middle = (low + high) / 2.0
    return middle if math.isfinite(middle) else low / 2.0 + high / 2.0   # no overflow near 1e308
