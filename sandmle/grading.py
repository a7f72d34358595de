"""Grading: a submission CSV against a task's hidden answers -> a `Grade`.

    grade = grade_submission(task_or_folder, "submission.csv")
    grade.valid, grade.score, grade.tier, grade.reason, grade.to_json()

A bad submission is data, never an exception: every malformed file (missing, empty, not
UTF-8, not CSV, wrong columns, missing/duplicated/unknown ids, non-numeric or non-finite
values, probabilities outside [0, 1], a metric undefined on it) gives `valid=False` and a
one-line `reason`, as MLE-bench's `InvalidSubmissionError` does. The answers file is the
trusted side: a broken one raises `UserError` (the task folder is wrong, not the agent).

Rows are aligned by id (ids compared as strings, surrounding spaces ignored) with a polars
join; column order is free. How cells are read follows the metric's kind
(`sandmle.metrics.registry`): probabilities, labels (integer-valued floats such as "1.0"
equal "1"), integer grades, pooled or per-column values, space-separated rankings. Scores
are rounded to 5 decimals, as MLE-bench does, before the tier is decided.
"""
from __future__ import annotations

import csv
import gc
import io
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sandmle.errors import InvalidSubmission, MetricError, UserError
from sandmle.leaderboard import tier_of
from sandmle.task import Task, TaskSpec, Thresholds, load_task

SCORE_DECIMALS = 5
MAX_SIZE_FACTOR = 20               # a submission may be this many times the answers' size ...
MAX_SIZE_SLACK_BYTES = 1_000_000   # ... plus this much, before it is refused unread
PROBA_KINDS = ("binary_proba", "multilabel_proba", "multiclass_proba")
NUMERIC_KINDS = PROBA_KINDS + ("value", "multi_value")
_INTEGER_TEXT = re.compile(r"[+-]?\d+(\.0*)?")
_SHOWN = 3                         # how many offending ids a reason lists


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
        return cls(task_id=spec.id, valid=False, score=None, reason=_one_line(reason), tier="none",
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
        return Grade.invalid(spec, path, f"cannot open submission {_show(str(path), 80)}: {exc}",
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
        raise InvalidSubmission(f"{spec.metric} is undefined for this submission: {_one_line(str(exc))}") from None
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


# -- reading ---------------------------------------------------------------------------------

def _inputs(spec: TaskSpec, answers_path: Path, submission_path: Path):
    from sandmle.metrics import METRICS

    answers = _read_answers(spec, answers_path)
    submission = _read_submission(spec, submission_path, answers_path.stat().st_size)
    aligned = _align(spec, answers, submission)
    return _convert(spec, METRICS[spec.metric].kind, answers, aligned)


def _read_answers(spec: TaskSpec, path: Path):
    """The answers table (trusted): a broken one is a bug in the task and raises UserError."""
    try:
        data = path.read_bytes()
        frame = _read_table(data, [spec.id_column, *spec.target_columns])
    except (OSError, InvalidSubmission) as exc:
        raise UserError(f"task {spec.id}: broken answers file {path}: {exc}") from None
    ids = frame[spec.id_column]
    if (ids == "").any() or ids.is_duplicated().any():
        raise UserError(f"task {spec.id}: answers file {path} has empty or duplicated ids")
    for column in spec.target_columns:
        if (frame[column] == "").any():
            raise UserError(f"task {spec.id}: answers file {path} has empty cells in column {column!r}")
    return frame


def _read_submission(spec: TaskSpec, path: Path, answers_size: int):
    try:
        size = path.stat().st_size
        limit = MAX_SIZE_FACTOR * answers_size + MAX_SIZE_SLACK_BYTES
        if size > limit:
            raise InvalidSubmission(f"submission is {size} bytes, far larger than the answers "
                                    f"({answers_size} bytes; the limit is {limit})")
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidSubmission(f"cannot read submission: {exc.strerror or exc}") from None
    return _read_table(data, [spec.id_column, *spec.target_columns])


def _read_table(data: bytes, expected: list[str]):
    """A polars frame of the `expected` string columns of a CSV file (cells stripped, blank
    lines skipped), after checking its bytes, its structure and its header."""
    import polars as pl

    if not data.strip():
        raise InvalidSubmission("file is empty")
    if b"\x00" in data:
        raise InvalidSubmission("file is binary, not CSV (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"file is not UTF-8 text (invalid byte at offset {exc.start})") from None
    # The rows are acyclic lists; pausing the cycle collector while they pile up makes a
    # 100k-row file parse several times faster (measured 781 -> 211 ms).
    collecting = gc.isenabled()
    gc.disable()
    try:
        columns = _parse_csv(text, expected)
        frame = pl.DataFrame({name: columns[name] for name in expected},
                             schema={name: pl.String for name in expected})
    finally:
        if collecting:
            gc.enable()
    return frame.with_columns(pl.all().str.strip_chars())


def _parse_csv(text: str, expected: list[str]) -> dict[str, list[str]]:
    """The `expected` columns of CSV text: every record as wide as the header."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InvalidSubmission(f"file is not valid CSV (line {reader.line_num}: {exc})") from None
    widths = set(map(len, rows))
    if 0 in widths or 1 in widths:       # blank lines
        rows = [row for row in rows if row and (len(row) > 1 or row[0].strip())]
        widths = set(map(len, rows))
    if not rows:
        raise InvalidSubmission("file is empty")
    header = [name.strip() for name in rows[0]]
    _check_header(header, expected)
    width = len(header)
    if widths != {width}:
        number, row = next((k, row) for k, row in enumerate(rows) if len(row) != width)
        raise InvalidSubmission(f"record {number + 1} has {len(row)} fields, the header has {width}")
    if len(rows) == 1:
        raise InvalidSubmission("file has a header but no rows")
    position = {name: j for j, name in enumerate(header)}
    cells = list(zip(*rows[1:]))
    return {name: list(cells[position[name]]) for name in expected}


def _check_header(header: list[str], expected: list[str]) -> None:
    seen: set[str] = set()
    duplicated = sorted({name for name in header if name in seen or seen.add(name)})
    if duplicated:
        raise InvalidSubmission(f"duplicated columns: {_names(duplicated)}")
    missing = [name for name in expected if name not in seen]
    extra = [name for name in header if name not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns: {_names(missing)}")
        if extra:
            parts.append(f"unexpected columns: {_names(extra)}")
        raise InvalidSubmission(f"{'; '.join(parts)} (expected {_names(expected)})")


def _align(spec: TaskSpec, answers, submission):
    """The submission's rows in the answers' order; every id must appear exactly once."""
    key = spec.id_column
    ids = submission[key]
    if (ids == "").any():
        raise InvalidSubmission(f"column {key!r} has empty ids")
    duplicated = ids.filter(ids.is_duplicated()).unique(maintain_order=True).to_list()
    if duplicated:
        raise InvalidSubmission(f"duplicated ids: {_ids(duplicated)}")
    truth = answers[key]
    unknown = ids.filter(~ids.is_in(truth.implode())).to_list()
    if unknown:
        raise InvalidSubmission(f"ids not in the test set: {_ids(unknown)}")
    if len(ids) != len(truth):
        missing = truth.filter(~truth.is_in(ids.implode())).to_list()
        raise InvalidSubmission(f"submission has {len(ids)} rows, expected {len(truth)}; "
                                f"missing ids: {_ids(missing)}")
    row = "__sandmle_answer_row__"
    order = answers.select(key).with_row_index(row)
    return order.join(submission, on=key, how="left").sort(row).drop(row)


# -- converting cells to metric inputs -------------------------------------------------------

def _convert(spec: TaskSpec, kind: str, answers, aligned):
    columns = list(spec.target_columns)
    if kind in NUMERIC_KINDS:
        y_true = _matrix(answers, columns, spec.id_column, trusted=True)
        y_pred = _matrix(aligned, columns, spec.id_column)
        if kind in PROBA_KINDS:
            _check_probabilities(y_pred, aligned, columns, spec.id_column)
        if kind == "binary_proba":
            return y_true[:, 0], y_pred[:, 0]
        if kind == "value":
            return y_true.ravel(), y_pred.ravel()
        return y_true, y_pred
    _check_filled(aligned, columns, spec.id_column)
    if kind == "label":
        truth = [_normal_label(v) for v in answers[columns[0]].to_list()]
        guess = [_normal_label(v) for v in aligned[columns[0]].to_list()]
        codes = {label: i for i, label in enumerate(sorted(set(truth)) + sorted(set(guess) - set(truth)))}
        return (np.array([codes[v] for v in truth], dtype=np.int64),
                np.array([codes[v] for v in guess], dtype=np.int64))
    if kind == "ordinal":
        truth = _grades(answers, columns[0], spec.id_column, trusted=True)
        guess = _grades(aligned, columns[0], spec.id_column)
        domain = {int(_normal_label(c.strip())) for c in spec.classes if _INTEGER_TEXT.fullmatch(c.strip())}
        levels = {v: i for i, v in enumerate(sorted(domain | set(truth) | set(guess)))}
        return (np.array([levels[v] for v in truth], dtype=np.int64),
                np.array([levels[v] for v in guess], dtype=np.int64))
    if kind == "ranking":
        return ([v.split() for v in answers[columns[0]].to_list()],
                [v.split() for v in aligned[columns[0]].to_list()])
    raise ValueError(f"metric {spec.metric!r} has unknown kind {kind!r}")


def _matrix(frame, columns: list[str], key: str, trusted: bool = False) -> np.ndarray:
    """Float64 (rows, columns); every cell must be a finite number."""
    import polars as pl

    out = np.empty((frame.height, len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        text = frame[column]
        values = text.cast(pl.Float64, strict=False)
        bad = values.is_null() | ~values.is_finite().fill_null(False)
        if bad.any():
            row = int(bad.arg_true()[0])
            cell, where = text[row], f"in column {column!r} (id {_show(frame[key][row])})"
            if cell == "":
                _reject(trusted, f"empty value {where}")
            problem = "is not a number" if values[row] is None else "is not finite"
            _reject(trusted, f"value {_show(cell)} {where} {problem}")
        out[:, j] = values.to_numpy()
    return out


def _reject(trusted: bool, message: str):
    """Raise for a bad cell: the agent's fault in a submission, the task's in the answers."""
    if trusted:
        raise UserError(f"broken answers file: {message}")
    raise InvalidSubmission(message)


def _check_probabilities(values: np.ndarray, frame, columns: list[str], key: str) -> None:
    outside = (values < 0.0) | (values > 1.0)
    if outside.any():
        row, j = (int(k) for k in np.argwhere(outside)[0])
        raise InvalidSubmission(f"probability {frame[columns[j]][row]} in column {columns[j]!r} "
                                f"(id {_show(frame[key][row])}) is outside [0, 1]")


def _check_filled(frame, columns: list[str], key: str) -> None:
    for column in columns:
        empty = frame[column] == ""
        if empty.any():
            row = int(empty.arg_true()[0])
            raise InvalidSubmission(f"empty value in column {column!r} (id {_show(frame[key][row])})")


def _grades(frame, column: str, key: str, trusted: bool = False) -> list[int]:
    """Integer grades of an ordinal column ("2" and "2.0" are both 2)."""
    values = _matrix(frame, [column], key, trusted)[:, 0]
    fractional = (values != np.round(values)) | (np.abs(values) > 2.0 ** 53)
    if fractional.any():
        row = int(np.flatnonzero(fractional)[0])
        _reject(trusted, f"grade {frame[column][row]} in column {column!r} "
                         f"(id {_show(frame[key][row])}) is not an integer")
    return [int(v) for v in values]


def _normal_label(text: str) -> str:
    """Integer-valued numbers in one spelling ("1.0", "+1" -> "1"); other labels unchanged."""
    if len(text) < 1000 and _INTEGER_TEXT.fullmatch(text):
        return str(int(text.split(".")[0]))
    return text


def _show(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _ids(values: list[str]) -> str:
    shown = ", ".join(_show(v) for v in values[:_SHOWN])
    return shown + (f" ({len(values)} in all)" if len(values) > _SHOWN else "")


def _names(values: list[str]) -> str:
    return ", ".join(_show(v) for v in values[:8]) + (f" (+{len(values) - 8} more)" if len(values) > 8 else "")


def _one_line(text: str, width: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."
