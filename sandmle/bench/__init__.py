"""Benchmarks, kept apart from the tests: each module times a piece of sandmle against a
baseline measured in the same run and prints ratios (`sandmle bench NAME [--json]`).
Each module defines `register(subparsers)`; heavy imports stay inside its handler."""


def parse_sizes(text: str) -> list[int]:
    """Row counts from --sizes ("100,10000"); UserError unless each is an integer >= 10."""
    from sandmle.errors import UserError

    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 10:
        raise UserError(f"--sizes needs row counts of at least 10, got {text!r}")
    return sizes


def format_seconds(seconds: float) -> str:
    """A duration for a benchmark table: µs, ms or s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"
