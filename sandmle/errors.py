"""Error types shared across sandmle.

- `UserError`: a user's bad input (a config, a task folder, a CLI argument). The CLI prints
  its message as one line and exits with status 2.
- `MetricError`: a metric asked of inputs where it is undefined or malformed (AUC with one
  class, mismatched lengths). A `UserError`, so the CLI reports it the same way.
- `InvalidSubmission`: an agent's submission that cannot be graded. The grader turns it into
  an invalid `Grade`; it never escapes `grade_submission`.
- `NativeBuildError`: the compiled kernels are missing or older than csrc/; its message
  names the command to run (`make build`), and the CLI prints it as one line.
Infrastructure failures (a bug) raise ordinary exceptions.
"""


class UserError(Exception):
    """Bad input from a user: reported as one line, non-zero exit."""


class MetricError(UserError, ValueError):
    """A metric is undefined or its inputs are malformed."""


class InvalidSubmission(Exception):
    """A submission that cannot be graded; its message is the one-line reason."""


class NativeBuildError(ImportError):
    """The compiled kernels are missing or were built from other sources: run `make build`."""


def native_module(name: str, what: str):
    """The compiled module sandmle._native.NAME (`what` names it in the message). A stale build
    raises sandmle._native's own NativeBuildError; one never compiled in this checkout raises
    NativeBuildError "sandmle's compiled WHAT (sandmle._native.NAME) is missing: run `make
    build` ...". There is no slow pure-Python fallback."""
    import importlib

    try:
        return importlib.import_module(f"sandmle._native.{name}")
    except NativeBuildError:
        raise
    except ImportError as exc:
        raise NativeBuildError(f"sandmle's compiled {what} (sandmle._native.{name}) is missing: "
                               "run `make build` in the sandmle checkout") from exc
