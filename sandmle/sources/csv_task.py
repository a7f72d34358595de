"""Make a task from any CSV file: `sandmle task from-csv DATA.csv --target COL --metric NAME`.

    task = make_task_from_csv("houses.csv", "price", "rmse", "tasks/houses")

The rows are split deterministically (stratified for classification metrics) into
public/train.csv and public/test.csv (the target removed); the hidden targets go only to
private/answers.csv, laid out as a submission. An id column is added (from a seeded
permutation, so ids carry no row order) when the file has none. The submission layout
follows the metric's kind: `multiclass_log_loss` -> one probability column per class,
`mean_column_auc` / `mean_column_rmsle` -> one column per target, and so on.

Medal thresholds come from a small leaderboard of baselines fit in-process with
scikit-learn (constant prior, linear models, nearest neighbours, trees, forests;
`sandmle.sources.csv_baselines`), scored by the grader itself and turned into thresholds by MLE-bench's rule (`medal_thresholds`),
which orders them median <= bronze <= silver <= gold in the metric's direction. The
leaderboard is kept in private/leaderboard.csv; the constant baseline is the sample
submission. Bad input (a missing column, a metric that does not fit the target, too few
rows) raises a one-line UserError (the checks and the split: `sandmle.sources.csv_plan`).
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

from sandmle.errors import UserError
from sandmle.leaderboard import make_leaderboard, medal_thresholds
from sandmle.metrics import METRICS
from sandmle.sources.csv_baselines import ramp_submission, run_baselines
from sandmle.sources.csv_plan import (Plan, answers_table, list_text, make_plan, ranking_k, read_csv, split_rows,
                                      with_ids, write_table)
from sandmle.task import Lineage, Task, TaskSpec, Thresholds, write_task

GENERATOR = "from-csv"
GENERATOR_VERSION = "1"
MIN_VALID_BASELINES = 5      # the medal rule needs a leaderboard, not two points
THRESHOLD_DECIMALS = 6


def make_task_from_csv(csv_path: str | Path, targets: str | Sequence[str], metric: str,
                       out_dir: str | Path, seed: int = 0, test_fraction: float = 0.3,
                       id_column: str | None = None, task_id: str | None = None,
                       title: str | None = None, metric_params: dict[str, Any] | None = None,
                       overwrite: bool = False) -> Task:
    """Build and write a task folder from a CSV file; returns the loaded task."""

    csv_path, out_dir = Path(csv_path), Path(out_dir)
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r} (known: {', '.join(sorted(METRICS))})")
    if not targets:
        raise UserError("give at least one --target column")
    if len(set(targets)) != len(targets):
        raise UserError(f"--target columns repeat: {', '.join(targets)}")
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if out_dir.exists() and not overwrite:
        raise UserError(f"{out_dir} already exists (remove it or choose another --out)")
    metric_params = dict(metric_params or {})
    kind = METRICS[metric].kind
    frame = read_csv(csv_path, text_columns=(id_column or "id",))
    frame, id_name = with_ids(frame, id_column, targets, seed)
    plan = make_plan(frame, kind, metric, targets, id_name)
    if kind == "ranking":
        metric_params.setdefault("k", ranking_k(len(plan.classes)))
    train, test = split_rows(frame, plan, seed, test_fraction)

    spec = TaskSpec(
        id=task_id or _slug(out_dir.name),
        title=title or f"{csv_path.stem}: predict {', '.join(targets)}",
        modality="tabular", metric=metric, is_lower_better=METRICS[metric].is_lower_better,
        id_column=plan.id_column, target_columns=plan.submission_columns,
        thresholds=Thresholds(0.0, 0.0, 0.0, 0.0), train_rows=len(train), test_rows=len(test),
        lineage=Lineage(seed=f"csv:{csv_path.name}", generator=GENERATOR,
                        generator_version=GENERATOR_VERSION, random_seed=seed,
                        dna={"kind": kind, "metric": metric, "targets": list(targets),
                             "num_features": len(plan.features), "num_classes": len(plan.classes)},
                        extra={"source_sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
                               "test_fraction": test_fraction}),
        metric_params=metric_params, classes=plan.classes,
    )
    answers = answers_table(test, plan)
    with tempfile.TemporaryDirectory(prefix="sandmle-from-csv.") as scratch:
        scratch = Path(scratch)
        answers_path = scratch / "answers.csv"
        write_table(answers_path, answers)
        entries, submissions = run_baselines(spec, plan, train, test, answers_path, scratch, seed)
    valid = [e for e in entries if e.valid]
    if len(valid) < MIN_VALID_BASELINES:
        reasons = sorted({e.reason for e in entries if e.reason})
        raise UserError(f"only {len(valid)} of {len(entries)} baselines could be scored on this data "
                        f"(need {MIN_VALID_BASELINES}){': ' + reasons[0] if reasons else ''}")
    sample_name = next((e.name for e in entries if e.family == "constant" and e.valid), None)
    if metric == "spearman" or sample_name is None:
        sample, sample_kind = ramp_submission(test, plan), "the row position, a placeholder"
    else:
        sample, sample_kind = submissions[sample_name], "a constant guess"
    board = medal_thresholds([e.score for e in valid], spec.is_lower_better)
    # Scores carry 5 decimals, so a median (a mean of two) needs 6: rounding is exact here,
    # and rounding is monotone, so the order of the thresholds is kept.
    thresholds = Thresholds(*(round(v, THRESHOLD_DECIMALS) for v in board.as_tuple()))
    spec = _replace(spec, thresholds=thresholds, lineage=_replace(
        spec.lineage, extra={**spec.lineage.extra, "leaderboard": [e.name for e in valid]}))
    description = _description(spec, plan, csv_path, train, sample, sample_kind)

    def fill(public: Path, private: Path) -> None:
        _write_frame(public / spec.train_file, train)
        _write_frame(public / spec.test_file, test.drop(columns=list(plan.targets)))
        write_table(public / spec.sample_submission_file, sample)
        (public / "description.md").write_text(description, encoding="utf-8")
        write_table(private / "answers.csv", answers)
        make_leaderboard(entries, spec.is_lower_better, min_valid=1).write_csv(private / "leaderboard.csv")

    task = write_task(out_dir, spec, fill, overwrite=overwrite)
    from sandmle.grading import grade_submission

    grade = grade_submission(task, task.sample_submission_path)
    if not grade.valid:
        raise UserError(f"the sample submission of {out_dir} is invalid on this data: {grade.reason}")
    return task



def _write_frame(path: Path, frame) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _description(spec: TaskSpec, plan: Plan, csv_path: Path, train, sample, sample_kind: str) -> str:
    import pandas as pd

    metric = METRICS[spec.metric]
    direction = "lower is better" if metric.is_lower_better else "higher is better"
    targets = ", ".join(f"`{t}`" for t in plan.targets)
    lines = [f"# {spec.title}", "", "## Overview", "",
             f"Predict {targets} for every row of `test.csv` from the other columns. The rows come "
             f"from `{csv_path.name}`: {spec.train_rows} training rows and {spec.test_rows} test rows.",
             "", "## Files", "",
             f"- `train.csv`: {spec.train_rows} rows with every column, including {targets}.",
             f"- `test.csv`: {spec.test_rows} rows with the same columns except {targets}.",
             f"- `sample_submission.csv`: a valid submission ({sample_kind}) in the expected format.",
             "", "## Columns", "", "| column | type | role |", "|---|---|---|"]
    for column in train.columns:
        kind = "number" if pd.api.types.is_numeric_dtype(train[column]) and not pd.api.types.is_bool_dtype(
            train[column]) else "text"
        role = ("row id" if column == plan.id_column else "target" if column in plan.targets else "feature")
        lines.append(f"| `{column}` | {kind} | {role} |")
    lines += ["", "## Metric", "", f"`{spec.metric}`: {metric.description}; {direction}.",
              "", "## Submission format", "", _format_text(spec, plan), "", "Example:", "", "```csv"]
    header, rows = sample
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows[:3]])
    lines += [out.getvalue().rstrip("\n"), "```", ""]
    return "\n".join(lines)


def _format_text(spec: TaskSpec, plan: Plan) -> str:
    cols = ", ".join(f"`{c}`" for c in (plan.id_column, *plan.submission_columns))
    head = f"A CSV file with the columns {cols} and one row per id of `test.csv`. "
    t = plan.targets[0]
    if plan.kind == "binary_proba":
        return head + f"`{t}` holds the probability (0 to 1) that `{t}` is `{plan.positive[0]}`."
    if plan.kind == "multilabel_proba":
        parts = ", ".join(f"`{c}` is `{p}`" for c, p in zip(plan.targets, plan.positive))
        return head + f"Each target column holds a probability (0 to 1): that {parts}."
    if plan.kind == "multiclass_proba":
        return head + (f"Each class of `{t}` has a column holding its probability (0 to 1); "
                       "rows are renormalised to sum to 1.")
    if plan.kind == "label":
        return head + f"`{t}` holds the predicted label, one of: {list_text(plan.classes)}."
    if plan.kind == "ordinal":
        return head + f"`{t}` holds the predicted integer grade, one of: {list_text(plan.classes)}."
    if plan.kind == "ranking":
        k = spec.metric_params.get("k", 5)
        return head + (f"`{t}` holds up to {k} predicted labels separated by spaces, best first "
                       f"(labels: {list_text(plan.classes)}).")
    return head + "Each target column holds the predicted number."



def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "csv-task"


def _replace(obj, **changes):
    from dataclasses import replace

    return replace(obj, **changes)
