"""Data-conditioned seeds and their twins, on scikit-learn's bundled real tables.

A seed made from a CSV keeps a row-free model of the data (marginals, copula, joint gaps, a
calibrated teacher); its twins must keep that structure, hold no real row, pass the privacy
check (a copy of the real rows must fail it), and record their mutations."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from sandmle.errors import UserError
from sandmle.sources.csv_seed import dna_from_csv, gross_outlier_rate
from sandmle.sources.csv_twin import column_model
from sandmle.synth.generated import generate_task
from sandmle.synth.seeds import select_seeds
from sandmle.synth.twin.model import DataModel
from sandmle.synth.twin.privacy import distance_check
from sandmle.synth.twin.sample import sample_cells

COLUMNS = ["mean radius", "mean perimeter", "mean texture", "mean smoothness", "worst concavity"]


def cancer_frame() -> pd.DataFrame:
    """Breast-cancer rows with text labels, a categorical column and joint gaps."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame[COLUMNS].copy()
    frame.columns = [c.replace(" ", "_") for c in COLUMNS]
    frame["size_band"] = pd.cut(frame["mean_radius"], [0, 12, 16, 100], labels=["small", "mid", "large"]).astype(str)
    frame["diagnosis"] = np.where(data.target == 1, "Yes", "No")
    rng = np.random.default_rng(0)
    gaps = rng.random(len(frame)) < 0.15          # texture and smoothness missing together
    frame.loc[gaps, ["mean_texture", "mean_smoothness"]] = np.nan
    return frame


@pytest.fixture(scope="module")
def cancer(tmp_path_factory):
    path = tmp_path_factory.mktemp("cancer") / "cancer.csv"
    frame = cancer_frame()
    frame.to_csv(path, index=False)
    dna = dna_from_csv(path, ["diagnosis"], "auc")
    return path, frame, dna


def test_seed_keeps_a_model_of_the_data_and_no_rows(cancer):
    path, frame, dna = cancer
    assert dna.is_data_conditioned, dna.notes
    model = DataModel.from_json(json.loads(json.dumps(dna.data_model)))
    assert [c.name for c in model.columns] == [c for c in frame.columns if c != "diagnosis"]
    assert model.head.classes == ("No", "Yes")
    assert model.head.shares[1] == pytest.approx((frame["diagnosis"] == "Yes").mean(), abs=1e-6)
    assert (2, 3) in [cols for cols, _ in model.missing]     # texture and smoothness, empty together
    # no column of values: every list in the seed is far shorter than the data
    assert longest_list(dna.to_json()) < len(frame) / 4
    assert len(json.dumps(dna.to_json())) < 200_000


def longest_list(value) -> int:
    if isinstance(value, dict):
        return max((longest_list(v) for v in value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return max([len(value)] + [longest_list(v) for v in value])
    return 0


def test_twin_keeps_dependence_shares_and_spelling(cancer):
    path, frame, dna = cancer
    task = generate_task(dna, 3)
    train = pd.read_csv(pd.io.common.BytesIO(task.public_files["train.csv"]))
    label = task.spec.target_columns[0]
    assert set(train[label]) == {"No", "Yes"}
    numbers = train.select_dtypes("number").drop(columns=[task.spec.id_column])
    corr = numbers.corr(method="spearman").abs().to_numpy(copy=True)   # ranks: robust to outlier mutations
    np.fill_diagonal(corr, 0)
    assert corr.max() > 0.9                       # radius and perimeter stay tied (real: 0.998)
    answers = pd.read_csv(pd.io.common.BytesIO(task.answers_csv))
    assert answers[label].mean() == pytest.approx((frame["diagnosis"] == "Yes").mean(), abs=0.05)
    mutations = task.spec.lineage.extra["mutations"]
    quirks = task.spec.lineage.dna["quirks"]
    assert all(quirks[k] == v for k, v in mutations.items())
    assert "data_model" not in task.spec.lineage.dna and task.spec.lineage.dna["data_model_sha256"]


def test_privacy_check_rejects_copied_rows_and_passes_model_rows(cancer):
    path, frame, dna = cancer
    model = DataModel.from_json(dna.data_model)
    real = [column_model(c.name, c.kind, frame[c.name])[1] for c in model.columns]
    copied = [np.asarray(v)[np.random.default_rng(1).integers(0, len(frame), 400)] for v in real]
    assert not distance_check(model.columns, real, copied).passed
    fresh = sample_cells(model, 400, np.random.default_rng(2))
    assert distance_check(model.columns, real, fresh).passed
    assert model.privacy["passed"]


def test_synth_selects_seed_files_and_folders(cancer, tmp_path):
    _, _, dna = cancer
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(dna.to_json()))
    assert [d.id for d in select_seeds(str(folder / "a.json"))] == [dna.id]
    assert [d.id for d in select_seeds(f"{folder}/")] == [dna.id]
    both = select_seeds(f"tabular-binary-mcc,{folder / 'a.json'}")
    assert [d.id for d in both] == ["tabular-binary-mcc", dna.id]
    with pytest.raises(UserError, match="does not exist"):
        select_seeds(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="not JSON"):
        select_seeds(str(tmp_path / "bad.json"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no \\*.json"):
        select_seeds(str(tmp_path / "empty"))


def test_regression_twin_follows_the_target_marginal(tmp_path):
    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.frame[["age", "sex", "bmi", "bp", "s5", "target"]]
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    dna = dna_from_csv(path, ["target"], "rmse")
    assert dna.is_data_conditioned, dna.notes
    task = generate_task(dna, 0)
    answers = pd.read_csv(pd.io.common.BytesIO(task.answers_csv))[task.spec.target_columns[0]]
    assert answers.min() >= frame["target"].min() - 1e-6 and answers.max() <= frame["target"].max() + 1e-6
    assert answers.median() == pytest.approx(frame["target"].median(), rel=0.15)
    train = pd.read_csv(pd.io.common.BytesIO(task.public_files["train.csv"]))
    flags = [c for c in train.columns if set(train[c].dropna().unique()) <= {1, 2}]
    assert flags                                  # the 1/2 "sex" column keeps its values


def test_outlier_rate_skips_flags_and_counts():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"flag": rng.integers(0, 2, 500), "count": rng.poisson(0.3, 500),
                          "level": rng.normal(size=500)})
    assert gross_outlier_rate(frame[["flag", "count"]]) == 0.0
    frame.loc[:9, "level"] = 50.0
    assert gross_outlier_rate(frame[["level"]]) == pytest.approx(10 / 500)


def test_ranking_k_is_the_same_for_tasks_and_seeds(tmp_path):
    from sandmle.sources.csv_task import make_task_from_csv

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "y": rng.normal(size=120),
                          "item": rng.choice(["a", "b", "c", "d"], 120)})
    path = tmp_path / "items.csv"
    frame.to_csv(path, index=False)
    dna = dna_from_csv(path, ["item"], "map_at_k", data_model=False)
    task = make_task_from_csv(path, "item", "map_at_k", tmp_path / "task")
    assert dna.metric_params["k"] == task.spec.metric_params["k"] == 3


def test_ids_stay_text_and_reference_solutions_read_text_labels(tmp_path):
    """'0003' stays '0003', '7', '07' and '0007' are three ids, "Yes"/"No" labels and grades 1-5 work."""
    from sandmle.grading import grade_submission
    from sandmle.sandbox.pool import Pool
    from sandmle.sources.csv_task import make_task_from_csv
    from sandmle.synth.calibrate import calibrate_folder
    from sandmle.synth.solutions import reference_solutions

    rng = np.random.default_rng(0)
    n = 120
    x = rng.normal(size=n)
    ids = [f"{i:04d}" for i in range(n)]
    ids[1], ids[2] = "7", "07"           # and "0007" is row 7
    frame = pd.DataFrame({"sku": ids, "x": x, "z": rng.normal(size=n),
                          "bought": np.where(x + 0.5 * rng.normal(size=n) > 0, "Yes", "No"),
                          "grade": np.clip(np.round(3 + x + 0.5 * rng.normal(size=n)), 1, 5).astype(int)})
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    binary = make_task_from_csv(path, "bought", "auc", tmp_path / "binary", id_column="sku")
    test = pd.read_csv(binary.public_dir / "test.csv", dtype=str)
    train = pd.read_csv(binary.public_dir / "train.csv", dtype=str)
    assert set(test["sku"]) | set(train["sku"]) == set(ids)
    ordinal = make_task_from_csv(path.with_name("shop.csv"), "grade", "qwk", tmp_path / "ordinal",
                                 id_column="sku")
    assert ordinal.spec.classes == ("1", "2", "3", "4", "5")
    with Pool(num_workers=1) as pool:
        for task in (binary, ordinal):
            solutions = [s for s in reference_solutions(task.spec) if s.name in ("linear_C1", "forest_40")]
            board = calibrate_folder(task.root, pool, solutions, min_valid=1, batch_size=1)
            assert all(e.valid for e in board.entries), [e.reason for e in board.entries]
    best = max(board.entries, key=lambda e: e.score)
    assert best.score > 0.3                       # grades 1-5 scored as grades, not shifted to 0-4
    assert grade_submission(binary, binary.sample_submission_path).valid


def test_mean_ranks_and_spearman_of_leaderboards():
    from sandmle.synth.fidelity import mean_ranks, spearman

    boards = [{"a": 0.9, "b": 0.8, "c": 0.7}, {"a": 0.7, "b": 0.8, "c": 0.6, "d": 0.1}]
    ranks = mean_ranks(boards, is_lower_better=False, names=["a", "b", "c", "d"])
    assert ranks == {"a": 1.5, "b": 1.5, "c": 3.0, "d": 4.0}      # a missing entry ranks last
    lower = mean_ranks(boards, is_lower_better=True, names=["a", "b", "c", "d"])
    assert lower["c"] == 1.5 and lower["d"] == 2.5
    assert spearman({"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 2, "c": 1}) == -1.0
    assert spearman({"a": 1, "b": 2}, {"a": 1, "b": 2}) is None       # too few to rank


@pytest.mark.slow
def test_fidelity_command_reports_rankings_acceptance_and_a_chart(cancer, tmp_path, capsys):
    from sandmle.cli import main

    path, _, _ = cancer
    chart, bank = tmp_path / "fidelity.png", tmp_path / "twins"
    code = main(["seeds", "fidelity", str(path), "--target", "diagnosis", "--metric", "auc", "--twins", "2",
                 "--splits", "2", "--workers", "2", "--chart", str(chart), "--bank", str(bank), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["twins_attempted"] == 2 and report["real_splits"] == 2
    assert report["control_id"] == "tabular-playground-series-may-2022"
    assert len(report["solutions"]) >= 20 and report["privacy"]["passed"]
    if report["twins_accepted"]:
        assert -1 <= report["spearman"] <= 1
    assert chart.stat().st_size > 0
    assert main(["bank", "stats", str(bank), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["fidelity"]["seed_id"] == report["seed_id"]


def test_fidelity_refuses_data_without_a_data_model(tmp_path):
    from sandmle.synth.fidelity import measure_fidelity

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"note": [" ".join(rng.choice(list("abcdefgh"), 6)) for _ in range(200)],
                          "x": rng.normal(size=200), "y": rng.integers(0, 2, 200)})
    path = tmp_path / "notes.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(UserError, match="no data-conditioned seed"):
        measure_fidelity(path, "y", "auc")
