"""The grade: a submission file against a task's hidden answers -> a `Grade`.

`grade_submission` never raises for a bad submission: it returns `Grade(valid=False,
reason=...)`. `score_submission` is the score alone (raising `InvalidSubmission`), for a
task still being built; `metric_inputs` the arrays the metric sees. Scores are rounded to
5 decimals, as MLE-bench does, before the tier is decided. What the grader forgave (an
index column, ids written as floats, ignored columns) is kept in `Grade.notes` and logged
on the `sandmle.grading` logger.

The task's `grader` block (`sandmle.grading.profile`) decides how the files are read,
checked and paired; its era "mlebench" adds the checks scikit-learn 1.5 makes and later
releases dropped: RMSLE of negative values and binary log loss of one-class answers raise
there, so such submissions are invalid.

A valid grade whose predictions are exactly those of the task's own sample_submission.csv
(in any row order or number formatting) is flagged `sample_copy`: it stays a valid
submission with its score and tier, as MLE-bench grades it, and `sandmle.reward` gives it
no more than an invalid one (the file is the task's placeholder, not a prediction).
"""
from __future__ import annotations

import logging
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandmle.errors import InvalidSubmission, MetricError, UserError
from sandmle.grading.align import Pairs, answer_order, pair_rows, select_columns
from sandmle.grading.cells import plain_numbers
from sandmle.grading.profile import GraderProfile
from sandmle.grading.read import (Table, plain_first_record, read_answers, read_submission,
                                  read_table)
from sandmle.grading.reasons import one_line, show
from sandmle.grading.values import NUMERIC_KINDS, metric_arrays, scored_row
from sandmle.leaderboard import tier_of
from sandmle.task import Task, TaskSpec, Thresholds, load_task

SCORE_DECIMALS = 5
LOG = logging.getLogger("sandmle.grading")


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
    notes: tuple[str, ...] = ()            # what the grader forgave, e.g. an index column
    sample_copy: bool = False              # valid, but the sample submission's own predictions

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
            "sample_copy": self.sample_copy,
            "valid_submission": self.valid,
            "gold_threshold": t.gold, "silver_threshold": t.silver, "bronze_threshold": t.bronze,
            "median_threshold": t.median,
            "any_medal": self.any_medal, "gold_medal": self.gold_medal, "silver_medal": self.silver_medal,
            "bronze_medal": self.bronze_medal, "above_median": self.above_median,
            "notes": list(self.notes),
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
                   submission_exists=bool(data.get("submission_exists", True)),
                   notes=tuple(data.get("notes", ())),
                   sample_copy=bool(data.get("sample_copy", False)))


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
    notes: list[str] = []
    profile = profile_of(spec)
    try:
        y_true, y_pred, pairs, answers = _paired_inputs(spec, profile, task.answers_path, path, notes,
                                                        task.cache)
        score = _metric_value(spec, profile, y_true, y_pred)
    except InvalidSubmission as exc:
        return Grade.invalid(spec, path, str(exc))
    for note in notes:
        LOG.info("%s: %s: %s", spec.id, path, note)
    return Grade(task_id=spec.id, valid=True, score=score, reason=None,
                 tier=tier_of(score, spec.thresholds, spec.is_lower_better),
                 thresholds=spec.thresholds, is_lower_better=spec.is_lower_better,
                 submission_path=str(path), notes=tuple(one_line(n) for n in notes),
                 sample_copy=_is_sample_copy(task, profile, answers, y_pred, pairs))


def score_submission(spec: TaskSpec, answers_path: str | os.PathLike,
                     submission_path: str | os.PathLike) -> float:
    """The rounded score of a submission; raises InvalidSubmission with a one-line reason.

    Takes a spec and an answers path rather than a loaded task, so a task can be scored
    while it is being built (its thresholds are not needed here).
    """
    return _score(spec, Path(answers_path), Path(submission_path), [])


def _score(spec: TaskSpec, answers_path: Path, submission_path: Path, notes: list[str],
           cache: dict | None = None) -> float:
    profile = profile_of(spec)
    return _metric_value(spec, profile, *_inputs(spec, profile, answers_path, submission_path, notes, cache))


def _metric_value(spec: TaskSpec, profile: GraderProfile, y_true, y_pred) -> float:
    from sandmle.metrics import compute

    params = dict(spec.metric_params)
    if spec.metric in ("log_loss", "multiclass_log_loss"):
        params["eps"] = profile.clip_eps
    if spec.metric == "multiclass_log_loss":
        params["renormalise"] = profile.row_sum is None
    if profile.era == "mlebench":
        _check_era(spec.metric, y_true, y_pred)
    try:
        value = float(compute(spec.metric, y_true, y_pred, **params))
    except MetricError as exc:
        raise InvalidSubmission(f"{spec.metric} is undefined for this submission: {one_line(str(exc))}") from None
    if not math.isfinite(value):
        raise InvalidSubmission(f"{spec.metric} is not finite for this submission ({value})")
    return round(value, SCORE_DECIMALS)


def metric_inputs(task: Task | str | os.PathLike, submission_path: str | os.PathLike):
    """(y_true, y_pred) as the grader passes them to `sandmle.metrics.compute`, rows in the
    answers' order (numpy arrays, or lists of label lists for rankings; multi-class answers
    as class indices). Raises InvalidSubmission for a submission the grader would call
    invalid."""
    if not isinstance(task, Task):
        task = load_task(task)
    return _inputs(task.spec, profile_of(task.spec), task.answers_path, Path(submission_path), [],
                   task.cache, in_answer_order=True)


def profile_of(spec: TaskSpec) -> GraderProfile:
    try:
        return GraderProfile.from_json(spec.grader)
    except ValueError as exc:
        raise UserError(f"task {spec.id}: {exc}") from None


def _inputs(spec: TaskSpec, profile: GraderProfile, answers_path: Path, submission_path: Path,
            notes: list[str], cache: dict | None = None, in_answer_order: bool = False):
    """(y_true, y_pred) in the submission's pairing, or in the answers' row order."""
    y_true, y_pred, pairs, _ = _paired_inputs(spec, profile, answers_path, submission_path, notes, cache)
    if in_answer_order:
        y_true, y_pred = _in_answer_order(y_true, pairs), _in_answer_order(y_pred, pairs)
    return y_true, y_pred


def _paired_inputs(spec: TaskSpec, profile: GraderProfile, answers_path: Path, submission_path: Path,
                   notes: list[str], cache: dict | None = None):
    """read -> columns -> rows -> the metric's arrays: the seam every grading path goes through.
    (y_true, y_pred, the row pairs behind them, the answers table)."""
    from sandmle.metrics import METRICS

    kind = METRICS[spec.metric].kind
    typed = _typed_columns(spec, profile, kind)
    answers = read_answers(answers_path, profile.reader, spec.id, typed, cache)
    if spec.id_column not in answers.names or not answers.cells(spec.id_column).dtype.is_integer():
        typed.pop(spec.id_column)          # text ids: no use trying integers on the submission
    submission = read_submission(submission_path, answers_path.stat().st_size, profile.reader, typed)
    noted = len(notes)
    try:
        y_true, y_pred, pairs = _paired(spec, profile, kind, answers, submission, notes)
    except InvalidSubmission:
        if not submission.typed:
            raise
        # Read as text, the reason shows the cells as written ('1e309', not inf).
        del notes[noted:]
        submission = read_submission(submission_path, answers_path.stat().st_size, profile.reader)
        y_true, y_pred, pairs = _paired(spec, profile, kind, answers, submission, notes)
    return y_true, y_pred, pairs, answers


def _paired(spec: TaskSpec, profile: GraderProfile, kind: str, answers, submission, notes: list[str]):
    columns = select_columns(spec, profile, answers, submission, notes)
    keep = scored_answer_rows(profile, answers, columns)
    pairs = pair_rows(spec, profile, answers, submission, columns, keep, notes)
    return (*metric_arrays(spec, profile, kind, answers, submission, columns, pairs), pairs)


def _typed_columns(spec: TaskSpec, profile: GraderProfile, kind: str) -> dict[str, str]:
    """Columns the readers may parse as numbers while reading ({name: "int" | "float"})."""
    typed = {spec.id_column: "int"}
    if kind in NUMERIC_KINDS:
        typed.update((c, "float") for c in profile.scored(spec.target_columns))
    return typed


def _in_answer_order(values, pairs: Pairs):
    """A metric array (or list) of scored pairs, in the answers' row order."""
    order = answer_order(pairs)
    if order is None:
        return values
    return [values[i] for i in order] if isinstance(values, list) else values[order]


def scored_answer_rows(profile: GraderProfile, answers, columns):
    """Answer rows that are scored (None: all): rows whose scored values sum below the
    profile's `skip_answer_rows_below` are not (MLE-bench's jigsaw: rows labelled -1)."""
    if profile.skip_answer_rows_below is None:
        return None
    import numpy as np
    import polars as pl

    total = np.zeros(answers.height)
    for j in columns.answer:
        cells = answers.cells_at(j)
        if cells.dtype == pl.String:
            cells = cells.str.strip_chars()
        total += np.nan_to_num(cells.cast(pl.Float64, strict=False).to_numpy())
    return total >= profile.skip_answer_rows_below


def _check_era(metric: str, y_true, y_pred) -> None:
    """scikit-learn 1.5's checks that later releases dropped (MLE-bench's pinned era)."""
    import numpy as np

    if metric in ("rmsle", "mean_column_rmsle") and ((np.asarray(y_true) < 0).any() or (np.asarray(y_pred) < 0).any()):
        raise InvalidSubmission(f"{metric} is undefined for negative values (scikit-learn 1.5, "
                                "MLE-bench's version, refuses them)")
    if metric == "log_loss" and len(np.unique(np.asarray(y_true))) < 2:
        raise InvalidSubmission("log_loss is undefined when the answers hold one class "
                                "(scikit-learn 1.5 refuses it)")


def _is_sample_copy(task: Task, profile: GraderProfile, answers, y_pred, pairs: Pairs) -> bool:
    """Whether a valid submission predicts exactly what the task's sample_submission.csv does,
    row for row (in any row order or number formatting). For numbers, the sample's first row
    is looked for among the submission's rows first: a submission that lacks it is no copy,
    and the sample file is then never read whole (reading it took 43% of a cold grade at 1M
    rows). Otherwise the predictions are compared in the answers' row order."""
    first = _sample_first_row(task, profile, answers)
    if first is not None and not _has_row(y_pred, first):
        return False
    sample = _sample_prediction(task, profile)
    if sample is None:
        return False
    ordered = _in_answer_order(y_pred, pairs)
    if hasattr(ordered, "shape") and hasattr(sample, "shape"):
        import numpy as np

        return bool(np.array_equal(ordered, sample))
    return [tuple(x) for x in ordered] == [tuple(x) for x in sample]


def _sample_key(task: Task, what: str) -> tuple | None:
    """A cache key for something read from the sample submission, valid while it and the
    answers are unchanged (same size, modification time and inode); None when unreadable."""
    try:
        return (what,) + tuple((str(p), i.st_size, i.st_mtime_ns, i.st_ino)
                               for p in (task.sample_submission_path, task.answers_path) for i in [p.stat()])
    except OSError:
        return None


def _sample_prediction(task: Task, profile: GraderProfile):
    """The sample submission's predictions in the answers' order, or None when it does not
    grade; kept in the task's cache while it and the answers are unchanged, as the answers
    are. A calibration or a rollout group grades one task many times: reading the sample
    again took 25 of each grade's 50 ms on a 3000-row table."""
    key = _sample_key(task, "sample")
    if key is None:
        return None
    if key not in task.cache:
        try:
            task.cache[key] = _inputs(task.spec, profile, task.answers_path, task.sample_submission_path,
                                      [], task.cache, in_answer_order=True)[1]
        except (InvalidSubmission, OSError):
            task.cache[key] = None
    return task.cache[key]


SAMPLE_HEAD_BYTES = 1 << 16


def _sample_first_row(task: Task, profile: GraderProfile, answers):
    """The scored values (k,) of the sample submission's first row as the grader reads them,
    from its first lines only; None when that reading could differ from the whole file's or
    does not apply: non-numeric metrics, scored subsets of rows, zip files, quoted cells (a
    record may span lines), a row that does not read. Kept in the task's cache as the whole
    sample's predictions are."""
    from sandmle.metrics import METRICS

    if METRICS[task.spec.metric].kind not in NUMERIC_KINDS or profile.skip_answer_rows_below is not None:
        return None
    key = _sample_key(task, "sample first row")
    if key is None or task.sample_submission_path.suffix.lower() == ".zip":
        return None
    if key not in task.cache:
        task.cache[key] = _read_first_row(task, profile, answers)
    return task.cache[key]


def _read_first_row(task: Task, profile: GraderProfile, answers):
    try:
        with open(task.sample_submission_path, "rb") as fh:
            head = fh.read(SAMPLE_HEAD_BYTES + 1)
    except OSError:
        return None
    end = -1
    for _ in range(3):                       # the header and two records, whole lines only
        end = head.find(b"\n", end + 1)
        if end < 0:
            break
    if end >= 0:
        head = head[:end + 1]
    elif len(head) > SAMPLE_HEAD_BYTES:      # a line longer than that: not worth it
        return None
    if b'"' in head:
        return None
    try:
        plain = plain_first_record(head, profile.reader)
        if plain is not None:             # most samples: no table needed (0.3 of a 3 ms grade)
            names, cells = plain
            columns = select_columns(task.spec, profile, answers, Table(names=names, frame=None), [])
            row = plain_numbers([cells[p] for p in columns.submission])
            if row is not None:
                return row
        table = read_table(head, profile.reader)
        columns = select_columns(task.spec, profile, answers, table, [])
        return scored_row(profile, table, columns, 0)
    except InvalidSubmission:
        return None


def _has_row(values, row) -> bool:
    """Whether some row of `values` ((n,) or (n, k), as a numeric kind's y_pred; (n * k,) for
    a "value" metric over k columns) equals `row` (k,) exactly. Column by column, so a
    submission without the first value costs one comparison pass."""
    grid = values.reshape(-1, len(row))
    hit = grid[:, 0] == row[0]
    for j in range(1, len(row)):
        if not hit.any():
            return False
        hit &= grid[:, j] == row[j]
    return bool(hit.any())
