"""Inputs for MAP@K: true labels and ranked predictions as padded int64 tables.

y_true holds one label per row (1-D) or several (2-D, or a list of rows of any length);
y_pred holds each row's predicted labels, best first (2-D, or a list of rows). Integer
arrays are taken as codes, negative values being padding. Any other labels (strings,
ragged lists) are coded by equality; None, "" and negative integers are padding.
"""
from __future__ import annotations

import numpy as np

from sandmle.errors import MetricError

_I64 = np.int64


def _int_table(x) -> np.ndarray | None:
    try:
        arr = np.asarray(x)
    except ValueError:  # ragged rows
        return None
    if arr.dtype.kind not in "iu" or arr.ndim not in (1, 2):
        return None
    if arr.ndim == 1:
        arr = arr[:, None]
    return np.ascontiguousarray(arr, dtype=_I64)


def _rows(x, name: str, role: str) -> list[list]:
    if isinstance(x, np.ndarray):
        if x.ndim == 1:
            return [[v] for v in x.tolist()]
        if x.ndim == 2:
            return x.tolist()
        raise MetricError(f"{name}: {role} must be 1-D or 2-D, got shape {x.shape}")
    rows = []
    for row in x:
        if isinstance(row, (str, bytes)) or not hasattr(row, "__iter__"):
            rows.append([row])
        else:
            rows.append(list(row))
    return rows


def _pad(rows: list[list], codes: dict) -> np.ndarray:
    table = np.full((len(rows), max((len(r) for r in rows), default=0) or 1), -1, dtype=_I64)
    for i, row in enumerate(rows):
        for j, label in enumerate(row):
            if label is None or label == "" or (
                    isinstance(label, (int, np.integer)) and label < 0):
                continue
            table[i, j] = codes.setdefault(label, len(codes))
    return table


def ranking_tables(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(actual (n, t), predicted (n, m)) int64 tables; negative entries are padding."""
    actual = _int_table(y_true)
    predicted = _int_table(y_pred)
    if actual is None or predicted is None:
        codes: dict = {}
        actual = _pad(_rows(y_true, name, "y_true"), codes)
        predicted = _pad(_rows(y_pred, name, "y_pred"), codes)
    if actual.shape[0] != predicted.shape[0]:
        raise MetricError(f"{name}: y_true has {actual.shape[0]} rows but y_pred has "
                          f"{predicted.shape[0]}")
    if actual.shape[0] == 0:
        raise MetricError(f"{name}: no rows to score")
    return actual, predicted
