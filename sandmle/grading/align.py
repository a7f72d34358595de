"""Aligning: a read submission -> rows in the answers' order -> the metric's input arrays.

`align` joins the submission to the answers by id (ids compared as strings, surrounding
spaces ignored; every id exactly once, column order free). `metric_arrays` reads the cells
the way the metric's kind needs (`sandmle.metrics.registry`): probabilities in [0, 1],
labels (integer-valued floats such as "1.0" equal "1") coded as integers, integer grades,
pooled or per-column finite values, space-separated rankings. A bad cell of a submission
raises `InvalidSubmission`; of the answers, `UserError`.
"""
from __future__ import annotations

import re

import numpy as np

from sandmle.errors import InvalidSubmission, UserError
from sandmle.grading.reasons import id_list, show
from sandmle.task import TaskSpec

PROBA_KINDS = ("binary_proba", "multilabel_proba", "multiclass_proba")
NUMERIC_KINDS = PROBA_KINDS + ("value", "multi_value")
_INTEGER_TEXT = re.compile(r"[+-]?\d+(\.0*)?")


def align(spec: TaskSpec, answers, submission):
    """The submission's rows in the answers' order; every id must appear exactly once."""
    key = spec.id_column
    ids = submission[key]
    if (ids == "").any():
        raise InvalidSubmission(f"column {key!r} has empty ids")
    duplicated = ids.filter(ids.is_duplicated()).unique(maintain_order=True).to_list()
    if duplicated:
        raise InvalidSubmission(f"duplicated ids: {id_list(duplicated)}")
    truth = answers[key]
    unknown = ids.filter(~ids.is_in(truth.implode())).to_list()
    if unknown:
        raise InvalidSubmission(f"ids not in the test set: {id_list(unknown)}")
    if len(ids) != len(truth):
        missing = truth.filter(~truth.is_in(ids.implode())).to_list()
        raise InvalidSubmission(f"submission has {len(ids)} rows, expected {len(truth)}; "
                                f"missing ids: {id_list(missing)}")
    row = "__sandmle_answer_row__"
    order = answers.select(key).with_row_index(row)
    return order.join(submission, on=key, how="left").sort(row).drop(row)



def metric_arrays(spec: TaskSpec, kind: str, answers, aligned):
    columns = list(spec.target_columns)
    if kind in NUMERIC_KINDS:
        y_true = _matrix(answers, columns, spec.id_column, trusted=True)
        y_pred = _matrix(aligned, columns, spec.id_column)
        if kind in PROBA_KINDS:
            _check_probabilities(y_pred, aligned, columns, spec.id_column)
        if kind == "binary_proba":
            return y_true[:, 0], y_pred[:, 0]
        if kind == "value":
            return y_true.ravel(), y_pred.ravel()
        return y_true, y_pred
    _check_filled(aligned, columns, spec.id_column)
    if kind == "label":
        truth = [_normal_label(v) for v in answers[columns[0]].to_list()]
        guess = [_normal_label(v) for v in aligned[columns[0]].to_list()]
        codes = {label: i for i, label in enumerate(sorted(set(truth)) + sorted(set(guess) - set(truth)))}
        return (np.array([codes[v] for v in truth], dtype=np.int64),
                np.array([codes[v] for v in guess], dtype=np.int64))
    if kind == "ordinal":
        truth = _grades(answers, columns[0], spec.id_column, trusted=True)
        guess = _grades(aligned, columns[0], spec.id_column)
        domain = {int(_normal_label(c.strip())) for c in spec.classes if _INTEGER_TEXT.fullmatch(c.strip())}
        levels = {v: i for i, v in enumerate(sorted(domain | set(truth) | set(guess)))}
        return (np.array([levels[v] for v in truth], dtype=np.int64),
                np.array([levels[v] for v in guess], dtype=np.int64))
    if kind == "ranking":
        return ([v.split() for v in answers[columns[0]].to_list()],
                [v.split() for v in aligned[columns[0]].to_list()])
    raise ValueError(f"metric {spec.metric!r} has unknown kind {kind!r}")


def _matrix(frame, columns: list[str], key: str, trusted: bool = False) -> np.ndarray:
    """Float64 (rows, columns); every cell must be a finite number."""
    import polars as pl

    out = np.empty((frame.height, len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        text = frame[column]
        values = text.cast(pl.Float64, strict=False)
        bad = values.is_null() | ~values.is_finite().fill_null(False)
        if bad.any():
            row = int(bad.arg_true()[0])
            cell, where = text[row], f"in column {column!r} (id {show(frame[key][row])})"
            if cell == "":
                _reject(trusted, f"empty value {where}")
            problem = "is not a number" if values[row] is None else "is not finite"
            _reject(trusted, f"value {show(cell)} {where} {problem}")
        out[:, j] = values.to_numpy()
    return out


def _reject(trusted: bool, message: str):
    """Raise for a bad cell: the agent's fault in a submission, the task's in the answers."""
    if trusted:
        raise UserError(f"broken answers file: {message}")
    raise InvalidSubmission(message)


def _check_probabilities(values: np.ndarray, frame, columns: list[str], key: str) -> None:
    outside = (values < 0.0) | (values > 1.0)
    if outside.any():
        row, j = (int(k) for k in np.argwhere(outside)[0])
        raise InvalidSubmission(f"probability {frame[columns[j]][row]} in column {columns[j]!r} "
                                f"(id {show(frame[key][row])}) is outside [0, 1]")


def _check_filled(frame, columns: list[str], key: str) -> None:
    for column in columns:
        empty = frame[column] == ""
        if empty.any():
            row = int(empty.arg_true()[0])
            raise InvalidSubmission(f"empty value in column {column!r} (id {show(frame[key][row])})")


def _grades(frame, column: str, key: str, trusted: bool = False) -> list[int]:
    """Integer grades of an ordinal column ("2" and "2.0" are both 2)."""
    values = _matrix(frame, [column], key, trusted)[:, 0]
    fractional = (values != np.round(values)) | (np.abs(values) > 2.0 ** 53)
    if fractional.any():
        row = int(np.flatnonzero(fractional)[0])
        _reject(trusted, f"grade {frame[column][row]} in column {column!r} "
                         f"(id {show(frame[key][row])}) is not an integer")
    return [int(v) for v in values]


def _normal_label(text: str) -> str:
    """Integer-valued numbers in one spelling ("1.0", "+1" -> "1"); other labels unchanged."""
    if len(text) < 1000 and _INTEGER_TEXT.fullmatch(text):
        return str(int(text.split(".")[0]))
    return text
