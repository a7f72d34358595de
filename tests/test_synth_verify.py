"""Verification checks over hand-built task folders: each adversarial property fails its check."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn.metrics import roc_auc_score

from sandmle.synth.calibrate import TIER_SUBMISSIONS_DIR
from sandmle.synth.verify import CHECKS, check_no_answer_leak, check_oracle_gold, check_sample_below_median, \
    check_tiers_separable, check_no_duplicate_rows, \
    check_no_test_id_in_train, check_thresholds_monotone, verify, write_verification
from sandmle.task import Lineage, TaskSpec, Thresholds, load_task, write_task


TIER_NOISE = {"median": 0.9, "bronze": 0.5, "silver": 0.3, "gold": 0.12}


def make_task(root: Path, thresholds=None, n_train=120, n_test=400, seed=0, mutate=None) -> Path:
    """A binary AUC task whose label follows x1 + noise; `mutate(public, private, frames)` breaks it.

    private/tiers/ holds one submission per tier, noisier copies of the oracle; by default
    the thresholds are their scores."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_train + n_test, 2))
    logit = 2.0 * x[:, 0]
    prob = 1 / (1 + np.exp(-logit))
    y = (rng.random(len(prob)) < prob).astype(int)
    ids = [f"r{i:05d}" for i in range(len(y))]
    train = pd.DataFrame({"id": ids[:n_train], "x1": x[:n_train, 0].round(6), "x2": x[:n_train, 1].round(6),
                          "target": y[:n_train]})
    test = pd.DataFrame({"id": ids[n_train:], "x1": x[n_train:, 0].round(6), "x2": x[n_train:, 1].round(6)})
    answers = pd.DataFrame({"id": ids[n_train:], "target": y[n_train:]})
    oracle = pd.DataFrame({"id": ids[n_train:], "target": prob[n_train:].round(6)})
    shared = rng.normal(0, 1, n_test)        # the tiers err on the same rows, as real models do
    tiers = {tier: pd.DataFrame({"id": ids[n_train:], "target": (prob[n_train:] + noise * shared).clip(0, 1).round(6)})
             for tier, noise in TIER_NOISE.items()}
    if thresholds is None:
        thresholds = tuple(round(roc_auc_score(y[n_train:], tiers[t]["target"]), 5) for t in TIER_NOISE)
    sample = pd.DataFrame({"id": ids[n_train:], "target": 0.5})
    frames = {"train": train, "test": test, "answers": answers, "oracle": oracle, "sample": sample, **tiers}
    spec = TaskSpec(id="hand-made-0", title="Hand made", modality="tabular", metric="auc", is_lower_better=False,
                    id_column="id", target_columns=("target",), thresholds=Thresholds(*thresholds),
                    train_rows=n_train, test_rows=n_test,
                    lineage=Lineage(seed="hand", generator="procedural", generator_version="test", random_seed=seed))

    def fill(public: Path, private: Path) -> None:
        if mutate is not None:
            mutate(public, private, frames)
        frames["train"].to_csv(public / "train.csv", index=False)
        frames["test"].to_csv(public / "test.csv", index=False)
        frames["sample"].to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text("# Hand made\nPredict the target.\n")
        frames["answers"].to_csv(private / "answers.csv", index=False)
        frames["oracle"].to_csv(private / "oracle.csv", index=False)
        (private / TIER_SUBMISSIONS_DIR).mkdir()
        for tier in TIER_NOISE:
            frames[tier].to_csv(private / TIER_SUBMISSIONS_DIR / f"{tier}.csv", index=False)

    write_task(root, spec, fill)
    return root


def by_name(results):
    return {r.name: r for r in results}


def test_thresholds_must_be_strictly_monotone(tmp_path):
    ok = load_task(make_task(tmp_path / "a"))
    assert check_thresholds_monotone(ok).passed
    tied = load_task(make_task(tmp_path / "b", thresholds=(0.7, 0.8, 0.8, 0.84)))
    result = check_thresholds_monotone(tied)
    assert not result.passed and "silver" in result.reason


def test_shared_id_between_train_and_test_fails(tmp_path):
    def leak(public, private, frames):
        frames["train"].loc[0, "id"] = frames["test"].loc[3, "id"]

    result = check_no_test_id_in_train(load_task(make_task(tmp_path / "t", mutate=leak)))
    assert not result.passed and "1 test ids" in result.reason


def test_target_column_in_test_data_fails(tmp_path):
    def leak(public, private, frames):
        frames["test"]["target"] = frames["answers"]["target"].to_numpy()

    result = check_no_answer_leak(load_task(make_task(tmp_path / "t", mutate=leak)))
    assert not result.passed and "target column" in result.reason


def test_answers_named_file_in_public_fails(tmp_path):
    def leak(public, private, frames):
        (public / "extra").mkdir()
        (public / "extra" / "solution_key.txt").write_text("nothing to see\n")

    result = check_no_answer_leak(load_task(make_task(tmp_path / "t", mutate=leak)))
    assert not result.passed and "solution_key" in result.reason


def test_public_table_reproducing_answers_fails(tmp_path):
    def leak(public, private, frames):
        copy = frames["answers"].rename(columns={}).copy()
        copy["target"] = copy["target"].astype(float)       # 1.0 still equals 1
        copy.to_csv(public / "metadata.csv", index=False)

    result = check_no_answer_leak(load_task(make_task(tmp_path / "t", mutate=leak)))
    assert not result.passed and "metadata.csv" in result.reason


def test_clean_task_has_no_leak(tmp_path):
    task = load_task(make_task(tmp_path / "t"))
    assert check_no_answer_leak(task).passed
    assert check_no_test_id_in_train(task).passed
    assert check_no_duplicate_rows(task).passed


def test_test_rows_copied_into_train_fail(tmp_path):
    def leak(public, private, frames):
        copied = frames["test"].iloc[:60].copy()
        copied["id"] = [f"c{i}" for i in range(60)]
        copied["target"] = frames["answers"]["target"].iloc[:60].to_numpy()
        frames["train"] = pd.concat([frames["train"], copied], ignore_index=True)

    result = check_no_duplicate_rows(load_task(make_task(tmp_path / "t", mutate=leak)))
    assert not result.passed and "60 of 400" in result.reason


def test_verify_reports_every_check_and_writes_json(tmp_path):
    root = make_task(tmp_path / "t")
    results = verify(root)
    assert [r.name for r in results] == list(CHECKS)
    assert all(r.passed for r in results), [r for r in results if not r.passed]
    write_verification(root, results)
    saved = json.loads((root / "private" / "verification.json").read_text())
    assert [c["name"] for c in saved["checks"]] == list(CHECKS)
    assert saved["passed"] == all(r.passed for r in results)


def test_unknown_check_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown checks"):
        verify(make_task(tmp_path / "t"), checks=("no_such_check",))


def test_oracle_short_of_gold_fails(tmp_path):
    result = check_oracle_gold(load_task(make_task(tmp_path / "t", thresholds=(0.66, 0.72, 0.78, 0.95))))
    assert not result.passed and "short of gold 0.95" in result.reason


def test_sample_at_or_above_median_fails(tmp_path):
    result = check_sample_below_median(load_task(make_task(tmp_path / "t", thresholds=(0.5, 0.72, 0.78, 0.84))))
    assert not result.passed and "not worse than median" in result.reason


def test_invalid_sample_submission_fails(tmp_path):
    def break_sample(public, private, frames):
        frames["sample"] = frames["sample"].iloc[5:]

    result = check_sample_below_median(load_task(make_task(tmp_path / "t", mutate=break_sample)))
    assert not result.passed and "invalid" in result.reason


def test_tiers_closer_than_the_bootstrap_noise_fail(tmp_path):
    wide = load_task(make_task(tmp_path / "w"))
    assert check_tiers_separable(wide).passed
    t = wide.spec.thresholds
    close = load_task(make_task(tmp_path / "c", thresholds=(t.median, t.bronze, t.bronze + 0.001, t.gold)))
    result = check_tiers_separable(close)
    assert not result.passed and "bronze-silver" in result.reason


def test_unpaired_noise_is_the_stricter_bar(tmp_path):
    m = load_task(make_task(tmp_path / "w")).spec.thresholds.median
    # gaps of 0.016: above the paired noise (~0.008 here), below the median's own (~0.028)
    task = load_task(make_task(tmp_path / "t", thresholds=(m, m + 0.016, m + 0.032, m + 0.048)))
    paired = check_tiers_separable(task, paired=True)
    unpaired = check_tiers_separable(task, paired=False)
    assert paired.passed and not unpaired.passed
    assert "unpaired bootstrap std" in unpaired.reason


def test_missing_tier_submissions_fail(tmp_path):
    def drop(public, private, frames):
        pass

    root = make_task(tmp_path / "t", mutate=drop)
    (root / "private" / TIER_SUBMISSIONS_DIR / "silver.csv").unlink()
    result = check_tiers_separable(load_task(root))
    assert not result.passed and "silver" in result.reason


def test_bootstrap_std_shrinks_with_more_test_rows(tmp_path):
    from sandmle.synth.verify import bootstrap_std

    small = load_task(make_task(tmp_path / "s", n_test=100))
    large = load_task(make_task(tmp_path / "l", n_test=1600))
    std_small, used = bootstrap_std(small, small.private_dir / TIER_SUBMISSIONS_DIR / "median.csv", 100)
    std_large, _ = bootstrap_std(large, large.private_dir / TIER_SUBMISSIONS_DIR / "median.csv", 100)
    assert used == 100 and std_large < std_small / 2


def test_long_format_tasks_key_rows_by_the_first_test_column(tmp_path):
    """Image-to-image tasks: train/test list images, the submission lists pixels."""
    from sandmle.synth.generated import generate_task
    from sandmle.synth.seeds import get_seed
    from sandmle.synth.verify import _table_key

    generated = generate_task(get_seed("denoising-dirty-documents"), 1)
    root = tmp_path / "t"
    generated.write(root / "public", root / "private")
    (root / "task.json").write_text(json.dumps(generated.spec.to_json()))
    task = load_task(root)
    train, test = (pd.read_csv(root / "public" / n, dtype=str) for n in ("train.csv", "test.csv"))
    assert _table_key(task, train, test) == "image"
    assert check_no_test_id_in_train(task).passed
    assert check_no_duplicate_rows(task).passed
    train.loc[0, "image"] = test.loc[0, "image"]
    train.to_csv(root / "public" / "train.csv", index=False)
    assert not check_no_test_id_in_train(task).passed
