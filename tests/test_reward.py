"""Reward schemes against a direct Python formula: every tier boundary in both directions,
invalid and missing submissions, and random batches (hypothesis)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandmle.errors import UserError
from sandmle.reward import SCHEMES, compute_rewards, reward_for_grade
from sandmle.task import Thresholds


def reference_tier(score, thresholds, lower):
    """MLE-bench's rule written out: medals at least as good as their threshold, checked gold
    first; above median only when strictly better than the median."""
    median, bronze, silver, gold = thresholds

    def at_least(t):
        return score <= t if lower else score >= t
    if math.isnan(score):
        return "none"
    for name, t in (("gold", gold), ("silver", silver), ("bronze", bronze)):
        if at_least(t):
            return name
    return "above_median" if (score < median if lower else score > median) else "none"


TIER_VALUE = {  # REFERENCE §6, per tier reached (valid submissions)
    "paper": {"none": 0.3, "above_median": 0.3 + 0.1, "bronze": 0.3 + 0.1 + 0.2,
              "silver": 0.3 + 0.1 + 0.2 + 0.2, "gold": 0.3 + 0.1 + 0.2 + 0.2 + 0.1},
    "release": {"none": 0.2, "above_median": 0.2 + 0.1, "bronze": 0.2 + 0.5, "silver": 0.2 + 0.6,
                "gold": 0.2 + 0.7},
    "sparse": {"none": 0.0, "above_median": 0.0, "bronze": 0.0, "silver": 0.0, "gold": 0.9},
}


def reference(valid, score, thresholds, lower, fmt, scheme):
    """REFERENCE §6 written out: the oracle for the kernel."""
    r = 0.1 * fmt
    return r + (TIER_VALUE[scheme][reference_tier(score, thresholds, lower)] if valid else 0.0)


HIGHER = (0.5, 0.6, 0.7, 0.8)
LOWER = (0.8, 0.7, 0.6, 0.5)


def boundary_scores(thresholds):
    scores = []
    for t in thresholds:
        scores += [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), t + 0.01, t - 0.01]
    return scores + [-1e9, 1e9]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("lower, thresholds", [(False, HIGHER), (True, LOWER)])
def test_every_tier_boundary_matches_formula(scheme, lower, thresholds):
    scores = boundary_scores(thresholds)
    n = len(scores)
    got = compute_rewards(np.ones(n, bool), scores, [thresholds] * n, [lower] * n,
                          [0.75] * n, scheme)
    want = [reference(True, s, thresholds, lower, 0.75, scheme) for s in scores]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scheme, gold_reward", [("paper", 1.0), ("release", 1.0),
                                                 ("sparse", 1.0)])
def test_gold_with_full_format_earns_one(scheme, gold_reward):
    for lower, thresholds in ((False, HIGHER), (True, LOWER)):
        got = compute_rewards([True], [thresholds[3]], [thresholds], [lower], [1.0], scheme)
        assert got[0] == pytest.approx(gold_reward, abs=1e-12)


def test_score_equal_to_threshold_reaches_tier_in_both_directions():
    for lower, thresholds in ((False, HIGHER), (True, LOWER)):
        got = compute_rewards([True], [thresholds[1]], [thresholds], [lower], [0.0], "release")
        assert got[0] == pytest.approx(0.2 + 0.5, abs=1e-12)


def test_lower_is_better_flips_direction():
    # 0.9 beats every higher-is-better threshold and misses every lower-is-better one.
    got = compute_rewards([True, True], [0.9, 0.9], [HIGHER, LOWER], [False, True],
                          [0.0, 0.0], "paper")
    np.testing.assert_allclose(got, [1.0 - 0.1, 0.3], atol=1e-12)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_invalid_episode_earns_only_format_even_with_nan_score(scheme):
    got = compute_rewards([False, False], [np.nan, 0.99], [HIGHER, HIGHER], [False, False],
                          [0.4, 1.0], scheme)
    np.testing.assert_allclose(got, [0.04, 0.1], atol=1e-12)


@dataclass(frozen=True)
class FakeGrade:
    valid: bool
    score: float | None
    thresholds: Thresholds
    is_lower_better: bool
    sample_copy: bool = False


@pytest.mark.parametrize("scheme", SCHEMES)
def test_reward_for_grade_matches_formula(scheme):
    th = Thresholds(*HIGHER)
    for score in boundary_scores(HIGHER):
        grade = FakeGrade(True, score, th, False)
        assert reward_for_grade(grade, 0.5, scheme) == pytest.approx(
            reference(True, score, HIGHER, False, 0.5, scheme), abs=1e-12)
    assert reward_for_grade(FakeGrade(False, None, th, False), 0.5, scheme) == pytest.approx(0.05)
    assert reward_for_grade(None, 0.3, scheme) == pytest.approx(0.03)


def test_reward_for_a_real_grade():
    from sandmle.grading import Grade
    grade = Grade(task_id="t", valid=True, score=0.6, reason=None, tier="bronze",
                  thresholds=Thresholds(*HIGHER), is_lower_better=False,
                  submission_path="submission.csv")
    assert reward_for_grade(grade, 1.0) == pytest.approx(0.1 + 0.3 + 0.1 + 0.2)


def test_unknown_scheme_is_user_error():
    with pytest.raises(UserError, match="unknown reward scheme 'dense'"):
        compute_rewards([True], [0.5], [HIGHER], [False], [1.0], "dense")
    with pytest.raises(UserError, match="unknown reward scheme"):
        reward_for_grade(None, 1.0, "dense")


@pytest.mark.parametrize("kwargs, message", [
    (dict(score=[np.nan]), "valid scores must be finite"),
    (dict(thresholds=[[0.5, np.nan, 0.7, 0.8]]), "thresholds must be finite"),
    (dict(thresholds=[HIGHER[:3]]), "thresholds has shape"),
    (dict(format_rate=[1.5]), r"format_rate\[0\] is 1.5"),
    (dict(valid=[True, False]), "valid has shape"),
    (dict(is_lower_better=[2]), "is_lower_better must hold booleans"),
])
def test_malformed_batch_is_user_error(kwargs, message):
    args = dict(valid=[True], score=[0.5], thresholds=[HIGHER], is_lower_better=[False],
                format_rate=[1.0])
    args.update(kwargs)
    with pytest.raises(UserError, match=message):
        compute_rewards(**args)


def test_result_is_float64_array():
    out = compute_rewards(np.array([1], dtype=np.int8), [0.5], [HIGHER], [0], [1.0])
    assert out.dtype == np.float64 and out.shape == (1,)


finite = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), finite, st.lists(finite, min_size=4, max_size=4),
                          st.booleans(), st.floats(0, 1)), min_size=1, max_size=30),
       st.sampled_from(SCHEMES))
def test_batches_match_formula(rows, scheme):
    valid, score, thresholds, lower, fmt = map(list, zip(*rows))
    got = compute_rewards(valid, score, thresholds, lower, fmt, scheme)
    want = [reference(*row, scheme) for row in rows]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert all(0.0 <= r <= 1.0 + 1e-12 and math.isfinite(r) for r in got)


@settings(max_examples=200, deadline=None)
@given(finite, st.lists(finite, min_size=4, max_size=4), st.booleans(), st.sampled_from(SCHEMES))
def test_reward_follows_the_reported_tier(score, thresholds, lower, scheme):
    """The tier a report shows (sandmle.leaderboard.tier_of) decides the reward: they never
    disagree, whatever the thresholds."""
    from sandmle.leaderboard import tier_of

    tier = tier_of(score, Thresholds(*thresholds), lower)
    got = compute_rewards([True], [score], [thresholds], [lower], [0.0], scheme)[0]
    assert got == pytest.approx(TIER_VALUE[scheme][tier], abs=1e-12)


@pytest.mark.parametrize("lower, thresholds", [(False, HIGHER), (True, LOWER)])
def test_a_score_tying_the_median_earns_the_valid_term_only(lower, thresholds):
    from sandmle.leaderboard import tier_of

    median = thresholds[0]
    assert tier_of(median, Thresholds(*thresholds), lower) == "none"
    got = compute_rewards([True], [median], [thresholds], [lower], [0.0], "paper")[0]
    assert got == pytest.approx(0.3, abs=1e-12)


def test_a_copy_of_the_sample_submission_earns_the_format_term_only(make_task, tmp_path):
    """Copied byte for byte, or rewritten by pandas (other order, other number format): still
    graded valid (as MLE-bench grades it), flagged, and rewarded as no submission."""
    import shutil

    import pandas as pd

    from sandmle.grading import grade_submission

    task = make_task("auc", thresholds=Thresholds(0.4, 0.6, 0.7, 0.8))   # the constant 0.5 is above median
    copy = tmp_path / "copy.csv"
    shutil.copyfile(task.sample_submission_path, copy)
    shuffled = tmp_path / "shuffled.csv"
    pd.read_csv(task.sample_submission_path).sample(frac=1.0, random_state=0).to_csv(
        shuffled, index=False, float_format="%.3f")
    for path in (copy, shuffled):
        grade = grade_submission(task, path)
        assert grade.valid and grade.sample_copy and grade.tier == "above_median"
        assert grade.to_json()["sample_copy"] is True
        assert reward_for_grade(grade, 1.0, "paper") == pytest.approx(0.1)
    answers = tmp_path / "answers.csv"
    shutil.copyfile(task.answers_path, answers)
    grade = grade_submission(task, answers)
    assert grade.valid and not grade.sample_copy
    assert reward_for_grade(grade, 1.0, "paper") == pytest.approx(1.0)
    sample = pd.read_csv(task.sample_submission_path)          # a task whose sample changed since: judged afresh
    sample[sample.columns[1]] = 0.25
    sample.to_csv(task.sample_submission_path, index=False)
    assert not grade_submission(task, copy).sample_copy


@pytest.mark.parametrize("metric, n_test", [("auc", 40), ("multiclass_log_loss", 40),
                                            ("multiclass_log_loss", 4000), ("rmse", 4000)])
def test_a_sample_copy_is_judged_on_every_row(make_task, tmp_path, metric, n_test):
    """A sample of varied predictions, longer than the part of it read first (4000 rows):
    its rows shuffled and respelled are a copy; one row changed (the first or another), or
    the same values in other rows, are not."""
    task = make_task(metric, n_test=n_test)
    sample = task.sample_submission_path
    header = sample.read_text().splitlines()[0].split(",")
    k = len(header) - 1
    rng = np.random.default_rng(1)
    values = rng.random((n_test, k)) + 0.01
    if metric == "multiclass_log_loss":
        values /= values.sum(axis=1, keepdims=True)
    ids = [line.split(",")[0] for line in sample.read_text().splitlines()[1:]]

    def write(path, rows, spell=repr, order=None):
        order = range(n_test) if order is None else order
        body = "".join(f"{ids[i]}," + ",".join(spell(float(v)) for v in rows[i]) + "\n" for i in order)
        path.write_text(",".join(header) + "\n" + body)
        return path

    write(sample, values)
    shuffled = write(tmp_path / "shuffled.csv", values, lambda v: f"{v:.17e}", rng.permutation(n_test))
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('"id"' + shuffled.read_text()[len("id"):])     # quotes: the whole file is read
    first, other = values.copy(), values.copy()
    first[0, 0], other[n_test - 1, 0] = first[1, 0], other[0, 0]
    swapped = values.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    for path, copy in ((shuffled, True), (quoted, True), (write(tmp_path / "first.csv", first), False),
                       (write(tmp_path / "other.csv", other), False),
                       (write(tmp_path / "swapped.csv", swapped), False)):
        for fresh in (False, True):
            grade = grade_submission_of(task, path, fresh)
            assert grade.valid, (path.name, grade.reason)
            assert grade.sample_copy is copy, path.name


def grade_submission_of(task, path, fresh: bool):
    """A grade by the loaded task (its cache kept), or by a task loaded afresh (as the CLI)."""
    from dataclasses import replace

    from sandmle.grading import grade_submission

    return grade_submission(replace(task, cache={}) if fresh else task, path)
