"""Metric kernels, compiled to sandmle._native.metrics.

Private kernels in the scikit-learn style: they trust their input (contiguous, typed,
validated, non-empty) and run their loops without the GIL. `sandmle.metrics.compute` is the
only caller; it checks shapes, dtypes, finiteness and label domains, and turns a NaN a
kernel returns for an undefined case into a MetricError. Work buffers come from the C heap
(malloc/calloc) outside the loops; a failed allocation raises MemoryError.
"""
cimport numpy as cnp
from libc.math cimport fabs, isfinite, log, sqrt, NAN
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport calloc, free, malloc

from arrays cimport f64_data, i64_data, same_rows
from sorting cimport (Keyed, RADIX_BINS, RADIX_MIN_N, RADIX_PASSES, _key_value, _midranks, _order_key,
                     _radix_sort)

cnp.import_array()


# ---------------------------------------------------------------------------------------
# Input scans: the wrapper calls these to find the first offending value for its message.

def first_nonfinite(const double[::1] x):
    """Index of the first NaN or infinite value in x, or -1."""
    # IN  x: values
    cdef Py_ssize_t i, n = x.shape[0], bad = -1
    with nogil:
        for i in range(n):
            if not isfinite(x[i]):
                bad = i
                break
    return bad


def first_nonfinite_pair(cnp.ndarray a_array not None, cnp.ndarray b_array not None):
    """First row i where a[i] or b[i] is NaN or infinite: i if a[i] is, else n + i; or -1."""
    # IN  a, b: (n,) float64 (ndarrays: called on spearman's n=100 hot path)
    cdef const double* a = f64_data(a_array, 1)
    cdef const double* b = f64_data(b_array, 1)
    cdef Py_ssize_t i, n = same_rows(a_array, b_array), bad = -1
    with nogil:
        for i in range(n):
            if not (isfinite(a[i]) and isfinite(b[i])):
                bad = i if not isfinite(a[i]) else n + i
                break
    return bad


def first_outside(const double[::1] x, double lo, double hi):
    """Index of the first value not in [lo, hi] (NaN counts as outside), or -1."""
    # IN  x: values; lo, hi: closed bounds
    cdef Py_ssize_t i, n = x.shape[0], bad = -1
    with nogil:
        for i in range(n):
            if not (x[i] >= lo and x[i] <= hi):
                bad = i
                break
    return bad


def first_at_or_below(const double[::1] x, double bound):
    """Index of the first value <= bound (or NaN), or -1."""
    cdef Py_ssize_t i, n = x.shape[0], bad = -1
    with nogil:
        for i in range(n):
            if not (x[i] > bound):
                bad = i
                break
    return bad


def first_not_binary(const double[::1] y):
    """Index of the first value that is neither 0.0 nor 1.0, or -1."""
    cdef Py_ssize_t i, n = y.shape[0], bad = -1
    with nogil:
        for i in range(n):
            if y[i] != 0.0 and y[i] != 1.0:
                bad = i
                break
    return bad


def int_range(const int64_t[::1] a, const int64_t[::1] b):
    """(min, max) over both code arrays; both must be non-empty."""
    cdef int64_t lo = a[0], hi = a[0]
    cdef Py_ssize_t i
    with nogil:
        for i in range(a.shape[0]):
            if a[i] < lo:
                lo = a[i]
            elif a[i] > hi:
                hi = a[i]
        for i in range(b.shape[0]):
            if b[i] < lo:
                lo = b[i]
            elif b[i] > hi:
                hi = b[i]
    return lo, hi


def onehot_rows(const double[:, ::1] y, int64_t[::1] index):
    """Column of the single 1.0 in each row of y (others 0.0); first bad row, or -1."""
    # IN  y: (n, k) one-hot rows
    # OUT index: (n,) column of each row's 1.0
    cdef Py_ssize_t i, j, n = y.shape[0], k = y.shape[1], bad = -1
    cdef Py_ssize_t ones, others, at
    cdef double v
    with nogil:
        for i in range(n):      # without branches on the values: the classes are random
            ones = others = at = 0
            for j in range(k):
                v = y[i, j]
                ones += v == 1.0
                others += (v != 0.0) & (v != 1.0)
                at += j * (v == 1.0)
            if ones != 1 or others != 0:
                bad = i
                break
            index[i] = at
    return bad



def onehot_columns(list columns not None, int64_t[::1] index):
    """onehot_rows for a table held as k columns: the column of the single 1.0 in each row
    (others 0.0); first bad row, or -1. Saves interleaving the columns into rows first
    (13 ms at 1M rows x 5)."""
    # IN  columns: k C-contiguous float64 arrays (n,)
    # OUT index: (n,) column of each row's 1.0
    cdef Py_ssize_t i, j, k = len(columns), n = index.shape[0], bad = -1
    cdef Py_ssize_t ones, others, at
    cdef double v
    cdef const double** cols = <const double**> malloc(max(k, 1) * sizeof(double*))
    if cols == NULL:
        raise MemoryError()
    try:
        for j in range(k):
            if cnp.PyArray_DIM(columns[j], 0) != n:
                raise ValueError(f"column {j} has {cnp.PyArray_DIM(columns[j], 0)} rows, expected {n}")
            cols[j] = f64_data(columns[j], 1)
        with nogil:
            for i in range(n):      # without branches on the values: the classes are random
                ones = others = at = 0
                for j in range(k):
                    v = cols[j][i]
                    ones += v == 1.0
                    others += (v != 0.0) & (v != 1.0)
                    at += j * (v == 1.0)
                if ones != 1 or others != 0:
                    bad = i
                    break
                index[i] = at
    finally:
        free(cols)
    return bad


# ---------------------------------------------------------------------------------------
# Regression.

# Sums keep four partial accumulators: a single one makes each add wait on the previous
# (about 1.3 ms at n=1e6 instead of the memory-bound 0.5 ms).

def sum_squared_error(const double[::1] a, const double[::1] b):
    """Sum of (a - b)^2."""
    cdef Py_ssize_t i, n = a.shape[0], n4 = n - n % 4
    cdef double d0, d1, d2, d3, s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    with nogil:
        for i in range(0, n4, 4):
            d0 = a[i] - b[i]
            d1 = a[i + 1] - b[i + 1]
            d2 = a[i + 2] - b[i + 2]
            d3 = a[i + 3] - b[i + 3]
            s0 += d0 * d0
            s1 += d1 * d1
            s2 += d2 * d2
            s3 += d3 * d3
        for i in range(n4, n):
            d0 = a[i] - b[i]
            s0 += d0 * d0
    return (s0 + s1) + (s2 + s3)


def sum_absolute_error(const double[::1] a, const double[::1] b):
    """Sum of |a - b|."""
    cdef Py_ssize_t i, n = a.shape[0], n4 = n - n % 4
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    with nogil:
        for i in range(0, n4, 4):
            s0 += fabs(a[i] - b[i])
            s1 += fabs(a[i + 1] - b[i + 1])
            s2 += fabs(a[i + 2] - b[i + 2])
            s3 += fabs(a[i + 3] - b[i + 3])
        for i in range(n4, n):
            s0 += fabs(a[i] - b[i])
    return (s0 + s1) + (s2 + s3)


cdef inline double _log_ratio_argument(double a, double b) noexcept nogil:
    """(1 + a) / (1 + b), whose log is log1p(a) - log1p(b); NaN when a or b is outside
    (-1, inf). Absolute error of that log is a few 1e-16 everywhere: 1 + a is exact for a
    in [-1, -0.5] (Sterbenz) and within half an ulp of a value >= 0.5 otherwise."""
    if not (a > -1.0 and b > -1.0):
        return NAN
    return (1.0 + a) / (1.0 + b)


def sum_squared_log_error(const double[::1] a, const double[::1] b):
    """Sum of (log1p(a) - log1p(b))^2; NaN or inf if an input is not finite and > -1."""
    cdef Py_ssize_t i, n = a.shape[0]
    cdef double d, s = 0.0
    with nogil:
        for i in range(n):
            d = log(_log_ratio_argument(a[i], b[i]))
            s += d * d
    return s


def sum_squared_log_error_columns(const double[:, ::1] a, const double[:, ::1] b):
    """[sum over rows of (log1p(a[:, j]) - log1p(b[:, j]))^2 for each column j]."""
    # IN  a, b: (n, k)
    cdef Py_ssize_t i, j, n = a.shape[0], k = a.shape[1]
    cdef double d
    cdef double* sums = <double*> calloc(k, sizeof(double))
    if sums == NULL:
        raise MemoryError()
    with nogil:
        for i in range(n):
            for j in range(k):
                d = log(_log_ratio_argument(a[i, j], b[i, j]))
                sums[j] += d * d
    out = [sums[j] for j in range(k)]
    free(sums)
    return out


def log_ratio_arguments(const double[::1] a, const double[::1] b, double[::1] out):
    """out[i] = (1 + a[i]) / (1 + b[i]) (NaN outside the domain), for numpy's vectorised
    log: one log per pair instead of two log1p."""
    # IN  a, b: (n,); OUT out: (n,)
    cdef Py_ssize_t i, n = a.shape[0]
    with nogil:
        for i in range(n):
            out[i] = _log_ratio_argument(a[i], b[i])


def column_sum_squares(const double[:, ::1] x, double[::1] out):
    """out[j] += sum over rows of x[:, j]^2. One column at a time into four register sums:
    adding into out[j] row by row waited on its own store (3.3 ms at n=1e6, k=1; now 0.4)."""
    # IN  x: (n, k); OUT out: (k,) accumulated into
    cdef Py_ssize_t i, j, n = x.shape[0], k = x.shape[1], n4 = n - n % 4
    cdef double s0, s1, s2, s3
    with nogil:
        for j in range(k):
            s0 = s1 = s2 = s3 = 0.0
            for i in range(0, n4, 4):
                s0 += x[i, j] * x[i, j]
                s1 += x[i + 1, j] * x[i + 1, j]
                s2 += x[i + 2, j] * x[i + 2, j]
                s3 += x[i + 3, j] * x[i + 3, j]
            for i in range(n4, n):
                s0 += x[i, j] * x[i, j]
            out[j] += (s0 + s1) + (s2 + s3)


def r2_sums(const double[::1] y, const double[::1] p):
    """(residual sum of squares, total sum of squares of y about its mean)."""
    cdef Py_ssize_t i, n = y.shape[0], n2 = n - n % 2
    cdef double d, e, mean, m0 = 0.0, m1 = 0.0
    cdef double r0 = 0.0, r1 = 0.0, t0 = 0.0, t1 = 0.0
    with nogil:
        for i in range(0, n2, 2):
            m0 += y[i]
            m1 += y[i + 1]
        for i in range(n2, n):
            m0 += y[i]
        mean = (m0 + m1) / n
        for i in range(0, n2, 2):
            d = y[i] - p[i]
            e = y[i + 1] - p[i + 1]
            r0 += d * d
            r1 += e * e
            d = y[i] - mean
            e = y[i + 1] - mean
            t0 += d * d
            t1 += e * e
        for i in range(n2, n):
            d = y[i] - p[i]
            r0 += d * d
            d = y[i] - mean
            t0 += d * d
    return r0 + r1, t0 + t1


# ---------------------------------------------------------------------------------------
# Probabilities.

cdef inline double _clip(double p, double eps) noexcept nogil:
    if p < eps:
        return eps
    if p > 1.0 - eps:
        return 1.0 - eps
    return p


def binary_log_loss_sum(const double[::1] y, const double[::1] p, double eps):
    """Sum over rows of -log(p clipped to [eps, 1-eps]) for y=1, -log(1-p) for y=0."""
    cdef Py_ssize_t i, n = y.shape[0]
    cdef double q, s = 0.0
    with nogil:
        for i in range(n):
            q = _clip(p[i], eps)
            if y[i] != 0.0:
                s -= log(q)
            else:
                s -= log(1.0 - q)
    return s


def multiclass_log_loss_sum(const int64_t[::1] y, const double[:, ::1] p, double eps):
    """Sum over rows of -log(q[y] / sum(q)), q = row of p clipped to [eps, 1-eps]."""
    # IN  y: (n,) class index per row, in [0, k); p: (n, k) probabilities
    cdef Py_ssize_t i, j, n = p.shape[0], k = p.shape[1]
    cdef double row, s = 0.0
    with nogil:
        for i in range(n):
            row = 0.0
            for j in range(k):
                row += _clip(p[i, j], eps)
            s -= log(_clip(p[i, y[i]], eps) / row)
    return s


def true_class_log_loss_sum(const int64_t[::1] y, const double[:, ::1] p, double eps):
    """Sum over rows of -log(p[y] clipped to [eps, 1-eps]), rows not renormalised."""
    # IN  y: (n,) class index per row, in [0, k); p: (n, k) probabilities
    cdef Py_ssize_t i, n = p.shape[0]
    cdef double s = 0.0
    with nogil:
        for i in range(n):
            s -= log(_clip(p[i, y[i]], eps))
    return s


# ---------------------------------------------------------------------------------------
# Ranking: ROC AUC from the two sorted score groups; Spearman from midranks.

def split_binary(const double[::1] y, const double[::1] score,
                 double[::1] positive, double[::1] negative):
    """Copy scores of y != 0 rows to `positive`, the rest to `negative`; count positives."""
    # IN  y: (n,) 0/1 labels; score: (n,)
    # OUT positive[:n_pos], negative[:n - n_pos]
    cdef Py_ssize_t i, n = y.shape[0], n_pos = 0, n_neg = 0
    with nogil:
        for i in range(n):
            if y[i] != 0.0:
                positive[n_pos] = score[i]
                n_pos += 1
            else:
                negative[n_neg] = score[i]
                n_neg += 1
    return n_pos


RADIX_SORT_MIN_N = RADIX_MIN_N     # radix_sort's smallest input; the wrappers sort smaller ones with numpy


def radix_sort(double[::1] x):
    """Sort x ascending in place by an LSD radix sort of its order keys (n >= RADIX_MIN_N;
    numpy's sort is quicker below): -0.0 becomes 0.0, NaN with the sign bit set comes first,
    other NaN last. 7.8 ms for 500k random doubles, numpy's sort 24 ms (one core)."""
    # IN/OUT x: (n,) values
    cdef Py_ssize_t i, n = x.shape[0]
    cdef uint64_t* work = <uint64_t*> malloc(2 * max(n, 1) * sizeof(uint64_t))
    cdef Py_ssize_t* counts = <Py_ssize_t*> calloc(RADIX_PASSES * RADIX_BINS, sizeof(Py_ssize_t))
    cdef uint64_t* v
    if work == NULL or counts == NULL:
        free(work)
        free(counts)
        raise MemoryError()
    with nogil:
        for i in range(n):
            work[i] = _order_key(x[i])
        v = _radix_sort(work, work + n, n, counts) if n else work
        for i in range(n):
            x[i] = _key_value(v[i])
    free(work)
    free(counts)


def auc_sorted(const double[::1] positive, const double[::1] negative):
    """P(score of a positive > score of a negative) + 0.5 P(equal), both inputs ascending."""
    # Twice the Mann-Whitney U counted in integers, so the result is exact before the divide.
    cdef Py_ssize_t i, n_pos = positive.shape[0], n_neg = negative.shape[0]
    cdef Py_ssize_t below = 0, at_or_below = 0
    cdef int64_t twice_u = 0
    cdef double s
    with nogil:
        for i in range(n_pos):
            s = positive[i]
            while below < n_neg and negative[below] < s:
                below += 1
            if at_or_below < below:
                at_or_below = below
            while at_or_below < n_neg and negative[at_or_below] <= s:
                at_or_below += 1
            twice_u += below + at_or_below
    return twice_u / (2.0 * n_pos * n_neg)


def spearman(cnp.ndarray x_array not None, cnp.ndarray y_array not None):
    """Pearson correlation of the midranks of x and y; NaN when either is constant."""
    # IN  x, y: (n,) finite float64 values, n >= 2 (ndarrays: arrays.pxd says why)
    cdef const double* x = f64_data(x_array, 1)
    cdef const double* y = f64_data(y_array, 1)
    cdef Py_ssize_t i, n = same_rows(x_array, y_array)
    cdef Py_ssize_t n_counts = RADIX_PASSES * RADIX_BINS if n >= RADIX_MIN_N else 1
    cdef Keyed* work = <Keyed*> malloc(2 * n * sizeof(Keyed))
    cdef double* rx = <double*> malloc(2 * n * sizeof(double))
    cdef Py_ssize_t* counts = <Py_ssize_t*> calloc(2 * n_counts, sizeof(Py_ssize_t))
    cdef double* ry
    cdef double mean, dx, dy, sxy = 0.0, sxx = 0.0, syy = 0.0, rho
    if work == NULL or rx == NULL or counts == NULL:
        free(work)
        free(rx)
        free(counts)
        raise MemoryError()
    ry = rx + n
    with nogil:
        _midranks(x, work, work + n, counts, rx, n)
        _midranks(y, work, work + n, counts + n_counts, ry, n)
        mean = 0.5 * (n + 1)  # midranks always sum to n(n+1)/2
        for i in range(n):
            dx = rx[i] - mean
            dy = ry[i] - mean
            sxy += dx * dy
            sxx += dx * dx
            syy += dy * dy
        if sxx == 0.0 or syy == 0.0:
            rho = NAN
        else:
            rho = sxy / sqrt(sxx * syy)
    free(work)
    free(rx)
    free(counts)
    return rho


# ---------------------------------------------------------------------------------------
# Labels: int64 codes in [lo, lo + width); histograms of that width on the C heap.

def count_equal(const int64_t[::1] a, const int64_t[::1] b):
    """Number of positions where a and b hold the same code."""
    cdef Py_ssize_t i, n = a.shape[0], same = 0
    with nogil:
        for i in range(n):
            same += a[i] == b[i]
    return same


cdef int _histograms(const int64_t* a, const int64_t* b, Py_ssize_t n, int64_t lo,
                     int64_t* true_count, int64_t* pred_count,
                     int64_t* hits) noexcept nogil:
    """true_count/pred_count: per-code counts of a/b; hits: per-code count of a == b."""
    cdef Py_ssize_t i
    for i in range(n):
        true_count[a[i] - lo] += 1
        pred_count[b[i] - lo] += 1
        if a[i] == b[i]:
            hits[a[i] - lo] += 1
    return 0


def f1_macro(const int64_t[::1] a, const int64_t[::1] b, int64_t lo, Py_ssize_t width):
    """Mean over codes present in a or b of 2 tp / (2 tp + fp + fn)."""
    cdef int64_t* buf = <int64_t*> calloc(3 * width, sizeof(int64_t))
    cdef Py_ssize_t c, present = 0
    cdef double total = 0.0
    if buf == NULL:
        raise MemoryError()
    with nogil:
        _histograms(&a[0], &b[0], a.shape[0], lo, buf, buf + width, buf + 2 * width)
        for c in range(width):
            if buf[c] + buf[width + c] > 0:
                present += 1
                total += 2.0 * buf[2 * width + c] / (buf[c] + buf[width + c])
    free(buf)
    return total / present


def mcc(const int64_t[::1] a, const int64_t[::1] b, int64_t lo, Py_ssize_t width):
    """Multi-class Matthews correlation (Gorodkin); 0.0 when a or b is constant."""
    cdef int64_t* buf = <int64_t*> calloc(3 * width, sizeof(int64_t))
    cdef Py_ssize_t c, n = a.shape[0]
    cdef double correct = 0.0, tp_dot = 0.0, pp_dot = 0.0, tt_dot = 0.0
    cdef double cov_tp, cov_pp, cov_tt, result
    if buf == NULL:
        raise MemoryError()
    with nogil:
        _histograms(&a[0], &b[0], n, lo, buf, buf + width, buf + 2 * width)
        for c in range(width):
            correct += buf[2 * width + c]
            tp_dot += <double> buf[c] * buf[width + c]
            pp_dot += <double> buf[width + c] * buf[width + c]
            tt_dot += <double> buf[c] * buf[c]
        cov_tp = correct * n - tp_dot
        cov_pp = <double> n * n - pp_dot
        cov_tt = <double> n * n - tt_dot
        if cov_pp * cov_tt == 0.0:
            result = 0.0
        else:
            result = cov_tp / sqrt(cov_tt * cov_pp)
    free(buf)
    return result


def qwk(const int64_t[::1] a, const int64_t[::1] b, int64_t lo, Py_ssize_t width):
    """Quadratic weighted kappa over the sorted union of codes present (as scikit-learn:
    the weight of a disagreement is the squared distance of the two labels' positions in
    that union). NaN when every row holds one and the same label."""
    cdef int64_t* buf = <int64_t*> calloc(3 * width, sizeof(int64_t))
    cdef int64_t* position
    cdef Py_ssize_t i, c, n = a.shape[0], k = 0
    cdef int64_t d
    cdef double observed = 0.0  # sum of d^2 can pass 2^63 with millions of labels
    cdef double centre, x, t1 = 0.0, t2 = 0.0, p1 = 0.0, p2 = 0.0, expected, result
    if buf == NULL:
        raise MemoryError()
    position = buf + 2 * width  # reuses the hits histogram, which qwk does not need
    with nogil:
        _histograms(&a[0], &b[0], n, lo, buf, buf + width, position)
        for c in range(width):
            if buf[c] + buf[width + c] > 0:
                position[c] = k
                k += 1
        centre = 0.5 * (k - 1)  # centring the positions limits cancellation below
        for c in range(width):
            if buf[c] + buf[width + c] > 0:
                x = position[c] - centre
                t1 += x * buf[c]
                t2 += x * x * buf[c]
                p1 += x * buf[width + c]
                p2 += x * x * buf[width + c]
        for i in range(n):
            d = position[a[i] - lo] - position[b[i] - lo]
            observed += <double> (d * d)
        # sum_ij (i - j)^2 t_i p_j, the chance-expected weighted disagreement times n
        expected = t2 * n + p2 * n - 2.0 * t1 * p1
        if expected == 0.0:
            result = NAN
        else:
            result = 1.0 - observed * n / expected
    free(buf)
    return result


# ---------------------------------------------------------------------------------------
# MAP@K.

# Entry points take ndarrays, not memoryviews: at n=100 acquiring two memoryviews cost more
# than the whole loop (arrays.pxd).

def average_precision_sum(cnp.ndarray actual_array not None, cnp.ndarray predicted_array not None,
                          Py_ssize_t k):
    """Sum over rows of Kaggle's AP@k. Negative codes are padding in both arrays."""
    # IN  actual: (n, t) int64 true codes per row; predicted: (n, m) int64 codes, best first
    cdef const int64_t* actual = i64_data(actual_array, 2)
    cdef const int64_t* predicted = i64_data(predicted_array, 2)
    cdef Py_ssize_t r, i, j, n = same_rows(actual_array, predicted_array)
    cdef Py_ssize_t t = cnp.PyArray_DIM(actual_array, 1), m = cnp.PyArray_DIM(predicted_array, 1)
    cdef Py_ssize_t depth = min(k, m)
    cdef Py_ssize_t n_true, hits
    cdef const int64_t* truth
    cdef const int64_t* guess
    cdef int64_t p
    cdef bint found
    cdef double score, total = 0.0
    with nogil:
        for r in range(n):
            truth = actual + r * t
            guess = predicted + r * m
            n_true = 0
            for j in range(t):
                n_true += truth[j] >= 0
            if n_true == 0:
                continue
            hits = 0
            score = 0.0
            for i in range(depth):
                p = guess[i]
                if p < 0:
                    continue
                found = False
                for j in range(t):
                    if truth[j] == p:
                        found = True
                        break
                if not found:
                    continue
                for j in range(i):
                    if guess[j] == p:
                        found = False
                        break
                if found:
                    hits += 1
                    score += hits / (i + 1.0)
            total += score / min(n_true, k)
    return total


def average_precision_sum_single(cnp.ndarray actual_array not None, cnp.ndarray predicted_array not None,
                                 Py_ssize_t k):
    """average_precision_sum for one true code per row (negative: no true label)."""
    # IN  actual: (n,) int64; predicted: (n, m) int64 codes, best first
    cdef const int64_t* actual = i64_data(actual_array, 1)
    cdef const int64_t* predicted = i64_data(predicted_array, 2)
    cdef Py_ssize_t r, i, n = same_rows(actual_array, predicted_array)
    cdef Py_ssize_t m = cnp.PyArray_DIM(predicted_array, 1), depth = min(k, m)
    cdef int64_t target
    cdef double total = 0.0
    with nogil:
        for r in range(n):
            target = actual[r]
            if target < 0:
                continue
            for i in range(depth):
                if predicted[r * m + i] == target:
                    total += 1.0 / (i + 1.0)  # first hit only: one true label, AP = 1/rank
                    break
    return total
