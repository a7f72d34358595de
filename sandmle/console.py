"""Console output shared by the CLI commands.

- `make_console(stderr=False)`: a rich Console for human-readable output (tables, colours).
- `print_json(obj)`: the `--json` contract: exactly one JSON object on stdout, one line,
  nothing else. Dataclasses and objects with `to_json()` are converted; non-finite floats
  become null so the output is strict JSON.

rich is imported only when a Console is made, so `--json` paths stay fast.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any, TextIO


def make_console(stderr: bool = False):
    """A rich Console writing to stdout (or stderr), without soft wrapping of long lines."""
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True, highlight=False)


def to_jsonable(obj: Any) -> Any:
    """`obj` as plain JSON data: dicts, lists, str, int, float (finite) and None."""
    if hasattr(obj, "to_json") and callable(obj.to_json):
        return to_jsonable(obj.to_json())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):        # numpy scalars
        return to_jsonable(obj.item())
    raise TypeError(f"cannot write {type(obj).__name__} as JSON: {obj!r}")


def print_json(obj: Any, file: TextIO | None = None) -> None:
    """Write `obj` (a dict, dataclass or object with `to_json()`) as one JSON line."""
    data = to_jsonable(obj)
    if not isinstance(data, dict):
        raise TypeError(f"--json output must be one JSON object, got {type(data).__name__}")
    out = sys.stdout if file is None else file
    out.write(json.dumps(data, allow_nan=False, ensure_ascii=False) + "\n")
    out.flush()
