"""Console output shared by the CLI commands.

- `make_console(stderr=False)`: a rich Console for human-readable output (tables, colours).
  It never lets a control character through: terminal escapes (ESC, C1 controls such as
  CSI, bidirectional overrides) in anything it prints are shown as visible `\\x1b`-style
  escapes, so text cannot move the cursor, recolour or rewrite earlier lines.
- `escape(text)`: text a job controls (its output, file names, a grader's reason quoting a
  submission) made safe to embed in rich markup: control characters made visible and
  markup brackets escaped, so `[bold]tier gold[/]` in a job's stdout prints literally.
- `print_json(obj)`: the `--json` contract: exactly one JSON object on stdout, one line,
  nothing else. Dataclasses and objects with `to_json()` are converted; non-finite floats
  become null so the output is strict JSON; control characters and undecodable bytes
  (lone surrogates from non-UTF-8 file names) are written as JSON `\\u` escapes.

rich is imported only when a Console is made, so `--json` paths stay fast.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, TextIO


# C0 controls but tab and newline, DEL, C1 controls, bidirectional embeddings, overrides and
# isolates (they reorder what a terminal shows), and lone surrogates (undecodable bytes).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character, bidi override and lone surrogate replaced by a
    visible escape (`\\x1b`, `\\u202e`, `\\udcff`); tabs and newlines are kept."""
    return _UNSAFE.sub(_visible, text)


def escape(text: str) -> str:
    """Job-controlled `text`, safe to embed in rich markup: printable and markup-escaped."""
    from rich.markup import escape as escape_markup

    return escape_markup(printable(text))


BROKEN_PIPE_EXIT = 141     # 128 + SIGPIPE, as a shell reports a writer whose reader left


PIPE_WIDTH = 200


def make_console(stderr: bool = False):
    """A rich Console writing to stdout (or stderr), without soft wrapping of long lines,
    that shows control characters as visible escapes (see the module docstring)."""
    from rich.console import Console

    class _SafeConsole(Console):
        def _render_buffer(self, buffer) -> str:
            from rich.segment import Segment

            # Styles become escapes only when the buffer is rendered, after this filter.
            return super()._render_buffer(
                Segment(printable(s.text), s.style, s.control) if not s.control else s
                for s in buffer)

        def on_broken_pipe(self) -> None:
            # `sandmle grade ... | head -1`: the reader left. rich exits 1, which reads as "invalid
            # submission" to a script; 141 (128 + SIGPIPE) is what a shell reports for a pipe.
            self.quiet = True
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(BROKEN_PIPE_EXIT)

    stream = sys.stderr if stderr else sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    # Into a pipe or a file rich assumes 80 columns and wraps table cells: `sandmle seeds list |
    # grep tabular-regression-` found nothing. There, tables get PIPE_WIDTH unless COLUMNS says.
    width = None if terminal or os.environ.get("COLUMNS") else PIPE_WIDTH
    return _SafeConsole(stderr=stderr, soft_wrap=True, highlight=False, width=width)


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
    text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    # Inside JSON strings (the only place they can occur) these become \\uXXXX escapes.
    out.write(_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")
    out.flush()
