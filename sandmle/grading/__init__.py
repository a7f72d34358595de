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

The names below load their module on first use (PEP 562): importing `sandmle.grading.profile`
(the CLI's help does, through `sandmle.sources.mlebench_lite`) must not load numpy and polars.
"""
from __future__ import annotations

import importlib

_HOMES = {"Grade": "grade", "grade_submission": "grade", "score_submission": "grade", "metric_inputs": "grade",
          "profile_of": "grade", "SCORE_DECIMALS": "grade", "GraderProfile": "profile",
          "MAX_SIZE_FACTOR": "read", "MAX_SIZE_SLACK_BYTES": "read", "PROBA_KINDS": "values",
          "NUMERIC_KINDS": "values"}
__all__ = list(_HOMES)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
