"""The MLE-bench medal rule: every band of the table, band edges, both directions, tiers."""
from __future__ import annotations

import math
import random
import statistics
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandmle.errors import UserError
from sandmle.leaderboard import medal_ranks, medal_thresholds, tier_of
from sandmle.task import Thresholds


def table_ranks(n: int) -> tuple[int, int, int]:
    """REFERENCE §4 written out with exact fractions: the oracle for medal_ranks."""
    floor = lambda share: math.floor(Fraction(share) * n)  # noqa: E731
    if n < 100:
        return max(1, floor("0.1")), max(1, floor("0.2")), max(1, floor("0.4"))
    if n < 250:
        return 10, max(1, floor("0.2")), max(1, floor("0.4"))
    if n < 1000:
        return 10 + floor("0.002"), 50, 100
    return 10 + floor("0.002"), max(1, floor("0.05")), max(1, floor("0.1"))


@pytest.mark.parametrize("n, ranks", [
    (1, (1, 1, 1)), (2, (1, 1, 1)), (4, (1, 1, 1)), (5, (1, 1, 2)), (9, (1, 1, 3)),
    (10, (1, 2, 4)), (19, (1, 3, 7)), (20, (2, 4, 8)), (99, (9, 19, 39)),
    (100, (10, 20, 40)), (101, (10, 20, 40)), (249, (10, 49, 99)),
    (250, (10, 50, 100)), (499, (10, 50, 100)), (500, (11, 50, 100)), (999, (11, 50, 100)),
    (1000, (12, 50, 100)), (1019, (12, 50, 101)), (1020, (12, 51, 102)), (1500, (13, 75, 150)),
])
def test_medal_ranks_band_edges(n, ranks):
    assert medal_ranks(n) == ranks


def test_medal_ranks_match_the_table_for_every_n_up_to_1500():
    for n in range(1, 1501):
        gold, silver, bronze = medal_ranks(n)
        assert (gold, silver, bronze) == table_ranks(n), n
        assert 1 <= gold <= silver <= bronze <= n, n


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_medal_ranks_reject_non_positive_counts(bad):
    with pytest.raises(UserError):
        medal_ranks(bad)


@pytest.mark.parametrize("is_lower_better", [False, True])
def test_thresholds_are_the_scores_at_the_medal_ranks(is_lower_better):
    rng = random.Random(0)
    for n in list(range(1, 120)) + [249, 250, 251, 499, 500, 999, 1000, 1001, 1500]:
        scores = [float(i) for i in range(1, n + 1)]    # distinct: rank r holds a known score
        rng.shuffle(scores)
        t = medal_thresholds(scores, is_lower_better)
        best_first = sorted(scores, reverse=not is_lower_better)
        gold, silver, bronze = table_ranks(n)
        assert t.gold == best_first[gold - 1]
        assert t.silver == best_first[silver - 1]
        assert t.bronze == best_first[bronze - 1]
        assert t.median == statistics.median(scores)


def test_higher_is_better_thresholds_worked_example():
    scores = [0.91, 0.5, 0.75, 0.8, 0.6, 0.85, 0.7, 0.65, 0.55, 0.9]   # N=10: ranks 1, 2, 4
    assert medal_thresholds(scores, False) == Thresholds(median=0.725, bronze=0.8, silver=0.9, gold=0.91)


def test_lower_is_better_thresholds_worked_example():
    scores = [0.91, 0.5, 0.75, 0.8, 0.6, 0.85, 0.7, 0.65, 0.55, 0.9]
    assert medal_thresholds(scores, True) == Thresholds(median=0.725, bronze=0.65, silver=0.55, gold=0.5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0.0, 1.0]), min_size=1, max_size=300),
       st.booleans())
def test_thresholds_are_monotone_in_the_metric_direction(scores, is_lower_better):
    t = medal_thresholds(scores, is_lower_better)
    sign = -1.0 if is_lower_better else 1.0
    ordered = [sign * v for v in t.as_tuple()]    # median, bronze, silver, gold
    assert all(a <= b for a, b in zip(ordered, ordered[1:]))


def test_median_of_huge_scores_does_not_overflow():
    assert medal_thresholds([1e308, 1.5e308], False).median == pytest.approx(1.25e308)


@pytest.mark.parametrize("scores", [[], [1.0, math.nan], [math.inf]])
def test_thresholds_reject_empty_or_non_finite_leaderboards(scores):
    with pytest.raises(UserError):
        medal_thresholds(scores, False)


HIGH = Thresholds(median=0.5, bronze=0.6, silver=0.7, gold=0.8)
LOW = Thresholds(median=0.5, bronze=0.4, silver=0.3, gold=0.2)


@pytest.mark.parametrize("score, tier", [
    (0.95, "gold"), (0.8, "gold"), (0.79999, "silver"), (0.7, "silver"), (0.6, "bronze"),
    (0.55, "above_median"), (0.50001, "above_median"), (0.5, "none"), (0.1, "none"),
])
def test_tier_higher_is_better(score, tier):
    assert tier_of(score, HIGH, False) == tier


@pytest.mark.parametrize("score, tier", [
    (0.0, "gold"), (0.2, "gold"), (0.20001, "silver"), (0.3, "silver"), (0.4, "bronze"),
    (0.45, "above_median"), (0.49999, "above_median"), (0.5, "none"), (0.9, "none"),
])
def test_tier_lower_is_better(score, tier):
    assert tier_of(score, LOW, True) == tier


def test_medals_are_exclusive_when_thresholds_tie():
    tied = Thresholds(median=0.5, bronze=0.9, silver=0.9, gold=0.9)
    assert tier_of(0.9, tied, False) == "gold"
    assert tier_of(0.89, tied, False) == "above_median"


def test_a_score_equal_to_every_threshold_is_gold():
    flat = Thresholds(1.0, 1.0, 1.0, 1.0)     # one-team leaderboard
    assert tier_of(1.0, flat, False) == "gold"
    assert tier_of(0.9, flat, False) == "none"
    assert tier_of(0.9, flat, True) == "gold"


def test_nan_score_reaches_no_tier():
    assert tier_of(math.nan, HIGH, False) == "none"
    assert tier_of(math.nan, LOW, True) == "none"
