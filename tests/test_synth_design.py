"""Designs and repairs: a failed verification becomes a larger test set or a stronger signal."""
from __future__ import annotations

import pytest

from sandmle.synth.design import MAX_SIGNAL, MAX_TEST_SCALE, SIGNAL_STEP, TEST_MARGIN, Design, repair
from sandmle.synth.generated import generate_task
from sandmle.synth.seeds import select_seeds


def margins(*ratios):
    return [(f"pair{i}", r * 0.01, 0.01) for i, r in enumerate(ratios)]


def test_separation_asks_for_the_test_size_the_measured_ratio_needs():
    design = repair(Design(), ["tiers_separable"], margins(0.8, 2.0, 3.0))
    assert design.test_scale == pytest.approx((TEST_MARGIN / 0.8) ** 2, rel=1e-3)
    assert design.signal == 1.0 and design.reason == "tiers_separable"


def test_past_the_test_cap_the_signal_grows():
    design = repair(Design(test_scale=2.0), ["tiers_separable"], margins(0.4))
    assert design.test_scale == MAX_TEST_SCALE and design.signal == SIGNAL_STEP


def test_tied_thresholds_grow_both():
    design = repair(Design(), ["thresholds_monotone", "tiers_separable"], margins(0.0, 1.0))
    assert design.test_scale == 2.0 and design.signal == SIGNAL_STEP


def test_a_constant_near_the_median_asks_for_a_stronger_signal():
    design = repair(Design(test_scale=1.5), ["sample_below_median"], None)
    assert (design.test_scale, design.signal) == (1.5, SIGNAL_STEP)


def test_failures_no_design_fixes_and_exhausted_knobs_give_none():
    assert repair(Design(), ["no_answer_leak"], None) is None
    assert repair(Design(), ["tiers_separable", "no_duplicate_rows"], margins(0.5)) is None
    assert repair(Design(), [], None) is None
    assert repair(Design(test_scale=MAX_TEST_SCALE, signal=MAX_SIGNAL), ["tiers_separable"], margins(0.3)) is None


def test_design_bounds_are_checked():
    with pytest.raises(ValueError):
        Design(test_scale=0.0)
    with pytest.raises(ValueError):
        Design(signal=float("nan"))


@pytest.mark.parametrize("seed_id", ["tabular-binary-accuracy", "forecast-daily-multi-rmse", "graph-node-binary-auc"])
def test_a_design_keeps_the_task_and_changes_only_its_size_and_signal(seed_id):
    seed = select_seeds(seed_id)[0]
    plain = generate_task(seed, 3)
    larger = generate_task(seed, 3, design=Design(test_scale=2.0))
    assert (larger.domain, larger.spec.title, larger.spec.target_columns) == (plain.domain, plain.spec.title,
                                                                             plain.spec.target_columns)
    assert larger.spec.test_rows > 1.5 * plain.spec.test_rows
    assert larger.spec.lineage.extra["design"]["test_scale"] == 2.0
    again = generate_task(seed, 3, design=Design(test_scale=2.0))
    assert again.public_files == larger.public_files             # a design is reproducible


def test_a_leaderboard_at_the_oracle_gets_a_weaker_signal():
    from sandmle.synth.design import headroom

    assert headroom(0.5, 0.99, 1.0) == pytest.approx(0.02)
    assert headroom(1.0, 0.2, 0.1) == pytest.approx(0.1 / 0.9)     # lower is better: the same formula
    assert headroom(0.5, 0.6, 0.5) is None
    crowded = repair(Design(test_scale=3.0), ["tiers_separable"], margins(0.5), room=0.02)
    assert crowded.signal == pytest.approx(1 / SIGNAL_STEP, abs=1e-3) and crowded.test_scale == MAX_TEST_SCALE
