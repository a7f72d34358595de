"""The compiled metric kernels (sandmle._native.metrics, sandmle._native.forecast),
imported once for the package.

A missing or stale build is a `NativeBuildError` (an ImportError) that names the command
to run; there is no slow pure-Python fallback.
"""
from sandmle.errors import NativeBuildError

try:
    from sandmle._native import forecast as forecast_kernels
    from sandmle._native import metrics as kernels
except NativeBuildError:               # built from older sources: the message says so
    raise
except ImportError as exc:  # the extension was never compiled in this checkout
    raise NativeBuildError(
        f"sandmle's compiled metric kernels ({exc.name or 'sandmle._native'}) are missing: "
        "run `make build` in the sandmle checkout") from exc

__all__ = ["forecast_kernels", "kernels"]
