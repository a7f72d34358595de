"""`sandmle bench kernels`: a case for every metric whose reference agrees with compute,
and the output contract (exactly one JSON object with --json). No timing runs here."""
from __future__ import annotations

import json

from sandmle.bench import kernels
from sandmle.cli import main
from sandmle.metrics import METRICS, compute


def test_every_metric_has_a_benchmark_case_that_agrees_with_its_reference():
    import math

    for metric, y_true, y_pred, params, _, reference in kernels.cases(200):
        want = reference()
        if metric == "spearman":
            want = want.statistic
        assert math.isclose(compute(metric, y_true, y_pred, **params), want,
                            rel_tol=1e-9, abs_tol=1e-12), metric
    assert sorted(case[0] for case in kernels.cases(200)) == sorted(METRICS)


FAKE_ROWS = [{"metric": "auc", "n": 100, "ours_s": 2e-6, "baseline_s": 1e-3, "ratio": 500.0,
              "baseline": "roc_auc_score"},
             {"metric": "rmse", "n": 1_000_000, "ours_s": 4e-3, "baseline_s": 5e-3,
              "ratio": 1.25, "baseline": "root_mean_squared_error"}]


def test_json_output_is_exactly_the_rows_object(monkeypatch, capsys):
    # The benchmark itself never runs in the tests: measure() is replaced by fixed rows.
    monkeypatch.setattr(kernels, "measure", lambda sizes, **kw: FAKE_ROWS)
    assert main(["bench", "kernels", "--json", "--sizes", "100,1000000"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"rows": [{k: row[k] for k in ("metric", "n", "ours_s", "baseline_s",
                                                 "ratio")} for row in FAKE_ROWS]}


def test_table_marks_goals(monkeypatch, capsys):
    monkeypatch.setattr(kernels, "measure", lambda sizes, **kw: FAKE_ROWS)
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["bench", "kernels", "--sizes", "100,1000000"]) == 0
    out = capsys.readouterr().out
    assert "500.0x" in out and "1.2x" in out and ">= 50x" in out and ">= 1.5x" in out


def test_goals():
    assert kernels.goal("rmse", 100) == 50.0
    assert kernels.goal("smape", 100) == 5.0      # its reference is a bare numpy formula
    assert kernels.goal("rmse", 10_000) is None
    assert kernels.goal("rmse", 1_000_000) == 1.5
    assert kernels.goal("qwk", 1_000_000) == 5.0


def test_bad_sizes_are_a_usage_error(capsys):
    assert main(["bench", "kernels", "--sizes", "ten"]) == 2
    assert "--sizes must be comma-separated integers" in capsys.readouterr().err
