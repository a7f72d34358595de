"""`sandmle bench kernels`: runs, times every metric against its reference, and prints
exactly one JSON object with --json."""
from __future__ import annotations

import json

import pytest

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


@pytest.mark.slow
def test_json_output_has_one_row_per_metric_and_size(capsys):
    assert main(["bench", "kernels", "--json", "--sizes", "100,1000"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out)["rows"]
    assert list(json.loads(out)) == ["rows"]
    assert {(r["metric"], r["n"]) for r in rows} == {(m, n) for m in METRICS for n in (100, 1000)}
    for row in rows:
        assert set(row) == {"metric", "n", "ours_s", "baseline_s", "ratio"}
        assert row["ours_s"] > 0 and row["baseline_s"] > 0
        assert row["ratio"] == pytest.approx(row["baseline_s"] / row["ours_s"])


def test_bad_sizes_are_a_usage_error(capsys):
    assert main(["bench", "kernels", "--sizes", "ten"]) == 2
    assert "--sizes must be comma-separated integers" in capsys.readouterr().err
