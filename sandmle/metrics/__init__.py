"""Metrics: Cython kernels behind a Python registry.

`compute(name, y_true, y_pred, **params) -> float`; `METRICS[name]` gives the direction and
submission kind. Only this package imports the compiled kernels (sandmle._native.metrics,
built by `make build`); `compute` raises sandmle.errors.MetricError where a metric is
undefined or its inputs are malformed.
"""
from sandmle.metrics.functions import compute
from sandmle.metrics.registry import KINDS, METRICS, Metric

__all__ = ["KINDS", "METRICS", "Metric", "compute"]
