"""Every metric against its scikit-learn / scipy oracle (MAP@K against Kaggle's formula,
written out here) to 1e-9 relative, on random inputs, edge inputs and hypothesis draws."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics as skm
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sandmle.errors import MetricError
from sandmle.metrics import METRICS, compute

EPS = 1e-15


def _clip(p):
    return np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)


def ref_multiclass_log_loss(y, p):
    p = _clip(p)
    p = p / p.sum(axis=1, keepdims=True)
    y = np.asarray(y)
    if y.ndim == 2:
        y = y.argmax(axis=1)
    return skm.log_loss(y, p, labels=list(range(p.shape[1])))


def apk(actual, predicted, k):
    """Kaggle's average precision at k (ml_metrics.apk)."""
    if len(predicted) > k:
        predicted = predicted[:k]
    score = 0.0
    num_hits = 0.0
    for i, p in enumerate(predicted):
        if p in actual and p not in predicted[:i]:
            num_hits += 1.0
            score += num_hits / (i + 1.0)
    if not actual:
        return 0.0
    return score / min(len(actual), k)


def ref_smape(y, p):
    """Kaggle's SMAPE in percent, written out: a row of two zeros adds 0."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    denominator = np.abs(y) + np.abs(p)
    safe = np.where(denominator == 0, 1.0, denominator)
    return 100.0 * float(np.mean(np.where(denominator == 0, 0.0, 2.0 * np.abs(p - y) / safe)))


def ref_map_at_k(actual, predicted, k=5):
    return float(np.mean([apk(a, p, k) for a, p in zip(actual, predicted)]))


REFERENCES = {
    "auc": skm.roc_auc_score,
    "mean_column_auc": lambda y, p: skm.roc_auc_score(y, p, average="macro"),
    "log_loss": lambda y, p: skm.log_loss(y, _clip(p), labels=[0, 1]),
    "multiclass_log_loss": ref_multiclass_log_loss,
    "rmse": skm.root_mean_squared_error,
    "rmsle": skm.root_mean_squared_log_error,
    "mean_column_rmsle": lambda y, p: float(np.mean(
        [skm.root_mean_squared_log_error(y[:, j], p[:, j]) for j in range(y.shape[1])])),
    "mae": skm.mean_absolute_error,
    "accuracy": skm.accuracy_score,
    "f1_macro": lambda y, p: skm.f1_score(y, p, average="macro", zero_division=0),
    "f1_micro": lambda y, p: skm.f1_score(y, p, average="micro", zero_division=0),
    "qwk": lambda y, p: skm.cohen_kappa_score(y, p, weights="quadratic"),
    "mcc": skm.matthews_corrcoef,
    "spearman": lambda y, p: scipy.stats.spearmanr(y, p).statistic,
    "r2": skm.r2_score,
    "mape": skm.mean_absolute_percentage_error,
    "smape": ref_smape,
}


def assert_matches(name, y, p, **params):
    ours = compute(name, y, p, **params)
    if name == "map_at_k":
        want = ref_map_at_k(y, p, **params)
    else:
        want = float(REFERENCES[name](y, p))
    assert isinstance(ours, float)
    assert math.isclose(ours, want, rel_tol=1e-9, abs_tol=1e-12), (name, ours, want)


def random_inputs(name, n, rng):
    """A typical (y_true, y_pred) pair for the metric."""
    kind = METRICS[name].kind
    if kind == "binary_proba":
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]  # both classes present
        return y, rng.random(n)
    if kind == "multilabel_proba":
        y = rng.integers(0, 2, (n, 4))
        y[:2] = [[0, 0, 0, 0], [1, 1, 1, 1]]  # every column has both classes
        return y, rng.random((n, 4))
    if kind == "multiclass_proba":
        return rng.integers(0, 5, n), rng.random((n, 5))
    if kind in ("label", "ordinal"):
        y = rng.integers(0, 6, n)
        y[:2] = [0, 1]  # kappa is undefined when every row holds one label
        return y, rng.integers(0, 6, n)
    if kind == "multi_value":
        return rng.random((n, 3)) * 10, rng.random((n, 3)) * 10
    if kind == "ranking":
        return rng.integers(0, 8, n), rng.integers(0, 8, (n, 6))
    return rng.random(n) * 5, rng.random(n) * 5


def test_every_metric_has_a_reference():
    assert set(REFERENCES) | {"map_at_k"} == set(METRICS)


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("n", [2, 7, 100, 5000])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_inputs_match_reference(name, n, seed):
    y, p = random_inputs(name, n, np.random.default_rng(seed))
    if name == "map_at_k":
        assert_matches(name, [[v] for v in y.tolist()], p.tolist(), k=5)
        return
    assert_matches(name, y, p)


# ---- ranking metrics -------------------------------------------------------------------

def test_auc_ties_are_averaged():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 1000)
    assert_matches("auc", y, rng.integers(0, 4, 1000) / 4)


def test_auc_constant_perfect_and_reversed_predictions():
    y = np.array([0, 1, 1, 0, 1, 0, 0])
    assert compute("auc", y, np.full(7, 0.3)) == 0.5
    assert compute("auc", y, y.astype(float)) == 1.0
    assert compute("auc", y, 1.0 - y) == 0.0


def test_auc_accepts_bool_and_float_labels():
    y = np.array([True, False, True, False])
    p = [0.9, 0.2, 0.4, 0.5]
    assert_matches("auc", y, p)
    assert compute("auc", y.astype(float), p) == compute("auc", y, p)


def test_mean_column_auc_with_ties_per_column():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, (300, 6))
    assert_matches("mean_column_auc", y, rng.integers(0, 3, (300, 6)) / 2)


def test_spearman_with_ties():
    rng = np.random.default_rng(5)
    assert_matches("spearman", rng.integers(0, 5, 1000), rng.integers(0, 3, 1000))
    assert_matches("spearman", [1, 2, 2, 3], [3, 2, 2, 1])


def test_spearman_large_input_with_many_ties():
    rng = np.random.default_rng(6)
    assert_matches("spearman", rng.integers(0, 50, 200_000), rng.random(200_000).round(3))


# ---- probability metrics ----------------------------------------------------------------

def test_log_loss_clips_certain_predictions():
    y = np.array([0, 1, 1, 0])
    assert_matches("log_loss", y, [0.0, 1.0, 0.0, 1.0])
    assert compute("log_loss", y, y.astype(float)) == pytest.approx(-math.log(1 - 1e-15))
    assert compute("log_loss", [1], [0.0]) == pytest.approx(-math.log(1e-15))


def test_multiclass_log_loss_renormalises_rows_and_takes_one_hot():
    p = np.array([[0.2, 0.2, 0.2], [0.0, 1.0, 0.0], [0.5, 0.5, 1.0], [0.1, 0.0, 0.3]])
    y = np.array([0, 1, 2, 1])
    assert_matches("multiclass_log_loss", y, p)
    assert compute("multiclass_log_loss", np.eye(3)[y], p) == compute("multiclass_log_loss", y, p)
    assert compute("multiclass_log_loss", y.astype(float), p) == compute("multiclass_log_loss", y, p)


def test_multiclass_log_loss_absent_classes():
    rng = np.random.default_rng(7)
    assert_matches("multiclass_log_loss", rng.integers(0, 2, 50), rng.random((50, 6)))


# ---- label metrics ----------------------------------------------------------------------

LABEL_METRICS = ("accuracy", "f1_macro", "f1_micro", "qwk", "mcc")


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_label_metrics_with_absent_classes(name):
    rng = np.random.default_rng(8)
    y = rng.choice([0, 1, 2], 200)
    p = rng.choice([0, 3, 7], 200)
    assert_matches(name, y, p)


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_label_metrics_perfect_and_constant_predictions(name):
    y = np.array([0, 1, 2, 2, 1, 0, 3])
    assert_matches(name, y, y)
    assert_matches(name, y, np.full(7, 2))


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_label_metrics_on_strings_match_integer_codes(name):
    rng = np.random.default_rng(9)
    names = np.array(["ant", "bee", "cat", "dog", "eel"])
    y, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    assert_matches(name, names[y], names[p])
    assert compute(name, names[y], names[p]) == pytest.approx(compute(name, y, p), abs=1e-15)
    assert_matches(name, names[y].astype(object), names[p].astype(object))


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_label_metrics_on_sparse_and_negative_integer_labels(name):
    rng = np.random.default_rng(10)
    ids = np.array([-7, 3, 10**12, 10**15, 42])
    y, p = ids[rng.integers(0, 5, 300)], ids[rng.integers(0, 5, 300)]
    assert_matches(name, y, p)


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_label_metrics_on_whole_float_labels(name):
    rng = np.random.default_rng(11)
    y, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    assert compute(name, y.astype(float), p.astype(float)) == pytest.approx(
        compute(name, y, p), abs=1e-15)


def test_qwk_weights_follow_positions_in_label_union():
    rng = np.random.default_rng(12)
    assert_matches("qwk", rng.choice([0, 2, 5], 100), rng.choice([0, 5, 9], 100))


def test_mcc_is_zero_for_constant_predictions():
    assert compute("mcc", [0, 1, 1, 0], [1, 1, 1, 1]) == 0.0


def test_binary_labels():
    rng = np.random.default_rng(13)
    y, p = rng.integers(0, 2, 100), rng.integers(0, 2, 100)
    for name in LABEL_METRICS:
        assert_matches(name, y, p)


# ---- MAP@K -----------------------------------------------------------------------------

def test_map_at_k_duplicates_short_rows_and_k():
    actual = [[1], [2], [3], [4]]
    predicted = [[1, 1, 2], [3, 2, 2], [3, 3, 3], [5, 6, 7]]
    for k in (1, 2, 3, 5):
        assert_matches("map_at_k", actual, predicted, k=k)


def test_map_at_k_several_true_labels_ragged():
    actual = [[1, 2], [3], [4, 5, 6, 7, 8, 9], []]
    predicted = [[2, 9, 1], [3], [9, 8, 7, 6, 5, 4], [1, 2]]
    for k in (1, 3, 5):
        assert_matches("map_at_k", actual, predicted, k=k)


def test_map_at_k_padded_arrays_equal_ragged_lists():
    actual = np.array([[1, 2], [3, -1]])
    predicted = np.array([[2, 1, -1], [-1, 3, 4]])
    assert compute("map_at_k", actual, predicted, k=3) == pytest.approx(
        ref_map_at_k([[1, 2], [3]], [[2, 1], [-1, 3, 4]], 3))


def test_map_at_k_string_labels_equal_integer_codes():
    rng = np.random.default_rng(14)
    names = np.array(["a", "b", "c", "d", "e", "f"])
    y, p = rng.integers(0, 6, 200), rng.integers(0, 6, (200, 4))
    assert compute("map_at_k", names[y], names[p], k=3) == pytest.approx(
        compute("map_at_k", y, p, k=3), abs=1e-15)


def test_map_at_k_default_k_is_5():
    rng = np.random.default_rng(15)
    y, p = rng.integers(0, 9, 100), rng.integers(0, 9, (100, 8))
    assert compute("map_at_k", y, p) == compute("map_at_k", y, p, k=5)


# ---- regression metrics ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["rmse", "mae", "rmsle", "r2", "spearman"])
def test_regression_perfect_predictions(name):
    y = np.array([0.5, 2.0, 3.5, 0.0, 9.0])
    assert_matches(name, y, y)


@pytest.mark.parametrize("name", ["rmse", "mae", "rmsle", "r2"])
def test_regression_constant_predictions(name):
    y = np.array([0.5, 2.0, 3.5, 0.0, 9.0])
    assert_matches(name, y, np.full(5, 1.5))


def test_rmsle_accepts_values_above_minus_one():
    assert_matches("rmsle", [-0.5, 0.0, 3.0], [0.2, -0.9, 3.0])


def test_value_metrics_pool_every_cell():
    rng = np.random.default_rng(16)
    y, p = rng.random((20, 30)), rng.random((20, 30))
    assert compute("rmse", y, p) == pytest.approx(
        skm.root_mean_squared_error(y.ravel(), p.ravel()), rel=1e-12)


def test_non_contiguous_and_list_inputs():
    rng = np.random.default_rng(17)
    y, p = rng.random(200), rng.random(200)
    for name in ("rmse", "mae", "r2", "spearman"):
        assert_matches(name, y[::2], p[::2])
        assert_matches(name, y.tolist(), p.tolist())
    assert_matches("auc", (y > 0.5)[::2], p[1::2])


# ---- hypothesis --------------------------------------------------------------------------

values = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(values, values), min_size=2, max_size=60),
       st.sampled_from(["rmse", "mae", "r2", "spearman"]))
def test_property_regression(pairs, name):
    y, p = map(np.array, zip(*pairs))
    if name in ("r2", "spearman"):
        assume(np.ptp(y) > 0)
    if name == "spearman":
        assume(np.ptp(p) > 0)
    assert_matches(name, y, p)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e3, width=32), st.floats(0, 1e3, width=32)),
                min_size=1, max_size=60))
def test_property_rmsle(pairs):
    y, p = map(np.array, zip(*pairs))
    assert_matches("rmsle", y, p)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])
                          | st.floats(0, 1)), min_size=2, max_size=60))
def test_property_auc_and_log_loss(rows):
    y, p = map(np.array, zip(*rows))
    assume(0 < y.sum() < len(y))
    assert_matches("auc", y.astype(int), p)
    assert_matches("log_loss", y.astype(int), p)


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-2, 6), st.integers(-2, 6)), min_size=1, max_size=60),
       st.sampled_from(LABEL_METRICS))
def test_property_labels(pairs, name):
    y, p = map(np.array, zip(*pairs))
    if name == "qwk":
        assume(len(set(y) | set(p)) > 1)
    assert_matches(name, y, p)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 5), min_size=n, max_size=n),
    st.lists(st.lists(st.floats(0, 1), min_size=4, max_size=4), min_size=n, max_size=n))))
def test_property_multiclass_log_loss(data):
    y, p = data
    assert_matches("multiclass_log_loss", np.array(y) % 4, np.array(p))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 6), max_size=4),
                          st.lists(st.integers(0, 6), max_size=7)), min_size=1, max_size=30),
       st.integers(1, 8))
def test_property_map_at_k(rows, k):
    actual, predicted = map(list, zip(*rows))
    assert_matches("map_at_k", actual, predicted, k=k)


def test_map_at_k_single_label_arrays_match_formula():
    rng = np.random.default_rng(18)
    y = rng.integers(-1, 6, 300)  # -1: a row without a true label scores 0
    p = rng.integers(-1, 6, (300, 7))  # duplicates and padding
    for k in (1, 3, 5, 9):
        want = ref_map_at_k([[v] if v >= 0 else [] for v in y.tolist()],
                            [[v for v in row] for row in p.tolist()], k)
        assert compute("map_at_k", y, p, k=k) == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("n", [50, 10_000])  # the quicksort and the radix-sort paths
def test_spearman_signed_values_and_signed_zeros(n):
    rng = np.random.default_rng(19)
    y = rng.normal(size=n).round(1) * 1e3
    y[:4] = [-0.0, 0.0, -0.0, 0.0]
    p = -np.abs(rng.standard_cauchy(n))
    assert_matches("spearman", y, p)


@pytest.mark.parametrize("n", [50, 20_000])  # numpy's sort and the radix sort
def test_auc_ties_signed_zeros_and_negative_scores(n):
    rng = np.random.default_rng(21)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    p = rng.normal(size=n).round(1)
    p[:4] = [-0.0, 0.0, -0.0, 0.0]
    assert_matches("auc", y, p)
    assert_matches("mean_column_auc", np.stack([y, 1 - y], axis=1), np.stack([p, -p], axis=1))


@pytest.mark.parametrize("n", [50, 20_000])
@pytest.mark.parametrize("bad", [np.nan, -np.nan, np.inf, -np.inf])
def test_auc_names_a_non_finite_score_on_either_sort_path(n, bad):
    rng = np.random.default_rng(22)
    y, p = rng.integers(0, 2, n), rng.random(n)
    y[:2] = [0, 1]
    p[n // 3] = bad
    with pytest.raises(MetricError, match=rf"y_pred\[{n // 3}\] is"):
        compute("auc", y, p)


def test_radix_sort_orders_as_numpy_does():
    from sandmle.metrics.native import kernels

    rng = np.random.default_rng(23)
    n = kernels.RADIX_SORT_MIN_N * 3
    for x in (rng.random(n), rng.normal(size=n) * 1e300, rng.integers(-3, 3, n) / 2.0,
              np.concatenate([rng.normal(size=n), [np.inf, -np.inf, 5e-324, -5e-324, 0.0, -0.0]])):
        ours = x.copy()
        kernels.radix_sort(ours)
        assert np.array_equal(ours, np.sort(x))
        assert not np.signbit(ours[ours == 0.0]).any()            # -0.0 becomes 0.0


def test_rmsle_large_inputs_take_the_blocked_path():
    rng = np.random.default_rng(20)
    y, p = rng.random(100_003) * 50, rng.random(100_003) * 50
    assert_matches("rmsle", y, p)
    y2, p2 = rng.random((40_001, 3)) * 5, rng.random((40_001, 3)) * 5
    assert_matches("mean_column_rmsle", y2, p2)


def test_map_at_k_padded_integer_table_with_ragged_lists():
    actual = [[1, 2], [3]]  # ragged: both sides go through the general path
    predicted = np.array([[2, -1, 1], [-1, -1, 3]])
    assert compute("map_at_k", actual, predicted, k=3) == pytest.approx(
        ref_map_at_k(actual, [[2, -1, 1], [-1, -1, 3]], 3))
    assert compute("map_at_k", np.array([[1, 2], [3, -1]]), [[2, 5, 1], [3]], k=3) == \
        pytest.approx(ref_map_at_k(actual, [[2, 5, 1], [3]], 3))


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_object_array_of_integers_against_integer_labels(name):
    rng = np.random.default_rng(21)
    y, p = rng.integers(0, 4, 100), rng.integers(0, 4, 100)
    assert compute(name, y.astype(object), p) == pytest.approx(compute(name, y, p), abs=1e-15)


@pytest.mark.parametrize("n", [3000, 9000])  # the quicksort and the radix-sort paths
def test_spearman_on_quicksort_adversarial_orders(n):
    up = np.arange(n, dtype=float)
    pipe = np.r_[np.arange(n // 2), np.arange(n - n // 2)[::-1]].astype(float)
    few = np.tile([3.0, 1.0, 2.0], n // 3 + 1)[:n]
    for y, p in ((up, up[::-1]), (pipe, up), (few, pipe), (up % 7, up)):
        assert_matches("spearman", y, p)


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_label_metrics_with_many_distinct_labels(name):
    rng = np.random.default_rng(22)
    y = rng.integers(0, 3000, 4000)
    p = np.where(rng.random(4000) < 0.5, y, rng.integers(0, 3000, 4000))
    assert_matches(name, y, p)
