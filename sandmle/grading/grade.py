"""The grade: a submission file against a task's hidden answers -> a `Grade`.

`grade_submission` never raises for a bad submission: it returns `Grade(valid=False,
reason=...)`. `score_submission` is the score alone (raising `InvalidSubmission`), for a
task still being built; `metric_inputs` the arrays the metric sees. Scores are rounded to
5 decimals, as MLE-bench does, before the tier is decided.
"""
from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandmle.errors import InvalidSubmission, MetricError
from sandmle.grading.align import align, metric_arrays
from sandmle.grading.read import read_answers, read_submission
from sandmle.grading.reasons import one_line, show
from sandmle.leaderboard import tier_of
from sandmle.task import Task, TaskSpec, Thresholds, load_task

SCORE_DECIMALS = 5


@dataclass(frozen=True)
class Grade:
    """One graded submission. `score` is None when invalid; `reason` is None when valid."""

    task_id: str
    valid: bool
    score: float | None
    reason: str | None
    tier: str                      # "gold" | "silver" | "bronze" | "above_median" | "none"
    thresholds: Thresholds
    is_lower_better: bool
    submission_path: str
    submission_exists: bool = True

    @property
    def gold_medal(self) -> bool:
        return self.tier == "gold"

    @property
    def silver_medal(self) -> bool:
        return self.tier == "silver"

    @property
    def bronze_medal(self) -> bool:
        return self.tier == "bronze"

    @property
    def any_medal(self) -> bool:
        return self.tier in ("gold", "silver", "bronze")

    @property
    def above_median(self) -> bool:
        """Strictly better than the median (every medal is; MLE-bench reports it the same way)."""
        if self.score is None:
            return False
        t = self.thresholds.median
        return self.score < t if self.is_lower_better else self.score > t

    @classmethod
    def invalid(cls, spec: TaskSpec, submission_path: str | os.PathLike, reason: str,
                submission_exists: bool = True) -> "Grade":
        """The grade of a submission that could not be scored."""
        return cls(task_id=spec.id, valid=False, score=None, reason=one_line(reason), tier="none",
                   thresholds=spec.thresholds, is_lower_better=spec.is_lower_better,
                   submission_path=str(submission_path), submission_exists=submission_exists)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data: the fields, plus MLE-bench's report keys."""
        t = self.thresholds
        return {
            "task_id": self.task_id, "valid": self.valid, "score": self.score, "reason": self.reason,
            "tier": self.tier, "is_lower_better": self.is_lower_better,
            "thresholds": {"median": t.median, "bronze": t.bronze, "silver": t.silver, "gold": t.gold},
            "submission_path": self.submission_path, "submission_exists": self.submission_exists,
            "valid_submission": self.valid,
            "gold_threshold": t.gold, "silver_threshold": t.silver, "bronze_threshold": t.bronze,
            "median_threshold": t.median,
            "any_medal": self.any_medal, "gold_medal": self.gold_medal, "silver_medal": self.silver_medal,
            "bronze_medal": self.bronze_medal, "above_median": self.above_median,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Grade":
        """The inverse of `to_json` (derived report keys are ignored)."""
        score = data["score"]
        return cls(task_id=data["task_id"], valid=bool(data["valid"]),
                   score=None if score is None else float(score), reason=data.get("reason"),
                   tier=data["tier"], thresholds=Thresholds(**data["thresholds"]),
                   is_lower_better=bool(data["is_lower_better"]),
                   submission_path=data["submission_path"],
                   submission_exists=bool(data.get("submission_exists", True)))


def grade_submission(task: Task | str | os.PathLike, submission_path: str | os.PathLike) -> Grade:
    """Grade a submission file; invalid submissions come back as data, never raised."""
    if not isinstance(task, Task):
        task = load_task(task)
    spec = task.spec
    path = Path(submission_path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return Grade.invalid(spec, path, f"submission {path} does not exist", submission_exists=False)
    except (OSError, ValueError) as exc:      # a name too long, a NUL byte, no permission
        return Grade.invalid(spec, path, f"cannot open submission {show(str(path), 80)}: {exc}",
                             submission_exists=False)
    if not stat.S_ISREG(mode):
        # Never follow a link: agent code may point submission.csv at the hidden answers,
        # a path it cannot open inside the sandbox but the grader could outside it.
        what = ("is a symbolic link, not a file" if stat.S_ISLNK(mode) else
                "is a folder, not a file" if stat.S_ISDIR(mode) else "is not a regular file")
        return Grade.invalid(spec, path, f"submission {path} {what}")
    try:
        score = score_submission(spec, task.answers_path, path)
    except InvalidSubmission as exc:
        return Grade.invalid(spec, path, str(exc))
    return Grade(task_id=spec.id, valid=True, score=score, reason=None,
                 tier=tier_of(score, spec.thresholds, spec.is_lower_better),
                 thresholds=spec.thresholds, is_lower_better=spec.is_lower_better,
                 submission_path=str(path))


def score_submission(spec: TaskSpec, answers_path: str | os.PathLike,
                     submission_path: str | os.PathLike) -> float:
    """The rounded score of a submission; raises InvalidSubmission with a one-line reason.

    Takes a spec and an answers path rather than a loaded task, so a task can be scored
    while it is being built (its thresholds are not needed here).
    """
    y_true, y_pred = _inputs(spec, Path(answers_path), Path(submission_path))
    from sandmle.metrics import compute

    try:
        value = float(compute(spec.metric, y_true, y_pred, **spec.metric_params))
    except MetricError as exc:
        raise InvalidSubmission(f"{spec.metric} is undefined for this submission: {one_line(str(exc))}") from None
    if not math.isfinite(value):
        raise InvalidSubmission(f"{spec.metric} is not finite for this submission ({value})")
    return round(value, SCORE_DECIMALS)


def metric_inputs(task: Task | str | os.PathLike, submission_path: str | os.PathLike):
    """(y_true, y_pred) exactly as the grader passes them to `sandmle.metrics.compute`, rows
    in answers order (numpy arrays, or lists of label lists for rankings). Raises
    InvalidSubmission for a submission the grader would call invalid."""
    if not isinstance(task, Task):
        task = load_task(task)
    return _inputs(task.spec, task.answers_path, Path(submission_path))


def _inputs(spec: TaskSpec, answers_path: Path, submission_path: Path):
    """read -> align -> the metric's arrays: the seam every grading path goes through."""
    from sandmle.metrics import METRICS

    answers = read_answers(spec, answers_path)
    submission = read_submission(spec, submission_path, answers_path.stat().st_size)
    aligned = align(spec, answers, submission)
    return metric_arrays(spec, METRICS[spec.metric].kind, answers, aligned)

