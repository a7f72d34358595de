"""`sandmle bench grade`: its cases are valid tasks whose pandas baseline agrees with the
grader, and the output contract. No timing runs here."""
from __future__ import annotations

import json
import warnings

import pytest

from sandmle.bench import grade as bench
from sandmle.cli import main
from sandmle.grading import grade_submission


@pytest.mark.parametrize("metric", ["auc", "multiclass_log_loss"])
def test_cases_grade_alike_under_both_graders(tmp_path, metric):
    namespace: dict = {}
    exec(bench.BASELINE, namespace)
    task, submission = bench.make_case(tmp_path, metric, 300)
    grade = grade_submission(task, submission)
    assert grade.valid, grade.reason
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = namespace["grade"](submission, task.answers_path, "id", list(task.spec.target_columns), metric)
    assert grade.score == pytest.approx(want, abs=1e-5)


FAKE = [{"metric": "auc", "n": 100, "ours_cpu_s": 1e-3, "ours_cold_cpu_s": 2e-3, "baseline_cpu_s": 9e-3,
         "ratio": 9.0, "cold_ratio": 4.5}]


def test_json_output_has_the_rows_and_the_load(monkeypatch, capsys):
    monkeypatch.setattr(bench, "measure", lambda sizes, with_process=True: FAKE)
    assert main(["bench", "grade", "--json", "--no-process", "--sizes", "100"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == FAKE and len(out["load_before"]) == 3


def test_bad_sizes_are_one_line(capsys):
    assert main(["bench", "grade", "--sizes", "ten"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
