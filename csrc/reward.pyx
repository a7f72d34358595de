"""Reward kernel, compiled to sandmle._native.reward.

Turns a batch of graded episodes into scalar rewards under one of the schemes of
sandmle.reward (REFERENCE §6). Trusts its input: sandmle.reward.compute_rewards checks
shapes, dtypes and ranges first.

The reward is a function of the tier, and the tier is decided here exactly as
sandmle.leaderboard.tier_of decides it (MLE-bench's rule): a medal is reached when the score
is at least as good as its threshold (>= for higher-is-better metrics, <= for lower), and
"above median" only when strictly better than the median. A report's tier and an episode's
reward therefore never disagree, at the median or anywhere else.
"""
from libc.stdint cimport uint8_t

# Scheme codes, in the order of sandmle.reward.SCHEMES.
cdef enum:
    PAPER = 0
    RELEASE = 1
    SPARSE = 2

# Tier codes: none, above_median, bronze, silver, gold.
cdef enum:
    NONE = 0
    ABOVE_MEDIAN = 1
    BRONZE = 2
    SILVER = 3
    GOLD = 4

# Reward of a valid submission per (scheme, tier), before the format term:
# paper   0.3 valid + cumulative milestones 0.1 median, 0.2 bronze, 0.2 silver, 0.1 gold
# release 0.2 valid + the highest tier only: median 0.1, bronze 0.5, silver 0.6, gold 0.7
# sparse  0.9 at gold, nothing else
cdef double[3][5] TIER_REWARD
TIER_REWARD[PAPER][:] = [0.3, 0.4, 0.6, 0.8, 0.9]
TIER_REWARD[RELEASE][:] = [0.2, 0.3, 0.7, 0.8, 0.9]
TIER_REWARD[SPARSE][:] = [0.0, 0.0, 0.0, 0.0, 0.9]


cdef inline bint _at_least(double score, double threshold, bint lower) noexcept nogil:
    if lower:
        return score <= threshold
    return score >= threshold


cdef inline int _tier(double score, const double* t, bint lower) noexcept nogil:
    """sandmle.leaderboard.tier_of; t = (median, bronze, silver, gold) thresholds."""
    if score != score:                  # NaN
        return NONE
    if _at_least(score, t[3], lower):
        return GOLD
    if _at_least(score, t[2], lower):
        return SILVER
    if _at_least(score, t[1], lower):
        return BRONZE
    if (score < t[0]) if lower else (score > t[0]):
        return ABOVE_MEDIAN
    return NONE


def rewards(const uint8_t[::1] valid, const double[::1] score,
            const double[:, ::1] thresholds, const uint8_t[::1] is_lower_better,
            const double[::1] format_rate, int scheme, double[::1] out):
    """Fill out[i] with episode i's reward: 0.1 * format_rate, plus the tier's reward when
    the submission is valid."""
    # IN  valid, is_lower_better: (n,) 0/1; score, format_rate: (n,); thresholds: (n, 4)
    # OUT out: (n,)
    cdef Py_ssize_t i, n = valid.shape[0]
    with nogil:
        for i in range(n):
            out[i] = 0.1 * format_rate[i]
            if valid[i]:
                out[i] += TIER_REWARD[scheme][_tier(score[i], &thresholds[i, 0], is_lower_better[i])]

