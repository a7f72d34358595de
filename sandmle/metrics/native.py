"""The compiled metric kernels (sandmle._native.metrics), imported once for the package.

A missing build is an ImportError that names the command to run; there is no slow
pure-Python fallback.
"""
try:
    from sandmle._native import metrics as kernels
except ImportError as exc:  # the extension was never compiled in this checkout
    raise ImportError(
        "sandmle's compiled metric kernels (sandmle._native.metrics) are missing: "
        "run `make build` in the sandmle checkout") from exc

__all__ = ["kernels"]
