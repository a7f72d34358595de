"""Bank statistics and exports; the exported evaluator.py runs as a real subprocess."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlebench_mocks import load_exported_grade
from sandmle.cli import main as cli_main
from sandmle.synth.bank import bank_stats, write_chart
from sandmle.leaderboard import Entry, make_leaderboard
from sandmle.synth.export import export_bank
from sandmle.synth.funnel import compute_funnel, write_funnel
from sandmle.task import Lineage, TaskSpec, load_task, write_task


def make_bank_task(bank: Path, task_id: str, metric: str, seed: int, domain: str, n_train: int = 80,
                   n_test: int = 60) -> Path:
    """A calibrated task: binary AUC/log loss on y = [x > 0], or 3-class log loss on bins of x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_train + n_test)
    ids = [f"{task_id[:2]}{i:04d}" for i in range(len(x))]
    multiclass = metric == "multiclass_log_loss"
    if multiclass:
        classes = ("low", "mid", "high")
        labels = np.digitize(x + rng.normal(0, 0.3, len(x)), [-0.5, 0.5])
        train = pd.DataFrame({"id": ids[:n_train], "x": x[:n_train], "label": [classes[k] for k in labels[:n_train]]})
        onehot = np.eye(3)[labels[n_train:]]
        answers = pd.DataFrame({"id": ids[n_train:], **{c: onehot[:, j].astype(int) for j, c in enumerate(classes)}})
        sample = pd.DataFrame({"id": ids[n_train:], **{c: 1 / 3 for c in classes}})
        targets = classes
    else:
        classes = ()
        y = (x + rng.normal(0, 0.5, len(x)) > 0).astype(int)
        train = pd.DataFrame({"id": ids[:n_train], "x": x[:n_train], "target": y[:n_train]})
        answers = pd.DataFrame({"id": ids[n_train:], "target": y[n_train:]})
        sample = pd.DataFrame({"id": ids[n_train:], "target": 0.5})
        targets = ("target",)
    test = pd.DataFrame({"id": ids[n_train:], "x": x[n_train:]})
    lower = metric != "auc"
    scores = [0.3 + 0.03 * i for i in range(20)]
    board = make_leaderboard([Entry(f"sol{i}", "linear", "medium", s, True, 0.05) for i, s in enumerate(scores)],
                             is_lower_better=lower)
    spec = TaskSpec(id=task_id, title=f"Task {task_id}", modality="tabular", metric=metric, is_lower_better=lower,
                    id_column="id", target_columns=tuple(targets), thresholds=board.thresholds,
                    train_rows=n_train, test_rows=n_test, domain=domain, classes=tuple(classes),
                    lineage=Lineage(seed="hand", generator="procedural", generator_version="test", random_seed=seed))

    def fill(public: Path, private: Path) -> None:
        train.to_csv(public / "train.csv", index=False)
        test.to_csv(public / "test.csv", index=False)
        sample.to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text(f"# {task_id}\n")
        answers.to_csv(private / "answers.csv", index=False)
        board.write_csv(private / "leaderboard.csv")

    write_task(bank / task_id, spec, fill)
    return bank / task_id


@pytest.fixture()
def bank(tmp_path):
    root = tmp_path / "bank"
    make_bank_task(root, "alpha-retail-0", "auc", 1, "retail")
    make_bank_task(root, "beta-health-0", "multiclass_log_loss", 2, "healthcare", n_train=150)
    make_bank_task(root, "gamma-retail-0", "log_loss", 3, "retail")
    write_funnel(root, 0, compute_funnel([]))
    return root


def test_stats_count_the_mix(bank, tmp_path):
    stats = bank_stats(bank)
    assert stats.num_tasks == 3
    assert stats.by_domain == {"retail": 2, "healthcare": 1}
    assert stats.by_metric == {"auc": 1, "log_loss": 1, "multiclass_log_loss": 1}
    assert stats.by_train_rows == {"50-99": 2, "150-200": 1}
    assert stats.funnel["attempted"] == 0
    chart = tmp_path / "chart.png"
    write_chart(stats, chart)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stats_cli_prints_one_json_object(bank, capsys):
    assert cli_main(["bank", "stats", str(bank), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["num_tasks"] == 3 and data["by_modality"] == {"tabular": 3}


def run_evaluator(public: Path, submission: Path):
    return subprocess.run([sys.executable, "evaluator.py", "--submission_path", str(submission)],
                          cwd=public, capture_output=True, text=True, timeout=60)


def test_release_export_evaluator_grades_good_and_bad_submissions(bank, tmp_path):
    out = tmp_path / "release"
    assert cli_main(["bank", "export", str(bank), "--format", "sandmle-release", "--out", str(out)]) == 0
    for task_dir in sorted(out.iterdir()):
        public = task_dir / "prepared" / "public"
        assert {"evaluator.py", "answer.csv", "description.md", "sample_submission.csv", "train.csv",
                "test.csv"} <= {p.name for p in public.iterdir()}
        task = load_task(bank / task_dir.name)
        answers = pd.read_csv(public / "answer.csv")
        perfect = tmp_path / f"{task_dir.name}-perfect.csv"
        answers.to_csv(perfect, index=False)
        done = run_evaluator(public, perfect)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert set(report) == {"score", "is_lower_better", "gold_threshold", "silver_threshold",
                               "bronze_threshold", "median_threshold"}
        assert report["is_lower_better"] == task.spec.is_lower_better
        assert report["gold_threshold"] == task.spec.thresholds.gold
        assert report["score"] == (1.0 if task.spec.metric == "auc" else pytest.approx(0.0, abs=1e-9))
        bad = tmp_path / f"{task_dir.name}-bad.csv"
        answers.iloc[:-1].to_csv(bad, index=False)                # a missing row
        failed = run_evaluator(public, bad)
        assert failed.returncode != 0 and "rows" in failed.stderr
        if task_dir.name != "alpha-retail-0":
            continue                                              # the rest once: subprocesses are slow
        shuffled = answers.sample(frac=1.0, random_state=0)     # row order does not matter
        shuffled.to_csv(perfect, index=False)
        assert json.loads(run_evaluator(public, perfect).stdout)["score"] == report["score"]
        wrong = answers.copy()
        wrong[task.spec.target_columns[0]] = 7.0                  # probabilities out of range
        wrong.to_csv(bad, index=False)
        assert run_evaluator(public, bad).returncode != 0
        assert run_evaluator(public, tmp_path / "missing.csv").returncode != 0


def test_mlebench_export_layout(bank, tmp_path):
    out = tmp_path / "mle"
    written = export_bank(bank, "mlebench", out)
    assert [p.name for p in written] == ["alpha-retail-0", "beta-health-0", "gamma-retail-0"]
    for task_dir in written:
        public, private = task_dir / "prepared" / "public", task_dir / "prepared" / "private"
        assert not (public / "answer.csv").exists() and not (public / "answers.csv").exists()
        assert (private / "answers.csv").read_bytes() == (bank / task_dir.name / "private" / "answers.csv").read_bytes()
        with open(private / "leaderboard.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert {"teamName", "score", "teamId", "submissionDate"} <= set(rows[0])
        assert len(rows) == 20
        spec = load_task(bank / task_dir.name).spec
        scores = [float(r["score"]) for r in rows]
        assert scores == sorted(scores, reverse=not spec.is_lower_better)
        assert (task_dir / "description.md").is_file() and (task_dir / "config.yaml").is_file()


def test_export_refuses_to_overwrite(bank, tmp_path):
    export_bank(bank, "mlebench", tmp_path / "o")
    assert cli_main(["bank", "export", str(bank), "--format", "mlebench", "--out", str(tmp_path / "o")]) == 2
    assert len(export_bank(bank, "mlebench", tmp_path / "o", overwrite=True)) == 3


def _variants(task, rng):
    """(name, DataFrame) submissions of several qualities for a fixture task of any metric."""
    from sandmle.metrics import METRICS

    answers = pd.read_csv(task.answers_path, dtype=str, keep_default_na=False)
    kind = METRICS[task.spec.metric].kind
    cols = list(task.spec.target_columns)
    out = [("perfect", answers), ("sample", pd.read_csv(task.sample_submission_path, dtype=str, keep_default_na=False))]
    noisy = answers.copy()
    if kind in ("binary_proba", "multilabel_proba", "multiclass_proba"):
        values = answers[cols].astype(float).to_numpy()
        noisy[cols] = np.clip(0.6 * values + rng.random(values.shape) * 0.5, 0, 1).round(4)
    elif kind in ("value", "multi_value"):
        values = answers[cols].astype(float).to_numpy()
        noisy[cols] = (values * rng.uniform(0.5, 1.5, values.shape)).round(3)
    elif kind == "ranking":
        noisy[cols[0]] = [" ".join(rng.permutation(list(task.spec.classes))[:3]) for _ in range(len(noisy))]
    else:
        column = noisy[cols[0]].to_numpy().copy()
        flip = rng.random(len(column)) < 0.4
        column[flip] = rng.permutation(column)[flip]
        noisy[cols[0]] = column
    out.append(("noisy", noisy.sample(frac=1.0, random_state=1)))
    extra = answers.copy()
    extra["unexpected"] = 1
    out += [("extra column", extra), ("missing row", answers.iloc[1:]),
            ("duplicated id", pd.concat([answers.iloc[:1], answers.iloc[1:]]).assign(
                **{task.spec.id_column: [answers[task.spec.id_column].iloc[0]] * 2 + list(answers[task.spec.id_column].iloc[2:])}))]
    return out


def test_embedded_metrics_agree_with_the_grader(make_task, tmp_path):
    """Every metric: the standalone evaluator's score (or refusal) matches grade_submission."""
    from sandmle.grading import grade_submission
    from sandmle.metrics import METRICS
    from sandmle.synth import evaluator_template as ev
    from sandmle.synth.export import evaluator_facts

    rng = np.random.default_rng(0)
    for metric in sorted(METRICS):
        task = make_task(metric, n_test=40)
        facts = evaluator_facts(task)
        graded = []
        for name, frame in _variants(task, rng):
            path = tmp_path / f"{metric}-{name.replace(' ', '_')}.csv"
            frame.to_csv(path, index=False)
            grade = grade_submission(task, path)
            try:
                score = ev.evaluate(facts, path, task.answers_path)["score"]
            except ev.InvalidSubmission as exc:
                score, reason = None, str(exc)
            else:
                reason = None
            assert (score is not None) == grade.valid, (metric, name, grade.reason, reason)
            if grade.valid:
                assert score == pytest.approx(grade.score, abs=2e-5), (metric, name)
                graded.append(name)
        assert graded == ["perfect", "sample", "noisy", "extra column"], (metric, graded)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
def test_mlebench_export_loads_in_the_registry_layout_and_grades_like_sandmle(bank, tmp_path):
    from sandmle.grading import grade_submission

    out = tmp_path / "mle"
    export_bank(bank, "mlebench", out)
    for task_dir in sorted(out.iterdir()):
        config = (task_dir / "config.yaml").read_text()
        tid = task_dir.name
        assert f"description: mlebench/competitions/{tid}/description.md" in config
        assert f"grade_fn: mlebench.competitions.{tid}.grade:grade" in config
        assert f"preparer: mlebench.competitions.{tid}.prepare:prepare" in config
        assert f"answers: {tid}/prepared/private/answers.csv" in config
        assert (out / f"{tid}/prepared/public/sample_submission.csv").is_file()
        assert {"grade.py", "prepare.py", "leaderboard.csv", "description.md"} <= {p.name for p in task_dir.iterdir()}
        grade, invalid = load_exported_grade(task_dir, tmp_path / f"mlebench-helpers-{tid}")
        task = load_task(bank / tid)
        answers = pd.read_csv(task.answers_path, float_precision="round_trip")
        for name, frame in _variants(task, np.random.default_rng(1)):
            path = tmp_path / f"{tid}-{name.replace(' ', '_')}.csv"
            frame.to_csv(path, index=False)
            ours = grade_submission(task, path)
            try:
                theirs = grade(pd.read_csv(path, float_precision="round_trip"), answers)
            except invalid:
                theirs = None
            assert (theirs is not None) == ours.valid, (tid, name, ours.reason)
            if ours.valid:
                assert theirs == pytest.approx(ours.score, abs=2e-5), (tid, name)


def test_release_evaluator_qwk_matches_the_grader_when_a_grade_level_is_absent(make_task, tmp_path):
    from sandmle.grading import grade_submission
    from sandmle.synth import evaluator_template as ev
    from sandmle.synth.export import evaluator_facts

    task = make_task("qwk", n_test=40)
    header, *rows = list(csv.reader(open(task.answers_path, newline="")))
    answers = [[r[0], "2" if r[1] == "3" else r[1]] for r in rows]        # no row of grade 3
    with open(task.answers_path, "w", newline="") as fh:
        csv.writer(fh).writerows([header] + answers)
    guesses = [[r[0], {"0": "1", "4": "2"}.get(r[1], r[1])] for r in answers]
    path = tmp_path / "s.csv"
    pd.DataFrame(guesses, columns=header).to_csv(path, index=False)
    facts = evaluator_facts(load_task(task.root))
    assert ev.evaluate(facts, path, task.answers_path)["score"] == grade_submission(task.root, path).score
