"""Forecasting metrics: MAPE and SMAPE over the compiled kernels (sandmle._native.forecast).

RMSE and MAE, the other two forecasting metrics, live in `sandmle.metrics.functions`.
Conventions, and the oracles in tests/test_metrics_forecast.py:
- mape: scikit-learn's mean_absolute_percentage_error, a fraction (0.1 = 10%); a true value
  of 0 is floored at machine epsilon, so a miss there is huge rather than infinite.
- smape: Kaggle's (web-traffic-time-series-forecasting, M4) symmetric MAPE in percent,
  100/n * sum(2 |F - A| / (|A| + |F|)), in [0, 200]; a row where truth and forecast are both
  0 adds 0.
"""
from __future__ import annotations

from math import isfinite

import numpy as np

from sandmle.metrics import inputs
from sandmle.metrics.native import forecast_kernels

MAPE_EPS = float(np.finfo(np.float64).eps)     # scikit-learn's floor of |y_true|


def mape(y_true, y_pred) -> float:
    a, b = inputs.paired_values(y_true, y_pred, "mape")
    s = forecast_kernels.sum_absolute_percentage_error(a, b, MAPE_EPS)
    if not isfinite(s):
        inputs.raise_if_nonfinite("mape", y_true=a, y_pred=b)
    return s / a.shape[0]


def smape(y_true, y_pred) -> float:
    a, b = inputs.paired_values(y_true, y_pred, "smape")
    s = forecast_kernels.sum_symmetric_percentage_error(a, b)
    if not isfinite(s):
        inputs.raise_if_nonfinite("smape", y_true=a, y_pred=b)
    return 100.0 * s / a.shape[0]
