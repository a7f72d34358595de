"""Standalone evaluator of one exported sandmle task (SandMLE release layout, REFERENCE §3).

Run from the task's public folder:

    python evaluator.py --submission_path submission.csv

prints one JSON object {"score", "is_lower_better", "gold_threshold", "silver_threshold",
"bronze_threshold", "median_threshold"} and exits 0, or prints the reason an invalid
submission cannot be graded on stderr and exits 1. Needs only numpy, pandas and
scikit-learn. `TASK` (metric, columns, thresholds) is filled in by `sandmle bank export`;
the answers are read from `answer.csv` beside this file.
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


class InvalidSubmission(Exception):
    """A submission that cannot be graded; the message says why."""


# ---- metrics (plain numpy / scikit-learn) -------------------------------------------------

def _auc(y_true, y_score) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y_true)) < 2:
        raise ValueError("ROC AUC needs both classes in the answers")
    return float(roc_auc_score(y_true, y_score))


def _binary_log_loss(y_true, p) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)))


def _multiclass_log_loss(y_onehot, p) -> float:
    p = np.clip(p, EPS, 1 - EPS)
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


def compute_metric(metric: str, y_true, y_pred, params: dict, classes: list) -> float:
    """Score arrays prepared by `read_arrays` (see there for their shapes)."""
    if metric == "auc":
        return _auc(y_true, y_pred)
    if metric == "mean_column_auc":
        return float(np.mean([_auc(y_true[:, j], y_pred[:, j]) for j in range(y_true.shape[1])]))
    if metric == "log_loss":
        return _binary_log_loss(y_true, y_pred)
    if metric == "multiclass_log_loss":
        return _multiclass_log_loss(y_true, y_pred)
    if metric == "rmse":
        return float(np.sqrt(np.mean((y_pred - y_true) ** 2)))
    if metric == "rmsle":
        return _rmsle(y_true.ravel(), y_pred.ravel())
    if metric == "mean_column_rmsle":
        return float(np.mean([_rmsle(y_true[:, j], y_pred[:, j]) for j in range(y_true.shape[1])]))
    if metric == "mae":
        return float(np.mean(np.abs(y_pred - y_true)))
    if metric == "accuracy":
        return float(np.mean(y_true == y_pred))
    from sklearn import metrics as skm      # imported only where needed: it costs about 1 s

    if metric in ("f1_macro", "f1_micro"):
        return float(skm.f1_score(y_true, y_pred, average=metric[3:], zero_division=0))
    if metric == "mcc":
        return float(skm.matthews_corrcoef(y_true, y_pred))
    if metric == "qwk":
        labels = [int(c) for c in classes] if classes else None
        return float(skm.cohen_kappa_score(y_true, y_pred, weights="quadratic", labels=labels))
    if metric == "map_at_k":
        return _map_at_k(y_true, y_pred, int(params.get("k", 5)))
    if metric == "spearman":
        return _spearman(y_true.ravel(), y_pred.ravel())
    if metric == "r2":
        return float(skm.r2_score(y_true.ravel(), y_pred.ravel()))
    raise ValueError(f"unknown metric {metric!r}")


# ---- reading a submission ------------------------------------------------------------------

def _numeric(frame: pd.DataFrame, columns: list, what: str) -> np.ndarray:
    values = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InvalidSubmission(f"{what} column {columns[col]!r} has a missing or non-numeric value "
                                f"in row {row + 1}: {frame[columns[col]].iloc[row]!r}")
    return values


def _probabilities(frame: pd.DataFrame, columns: list) -> np.ndarray:
    values = _numeric(frame, columns, "submission")
    if (values < 0).any() or (values > 1).any():
        raise InvalidSubmission(f"probabilities in {columns} must lie in [0, 1]")
    return values


def read_arrays(task: dict, submission: pd.DataFrame, answers: pd.DataFrame):
    """Validate a submission against the answers and return (y_true, y_pred) for the metric."""
    id_col, targets, kind = task["id_column"], list(task["target_columns"]), task["kind"]
    missing = [c for c in [id_col] + targets if c not in submission.columns]
    if missing:
        raise InvalidSubmission(f"submission lacks column(s) {missing}; expected {[id_col] + targets}")
    if len(submission) != len(answers):
        raise InvalidSubmission(f"submission has {len(submission)} rows, expected {len(answers)}")
    ids = submission[id_col].astype(str)
    if ids.duplicated().any():
        raise InvalidSubmission(f"submission repeats id {ids[ids.duplicated()].iloc[0]!r}")
    answer_ids = answers[id_col].astype(str)
    unknown = sorted(set(ids) - set(answer_ids))
    if unknown:
        raise InvalidSubmission(f"submission has {len(unknown)} id(s) not in the test set, e.g. {unknown[0]!r}")
    submission = submission.assign(**{id_col: ids}).set_index(id_col).loc[answer_ids].reset_index()
    if kind == "binary_proba":
        return _numeric(answers, targets, "answer")[:, 0], _probabilities(submission, targets)[:, 0]
    if kind in ("multilabel_proba", "multiclass_proba"):
        return _numeric(answers, targets, "answer"), _probabilities(submission, targets)
    if kind == "value":
        return _numeric(answers, targets, "answer"), _numeric(submission, targets, "submission")
    if kind == "multi_value":
        return _numeric(answers, targets, "answer"), _numeric(submission, targets, "submission")
    if kind == "ordinal":
        pred = _numeric(submission, targets, "submission")[:, 0]
        if not np.all(pred == np.round(pred)):
            raise InvalidSubmission(f"grades in {targets[0]!r} must be integers")
        return _numeric(answers, targets, "answer")[:, 0].astype(int), pred.astype(int)
    if kind == "label":
        pred = submission[targets[0]].astype(str).str.strip()
        if (pred == "").any() or submission[targets[0]].isna().any():
            raise InvalidSubmission(f"labels in {targets[0]!r} must not be empty")
        return answers[targets[0]].astype(str).str.strip().to_numpy(), pred.to_numpy()
    if kind == "ranking":
        truth = [str(v).split() for v in answers[targets[0]]]
        guess = [str(v).split() if isinstance(v, str) else [] for v in submission[targets[0]]]
        return truth, guess
    raise ValueError(f"unknown metric kind {kind!r}")


def evaluate(task: dict, submission_path: Path, answers_path: Path) -> dict:
    """The evaluator's JSON report for one submission (raises InvalidSubmission)."""
    try:
        submission = pd.read_csv(submission_path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise InvalidSubmission(f"submission file {submission_path} does not exist") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidSubmission(f"submission is not a readable CSV ({str(exc).splitlines()[0]})") from None
    answers = pd.read_csv(answers_path, dtype=str, keep_default_na=False)
    y_true, y_pred = read_arrays(task, submission, answers)
    score = compute_metric(task["metric"], y_true, y_pred, task.get("metric_params") or {}, task.get("classes") or [])
    if not math.isfinite(score):
        raise InvalidSubmission(f"the metric is not finite for this submission ({score})")
    t = task["thresholds"]
    return {"score": round(score, 5), "is_lower_better": task["is_lower_better"],
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
