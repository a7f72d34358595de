"""MAPE and SMAPE (sandmle.metrics.forecast) against scikit-learn and Kaggle's formula at
their edges: zero truths, zero forecasts, negative values, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

from sandmle.errors import MetricError
from sandmle.metrics import METRICS, compute


def ref_smape(y, p):
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    total = 0.0
    for a, f in zip(y.tolist(), p.tolist()):
        if a != 0.0 or f != 0.0:
            total += 2.0 * abs(f - a) / (abs(a) + abs(f))
    return 100.0 * total / len(y)


def test_registry_directions_and_kinds():
    for name in ("mape", "smape"):
        assert METRICS[name].is_lower_better and METRICS[name].kind == "value"


def test_mape_is_a_fraction_like_scikit_learn():
    assert compute("mape", [100.0, 200.0], [110.0, 180.0]) == pytest.approx(0.1)
    y, p = [3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]
    assert math.isclose(compute("mape", y, p), skm.mean_absolute_percentage_error(y, p), rel_tol=1e-12)


def test_mape_floors_a_zero_truth_at_machine_epsilon():
    y, p = [0.0, 1.0], [1e-3, 1.0]
    assert math.isclose(compute("mape", y, p), skm.mean_absolute_percentage_error(y, p), rel_tol=1e-12)
    assert compute("mape", [0.0], [0.0]) == 0.0


def test_smape_is_percent_and_bounded():
    assert compute("smape", [100.0], [100.0]) == 0.0
    assert compute("smape", [100.0], [0.0]) == pytest.approx(200.0)
    assert compute("smape", [0.0, 0.0], [0.0, 0.0]) == 0.0          # both zero: adds 0
    assert compute("smape", [100.0, 0.0], [50.0, 0.0]) == pytest.approx(100.0 * (2 * 50 / 150) / 2)
    assert compute("smape", [2.0], [-2.0]) == pytest.approx(200.0)


@pytest.mark.parametrize("name", ["mape", "smape"])
def test_bad_inputs_name_the_value(name):
    with pytest.raises(MetricError, match=r"y_pred\[1\] is nan"):
        compute(name, [1.0, 2.0], [1.0, float("nan")])
    with pytest.raises(MetricError, match="shape"):
        compute(name, [1.0, 2.0], [1.0])
    with pytest.raises(MetricError, match="no rows"):
        compute(name, [], [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=1, max_size=60))
def test_hypothesis_draws_match_the_references(pairs):
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    assert math.isclose(compute("smape", y, p), ref_smape(y, p), rel_tol=1e-9, abs_tol=1e-9)
    want = skm.mean_absolute_percentage_error(y, p)
    assert math.isclose(compute("mape", y, p), want, rel_tol=1e-9, abs_tol=1e-9)
