"""Forecasting metric kernels (percentage errors), compiled to sandmle._native.forecast.

Private kernels in the scikit-learn style, like csrc/metrics.pyx: they trust their input
(contiguous, same length, non-empty; `sandmle.metrics.forecast` checks it) and run without
the GIL. They take ndarrays rather than memoryviews, whose acquisition cost more than the
loop at n=100 (arrays.pxd). A sum comes back NaN or infinite when an input is not finite; the wrapper then
names the offending value. Four partial accumulators, as in metrics.pyx's regression sums.
"""
cimport numpy as cnp
from libc.math cimport fabs, fmax

from arrays cimport f64_data, same_rows

cnp.import_array()


def sum_absolute_percentage_error(cnp.ndarray a_array not None, cnp.ndarray b_array not None, double eps):
    """Sum of |a - b| / max(|a|, eps) (scikit-learn's mean_absolute_percentage_error)."""
    # IN  a: (n,) float64 true values; b: (n,) float64 forecasts; eps: floor of the denominator
    cdef const double* a = f64_data(a_array, 1)
    cdef const double* b = f64_data(b_array, 1)
    cdef Py_ssize_t i, n = same_rows(a_array, b_array), n4 = n - n % 4
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    with nogil:
        for i in range(0, n4, 4):
            s0 += fabs(a[i] - b[i]) / fmax(fabs(a[i]), eps)
            s1 += fabs(a[i + 1] - b[i + 1]) / fmax(fabs(a[i + 1]), eps)
            s2 += fabs(a[i + 2] - b[i + 2]) / fmax(fabs(a[i + 2]), eps)
            s3 += fabs(a[i + 3] - b[i + 3]) / fmax(fabs(a[i + 3]), eps)
        for i in range(n4, n):
            s0 += fabs(a[i] - b[i]) / fmax(fabs(a[i]), eps)
    return (s0 + s1) + (s2 + s3)


cdef inline double _symmetric_term(double a, double b) noexcept nogil:
    """2 |b - a| / (|a| + |b|), and 0 where a and b are both 0 (Kaggle's convention)."""
    cdef double d = fabs(a) + fabs(b)
    if d == 0.0:
        return 0.0
    return 2.0 * fabs(b - a) / d


def sum_symmetric_percentage_error(cnp.ndarray a_array not None, cnp.ndarray b_array not None):
    """Sum of 2 |b - a| / (|a| + |b|) over the rows, a row of two zeros adding 0."""
    # IN  a: (n,) float64 true values; b: (n,) float64 forecasts
    cdef const double* a = f64_data(a_array, 1)
    cdef const double* b = f64_data(b_array, 1)
    cdef Py_ssize_t i, n = same_rows(a_array, b_array), n4 = n - n % 4
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    with nogil:
        for i in range(0, n4, 4):
            s0 += _symmetric_term(a[i], b[i])
            s1 += _symmetric_term(a[i + 1], b[i + 1])
            s2 += _symmetric_term(a[i + 2], b[i + 2])
            s3 += _symmetric_term(a[i + 3], b[i + 3])
        for i in range(n4, n):
            s0 += _symmetric_term(a[i], b[i])
    return (s0 + s1) + (s2 + s3)
