"""The compiled metric kernels (sandmle._native.metrics, sandmle._native.forecast),
imported once for the package.

A missing or stale build is a `NativeBuildError` (an ImportError) that names the command
to run; there is no slow pure-Python fallback.
"""
from sandmle.errors import native_module

forecast_kernels = native_module("forecast", "metric kernels")
kernels = native_module("metrics", "metric kernels")

__all__ = ["forecast_kernels", "kernels"]
