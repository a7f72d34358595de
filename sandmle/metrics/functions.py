"""One function per metric in METRICS, and `compute(name, y_true, y_pred, **params)`.

Each function checks its inputs (sandmle.metrics.inputs), calls the compiled kernels and
returns a Python float. Cases where a metric is undefined (AUC with one class, Spearman or
R^2 with a constant input, kappa when every row holds the same label) raise MetricError
rather than return NaN. Conventions follow scikit-learn / scipy, whose functions are the
oracles in tests/test_metrics.py; the exceptions are documented on each function.
"""
from __future__ import annotations

from math import isfinite, sqrt

import numpy as np

from sandmle.errors import MetricError
from sandmle.metrics import inputs
from sandmle.metrics.forecast import mape, smape
from sandmle.metrics.native import kernels
from sandmle.metrics.ranking import ranking_tables

EPS = 1e-15  # probability clip of Kaggle's log losses
LOG_BLOCK = 1 << 15  # values per numpy log call in the RMSLE of large inputs


def _regression_sum(name: str, kernel, y_true, y_pred) -> tuple[float, int]:
    a, b = inputs.paired_values(y_true, y_pred, name)
    s = kernel(a, b)
    if not isfinite(s):
        inputs.raise_if_nonfinite(name, y_true=a, y_pred=b)
    return s, a.shape[0]


def rmse(y_true, y_pred) -> float:
    s, n = _regression_sum("rmse", kernels.sum_squared_error, y_true, y_pred)
    return sqrt(s / n)


def mae(y_true, y_pred) -> float:
    s, n = _regression_sum("mae", kernels.sum_absolute_error, y_true, y_pred)
    return s / n


def _raise_log_domain(a: np.ndarray, b: np.ndarray, name: str) -> None:
    """A squared-log-error sum came back NaN or inf: name the input <= -1 or non-finite."""
    for role, x in (("y_true", a), ("y_pred", b)):
        flat = x.reshape(-1)
        i = kernels.first_nonfinite(flat)
        rule = "values must be finite"
        if i < 0:
            i = kernels.first_at_or_below(flat, -1.0)
            rule = "values must be > -1"
        if i >= 0:
            where = ", ".join(map(str, np.unravel_index(i, x.shape)))
            raise MetricError(f"{name}: {role}[{where}] is {flat[i]}; {rule}")


def _squared_log_error_sums(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Per-column sums of (log1p(a) - log1p(b))^2 for (n, k) arrays, NaN or inf where an
    input is outside (-1, inf). Each squared error is log((1 + a) / (1 + b))^2; blocks of
    rows of large inputs go through numpy's vectorised log (about 3x libm's scalar log at
    n=1e6), and the blocks keep the scratch in cache."""
    n, k = a.shape
    if n * k <= LOG_BLOCK:  # small: libm's scalar log, one call
        return kernels.sum_squared_log_error_columns(a, b)
    sums = np.zeros(k)
    rows = max(1, LOG_BLOCK // k)
    scratch = np.empty(min(n, rows) * k)
    a, b = a.reshape(-1), b.reshape(-1)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        x = scratch[:(stop - start) * k]
        kernels.log_ratio_arguments(a[start * k:stop * k], b[start * k:stop * k], x)
        np.log(x, out=x)
        kernels.column_sum_squares(x.reshape(stop - start, k), sums)
    return sums.tolist()


def rmsle(y_true, y_pred) -> float:
    a, b = inputs.paired_values(y_true, y_pred, "rmsle")
    n = a.shape[0]
    if n <= LOG_BLOCK:
        s = kernels.sum_squared_log_error(a, b)
    else:
        s = _squared_log_error_sums(a.reshape(n, 1), b.reshape(n, 1))[0]
    if not isfinite(s):
        _raise_log_domain(a, b, "rmsle")
    return sqrt(s / n)


def mean_column_rmsle(y_true, y_pred) -> float:
    a, b = inputs.paired_columns(y_true, y_pred, "mean_column_rmsle")
    n = a.shape[0]
    total = 0.0
    for s in _squared_log_error_sums(a, b):
        if not isfinite(s):
            _raise_log_domain(a, b, "mean_column_rmsle")
        total += sqrt(s / n)
    return total / a.shape[1]


def r2(y_true, y_pred) -> float:
    """Raises where scikit-learn returns its forced 0.0/1.0: a constant y_true."""
    a, b = inputs.paired_values(y_true, y_pred, "r2")
    ss_res, ss_tot = kernels.r2_sums(a, b)
    if not (isfinite(ss_res) and isfinite(ss_tot)):
        inputs.raise_if_nonfinite("r2", y_true=a, y_pred=b)
    if ss_tot == 0.0:
        raise MetricError(f"r2: undefined because y_true is constant ({a[0]})")
    return 1.0 - ss_res / ss_tot


def spearman(y_true, y_pred) -> float:
    a, b = inputs.paired_values(y_true, y_pred, "spearman")
    if a.shape[0] < 2:
        raise MetricError("spearman: needs at least 2 rows")
    inputs.check_finite_pair(a, b, "spearman")
    rho = kernels.spearman(a, b)
    if rho != rho:
        role, x = ("y_true", a) if (a == a[0]).all() else ("y_pred", b)
        raise MetricError(f"spearman: undefined because {role} is constant ({x[0]})")
    return rho


def _auc_of(y: np.ndarray, p: np.ndarray, name: str, where: str = "") -> float:
    inputs.check_binary(y, name, "y_true" + where)
    n = y.shape[0]
    positive = np.empty(n)
    negative = np.empty(n)
    n_pos = kernels.split_binary(y, p, positive, negative)
    if n_pos == 0 or n_pos == n:
        raise MetricError(f"{name}: undefined because y_true{where} holds only "
                          f"class {int(y[0])}")
    positive = positive[:n_pos]
    negative = negative[:n - n_pos]
    for half in (positive, negative):
        kernels.radix_sort(half) if half.shape[0] >= kernels.RADIX_SORT_MIN_N else half.sort()
    # Sorted ascending, so NaN/inf/-inf show at either end.
    if not (isfinite(positive[0]) and isfinite(positive[-1])
            and isfinite(negative[0]) and isfinite(negative[-1])):
        inputs.raise_if_nonfinite(name, **{"y_pred" + where: p})
    return kernels.auc_sorted(positive, negative)


def auc(y_true, y_pred) -> float:
    y, p = inputs.paired_values(y_true, y_pred, "auc")
    return _auc_of(y, p, "auc")


def mean_column_auc(y_true, y_pred) -> float:
    y, p = inputs.paired_columns(y_true, y_pred, "mean_column_auc")
    y, p = np.asfortranarray(y), np.asfortranarray(p)
    return sum(_auc_of(y[:, j], p[:, j], "mean_column_auc", f"[:, {j}]")
               for j in range(y.shape[1])) / y.shape[1]


def _check_eps(eps, name: str) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 < eps < 0.5:
        raise MetricError(f"{name}: eps must be a number in (0, 0.5), got {eps!r}")
    return float(eps)


def log_loss(y_true, y_pred, eps: float = EPS) -> float:
    """Probabilities clipped to [eps, 1 - eps] (eps 1e-15 by default, Kaggle's; MLE-bench's
    scikit-learn clips at float64's epsilon, 2.22e-16)."""
    eps = eps if eps is EPS else _check_eps(eps, "log_loss")
    y, p = inputs.paired_values(y_true, y_pred, "log_loss")
    inputs.check_binary(y, "log_loss")
    inputs.check_probabilities(p, "log_loss")
    return kernels.binary_log_loss_sum(y, p, eps) / y.shape[0]


def multiclass_log_loss(y_true, y_pred, eps: float = EPS, renormalise: bool = True) -> float:
    """y_true: class indices (n,) or one-hot rows (n, k); y_pred: (n, k) probabilities,
    clipped to [eps, 1 - eps] and, with `renormalise`, each row divided by its sum (Kaggle's
    convention). Without it the true class's clipped probability is scored as it is, as
    scikit-learn's log_loss does since 1.5 (MLE-bench's graders check the row sums first)."""
    name = "multiclass_log_loss"
    eps = eps if eps is EPS else _check_eps(eps, name)
    p = inputs.as_float(y_pred, name, "y_pred")
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise MetricError(f"{name}: y_pred must be (rows, classes) with at least 2 classes, "
                          f"got shape {p.shape}")
    y = inputs.class_indices(y_true, p.shape[0], p.shape[1], name)
    inputs.check_probabilities(p.reshape(-1), name)
    if renormalise:
        return kernels.multiclass_log_loss_sum(y, p, eps) / p.shape[0]
    return kernels.true_class_log_loss_sum(y, p, eps) / p.shape[0]


def _share_equal(y_true, y_pred, name: str) -> float:
    pair = inputs.label_pairs(y_true, y_pred, name)
    if pair is None:  # strings, floats: compare their codes
        a, b, _, _ = inputs.label_codes(y_true, y_pred, name)
    else:
        a, b = pair
    return kernels.count_equal(a, b) / a.shape[0]


def accuracy(y_true, y_pred) -> float:
    return _share_equal(y_true, y_pred, "accuracy")


def f1_micro(y_true, y_pred) -> float:
    """Micro F1 of single-label predictions: pooled tp / fp / fn make it the accuracy."""
    return _share_equal(y_true, y_pred, "f1_micro")


def f1_macro(y_true, y_pred) -> float:
    """Mean F1 over the union of labels in y_true and y_pred (a class with no true or
    predicted rows is absent; a class with no hits scores 0)."""
    a, b, lo, width = inputs.label_codes(y_true, y_pred, "f1_macro")
    return kernels.f1_macro(a, b, lo, width)


def mcc(y_true, y_pred) -> float:
    """0.0 when y_true or y_pred is constant (scikit-learn's convention)."""
    a, b, lo, width = inputs.label_codes(y_true, y_pred, "mcc")
    return kernels.mcc(a, b, lo, width)


def qwk(y_true, y_pred) -> float:
    """Weights are squared distances between positions in the sorted union of labels."""
    a, b, lo, width = inputs.label_codes(y_true, y_pred, "qwk")
    kappa = kernels.qwk(a, b, lo, width)
    if kappa != kappa:
        raise MetricError(f"qwk: undefined because every row of y_true and y_pred holds "
                          f"the same label ({np.asarray(y_true)[0]!r})")
    return kappa


def map_at_k(y_true, y_pred, k: int = 5) -> float:
    """Kaggle's MAP@K: a row's AP counts each correct prediction once, at its first rank
    within the top k, and divides by min(number of true labels, k)."""
    if type(k) is not int or k < 1:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise MetricError(f"map_at_k: k must be a positive integer, got {k!r}")
        k = int(k)
    if type(y_true) is np.ndarray and type(y_pred) is np.ndarray:
        try:  # one true code per row, (n,) and (n, m) C-contiguous int64: no conversion
            n = len(y_true)
            if n and len(y_pred) == n:
                return kernels.average_precision_sum_single(y_true, y_pred, k) / n
        except (TypeError, ValueError):  # 0-d, or another dtype, rank or layout
            pass
    actual, predicted = ranking_tables(y_true, y_pred, "map_at_k")
    return kernels.average_precision_sum(actual, predicted, k) / actual.shape[0]


FUNCTIONS = {
    "auc": auc,
    "mean_column_auc": mean_column_auc,
    "log_loss": log_loss,
    "multiclass_log_loss": multiclass_log_loss,
    "rmse": rmse,
    "rmsle": rmsle,
    "mean_column_rmsle": mean_column_rmsle,
    "mae": mae,
    "accuracy": accuracy,
    "f1_macro": f1_macro,
    "f1_micro": f1_micro,
    "qwk": qwk,
    "map_at_k": map_at_k,
    "mcc": mcc,
    "spearman": spearman,
    "r2": r2,
    "mape": mape,
    "smape": smape,
}


PARAMS = {"map_at_k": frozenset({"k"}), "log_loss": frozenset({"eps"}),
          "multiclass_log_loss": frozenset({"eps", "renormalise"})}
_NO_PARAMS: frozenset = frozenset()


def compute(name: str, y_true, y_pred, **params) -> float:
    """The metric `name` (a key of METRICS) of predictions y_pred against y_true.

    Raises MetricError for an unknown name, malformed inputs, or where the metric is
    undefined. Parameters: map_at_k's k (default 5); the log losses' eps (clip, default
    1e-15); multiclass_log_loss's renormalise (default True).
    """
    try:
        fn = FUNCTIONS[name]
    except KeyError:
        raise MetricError(f"unknown metric {name!r}; known: {', '.join(FUNCTIONS)}") from None
    if params:
        if not PARAMS.get(name, _NO_PARAMS).issuperset(params):
            unknown = set(params) - PARAMS.get(name, _NO_PARAMS)
            raise MetricError(f"{name}: unknown parameter(s) {sorted(unknown)}; "
                              f"accepted: {sorted(PARAMS.get(name, ())) or 'none'}")
        return fn(y_true, y_pred, **params)
    return fn(y_true, y_pred)
