"""A task folder checks itself: it loads, its sample submission grades valid, and its own
answers, graded as a submission, reach gold (`sandmle task check`).

Thresholds that tie, or a sample submission not below the median, are warnings: the
paper's sanity filter (REFERENCE §2) drops such tasks, but the folder still grades.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sandmle.errors import UserError
from sandmle.grading.grade import grade_submission
from sandmle.task import load_task


@dataclass(frozen=True)
class Check:
    """One check of a task folder: its name, whether it passed, and what was found."""

    name: str
    ok: bool
    detail: str


def check_task(task_dir: Path) -> tuple[list[Check], list[Check], dict]:
    """(checks, warnings, grades as JSON) for a task folder."""
    checks: list[Check] = []
    warnings: list[Check] = []
    grades: dict = {}
    try:
        task = load_task(task_dir)
    except UserError as exc:
        return [Check("loads", False, str(exc))], warnings, grades
    checks.append(Check("loads", True, f"{task.id}: {task.spec.metric}, {task.spec.train_rows} train / "
                                       f"{task.spec.test_rows} test rows"))
    try:
        sample = grade_submission(task, task.sample_submission_path)
        answers = grade_submission(task, task.answers_path)
    except UserError as exc:
        checks.append(Check("answers_readable", False, str(exc)))
        return checks, warnings, grades
    grades = {"sample": sample.to_json(), "answers": answers.to_json()}
    checks.append(Check("sample_valid", sample.valid,
                        f"score {sample.score}, tier {sample.tier}" if sample.valid else sample.reason))
    if not answers.valid:
        checks.append(Check("answers_gold", False, f"the answers do not grade as valid: {answers.reason}"))
    else:
        checks.append(Check("answers_gold", answers.tier == "gold",
                            f"the answers score {answers.score}, tier {answers.tier}"))
    t = task.spec.thresholds
    sign = -1.0 if task.spec.is_lower_better else 1.0
    values = [sign * v for v in t.as_tuple()]
    if not all(a < b for a, b in zip(values, values[1:])):
        shown = ", ".join(f"{name} {value:.6g}" for name, value in zip(("median", "bronze", "silver", "gold"),
                                                                          t.as_tuple()))
        warnings.append(Check("thresholds_strict", False, f"thresholds tie (no tier lies between them): {shown}"))
    if sample.valid and sign * sample.score >= sign * t.median:
        warnings.append(Check("sample_below_median", False,
                              f"the sample scores {sample.score}, not worse than the median {t.median}"))
    return checks, warnings, grades
