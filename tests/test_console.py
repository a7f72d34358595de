"""The --json contract: exactly one strict JSON object on one line."""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from sandmle.console import make_console, print_json, to_jsonable


@dataclass(frozen=True)
class Point:
    x: float
    tags: tuple[str, ...]


class WithToJson:
    def to_json(self):
        return {"kind": "custom", "value": math.inf}


def test_one_line_one_object():
    out = io.StringIO()
    print_json({"a": 1, "text": "two\nlines", "nested": {"p": Point(1.5, ("a", "b"))}}, file=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {"a": 1, "text": "two\nlines", "nested": {"p": {"x": 1.5, "tags": ["a", "b"]}}}


def test_non_finite_floats_become_null_and_objects_convert():
    assert to_jsonable(WithToJson()) == {"kind": "custom", "value": None}
    assert to_jsonable({"n": math.nan, "p": Path("/x"), "i": np.int64(3), "f": np.float32(0.5),
                        "s": {2, 1}}) == {"n": None, "p": "/x", "i": 3, "f": 0.5, "s": [1, 2]}


def test_print_json_writes_to_stdout(capsys):
    print_json(Point(2.0, ()))
    assert json.loads(capsys.readouterr().out) == {"x": 2.0, "tags": []}


@pytest.mark.parametrize("bad", [[1, 2], "text", 3])
def test_only_objects_are_printed(bad):
    with pytest.raises(TypeError, match="one JSON object"):
        print_json(bad, file=io.StringIO())


def test_unknown_types_are_refused():
    with pytest.raises(TypeError, match="cannot write object"):
        to_jsonable({"x": object()})


def test_console_factory():
    console = make_console()
    assert console.soft_wrap is True
    assert make_console(stderr=True).stderr is True


def test_a_table_into_a_pipe_keeps_each_row_on_one_line():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}      # pytest sets them
    done = subprocess.run([sys.executable, "-m", "sandmle", "seeds", "list"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0
    rows = [line for line in done.stdout.splitlines() if "tabular-regression-" in line]
    assert rows and all("│ tabular-regression-" in line for line in rows), done.stdout[:2000]   # ids whole
