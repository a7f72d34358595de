"""Reward kernel, compiled to sandmle._native.reward.

Turns a batch of graded episodes into scalar rewards under one of the schemes of
sandmle.reward (REFERENCE §6). Trusts its input: sandmle.reward.compute_rewards checks
shapes, dtypes and ranges first. A tier is reached when the score is at least as good as
its threshold: >= for higher-is-better metrics, <= for lower-is-better ones.
"""
from libc.stdint cimport uint8_t

# Scheme codes, in the order of sandmle.reward.SCHEMES.
cdef enum:
    PAPER = 0
    RELEASE = 1
    SPARSE = 2


cdef inline bint _reaches(double score, double threshold, bint lower) noexcept nogil:
    if lower:
        return score <= threshold
    return score >= threshold


cdef inline double _reward(bint valid, double score, const double* t, bint lower,
                           double format_rate, int scheme) noexcept nogil:
    """One episode's reward; t = (median, bronze, silver, gold) thresholds."""
    cdef double r = 0.1 * format_rate
    if not valid:
        return r
    if scheme == PAPER:
        r += 0.3
        if _reaches(score, t[0], lower):
            r += 0.1
        if _reaches(score, t[1], lower):
            r += 0.2
        if _reaches(score, t[2], lower):
            r += 0.2
        if _reaches(score, t[3], lower):
            r += 0.1
    elif scheme == RELEASE:
        r += 0.2
        if _reaches(score, t[3], lower):
            r += 0.7
        elif _reaches(score, t[2], lower):
            r += 0.6
        elif _reaches(score, t[1], lower):
            r += 0.5
        elif _reaches(score, t[0], lower):
            r += 0.1
    elif _reaches(score, t[3], lower):  # SPARSE
        r += 0.9
    return r


def rewards(const uint8_t[::1] valid, const double[::1] score,
            const double[:, ::1] thresholds, const uint8_t[::1] is_lower_better,
            const double[::1] format_rate, int scheme, double[::1] out):
    """Fill out[i] with episode i's reward."""
    # IN  valid, is_lower_better: (n,) 0/1; score, format_rate: (n,); thresholds: (n, 4)
    # OUT out: (n,)
    cdef Py_ssize_t i, n = valid.shape[0]
    with nogil:
        for i in range(n):
            out[i] = _reward(valid[i], score[i], &thresholds[i, 0], is_lower_better[i],
                             format_rate[i], scheme)
