"""Input checks for the metric kernels: shapes, dtypes, finiteness and label codes.

Each function returns contiguous float64 or int64 arrays the kernels can trust, or raises
`MetricError` with one line naming the metric, the argument and the offending value.
Checks stay cheap on the hot path (a metric at n=100 costs a few microseconds): finiteness
of regression inputs is checked only when a kernel's sum comes back non-finite.
"""
from __future__ import annotations

import numpy as np

from sandmle.errors import MetricError
from sandmle.metrics.native import kernels

_F64 = np.float64
_I64 = np.int64
_NUMERIC = "iubf"
_INTEGER = "iub"
_STRING = "US"


def as_float(x, name: str, role: str) -> np.ndarray:
    """x as a C-contiguous float64 array (at least 1-D)."""
    try:
        return np.ascontiguousarray(x, dtype=_F64)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"{name}: {role} must be numeric ({exc})") from None


def paired_values(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Two same-shape, non-empty numeric arrays, flattened (every cell pooled)."""
    a = as_float(y_true, name, "y_true")
    b = as_float(y_pred, name, "y_pred")
    if a.shape != b.shape:
        raise MetricError(f"{name}: y_true has shape {a.shape} but y_pred has shape {b.shape}")
    if a.size == 0:
        raise MetricError(f"{name}: no rows to score")
    if a.ndim != 1:
        return a.ravel(), b.ravel()
    return a, b


def paired_columns(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Two same-shape (n, k) numeric arrays with n >= 1, k >= 1."""
    a = as_float(y_true, name, "y_true")
    b = as_float(y_pred, name, "y_pred")
    if a.ndim != 2 or a.shape != b.shape:
        raise MetricError(f"{name}: y_true and y_pred must be 2-D arrays of one shape, "
                          f"got {a.shape} and {b.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise MetricError(f"{name}: no rows or no columns to score (shape {a.shape})")
    return a, b


def first_nonfinite(values: np.ndarray) -> int:
    """Flat index of the first NaN or infinity of a float64 array (C order), or -1."""
    return kernels.first_nonfinite(np.ascontiguousarray(values, dtype=_F64).reshape(-1))


def first_outside(values: np.ndarray, lo: float, hi: float) -> int:
    """Flat index of the first value of a float64 array (C order) outside [lo, hi], or -1."""
    return kernels.first_outside(np.ascontiguousarray(values, dtype=_F64).reshape(-1), lo, hi)


def raise_if_nonfinite(name: str, **arrays: np.ndarray) -> None:
    """Raise naming the first NaN or infinity among `arrays` (role -> flat float64)."""
    for role, x in arrays.items():
        i = kernels.first_nonfinite(x)
        if i >= 0:
            raise MetricError(f"{name}: {role}[{i}] is {x[i]}; values must be finite")


def check_finite_pair(a: np.ndarray, b: np.ndarray, name: str) -> None:
    """Raise naming the first NaN or infinity in a (y_true) or b (y_pred), both flat."""
    i = kernels.first_nonfinite_pair(a, b)
    if i >= 0:
        role, x = ("y_true", a) if i < a.shape[0] else ("y_pred", b)
        i %= a.shape[0]
        raise MetricError(f"{name}: {role}[{i}] is {x[i]}; values must be finite")


def check_binary(y: np.ndarray, name: str, role: str = "y_true") -> None:
    """Every value of y (flat float64) is 0 or 1."""
    i = kernels.first_not_binary(y)
    if i >= 0:
        raise MetricError(f"{name}: {role}[{i}] is {y[i]}; labels must be 0 or 1")


def check_probabilities(p: np.ndarray, name: str, role: str = "y_pred") -> None:
    """Every value of p (flat float64) lies in [0, 1]."""
    i = kernels.first_outside(p, 0.0, 1.0)
    if i >= 0:
        raise MetricError(f"{name}: {role}[{i}] is {p[i]}; probabilities must be in [0, 1]")


def _labels_1d(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true)
    b = np.asarray(y_pred)
    if a.ndim != 1 or b.ndim != 1:
        raise MetricError(f"{name}: labels must be 1-D, got shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0]:
        raise MetricError(f"{name}: y_true has {a.shape[0]} rows but y_pred has {b.shape[0]}")
    if a.shape[0] == 0:
        raise MetricError(f"{name}: no rows to score")
    return a, b


def label_codes(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(a, b, lo, width): int64 codes of both label arrays, all within [lo, lo + width).

    Integer labels are used as they are when their range is at most a few times the row
    count; other labels (strings, floats, sparse ids) are replaced by their position in
    the sorted union of both arrays, so code order follows label order.
    """
    a, b = _labels_1d(y_true, y_pred, name)
    if a.dtype.kind in _INTEGER and b.dtype.kind in _INTEGER:
        a = np.ascontiguousarray(a, dtype=_I64)
        b = np.ascontiguousarray(b, dtype=_I64)
        lo, hi = kernels.int_range(a, b)
        width = hi - lo + 1
        if width <= 4 * a.shape[0] + 1024:
            return a, b, lo, width
    return _encode(a, b, name)


def _encode(a: np.ndarray, b: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    kinds = {a.dtype.kind, b.dtype.kind}
    if kinds & set(_NUMERIC) and kinds & set(_STRING):
        raise MetricError(f"{name}: y_true holds {a.dtype} labels but y_pred holds {b.dtype}; "
                          "labels must be all numbers or all strings")
    for role, x in (("y_true", a), ("y_pred", b)):
        if x.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(x))
            if bad.size:
                raise MetricError(f"{name}: {role}[{bad[0]}] is {x[bad[0]]}; labels must be finite")
    try:
        labels, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    except TypeError as exc:
        raise MetricError(f"{name}: labels cannot be ordered ({exc})") from None
    codes = np.ascontiguousarray(inverse.reshape(-1), dtype=_I64)
    n = a.shape[0]
    return codes[:n], codes[n:], 0, len(labels)


def label_pairs(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Both label arrays as int64 when both are integer typed; None otherwise (after the
    shape checks), for metrics that only compare labels for equality."""
    a, b = _labels_1d(y_true, y_pred, name)
    if a.dtype.kind in _INTEGER and b.dtype.kind in _INTEGER:
        return np.ascontiguousarray(a, dtype=_I64), np.ascontiguousarray(b, dtype=_I64)
    return None


def onehot_column_indices(columns: list[np.ndarray], name: str) -> np.ndarray:
    """Class index per row (int64) of one-hot rows held as k float64 columns (n,) each."""
    columns = [as_float(c, name, "y_true") for c in columns]
    index = np.empty(len(columns[0]), dtype=_I64)
    row = kernels.onehot_columns(columns, index)
    if row >= 0:
        raise MetricError(f"{name}: y_true row {row} is {[float(c[row]) for c in columns]}; "
                          "one-hot rows need a single 1 and zeros elsewhere")
    return index


def class_indices(y_true, n_rows: int, n_classes: int, name: str) -> np.ndarray:
    """Class index per row from indices (n,) or one-hot rows (n, k), as int64."""
    y = np.asarray(y_true)
    if y.ndim == 2:
        if y.shape != (n_rows, n_classes):
            raise MetricError(f"{name}: one-hot y_true has shape {y.shape}, "
                              f"expected {(n_rows, n_classes)}")
        index = np.empty(n_rows, dtype=_I64)
        row = kernels.onehot_rows(as_float(y, name, "y_true"), index)
        if row >= 0:
            raise MetricError(f"{name}: y_true row {row} is {y[row].tolist()}; "
                              "one-hot rows need a single 1 and zeros elsewhere")
        return index
    if y.ndim != 1 or y.shape[0] != n_rows:
        raise MetricError(f"{name}: y_true has shape {y.shape}, expected ({n_rows},) "
                          f"class indices or ({n_rows}, {n_classes}) one-hot rows")
    if y.dtype.kind not in _INTEGER:
        f = as_float(y, name, "y_true")
        with np.errstate(invalid="ignore"):  # NaN and inf are reported below
            index = f.astype(_I64)
        bad = np.flatnonzero(index != f)
        if bad.size:
            raise MetricError(f"{name}: y_true[{bad[0]}] is {y[bad[0]]}; "
                              "class indices must be whole numbers")
        y = index
    y = np.ascontiguousarray(y, dtype=_I64)
    lo, hi = kernels.int_range(y, y)
    if lo < 0 or hi >= n_classes:
        i = int(np.flatnonzero((y < 0) | (y >= n_classes))[0])
        raise MetricError(f"{name}: y_true[{i}] is {y[i]}; class indices must be in "
                          f"[0, {n_classes - 1}]")
    return y
