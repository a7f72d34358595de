"""Metrics: Cython kernels behind a Python registry.

`compute(name, y_true, y_pred, **params) -> float`; `METRICS[name]` gives the direction and
submission kind. Only this package imports the compiled kernels (sandmle._native.metrics,
built by `make build`); `compute` raises sandmle.errors.MetricError where a metric is
undefined or its inputs are malformed. The table imports without the build; `compute` is
loaded on first use and raises ImportError naming the build command when it is missing.
"""
from sandmle.metrics.registry import KINDS, METRICS, Metric

__all__ = ["KINDS", "METRICS", "Metric", "compute"]


def __getattr__(name: str):
    if name == "compute":
        from sandmle.metrics.functions import compute

        globals()["compute"] = compute  # later look-ups skip this function
        return compute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
