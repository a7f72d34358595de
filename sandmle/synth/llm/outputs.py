"""The ML Developer's acceptance test: the files a generator script wrote, checked against the plan.

`check_outputs(out_dir, strategy)` is the check report (empty when the files pass): all
five files there and readable, the columns and row counts the plan implies, unique ids,
answers in the label domain, then sandmle's own grader scores oracle.csv and
sample_submission.csv against answers.csv, and the oracle must win. The script is
untrusted: `read_output` never follows a link and refuses oversized files.
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from sandmle.synth.dna import TaskDNA
from sandmle.synth.llm.plan import Layout, Strategy, provisional_spec

DATA_FILES = ("train.csv", "test.csv", "answers.csv", "oracle.csv", "sample_submission.csv")
MAX_OUTPUT_BYTES = 50 * 1024 * 1024


def read_output(path: Path) -> bytes:
    """A file the script wrote, read without following links: the script is untrusted, and a
    symlink it planted (train.csv -> a host file) must not be read or published."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        if info.st_size > MAX_OUTPUT_BYTES:
            raise ValueError(f"{path.name} is {info.st_size} bytes, more than {MAX_OUTPUT_BYTES}")
        return fh.read()


def read_frame(path: Path):
    import io

    import pandas as pd

    return pd.read_csv(io.BytesIO(read_output(path)), dtype=str, keep_default_na=False)


def _floats(values) -> list[float] | None:
    try:
        out = [float(v) for v in values]
    except ValueError:
        return None
    return out if all(math.isfinite(v) for v in out) else None



def check_outputs(out_dir: Path, strategy: Strategy) -> list[str]:
    """Every problem with the files a generator script wrote (the check report)."""
    missing = [name for name in DATA_FILES if not os.path.lexists(out_dir / name)]
    if missing:
        return [f"missing output file(s): {', '.join(missing)}"]
    frames, problems = {}, []
    for name in DATA_FILES:
        try:
            frames[name] = read_frame(out_dir / name)
        except OSError as exc:
            problems.append(f"{name} cannot be read: {exc.strerror or exc}")
        except Exception as exc:       # any parse failure of a model-made file is a report line
            problems.append(f"{name} is not a readable CSV file: {str(exc).splitlines()[0][:120]}")
    if problems:
        return problems
    layout, dna = strategy.layout, strategy.dna
    train, test = frames["train.csv"], frames["test.csv"]
    need_train = [c for c in layout.train_columns if c not in train.columns]
    if need_train:
        problems.append(f"train.csv lacks column(s) {need_train} (has {list(train.columns)[:12]})")
    in_test = [c for c in layout.label_columns if c in test.columns]
    if in_test:
        problems.append(f"test.csv must not hold target column(s) {in_test}")
    expected_test = [c for c in train.columns if c not in layout.label_columns]
    if sorted(test.columns) != sorted(expected_test):
        problems.append(f"test.csv columns {list(test.columns)[:12]} must be train.csv's minus the targets {expected_test[:12]}")
    for name, frame, key in (("train.csv", train, "train_rows"), ("test.csv", test, "test_rows")):
        if len(frame) != strategy.plan[key]:
            problems.append(f"{name} has {len(frame)} rows, the plan says {key} = {strategy.plan[key]}")
    if problems:
        return problems
    ids = layout.id_column
    for name, frame in (("train.csv", train), ("test.csv", test)):
        if frame[ids].duplicated().any() or (frame[ids] == "").any():
            problems.append(f"{name}: ids in {ids!r} must be unique and non-empty")
    shared = set(train[ids]) & set(test[ids])
    if shared:
        problems.append(f"{len(shared)} test ids also appear in train.csv (e.g. {sorted(shared)[0]!r})")
    for column in layout.label_columns:
        if train[column].nunique() < 2:
            problems.append(f"train.csv column {column!r} holds fewer than two distinct values")
    expected = [ids, *layout.submission_columns]
    for name in ("answers.csv", "oracle.csv", "sample_submission.csv"):
        frame = frames[name]
        if list(frame.columns) != expected:
            problems.append(f"{name} columns must be {expected}, got {list(frame.columns)[:12]}")
        elif sorted(frame[ids]) != sorted(test[ids]) or frame[ids].duplicated().any():
            problems.append(f"{name} must list each test id exactly once")
        elif (frame[list(layout.submission_columns)] == "").any().any():
            problems.append(f"{name} has empty cells")
    if problems:
        return problems
    problems += _answer_problems(frames["answers.csv"], layout, dna)
    return problems or _trial_scores(out_dir, strategy, len(train), len(test))


def _answer_problems(answers, layout: Layout, dna: TaskDNA) -> list[str]:
    kind = dna.metric_kind
    for column in layout.submission_columns:
        values = answers[column]
        if kind in ("binary_proba", "multilabel_proba", "multiclass_proba"):
            bad = sorted(set(values) - {"0", "1"})
            if bad:
                return [f"answers.csv column {column!r} must hold 0/1, got {bad[:5]}"]
        elif kind in ("label", "ordinal", "ranking"):
            allowed = set(layout.classes) if layout.classes else {"0", "1"}
            bad = sorted(set(values) - allowed)
            if bad:
                return [f"answers.csv column {column!r} holds values outside {sorted(allowed)}: {bad[:5]}"]
        elif kind in ("value", "multi_value") and _floats(values) is None:
            return [f"answers.csv column {column!r} must hold finite numbers"]
    if kind == "multiclass_proba":
        rows = answers[list(layout.submission_columns)].astype(int).sum(axis=1)
        if (rows != 1).any():
            return ["answers.csv must be one-hot: exactly one 1 per row over the class columns"]
    return []


def _trial_scores(out_dir: Path, strategy: Strategy, train_rows: int, test_rows: int) -> list[str]:
    """Score oracle.csv and sample_submission.csv with sandmle's grader: both valid, oracle better."""
    from sandmle.errors import InvalidSubmission, UserError
    from sandmle.grading import score_submission

    spec = provisional_spec(strategy, "trial", train_rows, test_rows)
    scores = {}
    for name in ("oracle.csv", "sample_submission.csv"):
        try:
            scores[name] = score_submission(spec, out_dir / "answers.csv", out_dir / name)
        except (InvalidSubmission, UserError) as exc:
            return [f"{name} cannot be graded against answers.csv: {str(exc).splitlines()[0][:200]}"]
    oracle, sample = scores["oracle.csv"], scores["sample_submission.csv"]
    better = oracle < sample if spec.is_lower_better else oracle > sample
    if not better:
        return [f"oracle.csv scores {oracle} {spec.metric}, not better than sample_submission.csv's {sample}: "
                f"the rule must make the target predictable"]
    return []

