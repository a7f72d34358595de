"""Grading: a submission CSV against a task's hidden answers -> a `Grade`.

    grade = grade_submission(task_or_folder, "submission.csv")
    grade.valid, grade.score, grade.tier, grade.reason, grade.to_json()

A bad submission is data, never an exception: every malformed file (missing, empty, not
UTF-8, not CSV, wrong columns, missing/duplicated/unknown ids, non-numeric or non-finite
values, probabilities outside [0, 1], a metric undefined on it) gives `valid=False` and a
one-line `reason`, as MLE-bench's `InvalidSubmissionError` does. The answers file is the
trusted side: a broken one raises `UserError` (the task folder is wrong, not the agent).

Every grade goes read -> columns and rows -> values -> score, as the task's grader profile
says (its `grader` block: sandmle's own rules by default, or MLE-bench's for a competition):

    profile.py   the `grader` block: reader, column and row rules, checks, clipping
    read.py      a CSV file's bytes -> a table of text cells (polars' CSV reader), both sides
    cells.py     text cells -> numbers, ids, labels, strings (as pandas types them, if asked)
    align.py     which columns are scored, which submission row pairs with which answer row
    values.py    the paired cells -> the metric kind's input arrays, with the value checks
    grade.py     the metric (`sandmle.metrics`, Cython kernels), rounded to 5 decimals as
                 MLE-bench does -> the `Grade` with its medal tier
    reasons.py   one-line reasons: values shown short, ids cut to a few
    check.py     a task folder checks itself: sample valid, answers gold (`sandmle task check`)
"""
from sandmle.grading.grade import (SCORE_DECIMALS, Grade, grade_submission, metric_inputs, profile_of,
                                   score_submission)
from sandmle.grading.profile import GraderProfile
from sandmle.grading.read import MAX_SIZE_FACTOR, MAX_SIZE_SLACK_BYTES
from sandmle.grading.values import NUMERIC_KINDS, PROBA_KINDS

__all__ = ["Grade", "grade_submission", "score_submission", "metric_inputs", "profile_of", "GraderProfile",
           "SCORE_DECIMALS", "MAX_SIZE_FACTOR", "MAX_SIZE_SLACK_BYTES", "PROBA_KINDS", "NUMERIC_KINDS"]
