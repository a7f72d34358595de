"""A user's CSV file and a metric -> the task's plan: columns, classes, split and answers.

`read_csv` reads the file (one `UserError` line for anything unreadable), `with_ids` finds
or adds an id column (a seeded permutation, so ids carry no row order), `make_plan` checks
that the metric fits the target(s) and derives the submission layout (`Plan`), `split_rows`
splits the rows (stratified for classification metrics) and `answers_table` lays the hidden
test targets out as a submission. Used by `sandmle.sources.csv_task.make_task_from_csv`.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sandmle.errors import UserError
from sandmle.files import existing_file

MIN_ROWS = 20                # fewer rows cannot fill both splits and a leaderboard
MIN_TEST_ROWS = 5
MIN_TRAIN_ROWS = 10
MAX_CLASSES = 200
CLASSIFICATION_KINDS = ("binary_proba", "multilabel_proba", "multiclass_proba", "label", "ordinal", "ranking")
SINGLE_TARGET_KINDS = ("binary_proba", "multiclass_proba", "label", "ordinal", "ranking")
_INTEGER_TEXT = re.compile(r"[+-]?\d+(\.0*)?")
Table = tuple[list[str], list[list[Any]]]     # (header, rows) of a CSV file


@dataclass(frozen=True)
class Plan:
    """What the CSV and the metric imply: columns, classes, encodings."""

    kind: str
    id_column: str
    targets: tuple[str, ...]            # the CSV's target columns
    submission_columns: tuple[str, ...]
    classes: tuple[str, ...]            # label domain (strings), () for regression
    positive: tuple[str, ...]           # per target: the label counted as 1 (binary kinds)
    features: tuple[str, ...]


def read_csv(path: Path, text_columns: tuple[str, ...] = ("id",)):
    """The file as a frame; `text_columns` (ids) are kept as written ("0003" stays "0003")."""
    import pandas as pd

    existing_file(path, "data file")
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
        dtype = {c: str for c in text_columns if c in header} or None
        frame = pd.read_csv(path, low_memory=False, dtype=dtype)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"cannot read {path} as CSV: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if frame.columns.duplicated().any():
        raise UserError(f"{path} has duplicated column names")
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) < MIN_ROWS:
        raise UserError(f"{path} has {len(frame)} row{'' if len(frame) == 1 else 's'}; a task needs at least {MIN_ROWS}")
    return frame


def with_ids(frame, id_column: str | None, targets: tuple[str, ...], seed: int):
    """The frame with a usable id column, and its name."""
    missing = [t for t in targets if t not in frame.columns]
    if missing:
        raise UserError(f"target column {missing[0]!r} is not in the data (columns: {list_text(frame.columns)})")
    if id_column is not None:
        if id_column not in frame.columns:
            raise UserError(f"id column {id_column!r} is not in the data (columns: {list_text(frame.columns)})")
        if id_column in targets:
            raise UserError(f"column {id_column!r} cannot be both the id and a target")
        ids = frame[id_column]
        if ids.isna().any() or ids.astype(str).str.strip().eq("").any() or ids.astype(str).str.strip().duplicated().any():
            raise UserError(f"id column {id_column!r} has empty or duplicated values")
        return frame, id_column
    if "id" in frame.columns and "id" not in targets:
        ids = frame["id"]
        if not (ids.isna().any() or ids.astype(str).str.strip().duplicated().any()):
            return frame, "id"
    name = next(n for n in ("id", "row_id", "sandmle_id", "sandmle_row_id") if n not in frame.columns)
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    frame.insert(0, name, rng.permutation(len(frame)))
    return frame, name


def ranking_k(num_classes: int) -> int:
    """Default length of a ranked prediction: 5 labels, fewer when there are at most 5 classes
    (a ranking of every class scores the same whatever its order). `task from-csv` and
    `seeds from-csv` share it."""
    return max(1, min(5, num_classes - 1))


def normal_label(value: Any) -> str:
    """A label as text, integer-valued numbers in one spelling (as the grader reads them)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    if len(text) < 1000 and _INTEGER_TEXT.fullmatch(text):
        return str(int(text.split(".")[0]))
    return text


def make_plan(frame, kind: str, metric: str, targets: tuple[str, ...], id_name: str) -> Plan:
    import pandas as pd

    for t in targets:
        nulls = int(frame[t].isna().sum())
        if nulls:
            raise UserError(f"target column {t!r} has {nulls} missing values; drop those rows first")
    if kind in SINGLE_TARGET_KINDS and len(targets) != 1:
        hint = {"binary_proba": " (mean_column_auc scores several 0/1 targets)"}.get(kind, "")
        raise UserError(f"metric {metric} scores one target column, got {len(targets)}{hint}")
    features = tuple(c for c in frame.columns if c != id_name and c not in targets)
    if not features:
        raise UserError("the data has no feature columns besides the id and the target(s)")
    classes: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()
    columns: tuple[str, ...] = targets
    if kind in ("binary_proba", "multilabel_proba"):
        pos = []
        for t in targets:
            labels = sorted({normal_label(v) for v in frame[t]}, key=label_order)
            if len(labels) != 2:
                raise UserError(f"metric {metric} needs a two-valued target, but {t!r} has "
                                f"{len(labels)} distinct values ({list_text(labels)})")
            pos.append(labels[1])
        positive = tuple(pos)
    elif kind in ("multiclass_proba", "label", "ranking", "ordinal"):
        t = targets[0]
        if kind == "ordinal":
            values = pd.to_numeric(frame[t], errors="coerce")
            if values.isna().any() or not np.all(np.asarray(values) == np.round(np.asarray(values))):
                raise UserError(f"metric {metric} needs integer grades, but {t!r} holds other values")
        labels = sorted({normal_label(v) for v in frame[t]}, key=label_order)
        if not 2 <= len(labels) <= min(MAX_CLASSES, max(2, len(frame) // 2)):
            raise UserError(f"metric {metric} needs 2 to {min(MAX_CLASSES, max(2, len(frame) // 2))} classes "
                            f"({len(frame)} rows), but {t!r} has {len(labels)} distinct values")
        if kind == "ranking" and any(not label or any(ch.isspace() for ch in label) for label in labels):
            raise UserError(f"metric {metric} ranks space-separated labels; {t!r} has labels with spaces")
        classes = tuple(labels)
        if kind == "multiclass_proba":
            clash = [c for c in classes if c == id_name or not c]
            if clash:
                raise UserError(f"class {clash[0]!r} of {t!r} cannot name a submission column")
            columns = classes
    else:
        for t in targets:
            if not pd.api.types.is_numeric_dtype(frame[t]) or pd.api.types.is_bool_dtype(frame[t]):
                raise UserError(f"metric {metric} needs a numeric target, but {t!r} is {frame[t].dtype}")
            if not np.isfinite(frame[t].to_numpy(dtype=float)).all():
                raise UserError(f"target column {t!r} has infinite values")
            if metric in ("rmsle", "mean_column_rmsle") and (frame[t] < 0).any():
                raise UserError(f"metric {metric} needs non-negative targets, but {t!r} has negative values")
    return Plan(kind=kind, id_column=id_name, targets=targets, submission_columns=columns,
                 classes=classes, positive=positive, features=features)


def label_order(label: str):
    """Numbers in numeric order, then other labels alphabetically."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def split_rows(frame, plan: Plan, seed: int, test_fraction: float):
    from sklearn.model_selection import train_test_split

    n = len(frame)
    n_test = int(round(n * test_fraction))
    if n_test < MIN_TEST_ROWS or n - n_test < MIN_TRAIN_ROWS:
        raise UserError(f"{n} rows with test_fraction {test_fraction} give {n_test} test and {n - n_test} "
                        f"train rows; need at least {MIN_TEST_ROWS} and {MIN_TRAIN_ROWS}")
    strata = None
    if plan.kind in CLASSIFICATION_KINDS:
        keys = frame[list(plan.targets)].apply(lambda row: "\x1f".join(normal_label(v) for v in row), axis=1)
        counts = keys.value_counts()
        if plan.kind == "multilabel_proba" and counts.min() < 2:
            rarest = min(plan.targets, key=lambda t: frame[t].map(normal_label).value_counts().min())
            keys = frame[rarest].map(normal_label)
            counts = keys.value_counts()
        if counts.min() < 2:
            label = counts.idxmin().replace("\x1f", ", ")
            raise UserError(f"class {label!r} has a single row; a stratified split needs at least 2 per class")
        if n_test < len(counts) or n - n_test < len(counts):
            raise UserError(f"{len(counts)} classes do not fit in {n_test} test rows; "
                            "use more rows or a larger test_fraction")
        strata = keys.to_numpy()
    train, test = train_test_split(frame, test_size=n_test, random_state=seed, stratify=strata)
    if plan.kind in ("binary_proba", "multilabel_proba"):
        for t in plan.targets:
            for part, name in ((train, "train"), (test, "test")):
                if part[t].map(normal_label).nunique() < 2:
                    raise UserError(f"the {name} split holds one value of {t!r}; the metric needs both "
                                    "(use more rows)")
    return train.reset_index(drop=True), test.reset_index(drop=True)


# -- answers, baselines and submissions --------------------------------------------------------

def answers_table(test, plan: Plan) -> tuple[list[str], list[list[str]]]:
    """Header and rows of private/answers.csv (the submission layout)."""
    ids = [str(v) for v in test[plan.id_column]]
    if plan.kind in ("binary_proba", "multilabel_proba"):
        cols = [[int(normal_label(v) == pos) for v in test[t]] for t, pos in zip(plan.targets, plan.positive)]
        rows = [[i, *vals] for i, vals in zip(ids, zip(*cols))]
    elif plan.kind == "multiclass_proba":
        labels = [normal_label(v) for v in test[plan.targets[0]]]
        rows = [[i, *[int(label == c) for c in plan.classes]] for i, label in zip(ids, labels)]
    elif plan.kind in ("label", "ordinal", "ranking"):
        rows = [[i, normal_label(v)] for i, v in zip(ids, test[plan.targets[0]])]
    else:
        values = test[list(plan.targets)].to_numpy(dtype=float)
        rows = [[i, *[repr(float(v)) for v in row]] for i, row in zip(ids, values)]
    return [plan.id_column, *plan.submission_columns], [[str(c) for c in row] for row in rows]



def write_table(path: Path, table: Table) -> None:
    header, rows = table
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[str(v) for v in row] for row in rows])



def list_text(values, limit: int = 20) -> str:
    values = [str(v) for v in values]
    return ", ".join(values[:limit]) + (f", ... ({len(values)} in all)" if len(values) > limit else "")

