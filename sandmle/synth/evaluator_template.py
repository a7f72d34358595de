"""Standalone evaluator of one exported sandmle task (SandMLE release layout, REFERENCE §3).

Run from the task's public folder:

    python evaluator.py --submission_path submission.csv

prints one JSON object {"score", "is_lower_better", "gold_threshold", "silver_threshold",
"bronze_threshold", "median_threshold"} and exits 0, or prints the reason an invalid
submission cannot be graded on stderr and exits 1. Needs only numpy, pandas and
scikit-learn. `TASK` (metric, columns, thresholds and the task's grading rules: the column
rule, multi-class row sums, clipping, scored columns) is filled in by `sandmle bank export`;
the answers are read from `answer.csv` beside this file. As in `sandmle grade`, columns
beyond the expected ones are ignored (unless the task wants exactly its columns) and ids
written as floats ("1013.0") are read as the integers they spell.

`grade(submission, answers)` is the same grader on two DataFrames, as MLE-bench's
registry calls a competition's `grade.py` (`sandmle bank export --format mlebench`). Tasks
with MLE-bench's reader (reader "pandas": imported competitions, synthetic tasks seeded from
them) are graded on the frames as pandas types them, with the same verdict and score as
`sandmle grade` (tests/test_grading_mlebench.py checks every lite profile). One file on
purpose, longer than a module should be: MLE-bench loads a competition's single grade.py.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TASK: dict = {}

EPS = 1e-15
_INTEGER_FLOAT = r"^([+-]?[0-9]+)\.0*$"


try:      # inside MLE-bench, an invalid submission is its InvalidSubmissionError (the score is None)
    from mlebench.grade_helpers import InvalidSubmissionError as _Invalid
except ImportError:
    _Invalid = Exception


class InvalidSubmission(_Invalid):
    """A submission that cannot be graded; the message says why."""


# ---- metrics (plain numpy / scikit-learn) -------------------------------------------------

def _auc(y_true, y_score) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y_true)) < 2:
        raise ValueError("ROC AUC needs both classes in the answers")
    return float(roc_auc_score(y_true, y_score))


def _binary_log_loss(y_true, p, eps: float) -> float:
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)))


def _multiclass_log_loss(y_onehot, p, eps: float, renormalise: bool) -> float:
    p = np.clip(p, eps, 1 - eps)
    if renormalise:
        p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.sum(y_onehot * np.log(p), axis=1)))


def _rmsle(y_true, y_pred) -> float:
    return float(np.sqrt(np.mean((np.log1p(y_pred) - np.log1p(y_true)) ** 2)))


def _spearman(y_true, y_pred) -> float:
    a = pd.Series(y_true).rank(method="average").to_numpy()
    b = pd.Series(y_pred).rank(method="average").to_numpy()
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(np.sum(a * a) * np.sum(b * b)))
    if denom == 0:
        raise ValueError("Spearman correlation is undefined for a constant column")
    return float(np.sum(a * b) / denom)


def _map_at_k(true_labels, predicted, k: int) -> float:
    total = 0.0
    for truth, guess in zip(true_labels, predicted):
        relevant = set(truth)
        hits, score, seen = 0, 0.0, set()
        for rank, label in enumerate(guess[:k], start=1):
            if label in relevant and label not in seen:
                hits += 1
                score += hits / rank
            seen.add(label)
        total += score / min(len(relevant), k) if relevant else 0.0
    return total / len(true_labels)


def compute_metric(metric: str, y_true, y_pred, params: dict) -> float:
    """Score arrays prepared by `read_arrays` (see there for their shapes)."""
    if metric == "auc":
        return _auc(y_true, y_pred)
    if metric == "mean_column_auc":
        return float(np.mean([_auc(y_true[:, j], y_pred[:, j]) for j in range(y_true.shape[1])]))
    eps = float(params.get("eps", EPS))
    if metric == "log_loss":
        return _binary_log_loss(y_true, y_pred, eps)
    if metric == "multiclass_log_loss":
        return _multiclass_log_loss(y_true, y_pred, eps, bool(params.get("renormalise", True)))
    if metric == "rmse":
        return float(np.sqrt(np.mean((y_pred - y_true) ** 2)))
    if metric == "rmsle":
        return _rmsle(y_true.ravel(), y_pred.ravel())
    if metric == "mean_column_rmsle":
        return float(np.mean([_rmsle(y_true[:, j], y_pred[:, j]) for j in range(y_true.shape[1])]))
    if metric == "mae":
        return float(np.mean(np.abs(y_pred - y_true)))
    if metric == "mape":
        return float(np.mean(np.abs(y_pred - y_true) / np.maximum(np.abs(y_true), np.finfo(np.float64).eps)))
    if metric == "smape":
        denominator = np.abs(y_true) + np.abs(y_pred)
        terms = np.where(denominator == 0, 0.0, 2.0 * np.abs(y_pred - y_true) / np.where(denominator == 0, 1.0, denominator))
        return float(100.0 * np.mean(terms))
    if metric == "accuracy":
        return float(np.mean(y_true == y_pred))
    from sklearn import metrics as skm      # imported only where needed: it costs about 1 s

    if metric in ("f1_macro", "f1_micro"):
        return float(skm.f1_score(y_true, y_pred, average=metric[3:], zero_division=0))
    if metric == "mcc":
        return float(skm.matthews_corrcoef(y_true, y_pred))
    if metric == "qwk":     # weights follow the positions of the grades present (as MLE-bench's aptos)
        return float(skm.cohen_kappa_score(y_true, y_pred, weights="quadratic"))
    if metric == "map_at_k":
        return _map_at_k(y_true, y_pred, int(params.get("k", 5)))
    if metric == "spearman":
        return _spearman(y_true.ravel(), y_pred.ravel())
    if metric == "r2":
        return float(skm.r2_score(y_true.ravel(), y_pred.ravel()))
    raise ValueError(f"unknown metric {metric!r}")


# ---- reading a submission (the same rules as sandmle's grader) ---------------------------

def _read_frame(path: Path, typed: bool = False) -> pd.DataFrame:
    """The table as text cells, or with `typed` as MLE-bench's read_csv gives it (pandas'
    typing, NA tokens missing)."""
    import warnings

    try:
        if typed:
            with warnings.catch_warnings():    # pandas 3 deprecates float_precision, which MLE-bench passes
                warnings.simplefilter("ignore")
                return pd.read_csv(path, float_precision="round_trip")
        return pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidSubmission(f"submission file {path} does not exist") from None
    except IsADirectoryError:
        raise InvalidSubmission(f"submission {path} is a folder, not a file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidSubmission(f"file is not a readable CSV ({' '.join(str(exc).split())[:200]})") from None


def _columns(frame: pd.DataFrame, expected: list, rule: str = "named") -> pd.DataFrame:
    """The `expected` columns of a table of text cells, stripped. "named": found by name,
    other columns ignored; "exact": the header holds exactly them; "id_first": exactly them,
    the first one first."""
    header = [str(c).strip() for c in frame.columns]
    missing = [c for c in expected if c not in header]
    repeated = sorted({c for c in expected if header.count(c) > 1})
    exact = rule in ("exact", "id_first")
    if missing or repeated or (exact and sorted(header) != sorted(expected)) or (
            rule == "id_first" and header[0] != expected[0]):
        raise InvalidSubmission(f"columns {header} do not match the expected {expected}")
    frame = frame.copy()
    frame.columns = header
    if frame.empty:
        raise InvalidSubmission("file has a header but no rows")
    return frame[expected].apply(lambda col: col.str.strip())


def _numeric(frame: pd.DataFrame, columns: list, what: str) -> np.ndarray:
    values = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InvalidSubmission(f"{what} column {columns[col]!r} has an empty, non-numeric or "
                                f"non-finite value in row {row + 1}: {frame[columns[col]].iloc[row]!r}")
    return values


def _probabilities(frame: pd.DataFrame, columns: list) -> np.ndarray:
    values = _numeric(frame, columns, "submission")
    if (values < 0).any() or (values > 1).any():
        raise InvalidSubmission(f"probabilities in {columns} must lie in [0, 1]")
    return values


def _label(text: str) -> str:
    """Integer-valued numbers in one spelling ("1.0" and "+1" are "1"); other labels as they are."""
    body = text[1:] if text[:1] in "+-" else text
    whole, _, fraction = body.partition(".")
    if len(text) < 1000 and whole.isdigit() and (fraction == "" or set(fraction) == {"0"}) and whole.isascii():
        return str(int(text.split(".")[0]))
    return text


def _filled(frame: pd.DataFrame, columns: list) -> None:
    for column in columns:
        if (frame[column] == "").any():
            raise InvalidSubmission(f"empty value in column {column!r}")


def _grades(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    values = _numeric(frame, [column], what)[:, 0]
    if (values != np.round(values)).any():
        raise InvalidSubmission(f"grades in {column!r} must be integers")
    return values.astype(np.int64)


def read_arrays(task: dict, submission: pd.DataFrame, answers: pd.DataFrame):
    """Validate a submission against the answers and return (y_true, y_pred), rows in the
    answers' order: float arrays for probabilities and values, label or grade-level codes
    for labels and grades, lists of label lists for rankings."""
    id_col, targets, kind = task["id_column"], list(task["target_columns"]), task["kind"]
    ids = submission[id_col]
    if (ids == "").any():
        raise InvalidSubmission(f"column {id_col!r} has empty ids")
    answer_ids = answers[id_col]
    known = set(answer_ids)
    spelled = ~ids.isin(known) & ids.str.fullmatch(_INTEGER_FLOAT)
    if spelled.any():                       # "1013.0": the integer id 1013, as pandas reads it
        ids = ids.where(~spelled, ids.str.replace(_INTEGER_FLOAT, r"\1", regex=True))
        submission = submission.assign(**{id_col: ids})
    if ids.duplicated().any():
        raise InvalidSubmission(f"duplicated ids: {ids[ids.duplicated()].iloc[0]!r}")
    unknown = sorted(set(ids) - known)
    if unknown:
        raise InvalidSubmission(f"{len(unknown)} id(s) not in the test set, e.g. {unknown[0]!r}")
    if len(submission) != len(answers):
        raise InvalidSubmission(f"submission has {_rows(len(submission))}, expected {len(answers)}")
    submission = submission.set_index(id_col).loc[answer_ids.to_numpy()].reset_index()
    if kind in ("binary_proba", "multilabel_proba", "multiclass_proba", "value", "multi_value"):
        y_true = _numeric(answers, targets, "answer")
        y_pred = _numeric(submission, targets, "submission")
        row_sum = task.get("row_sum")
        if kind == "multiclass_proba" and row_sum:
            atol, rtol = row_sum
            sums = y_pred.sum(axis=1)
            if not (np.abs(sums - 1.0) <= atol + rtol).all():
                raise InvalidSubmission("each row's class probabilities must sum to 1 "
                                        f"(within {atol + rtol:g})")
        if kind.endswith("proba") and task.get("probability_range", True):
            y_pred = _probabilities(submission, targets)
        if kind == "binary_proba":
            return y_true[:, 0], y_pred[:, 0]
        if kind == "value":
            return y_true.ravel(), y_pred.ravel()
        return y_true, y_pred
    _filled(submission, targets)
    if kind == "label":
        return (np.array([_label(v) for v in answers[targets[0]]], dtype=object),
                np.array([_label(v) for v in submission[targets[0]]], dtype=object))
    if kind == "ordinal":
        truth, guess = _grades(answers, targets[0], "answer"), _grades(submission, targets[0], "submission")
        domain = {int(_label(c.strip())) for c in task.get("classes") or [] if _label(c.strip()).lstrip("-").isdigit()}
        levels = {v: i for i, v in enumerate(sorted(domain | set(truth.tolist()) | set(guess.tolist())))}
        return (np.array([levels[v] for v in truth.tolist()]), np.array([levels[v] for v in guess.tolist()]),)
    if kind == "ranking":
        return [v.split() for v in answers[targets[0]]], [v.split() for v in submission[targets[0]]]
    raise ValueError(f"unknown metric kind {kind!r}")


# ---- MLE-bench's reading (grader profile reader "pandas") ---------------------------------
# The frames as `pandas.read_csv` types them; columns and rows matched by the task's rules
# (see sandmle.grading.profile), as sandmle's grader does for the same profile.

def _invalid_if(condition: bool, reason: str) -> None:
    if condition:
        raise InvalidSubmission(reason)


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _pandas_ids(column: pd.Series) -> tuple[str, np.ndarray]:
    """("number", float64 values) or ("text", object values); NaN / None where missing."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return "number", column.to_numpy(dtype=float)
    return "text", np.asarray(column.astype(object).where(column.notna(), None), dtype=object)


def _sort_order(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Row order of pandas' sort_values: numpy's quicksort of the present values, missing last."""
    present = np.flatnonzero(~missing)
    order = present[np.argsort(values[present], kind="quicksort")]
    return np.concatenate([order, np.flatnonzero(missing)]).astype(np.int64)


def _pandas_pairs(task: dict, submission: pd.DataFrame, answers: pd.DataFrame, keep):
    """(answer rows, submission rows) that are scored, paired by the task's row rule."""
    id_col, rule = task["id_column"], task.get("rows", "id")
    n = len(submission)
    if rule == "file_order":
        a_idx, s_idx = np.arange(n), np.arange(n)
    else:
        kind_a, ka = _pandas_ids(answers[id_col])
        kind_s, ks = _pandas_ids(submission[id_col])
        _invalid_if(kind_a != kind_s, f"the test set's ids are {kind_a}s but the submission's are {kind_s}s")
        miss_a, miss_s = pd.isna(ka), pd.isna(ks)
        if rule == "sorted":
            a_idx, s_idx = _sort_order(ka, miss_a), _sort_order(ks, miss_s)
        else:
            first: dict = {}
            for i, v in enumerate(ka.tolist()):
                if not miss_a[i]:
                    first.setdefault(v, i)
            unique = len(first) == len(ka)
            rows = np.array([-1 if miss_s[i] else first.get(v, -1) for i, v in enumerate(ks.tolist())],
                            dtype=np.int64)
            if rule == "id_members":
                _invalid_if((rows < 0).any(), "ids not in the test set")
                a_idx, s_idx = _sort_order(ka, miss_a), _sort_order(ks, miss_s)
                if keep is not None:
                    a_idx, s_idx = a_idx[keep[a_idx]], s_idx[keep[rows[s_idx]]]
                    _invalid_if(len(a_idx) != len(s_idx), "submission rows on scored ids do not match")
                return a_idx, s_idx
            if unique:
                _invalid_if((rows < 0).any(), "ids missing or not in the test set")
                _invalid_if(len(np.unique(rows)) != n, "duplicated ids")
                a_idx, s_idx = rows, np.arange(n)
            else:          # repeated answer ids: both sorted, then compared position by position
                a_idx, s_idx = _sort_order(ka, miss_a), _sort_order(ks, miss_s)
                if rule == "id_set":
                    same = not miss_s.any() and set(ka[~miss_a].tolist()) == set(ks.tolist())
                else:
                    same = bool((ka[a_idx] == ks[s_idx]).all())
                _invalid_if(not same, "ids do not match the test set's")
    if keep is not None:
        mask = keep[a_idx]
        a_idx, s_idx = a_idx[mask], s_idx[mask]
    return a_idx, s_idx


def _pandas_numbers(frame: pd.DataFrame, columns: list, rows: np.ndarray, what: str) -> np.ndarray:
    """float64 (rows, columns) of the scored rows; a cell that is no number makes it invalid,
    a missing one is NaN."""
    out = np.empty((len(rows), len(columns)))
    for j, column in enumerate(columns):
        cells = frame[column]
        if pd.api.types.is_bool_dtype(cells) or pd.api.types.is_numeric_dtype(cells):
            out[:, j] = cells.to_numpy(dtype=float)[rows]
            continue
        raw = cells.astype(object).where(cells.notna(), None).to_numpy()[rows]
        parsed = pd.to_numeric(pd.Series([v.strip(" \t\r\n\x0b\x0c") if isinstance(v, str) else v
                                          for v in raw], dtype=object), errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(parsed) & pd.notna(raw)
        _invalid_if(bad.any(), f"{what} column {column!r} holds a value that is not a number")
        out[:, j] = parsed
    return out


def _pandas_texts(cells: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Strings as pandas' astype(str) makes them (missing cells: "nan")."""
    if pd.api.types.is_bool_dtype(cells) or pd.api.types.is_numeric_dtype(cells):
        return np.array([str(v) for v in cells.to_numpy()[rows].tolist()], dtype=object)
    values = cells.astype(object).where(cells.notna(), "nan").to_numpy()[rows]
    return np.array([str(v) for v in values], dtype=object)


def _pandas_labels(cells: pd.Series, rows: np.ndarray, what: str) -> tuple[str, list]:
    if pd.api.types.is_bool_dtype(cells) or pd.api.types.is_numeric_dtype(cells):
        values = cells.to_numpy(dtype=float)[rows]
        _invalid_if(bool((~np.isfinite(values) | (values != np.round(values))).any()),
                    f"{what} labels must all be whole numbers or all text")
        return "number", values.tolist()
    values = cells.astype(object).where(cells.notna(), None).to_numpy()[rows]
    _invalid_if(any(v is None for v in values), f"{what} has a missing label")
    return "text", [str(v) for v in values]


def _pandas_arrays(task: dict, submission: pd.DataFrame, answers: pd.DataFrame):
    id_col, targets, kind = task["id_column"], list(task["target_columns"]), task["kind"]
    scored = list(task.get("scored_columns") or targets)
    rule = task.get("columns", "named")
    names = list(submission.columns)
    expected = [id_col, *targets]
    _invalid_if(rule == "exact" and (set(names) != set(expected) or len(names) != len(expected)),
                f"columns {names} must be exactly {expected}")
    _invalid_if(rule == "id_first" and (len(names) != len(expected) or names[:1] != [id_col]
                                        or set(names) != set(expected)),
                f"columns {names} must be {id_col!r} first, then exactly {targets}")
    need_id = task.get("rows", "id") != "file_order" or id_col in names
    required = ([id_col] if need_id else []) + (targets if rule == "positional" else scored)
    absent = [c for c in required if c not in names]
    _invalid_if(bool(absent), f"missing columns: {absent}")
    if rule == "positional":
        a_cols = [c for c in answers.columns if c != id_col]
        s_cols = [c for c in names if c != id_col]
        _invalid_if(len(s_cols) != len(a_cols), f"{len(s_cols)} columns besides {id_col!r}, expected {len(a_cols)}")
    else:
        a_cols = s_cols = scored
    _invalid_if(len(submission) != len(answers), f"submission has {_rows(len(submission))}, expected {len(answers)}")
    keep = None
    if task.get("skip_answer_rows_below") is not None:
        totals = answers[a_cols].apply(pd.to_numeric, errors="coerce").fillna(0.0).sum(axis=1)
        keep = (totals >= task["skip_answer_rows_below"]).to_numpy()
    a_idx, s_idx = _pandas_pairs(task, submission, answers, keep)
    if kind in ("binary_proba", "multilabel_proba", "multiclass_proba", "value", "multi_value"):
        y_true = _pandas_numbers(answers, a_cols, a_idx, "answer")
        y_pred = _pandas_numbers(submission, s_cols, s_idx, "submission")
        _invalid_if(not np.isfinite(y_pred).all(), "a prediction is missing or not finite")
        row_sum = task.get("row_sum")
        if kind == "multiclass_proba" and row_sum:
            _invalid_if(not (np.abs(y_pred.sum(axis=1) - 1.0) <= row_sum[0] + row_sum[1]).all(),
                        "each row's class probabilities must sum to 1")
        if kind.endswith("proba") and task.get("probability_range", True):
            _invalid_if(bool(((y_pred < 0) | (y_pred > 1)).any()), "probabilities must lie in [0, 1]")
        if kind == "binary_proba":
            return y_true[:, 0], y_pred[:, 0]
        if kind == "value":
            return y_true.ravel(), y_pred.ravel()
        return y_true, y_pred
    truth, guess = answers[a_cols[0]], submission[s_cols[0]]
    if kind == "label" and task.get("compare") == "text":
        return _pandas_texts(truth, a_idx), _pandas_texts(guess, s_idx)
    if kind == "label":
        (kind_a, a), (kind_b, b) = _pandas_labels(truth, a_idx, "answer"), _pandas_labels(guess, s_idx, "submission")
        if kind_a != kind_b:                  # a string never equals a number: every row is wrong
            return np.zeros(len(a), dtype=np.int64), np.ones(len(b), dtype=np.int64)
        codes = {label: i for i, label in enumerate(sorted(set(a) | set(b)))}
        return np.array([codes[v] for v in a]), np.array([codes[v] for v in b])
    if kind == "ordinal":
        grades = []
        for cells, rows, what in ((truth, a_idx, "answer"), (guess, s_idx, "submission")):
            _invalid_if(not pd.api.types.is_numeric_dtype(cells), f"{what} grades must all be numbers")
            values = cells.to_numpy(dtype=float)[rows]
            _invalid_if(bool((~np.isfinite(values) | (values != np.round(values))).any()),
                        f"{what} grades must be integers")
            grades.append([int(v) for v in values])
        domain = {int(_label(c.strip())) for c in task.get("classes") or [] if _label(c.strip()).lstrip("-").isdigit()}
        levels = {v: i for i, v in enumerate(sorted(domain | set(grades[0]) | set(grades[1])))}
        return np.array([levels[v] for v in grades[0]]), np.array([levels[v] for v in grades[1]])
    if kind == "ranking":
        return ([str(v).split() for v in _pandas_texts(truth, a_idx)],
                [str(v).split() for v in _pandas_texts(guess, s_idx)])
    raise ValueError(f"unknown metric kind {kind!r}")


def _check_era(task: dict, y_true, y_pred) -> None:
    """scikit-learn 1.5's refusals (MLE-bench's pinned version) that later releases dropped."""
    if task.get("era") != "mlebench":
        return
    metric = task["metric"]
    if metric in ("rmsle", "mean_column_rmsle"):
        _invalid_if(bool((np.asarray(y_true) < 0).any() or (np.asarray(y_pred) < 0).any()),
                    f"{metric} is undefined for negative values")
    if metric == "log_loss":
        _invalid_if(len(np.unique(np.asarray(y_true))) < 2, "log_loss is undefined when the answers hold one class")


def score_frames(task: dict, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
    """The rounded score of a submission table against the answers table: both as text cells
    (reader "sandmle") or as pandas.read_csv types them (reader "pandas"); raises
    InvalidSubmission."""
    if task.get("reader") == "pandas":
        _invalid_if(submission.empty, "file has no rows")
        y_true, y_pred = _pandas_arrays(task, submission, answers)
    else:
        expected = [task["id_column"], *task["target_columns"]]
        scored = [task["id_column"], *(task.get("scored_columns") or task["target_columns"])]
        answers = _columns(answers, scored)
        submission = _columns(submission, scored if task.get("columns", "named") == "named" else expected,
                              task.get("columns", "named"))[scored]
        y_true, y_pred = read_arrays(dict(task, target_columns=scored[1:]), submission, answers)
    _check_era(task, y_true, y_pred)
    params = dict(task.get("metric_params") or {})
    params.update(eps=task.get("clip_eps", EPS), renormalise=task.get("renormalise", True))
    try:
        score = compute_metric(task["metric"], y_true, y_pred, params)
    except ValueError as exc:
        raise InvalidSubmission(f"{task['metric']} is undefined for this submission: {exc}") from None
    if not math.isfinite(score):
        raise InvalidSubmission(f"the metric is not finite for this submission ({score})")
    return round(score, 5)


def grade(submission: pd.DataFrame, answers: pd.DataFrame) -> float:
    """MLE-bench's grade function: the frames as its registry reads them (pandas), graded by
    the task's rules; an invalid submission raises InvalidSubmission, which is MLE-bench's
    InvalidSubmissionError there."""

    def as_text(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.astype(object).where(frame.notna(), "").astype(str)

    if TASK.get("reader") == "pandas":
        return score_frames(TASK, submission, answers)
    return score_frames(TASK, as_text(submission), as_text(answers))


def evaluate(task: dict, submission_path: Path, answers_path: Path) -> dict:
    """The evaluator's JSON report for one submission (raises InvalidSubmission)."""
    typed = task.get("reader") == "pandas"
    score = score_frames(task, _read_frame(submission_path, typed), _read_frame(answers_path, typed))
    t = task["thresholds"]
    return {"score": score, "is_lower_better": task["is_lower_better"],
            "gold_threshold": t["gold"], "silver_threshold": t["silver"],
            "bronze_threshold": t["bronze"], "median_threshold": t["median"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"Grade a submission for task {TASK.get('task_id', '?')}.")
    parser.add_argument("--submission_path", required=True, help="CSV in the sample submission's layout")
    parser.add_argument("--answer_path", default=None, help="answers CSV (default: answer.csv beside this file)")
    args = parser.parse_args(argv)
    answers = Path(args.answer_path) if args.answer_path else Path(__file__).resolve().parent / TASK["answer_file"]
    try:
        report = evaluate(TASK, Path(args.submission_path), answers)
    except InvalidSubmission as exc:
        print(f"invalid submission: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
