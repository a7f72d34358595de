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

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sandmle.errors import UserError
from sandmle.task import Thresholds, write_text_atomic

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


def mlebench_thresholds(scores: list[float], is_lower_better: bool) -> Thresholds:
    """Thresholds as MLE-bench's `Grader.rank_score` sets them from a stored leaderboard:
    the scores at the medal ranks counted in file order (Kaggle's export is best first) and
    the median of the scores (missing ones skipped, as pandas' median does)."""
    if not scores:
        raise UserError("cannot set medal thresholds from an empty leaderboard")
    gold, silver, bronze = (float(scores[rank - 1]) for rank in medal_ranks(len(scores)))
    finite = [s for s in scores if math.isfinite(s)]
    if not finite or not all(math.isfinite(v) for v in (gold, silver, bronze)):
        raise UserError("the leaderboard has no score at a medal rank")
    return Thresholds(median=_median(finite), bronze=bronze, silver=silver, gold=gold)


def human_rank(score: float, scores: Iterable[float], is_lower_better: bool) -> float:
    """MLE-Dojo's HumanRank (its leaderboard "position score"): the share of leaderboard
    entries the score is at least as good as, (N - entries strictly better) / N; 0.0 for a
    NaN score. Source: MLE-Dojo, mledojo/gym/interface.py `_calculate_leaderboard_position`."""
    values = [float(s) for s in scores if math.isfinite(s)]
    if not values:
        raise UserError("HumanRank needs a leaderboard with at least one score")
    if math.isnan(score):
        return 0.0
    better = sum(1 for s in values if (s < score if is_lower_better else s > score))
    return (len(values) - better) / len(values)


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


# -- a leaderboard of named entries (calibration, from-csv baselines) ------------------------

LEADERBOARD_COLUMNS = ("name", "family", "strength", "score", "valid", "wall_s", "reason")
MIN_VALID = 10            # fewer valid scores than this gives no meaningful medal ranks


@dataclass(frozen=True)
class Entry:
    """One row of a simulated leaderboard."""

    name: str
    family: str
    strength: str
    score: float | None
    valid: bool
    wall_s: float
    reason: str | None = None


@dataclass(frozen=True)
class Leaderboard:
    """A task's simulated leaderboard, best entry first, invalid entries last."""

    entries: tuple[Entry, ...]
    is_lower_better: bool
    thresholds: Thresholds | None     # None when fewer than `min_valid` entries are valid
    min_valid: int = MIN_VALID

    @property
    def valid_entries(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.valid)

    @property
    def scores(self) -> list[float]:
        return [e.score for e in self.valid_entries]

    @property
    def problem(self) -> str | None:
        """Why this leaderboard cannot calibrate a task, or None."""
        if self.thresholds is not None:
            return None
        reasons = sorted({e.reason.splitlines()[0][:80] for e in self.entries if not e.valid and e.reason})
        hint = f" (e.g. {reasons[0]})" if reasons else ""
        return (f"only {len(self.valid_entries)} of {len(self.entries)} reference solutions "
                f"scored (need {self.min_valid}){hint}")

    def median_entry(self) -> Entry | None:
        """The valid entry whose score is nearest the median threshold."""
        if self.thresholds is None:
            return None
        target = self.thresholds.median
        return min(self.valid_entries, key=lambda e: (abs(e.score - target), e.name))

    def tier_entries(self) -> dict[str, Entry]:
        """The entry whose score sets each threshold: the medal-rank entries and the entry
        nearest the median (empty without thresholds)."""
        if self.thresholds is None:
            return {}
        valid = self.valid_entries
        gold, silver, bronze = medal_ranks(len(valid))
        return {"median": self.median_entry(), "bronze": valid[bronze - 1], "silver": valid[silver - 1],
                "gold": valid[gold - 1]}

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(LEADERBOARD_COLUMNS)
        for e in self.entries:
            writer.writerow([e.name, e.family, e.strength, "" if e.score is None else repr(e.score),
                             int(e.valid), f"{e.wall_s:.4f}", e.reason or ""])
        return out.getvalue()

    def write_csv(self, path: Path) -> None:
        write_text_atomic(Path(path), self.to_csv())


def read_leaderboard(path: Path, is_lower_better: bool, min_valid: int = MIN_VALID) -> Leaderboard:
    """Load a leaderboard.csv written by `Leaderboard.write_csv` and recompute its thresholds."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    entries = tuple(
        Entry(name=r["name"], family=r["family"], strength=r["strength"],
              score=float(r["score"]) if r["score"] else None, valid=r["valid"] == "1",
              wall_s=float(r["wall_s"]), reason=r.get("reason") or None)
        for r in rows)
    return make_leaderboard(entries, is_lower_better, min_valid)


def make_leaderboard(entries: Iterable[Entry], is_lower_better: bool, min_valid: int = MIN_VALID) -> Leaderboard:
    """Sort entries best first (ties by name) and apply the medal rule to the valid scores."""
    entries = list(entries)
    sign = 1.0 if is_lower_better else -1.0
    valid = sorted((e for e in entries if e.valid), key=lambda e: (sign * e.score, e.name))
    invalid = sorted((e for e in entries if not e.valid), key=lambda e: e.name)
    thresholds = None
    if len(valid) >= max(min_valid, 1):
        thresholds = medal_thresholds([e.score for e in valid], is_lower_better)
    return Leaderboard(entries=tuple(valid + invalid), is_lower_better=is_lower_better,
                       thresholds=thresholds, min_valid=min_valid)
