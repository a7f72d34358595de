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
registry calls a competition's `grade.py` (`sandmle bank export --format mlebench`).
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

def _read_frame(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True,
                            encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidSubmission(f"submission file {path} does not exist") from None
    except IsADirectoryError:
        raise InvalidSubmission(f"submission {path} is a folder, not a file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidSubmission(f"file is not a readable CSV ({' '.join(str(exc).split())[:200]})") from None
    return frame


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
        raise InvalidSubmission(f"submission has {len(submission)} rows, expected {len(answers)}")
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


def score_frames(task: dict, submission: pd.DataFrame, answers: pd.DataFrame) -> float:
    """The rounded score of a submission table against the answers table (both read as text
    cells); raises InvalidSubmission."""
    expected = [task["id_column"], *task["target_columns"]]
    scored = [task["id_column"], *(task.get("scored_columns") or task["target_columns"])]
    answers = _columns(answers, scored)
    submission = _columns(submission, scored if task.get("columns", "named") == "named" else expected,
                          task.get("columns", "named"))[scored]
    y_true, y_pred = read_arrays(dict(task, target_columns=scored[1:]), submission, answers)
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

    return score_frames(TASK, as_text(submission), as_text(answers))


def evaluate(task: dict, submission_path: Path, answers_path: Path) -> dict:
    """The evaluator's JSON report for one submission (raises InvalidSubmission)."""
    score = score_frames(task, _read_frame(submission_path), _read_frame(answers_path))
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
