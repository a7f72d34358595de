"""Shared pieces of the generators: tables of formatted cells, CSV bytes, input parts.

A `Table` is an ordered mapping column -> list of already formatted cells, written by
`to_csv` with a fixed layout (comma separated, "\\n" line ends, quotes only where needed), so
the same data always gives the same bytes. A `Part` is what one input modality contributes
to a task: latent inputs the hidden rule reads (`latent`, one column per input), the columns
and files an agent sees, and the documentation of those columns. `GeneratedData` is what
every generator returns: the tables, media files and documentation of one task.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Table = dict[str, list[str]]


def to_csv(table: Table) -> bytes:
    names = list(table)
    if not names:
        raise ValueError("a table needs at least one column")
    rows = len(table[names[0]])
    for name in names:
        if len(table[name]) != rows:
            raise ValueError(f"column {name!r} has {len(table[name])} cells, expected {rows}")
    cols = [[_quote(c) for c in table[n]] if any(_needs_quote(c) for c in table[n]) else table[n] for n in names]
    lines = [",".join(_quote(n) for n in names)]
    lines += [",".join(row) for row in zip(*cols)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _needs_quote(cell: str) -> bool:
    return "," in cell or '"' in cell or "\n" in cell


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if _needs_quote(cell) else cell


def fmt(values: np.ndarray, decimals: int) -> list[str]:
    """Fixed-decimal cells; NaN becomes an empty cell."""
    values = np.asarray(values, dtype=float)
    if decimals <= 0:
        return ["" if v != v else str(int(v)) for v in np.round(values).tolist()]
    spec = f".{decimals}f"
    return ["" if v != v else format(v, spec) for v in values.tolist()]


def fmt_proba(values: np.ndarray) -> list[str]:
    return fmt(np.clip(values, 0.0, 1.0), 6)


PROBA_DECIMALS = 6


def fmt_simplex(rows: np.ndarray) -> list[list[str]]:
    """Columns of probability rows (n, k) written so that every row's cells sum to exactly 1
    as decimals: rounded to 6 places, the largest cell of each row takes the rounding
    remainder. MLE-bench's multi-class graders refuse rows that do not sum to 1 (within
    1.1e-5), which 4-decimal rows of many classes miss."""
    scale = 10 ** PROBA_DECIMALS
    units = np.round(np.clip(np.asarray(rows, dtype=float), 0.0, 1.0) * scale).astype(np.int64)
    units[np.arange(len(units)), units.argmax(axis=1)] += scale - units.sum(axis=1)
    return [fmt(units[:, j] / scale, PROBA_DECIMALS) for j in range(units.shape[1])]


def fmt_value(values: np.ndarray) -> list[str]:
    """Numbers with 6 significant digits (targets and predictions)."""
    return [format(v, ".6g") for v in np.asarray(values, dtype=float).tolist()]


@dataclass(frozen=True)
class ColumnDoc:
    """How description.md presents a column or a file set."""

    name: str
    meaning: str
    unit: str = ""


@dataclass
class Part:
    """One modality's contribution to a task (see the module doc)."""

    latent: np.ndarray                          # (rows, inputs) float, all rows (train then test)
    input_names: list[str]                      # names of latent inputs, for rule.md
    columns: Table = field(default_factory=dict)        # visible columns, all rows
    files: dict[str, bytes] = field(default_factory=dict)
    docs: list[ColumnDoc] = field(default_factory=list)
    group_effect: np.ndarray | None = None      # per-row additive effect of a group


@dataclass(frozen=True)
class GeneratedData:
    train: Table                  # id, inputs, label columns
    test: Table                   # id, inputs
    answers: Table                # id + submission columns
    oracle: Table                 # id + submission columns
    sample: Table                 # id + submission columns
    files: dict[str, bytes]       # media under public/ (images/..., audio/...)
    docs: list[ColumnDoc]         # visible columns and file sets, for description.md
    label_docs: list[ColumnDoc]   # label columns of train.csv
    rule_text: str
    train_ids: tuple[str, ...]
    test_ids: tuple[str, ...]
    notes: list[str] = field(default_factory=list)    # format notes for description.md
    overview: str = ""            # description.md's overview, where the generic one does not fit
    submission_text: str = ""     # description.md's submission format, likewise


def ids_for(prefix: str, start: int, count: int, width: int = 5) -> list[str]:
    if prefix:
        return [f"{prefix}{i:0{width}d}" for i in range(start, start + count)]
    return [str(i) for i in range(start, start + count)]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
