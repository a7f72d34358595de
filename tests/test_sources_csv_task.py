"""Tasks from CSV files: every metric kind builds a valid task; bad input is one UserError."""
from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd
import pytest

from sandmle.sources.csv_task import make_task_from_csv
from sandmle.errors import UserError
from sandmle.grading import grade_submission
from sandmle.leaderboard import medal_thresholds
from sandmle.metrics import METRICS
from sandmle.task import load_task


def synthetic(n: int = 90, seed: int = 0) -> pd.DataFrame:
    """Features with signal and every kind of target a metric can ask for."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    z = 1.5 * x1 - x2 + 0.5 * rng.normal(size=n)
    return pd.DataFrame({
        "x1": x1.round(4), "x2": x2.round(4), "color": color,
        "flag": np.where(z > 0, "yes", "no"),
        "other_flag": (x2 > 0.3).astype(int),
        "species": np.select([z < -0.7, z < 0.7], ["ant", "bee"], "cat"),
        "grade": np.digitize(z, [-1.0, 0.0, 1.0]),
        "price": np.exp(0.5 * z).round(4) * 10,
        "weight": (np.abs(z) + rng.uniform(size=n)).round(4),
        "signed": z.round(4),
    })


@pytest.fixture
def data_csv(tmp_path):
    path = tmp_path / "data.csv"
    synthetic().to_csv(path, index=False)
    return path


CASES = [
    ("auc", ["flag"]), ("log_loss", ["flag"]), ("mean_column_auc", ["flag", "other_flag"]),
    ("multiclass_log_loss", ["species"]), ("accuracy", ["species"]), ("f1_macro", ["species"]),
    ("mcc", ["flag"]), ("qwk", ["grade"]), ("map_at_k", ["species"]), ("rmse", ["signed"]),
    ("rmsle", ["price"]), ("mean_column_rmsle", ["price", "weight"]), ("mae", ["price"]),
    ("spearman", ["signed"]), ("r2", ["signed"]), ("f1_micro", ["grade"]), ("mape", ["price"]),
    ("smape", ["weight"]),
]


def test_cases_cover_every_metric():
    assert sorted(m for m, _ in CASES) == sorted(METRICS)


@pytest.mark.parametrize("metric, targets", CASES)
def test_every_metric_builds_a_valid_task(tmp_path, data_csv, metric, targets):
    task = make_task_from_csv(data_csv, targets, metric, tmp_path / "task", seed=1)
    assert load_task(task.root).spec == task.spec
    spec = task.spec
    assert spec.lineage.generator == "from-csv" and spec.lineage.seed == "csv:data.csv"
    assert spec.train_rows + spec.test_rows == 90 and spec.test_rows == 27

    sample = grade_submission(task, task.sample_submission_path)
    assert sample.valid, sample.reason
    perfect = grade_submission(task, task.answers_path)
    assert perfect.valid and perfect.tier == "gold"

    with open(task.private_dir / "leaderboard.csv", newline="") as fh:
        board = list(csv.DictReader(fh))
    scores = [float(r["score"]) for r in board if r["valid"] == "1"]
    assert 5 <= len(scores) <= len(board) == 10
    expected = medal_thresholds(scores, spec.is_lower_better)
    for got, want in zip(spec.thresholds.as_tuple(), expected.as_tuple()):
        assert got == pytest.approx(want, abs=1e-6)

    test = pd.read_csv(task.public_dir / "test.csv")
    assert not set(targets) & set(test.columns)
    assert list(pd.read_csv(task.answers_path).columns) == [spec.id_column, *spec.target_columns]
    assert not (task.public_dir / "answers.csv").exists()
    text = (task.public_dir / "description.md").read_text()
    direction = "lower is better" if spec.is_lower_better else "higher is better"
    for fragment in (f"`{metric}`", direction, "## Submission format", "```csv", "train.csv", "test.csv"):
        assert fragment in text


def test_multiclass_log_loss_columns_are_the_classes(tmp_path, data_csv):
    task = make_task_from_csv(data_csv, "species", "multiclass_log_loss", tmp_path / "t")
    assert task.spec.target_columns == task.spec.classes == ("ant", "bee", "cat")
    answers = pd.read_csv(task.answers_path)
    assert (answers[["ant", "bee", "cat"]].sum(axis=1) == 1).all()


def test_binary_labels_map_to_zero_one_with_the_positive_class_named(tmp_path, data_csv):
    task = make_task_from_csv(data_csv, "flag", "auc", tmp_path / "t")
    answers = pd.read_csv(task.answers_path)
    assert set(answers["flag"]) == {0, 1}
    assert "is `yes`" in (task.public_dir / "description.md").read_text()


def test_split_is_deterministic_and_seeded(tmp_path, data_csv):
    a = make_task_from_csv(data_csv, "species", "accuracy", tmp_path / "a", seed=3)
    b = make_task_from_csv(data_csv, "species", "accuracy", tmp_path / "b", seed=3)
    c = make_task_from_csv(data_csv, "species", "accuracy", tmp_path / "c", seed=4)
    for name in ("public/train.csv", "public/test.csv", "public/sample_submission.csv",
                 "public/description.md", "private/answers.csv"):
        assert (a.root / name).read_bytes() == (b.root / name).read_bytes(), name
    assert a.spec.thresholds == b.spec.thresholds
    assert (a.root / "public/test.csv").read_bytes() != (c.root / "public/test.csv").read_bytes()


def test_stratified_split_keeps_class_shares(tmp_path, data_csv):
    task = make_task_from_csv(data_csv, "species", "accuracy", tmp_path / "t")
    whole = synthetic()["species"].value_counts(normalize=True)
    test = pd.read_csv(task.answers_path)["species"].value_counts(normalize=True)
    for label in whole.index:
        assert abs(whole[label] - test[label]) < 0.05


def test_added_ids_carry_no_row_order(tmp_path):
    frame = synthetic().sort_values("signed")         # a file sorted by its target
    path = tmp_path / "sorted.csv"
    frame.to_csv(path, index=False)
    task = make_task_from_csv(path, "signed", "rmse", tmp_path / "t")
    assert task.spec.id_column == "id"
    answers = pd.read_csv(task.answers_path)
    rho = pd.Series(answers["id"]).corr(answers["signed"], method="spearman")
    assert abs(rho) < 0.5
    train = pd.read_csv(task.public_dir / "train.csv")
    assert set(train["id"]).isdisjoint(answers["id"])


def test_existing_unique_id_column_is_used(tmp_path):
    frame = synthetic()
    frame.insert(0, "customer", [f"c{i:03d}" for i in range(len(frame))])
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    task = make_task_from_csv(path, "flag", "auc", tmp_path / "t", id_column="customer")
    assert task.spec.id_column == "customer"
    assert pd.read_csv(task.answers_path)["customer"].str.startswith("c").all()


def test_id_named_column_that_repeats_is_kept_as_a_feature(tmp_path):
    frame = synthetic()
    frame["id"] = [i % 5 for i in range(len(frame))]
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    task = make_task_from_csv(path, "flag", "auc", tmp_path / "t")
    assert task.spec.id_column == "row_id"
    assert "id" in pd.read_csv(task.public_dir / "test.csv").columns


def test_missing_feature_values_and_text_columns_are_handled(tmp_path):
    frame = synthetic()
    frame.loc[::7, "x1"] = np.nan
    frame.loc[::5, "color"] = np.nan
    frame["note"] = [f"free text {i}" for i in range(len(frame))]
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    task = make_task_from_csv(path, "price", "mae", tmp_path / "t")
    assert grade_submission(task, task.sample_submission_path).valid


def write(tmp_path, frame, name="bad.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("targets, metric, fragment", [
    (["nope"], "auc", "'nope' is not in the data"),
    (["species"], "auc", "two-valued target"),
    (["flag", "other_flag"], "auc", "one target column"),
    (["flag", "species"], "accuracy", "one target column"),
    (["color"], "rmse", "numeric target"),
    (["signed"], "rmsle", "non-negative"),
    (["x1"], "qwk", "integer grades"),
    (["x1"], "multiclass_log_loss", "classes"),
    (["flag"], "no_such_metric", "unknown metric"),
    (["flag", "flag"], "mean_column_auc", "repeat"),
])
def test_incompatible_targets_and_metrics(tmp_path, data_csv, targets, metric, fragment):
    with pytest.raises(UserError, match=fragment.replace("(", r"\(")) as info:
        make_task_from_csv(data_csv, targets, metric, tmp_path / "t")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "t").exists()


def test_too_few_rows(tmp_path):
    with pytest.raises(UserError, match="at least 20"):
        make_task_from_csv(write(tmp_path, synthetic().head(12)), "flag", "auc", tmp_path / "t")


def test_single_row_class_cannot_be_stratified(tmp_path):
    frame = synthetic()
    frame.loc[0, "species"] = "dodo"
    with pytest.raises(UserError, match="'dodo' has a single row"):
        make_task_from_csv(write(tmp_path, frame), "species", "accuracy", tmp_path / "t")


def test_missing_target_values(tmp_path):
    frame = synthetic()
    frame.loc[3, "price"] = np.nan
    with pytest.raises(UserError, match="1 missing values"):
        make_task_from_csv(write(tmp_path, frame), "price", "rmse", tmp_path / "t")


def test_missing_file_and_existing_output(tmp_path, data_csv):
    with pytest.raises(UserError, match="does not exist"):
        make_task_from_csv(tmp_path / "none.csv", "flag", "auc", tmp_path / "t")
    (tmp_path / "t").mkdir()
    with pytest.raises(UserError, match="already exists"):
        make_task_from_csv(data_csv, "flag", "auc", tmp_path / "t")


def test_not_a_csv(tmp_path):
    path = tmp_path / "junk.csv"
    path.write_bytes(b"\xff\xfe\x00\x01" * 50)
    with pytest.raises(UserError, match="cannot read"):
        make_task_from_csv(path, "flag", "auc", tmp_path / "t")


def test_bad_test_fraction(tmp_path, data_csv):
    for fraction in (0.0, 1.0, 0.02):
        with pytest.raises(UserError):
            make_task_from_csv(data_csv, "flag", "auc", tmp_path / "t", test_fraction=fraction)


def test_thresholds_beat_the_constant_on_learnable_data(tmp_path, data_csv):
    task = make_task_from_csv(data_csv, "flag", "auc", tmp_path / "t")
    sample = grade_submission(task, task.sample_submission_path)
    assert sample.score == 0.5 and sample.tier == "none"
    assert task.spec.thresholds.median > 0.5 and not math.isnan(task.spec.thresholds.gold)
