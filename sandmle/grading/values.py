"""Values: the paired cells of the scored columns -> the metric kind's input arrays.

The cells are read the way the metric's kind needs (`sandmle.metrics.registry`) and checked
on the scored rows: probabilities in [0, 1] (unless the profile allows any number), rows of
multi-class probabilities summing to 1 where the profile asks it (MLE-bench's
`np.isclose(row sum, 1, atol=1e-6)`), labels and integer grades compared as values, text
compared as pandas' `astype(str)` makes it, rankings split on blanks. Every other value
must be a finite number. A bad submission cell raises `InvalidSubmission` naming the cell
and its id; a bad answers cell raises `UserError`.
"""
from __future__ import annotations

import re

import numpy as np

from sandmle.errors import InvalidSubmission, UserError
from sandmle.grading.align import Columns, Pairs
from sandmle.grading.cells import (BOOL_TOKENS, NA_TOKENS, PANDAS_BLANKS, TRUE_TOKENS, PandasColumn,
                                   pandas_column, pandas_text)
from sandmle.grading.profile import GraderProfile
from sandmle.grading.read import Table
from sandmle.grading.reasons import show
from sandmle.task import TaskSpec

PROBA_KINDS = ("binary_proba", "multilabel_proba", "multiclass_proba")
NUMERIC_KINDS = PROBA_KINDS + ("value", "multi_value")
_INTEGER_TEXT = re.compile(r"[+-]?\d+(\.0*)?")


class _Side:
    """One file's scored cells: the table, its id column, the column positions and rows."""

    def __init__(self, table: Table, id_position: int, positions: tuple[int, ...],
                 rows: np.ndarray | None, trusted: bool, reader: str) -> None:
        self.table, self.id_position, self.positions = table, id_position, positions
        self.rows, self.trusted, self.reader = rows, trusted, reader

    def cells(self, j: int):
        raw = self.table.cells_at(self.positions[j])
        return raw if self.rows is None else raw.gather(self.rows)

    def cell(self, j: int, row: int) -> str:
        return self.table.cells_at(self.positions[j])[row if self.rows is None else int(self.rows[row])]

    def name(self, j: int) -> str:
        return self.table.names[self.positions[j]]

    def row_label(self, row: int) -> str:
        source = row if self.rows is None else int(self.rows[row])
        if self.id_position < 0:
            return f"row {source + 1}"
        return f"id {show(self.table.cells_at(self.id_position)[source])}"

    def where(self, j: int, row: int) -> str:
        return f"in column {self.name(j)!r} ({self.row_label(row)})"

    def reject(self, message: str):
        if self.trusted:
            raise UserError(f"broken answers file: {message}")
        raise InvalidSubmission(message)


def metric_arrays(spec: TaskSpec, profile: GraderProfile, kind: str, answers: Table, submission: Table,
                  columns: Columns, pairs: Pairs):
    truth = _Side(answers, columns.answer_id, columns.answer, pairs.answer, True, profile.reader)
    guess = _Side(submission, columns.submission_id, columns.submission, pairs.submission, False,
                  profile.reader)
    if kind == "multiclass_proba":
        y_true = _class_indices(truth)
        y_pred = _matrix(guess)
        _check_predictions(y_pred, guess, kind, profile)
        return y_true, y_pred
    if kind in NUMERIC_KINDS:
        y_true, y_pred = _matrix(truth), _matrix(guess)
        _check_predictions(y_pred, guess, kind, profile)
        if kind == "binary_proba":
            return y_true[:, 0], y_pred[:, 0]
        if kind == "value":
            return y_true.ravel(), y_pred.ravel()
        return y_true, y_pred
    if kind == "label":
        if profile.compare == "text":
            return _texts(truth), _texts(guess)
        if profile.reader == "pandas":
            return _pandas_labels(truth, guess)
        return _labels(truth, guess)
    if kind == "ordinal":
        a, b = _grades(truth), _grades(guess)
        domain = {int(_normal_label(c.strip())) for c in spec.classes if _INTEGER_TEXT.fullmatch(c.strip())}
        levels = {v: i for i, v in enumerate(sorted(domain | set(a) | set(b)))}
        return (np.array([levels[v] for v in a], dtype=np.int64),
                np.array([levels[v] for v in b], dtype=np.int64))
    if kind == "ranking":
        _check_filled(guess)
        return ([v.split() for v in truth.cells(0).to_list()], [v.split() for v in guess.cells(0).to_list()])
    raise ValueError(f"metric {spec.metric!r} has unknown kind {kind!r}")


# -- numbers ----------------------------------------------------------------------------------

def scored_row(profile: GraderProfile, table: Table, columns: Columns, row: int) -> np.ndarray:
    """float64 values (k,) of a submission's row `row`, scored columns in `columns` order,
    read as `metric_arrays` reads a numeric kind's cells; InvalidSubmission when one is no
    number."""
    side = _Side(table, columns.submission_id, columns.submission, np.array([row], dtype=np.int64),
                 False, profile.reader)
    return _matrix(side)[0]


def _matrix(side: _Side) -> np.ndarray:
    """float64 (rows, columns), C-contiguous; every cell must be a number (NaN where missing)."""
    import polars as pl

    whole = side.table.decimal_rows(side.positions)          # the plain reader's matrix: no copy
    if whole is not None:
        return whole if side.rows is None else whole[side.rows]
    columns = [side.table.cells_at(p) for p in side.positions]
    if all(c.dtype == pl.Float64 for c in columns):          # parsed while reading: one copy
        key = ("matrix", side.positions)
        whole = side.table.memo.get(key) if side.trusted else None
        if whole is None:
            whole = (pl.DataFrame(columns).to_numpy(order="c") if len(columns) > 1 else
                     columns[0].to_numpy().reshape(-1, 1))
            if side.trusted:
                side.table.memo[key] = whole
        return whole if side.rows is None else whole[side.rows]
    key = ("matrix", side.positions)
    if side.trusted and side.rows is None and key in side.table.memo:
        return side.table.memo[key]
    rows = side.table.height if side.rows is None else len(side.rows)
    out = np.empty((rows, len(side.positions)), dtype=np.float64)
    for j in range(len(side.positions)):
        out[:, j] = _numbers(side, j)
    if side.trusted and side.rows is None:
        side.table.memo[key] = out
    return out


def _class_indices(truth: _Side) -> np.ndarray:
    """Each scored answer row's class (the column of its 1), from the one-hot answers; kept
    per task, so only the int64 indices are gathered per grade."""
    from sandmle.metrics.inputs import class_indices, onehot_column_indices

    key = ("classes", truth.positions)
    indices = truth.table.memo.get(key)
    if indices is None:
        whole = _Side(truth.table, truth.id_position, truth.positions, None, True, truth.reader)
        rows = truth.table.decimal_rows(truth.positions)
        try:
            if rows is not None:                 # the plain reader's (n, k) matrix
                indices = class_indices(rows, rows.shape[0], rows.shape[1], "answers")
            else:
                indices = onehot_column_indices([_numbers(whole, j) for j in range(len(whole.positions))],
                                                "answers")
        except UserError as exc:
            truth.reject(f"answers must be one-hot rows ({exc})")
        truth.table.memo[key] = indices
    return indices if truth.rows is None else indices[truth.rows]


def _numbers(side: _Side, j: int) -> np.ndarray:
    """float64 values of column j's scored rows: NaN for a missing cell (pandas reader);
    a cell that is no number rejects the file. Parsed over the whole column first, blanks
    stripped only from the cells that need it, then the scored rows taken."""
    import polars as pl

    whole = side.table.cells_at(side.positions[j])
    if whole.dtype != pl.String:                 # parsed while reading (no empty cells)
        values = whole.cast(pl.Float64).to_numpy()
        return values if side.rows is None else values[side.rows]
    if side.reader == "pandas" and whole[0] in BOOL_TOKENS and pandas_column(whole).dtype == "bool":
        values = whole.is_in(TRUE_TOKENS).cast(pl.Float64).to_numpy()          # True/False as 1/0
        return values if side.rows is None else values[side.rows]
    parsed = whole.cast(pl.Float64, strict=False)
    values = parsed.to_numpy()                 # NaN where the cast failed
    if parsed.null_count():
        where_failed = parsed.is_null().arg_true().to_numpy()
        retry = whole.gather(where_failed)
        if side.reader == "pandas":
            missing = retry.is_in(NA_TOKENS).to_numpy()
            again = retry.str.strip_chars(PANDAS_BLANKS).cast(pl.Float64, strict=False)
        else:
            missing = np.zeros(len(retry), dtype=bool)
            again = retry.str.strip_chars().cast(pl.Float64, strict=False)
        bad = again.is_null().to_numpy() & ~missing
        values[where_failed] = again.fill_null(np.nan).to_numpy()
        if bad.any():
            scored = np.zeros(len(whole), dtype=bool)
            scored[where_failed[bad]] = True
            if side.rows is not None:
                scored = scored[side.rows]
            if scored.any():
                row = int(np.flatnonzero(scored)[0])
                cell, where = side.cell(j, row), side.where(j, row)
                if cell.strip() == "":
                    side.reject(f"empty value {where}")
                side.reject(f"value {show(cell)} {where} is not a number")
    return values if side.rows is None else values[side.rows]


def _check_predictions(values: np.ndarray, side: _Side, kind: str, profile: GraderProfile) -> None:
    """Every value finite, then rows summing to 1 (multi-class, where the profile asks),
    then probabilities in [0, 1] (where it asks), the first failure giving the reason.
    Where probabilities are checked, one pass finds most files clean: a value in [0, 1] is
    finite (a pass is 9 ms at 1M rows x 5)."""
    from sandmle.metrics.inputs import first_outside

    in_range = kind in PROBA_KINDS and profile.probability_range and first_outside(values, 0.0, 1.0) < 0
    if not in_range:
        _check_finite(values, side)
    if kind == "multiclass_proba" and profile.row_sum is not None:
        _check_row_sums(values, side, profile.row_sum)
    if kind in PROBA_KINDS and profile.probability_range and not in_range:
        _check_probabilities(values, side)


def _check_finite(values: np.ndarray, side: _Side) -> None:
    from sandmle.metrics.inputs import first_nonfinite

    i = first_nonfinite(values)
    if i >= 0:
        row, j = divmod(i, values.shape[1])
        cell = side.cell(j, row)
        missing = side.reader == "pandas" and cell in NA_TOKENS
        problem = "is missing" if missing else "is not finite"
        side.reject(f"value {show(cell)} {side.where(j, row)} {problem}")


def _check_probabilities(values: np.ndarray, side: _Side) -> None:
    from sandmle.metrics.inputs import first_outside

    i = first_outside(values, 0.0, 1.0)
    if i >= 0:
        row, j = divmod(i, values.shape[1])
        side.reject(f"probability {side.cell(j, row)} {side.where(j, row)} is outside [0, 1]")


def _check_row_sums(values: np.ndarray, side: _Side, tolerance: tuple[float, float]) -> None:
    """Rows must sum to 1 as `numpy.isclose(sum, 1, atol, rtol)` accepts (missing cells skipped,
    as pandas' `sum(axis=1)` does)."""
    atol, rtol = tolerance
    sums = np.nansum(values, axis=1)
    off = ~(np.abs(sums - 1.0) <= atol + rtol)
    if off.any():
        row = int(np.flatnonzero(off)[0])
        side.reject(f"probabilities of {side.row_label(row)} sum to {sums[row]!r}, not 1 "
                    f"(tolerance {atol + rtol:g}); write rows that sum to 1")


# -- labels, grades, text ---------------------------------------------------------------------

def _check_filled(side: _Side) -> None:
    for j in range(len(side.positions)):
        empty = side.cells(j).str.strip_chars() == ""
        if empty.any():
            side.reject(f"empty value {side.where(j, int(empty.arg_true()[0]))}")


def _labels(truth: _Side, guess: _Side):
    """Label codes of both sides; integer-valued numbers in one spelling ("1.0" is "1")."""
    _check_filled(guess)
    a = truth.cells(0).str.strip_chars().to_list()
    b = guess.cells(0).str.strip_chars().to_list()
    # a label column repeats a few values: spell each distinct cell once, not each row
    spelled = {v: _normal_label(v) for v in set(a) | set(b)}
    labels_a = {spelled[v] for v in set(a)}
    labels_b = {spelled[v] for v in set(b)}
    codes = {label: i for i, label in enumerate(sorted(labels_a) + sorted(labels_b - labels_a))}
    code_of = {v: codes[label] for v, label in spelled.items()}
    return (np.array([code_of[v] for v in a], dtype=np.int64), np.array([code_of[v] for v in b], dtype=np.int64))


def _normal_label(text: str) -> str:
    """Integer-valued numbers in one spelling ("1.0", "+1" -> "1"); other labels unchanged."""
    if len(text) < 1000 and _INTEGER_TEXT.fullmatch(text):
        return str(int(text.split(".")[0]))
    return text


def _typed(side: _Side):
    column = pandas_column(side.table.cells_at(side.positions[0]))
    values = column.values if side.rows is None else column.values.gather(side.rows)
    return column, values


def _pandas_labels(truth: _Side, guess: _Side):
    """Labels compared as scikit-learn compares the pandas columns: numbers by value (a
    non-integer or missing number is a continuous target, invalid), text by string, and a
    number never equals a string (every such row is wrong). A text column with a missing
    cell cannot be typed as labels (invalid)."""
    import polars as pl

    out = []
    for side in (truth, guess):
        column, values = _typed(side)
        if column.is_numeric:
            floats = values.cast(pl.Float64)
            bad = ~floats.is_finite() | (floats.round(0) != floats)
            if bad.any():
                row = int(bad.arg_true()[0])
                problem = ("is missing" if floats[row] != floats[row] else "is not finite"
                           if not np.isfinite(floats[row]) else "is not a whole number")
                side.reject(f"label {show(side.cell(0, row))} {side.where(0, row)} {problem} "
                            "(labels must all be whole numbers or all text)")
            out.append(("number", floats.to_list()))
        else:
            if values.null_count():
                row = int(values.is_null().arg_true()[0])
                side.reject(f"label {show(side.cell(0, row))} {side.where(0, row)} is missing")
            out.append(("text", values.to_list()))
    (kind_a, a), (kind_b, b) = out
    if kind_a != kind_b:                      # a string never equals a number
        return np.zeros(len(a), dtype=np.int64), np.ones(len(b), dtype=np.int64)
    codes = {label: i for i, label in enumerate(sorted(set(a) | set(b)))}
    return np.array([codes[v] for v in a], dtype=np.int64), np.array([codes[v] for v in b], dtype=np.int64)


def _texts(side: _Side) -> np.ndarray:
    """Strings as pandas' astype(str) makes them of the column (NA tokens become "nan")."""
    column, values = _typed(side)
    if column.dtype == "object":
        return np.asarray(values.fill_null("nan").to_list(), dtype=object)
    return np.asarray(pandas_text(PandasColumn(column.dtype, values)).to_list(), dtype=object)


def _grades(side: _Side) -> list[int]:
    """Integer grades of an ordinal column ("2" and "2.0" are both 2)."""
    values = _numbers(side, 0) if side.reader == "sandmle" else _pandas_grades(side)
    if np.isnan(values).any():
        row = int(np.flatnonzero(np.isnan(values))[0])
        side.reject(f"grade {show(side.cell(0, row))} {side.where(0, row)} is missing")
    fractional = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) > 2.0 ** 53)
    if fractional.any():
        row = int(np.flatnonzero(fractional)[0])
        side.reject(f"grade {side.cell(0, row)} {side.where(0, row)} is not an integer")
    return [int(v) for v in values]


def _pandas_grades(side: _Side) -> np.ndarray:
    import polars as pl

    column, values = _typed(side)
    if not column.is_numeric:
        cells = side.cells(0)
        bad = cells.is_in(NA_TOKENS) | cells.str.strip_chars(PANDAS_BLANKS).cast(pl.Float64, strict=False).is_null()
        row = int(bad.arg_true()[0]) if bad.any() else 0
        side.reject(f"grade {show(cells[row])} {side.where(0, row)} is not a number "
                    "(grades must all be numbers)")
    return values.cast(pl.Float64).to_numpy()

