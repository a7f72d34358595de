"""The synthesis pipeline: planning, the funnel, the bank's files and resumption."""
from __future__ import annotations

import json

import pytest

from sandmle.errors import UserError
from sandmle.synth.pipeline import (FUNNEL_FILE, REJECTED_FILE, STAGING_DIR, Outcome, _prepare_bank,
                                    compute_funnel, derive_seed, plan_tasks, read_rejected, task_id_for,
                                    write_funnel)


def test_plan_is_round_robin_and_deterministic():
    plan = plan_tasks(["a", "b", "c"], 7, seed=0)
    assert [(p.seed_id, p.index) for p in plan] == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1), ("a", 2)]
    assert plan == plan_tasks(["a", "b", "c"], 7, seed=0)
    assert plan[:3] == plan_tasks(["a", "b", "c"], 3, seed=0)          # growing N keeps the prefix
    assert len({p.random_seed for p in plan}) == 7
    assert plan_tasks(["a"], 1, seed=1)[0].random_seed != plan_tasks(["a"], 1, seed=0)[0].random_seed


def test_derive_seed_is_stable_31_bit():
    assert derive_seed(0, "a", 0) == derive_seed(0, "a", 0)
    assert 0 <= derive_seed(5, "x", 3) < 2**31


def test_plan_rejects_bad_input():
    with pytest.raises(UserError):
        plan_tasks([], 3, 0)
    with pytest.raises(UserError):
        plan_tasks(["a"], -1, 0)


def test_task_id_slugs_the_domain():
    assert task_id_for("leaf-classification", "Retail & E-commerce", 3) == "leaf-classification-retail-e-commerce-3"


def outcome(i, stage, accepted=False, checks=(), modality="tabular"):
    return Outcome(seed_id="s", index=i, random_seed=i, task_id=f"s-x-{i}", modality=modality, accepted=accepted,
                   stage=stage, reason=None if accepted else "why", checks=tuple(checks))


def checks(*passed):
    names = ("thresholds_monotone", "sample_below_median")
    return [{"name": n, "passed": p, "reason": ""} for n, p in zip(names, passed)]


def test_funnel_counts_stages_and_checks():
    outcomes = [
        outcome(0, "generate"),
        outcome(1, "calibrate"),
        outcome(2, "verify", checks=checks(False, True)),
        outcome(3, "verify", checks=checks(True, False), modality="image"),
        outcome(4, "accepted", True, checks(True, True)),
        outcome(5, "accepted", True, checks(True, True), modality="image"),
    ]
    f = compute_funnel(outcomes, checks=("thresholds_monotone", "sample_below_median"))
    assert (f.attempted, f.generated, f.calibrated, f.accepted) == (6, 5, 4, 2)
    assert f.check_passes == {"thresholds_monotone": 3, "sample_below_median": 3}
    assert f.cumulative == (("generated", 5), ("calibrated", 4), ("thresholds_monotone", 3), ("sample_below_median", 2))
    assert f.by_modality["image"] == {"attempted": 2, "generated": 2, "accepted": 1}
    assert f.rejected_by_stage == {"calibrate": 1, "generate": 1, "verify": 2}
    assert f.line().startswith("attempted 6 -> generated 5 -> calibrated 4") and f.line().endswith("accepted 2")


def test_rejected_log_survives_a_partial_last_line(tmp_path):
    good = json.dumps(outcome(1, "calibrate").to_json())
    (tmp_path / REJECTED_FILE).write_text(good + "\n" + good[:25])
    assert len(read_rejected(tmp_path)) == 1
    _prepare_bank(tmp_path, seed=0)
    assert (tmp_path / REJECTED_FILE).read_text().count("\n") == 1
    assert read_rejected(tmp_path)[0] == outcome(1, "calibrate")


def test_prepare_bank_clears_staging_and_refuses_another_seed(tmp_path):
    (tmp_path / STAGING_DIR / "half-written").mkdir(parents=True)
    (tmp_path / ".t.abc.partial").mkdir()
    _prepare_bank(tmp_path, seed=3)
    assert not (tmp_path / STAGING_DIR).exists() and not (tmp_path / ".t.abc.partial").exists()
    write_funnel(tmp_path, 3, compute_funnel([]))
    assert json.loads((tmp_path / FUNNEL_FILE).read_text())["random_seed"] == 3
    with pytest.raises(UserError, match="--seed 3"):
        _prepare_bank(tmp_path, seed=4)
