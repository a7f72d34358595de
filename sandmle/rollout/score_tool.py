"""The score tool's behaviour: a setting of every rollout (`RolloutConfig.score_tool`).

    test        grades ./submission.csv on the hidden test answers and shows the score, the
                four thresholds and the tier: the paper's training setting (REFERENCE §5). An
                agent can hill-climb the test set with it, so numbers measured under it are
                not comparable with MLE-bench's.
    validation  grades the rows of a split held out from the training file: the agent sees
                train.csv without them and test.csv with their features appended (and
                sample_submission.csv with their ids), predicts them with the test rows, and
                the tool scores them against their known labels. The test answers stay
                hidden; the episode's grade is the test rows' alone.
    format      only says whether the submission is valid, and why not, as MLE-bench's
                agent-side validation does. The default of `sandmle eval`.
    off         no score tool: the system prompt does not offer it and a call is a failed turn.

In every mode but `test` the episode's grade (and reward) is the grade of the submission
left at the end, as MLE-bench grades a run; `reward_from = "best"` applies to `test` only.

The view's description.md gets a closing section with its own row counts (the text above it
states the full task's). Its scores and medals are not comparable with `test` or `format`
runs: the agent trains on four fifths of the labelled rows, against thresholds calibrated on
all of them.

The validation split (`make_validation_view`): every 5th training row after ordering the rows
by label and a hash of (task id, row id), so each class with 5 or more rows is represented
and the split is the same in every episode of a task. It needs the data inline (tabular and
text tasks) and the training file's label columns to give the answers' columns (the same
columns, or one label column of a multi-class probability task, one-hot encoded). Where a
task has neither, the tool says so in its answer and checks the format only.
"""
from __future__ import annotations

import csv
import hashlib
import io
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from sandmle.task import TASK_FILE, Task, write_json_atomic

SCORE_TOOLS = ("test", "validation", "format", "off")
VALIDATION_EVERY = 5                      # one training row in 5 is held out (20%)
VALIDATION_MODALITIES = ("tabular", "text")
VALIDATION_ANSWERS = "validation_answers.csv"


@dataclass(frozen=True)
class ValidationView:
    """A task as the agent sees it in `validation` mode, written under `root`."""

    task: Task                             # the view: its public folder is what the job mounts
    answers_path: Path                     # the held-out rows' answers, in the answers' layout
    validation_ids: frozenset[str]


def prompt_line(score_tool: str) -> str | None:
    """The system prompt's description of the score tool (None: the tool is not offered)."""
    return {
        "test": "Score ./submission.csv against the hidden test answers (returns the score and "
                "the medal thresholds)",
        "validation": "Score the rows of ./submission.csv that belong to the validation rows "
                      "(rows held out from the training file and appended to the test file; returns "
                      "their score; the test answers stay hidden)",
        "format": "Check that ./submission.csv is a valid submission (returns valid or the "
                  "reason it is not; no score)",
        "off": None,
    }[score_tool]


def make_validation_view(task: Task, root: Path) -> ValidationView | str:
    """Write the validation view of `task` under `root` (a folder that must not exist);
    the view, or the reason the task has none."""
    spec = task.spec
    if spec.modality not in VALIDATION_MODALITIES:
        return f"its data is not inline ({spec.modality}; validation needs {' or '.join(VALIDATION_MODALITIES)})"
    train_header, train_rows = _read(task.public_dir / spec.train_file)
    test_header, test_rows = _read(task.public_dir / spec.test_file)
    sample_header, sample_rows = _read(task.sample_submission_path)
    labels = [c for c in train_header if c not in test_header]
    if spec.id_column not in train_header or spec.id_column not in test_header:
        return f"its training or test file has no {spec.id_column!r} column"
    answer_of = _answer_encoder(spec, train_header, labels, train_rows)
    if isinstance(answer_of, str):
        return answer_of
    id_at = train_header.index(spec.id_column)
    by_label = [c for c in train_header if c in labels]
    ordered = sorted(range(len(train_rows)), key=lambda i: (
        [train_rows[i][train_header.index(c)] for c in by_label],
        hashlib.sha1(f"{spec.id}/{train_rows[i][id_at]}".encode()).hexdigest()))
    held = set(ordered[VALIDATION_EVERY // 2::VALIDATION_EVERY])
    if not held or len(held) == len(train_rows):
        return f"its training file has too few rows ({len(train_rows)})"
    kept_rows = [row for i, row in enumerate(train_rows) if i not in held]
    held_rows = [train_rows[i] for i in sorted(held)]
    appended = [[row[train_header.index(c)] for c in test_header] for row in held_rows]
    order = sorted(range(len(test_rows) + len(appended)), key=lambda i: hashlib.sha1(
        f"{spec.id}/test/{i}".encode()).hexdigest())
    combined = test_rows + appended
    placeholder = sample_rows[0] if sample_rows else [""] * len(sample_header)
    sample_id = sample_header.index(spec.id_column)

    root.mkdir(parents=True)
    public = root / "public"
    shutil.copytree(task.public_dir, public, symlinks=False)
    _write(public / spec.train_file, train_header, kept_rows)
    _write(public / spec.test_file, test_header, [combined[i] for i in order])
    _write(public / spec.sample_submission_file, sample_header, sample_rows + [
        [row[id_at] if j == sample_id else value for j, value in enumerate(placeholder)] for row in held_rows])
    description = public / "description.md"
    if description.is_file():        # its row counts are the task's: say what this view changed
        with description.open("a", encoding="utf-8") as out:
            out.write(f"\n\n## Validation rows\n\nIn this run {len(held_rows)} of the {len(train_rows)} labelled "
                      f"rows are held out for the score tool: {spec.train_file} has the other {len(kept_rows)}, "
                      f"and their features are mixed into {spec.test_file} ({len(combined)} rows; their ids are "
                      f"in {spec.sample_submission_file}). Predict them with the test rows: the score tool scores "
                      "them, the final grade scores the test rows. Counts above this section are the full "
                      "task's.\n")
    answers = root / VALIDATION_ANSWERS
    _write(answers, [spec.id_column, *spec.target_columns], [[row[id_at], *answer_of(row)] for row in held_rows])
    view_spec = replace(spec, train_rows=len(kept_rows), test_rows=len(combined))
    write_json_atomic(root / TASK_FILE, view_spec.to_json())
    # The view has no private/: it is only shown (the episode is graded on the task itself).
    return ValidationView(task=Task(root=root, spec=view_spec), answers_path=answers,
                          validation_ids=frozenset(row[id_at] for row in held_rows))


def _answer_encoder(spec, header: list[str], labels: list[str], rows: list[list[str]]):
    """row -> the answers' target cells; or the reason the training file cannot give them."""
    targets = list(spec.target_columns)
    if set(labels) >= set(targets):
        at = [header.index(c) for c in targets]
        return lambda row: [row[j] for j in at]
    if len(labels) == 1 and spec.classes and list(spec.classes) == targets:
        at = header.index(labels[0])
        unknown = {row[at] for row in rows} - set(spec.classes)
        if unknown:
            return f"its label column {labels[0]!r} holds values that are not classes ({sorted(unknown)[:3]})"
        return lambda row: ["1" if row[at] == c else "0" for c in targets]
    return f"its training file's label columns {labels} do not give the submission's columns {targets}"


def filter_rows(submission: Path, out: Path, id_column: str, keep) -> Path:
    """A copy of `submission` with the rows whose id `keep(id)` accepts, header kept. A file
    that cannot be read as CSV with that id column is returned unchanged (the grader then
    gives the reason)."""
    try:
        header, rows = _read(submission)
        at = header.index(id_column)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError, IndexError):
        return submission
    _write(out, header, [row for row in rows if len(row) > at and keep(row[at].strip())])
    return out


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    text = Path(path).read_bytes().decode("utf-8-sig")
    rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    if not rows:
        raise ValueError(f"{path} is empty")
    return [name.strip() for name in rows[0]], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
