"""One-line reasons for invalid submissions: values shown short, lists of ids cut to a few."""
from __future__ import annotations

from typing import Any

_SHOWN = 3                         # how many offending ids a reason lists


def show(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def id_list(values: list[str]) -> str:
    shown = ", ".join(show(v) for v in values[:_SHOWN])
    return shown + (f" ({len(values)} in all)" if len(values) > _SHOWN else "")


def name_list(values: list[str]) -> str:
    return ", ".join(show(v) for v in values[:8]) + (f" (+{len(values) - 8} more)" if len(values) > 8 else "")


def one_line(text: str, width: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."
