"""The Technical Writer: description.md in the domain's narrative (REFERENCE §2, role 4).

A description has an overview, the files and every column with its unit, the metric with
its direction, and the submission format with the first rows of the sample submission. It
says nothing about the hidden rule: no formula, no weights, and no hint which columns
matter (every column is listed alike, distractors included).
"""
from __future__ import annotations

from sandmle.metrics.registry import METRICS
from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.generators import GeneratedData

METRIC_NAMES = {
    "auc": "area under the ROC curve (AUC)",
    "mean_column_auc": "mean column-wise area under the ROC curve",
    "log_loss": "binary log loss",
    "multiclass_log_loss": "multi-class log loss",
    "rmse": "root mean squared error (RMSE)",
    "rmsle": "root mean squared logarithmic error (RMSLE)",
    "mean_column_rmsle": "mean column-wise RMSLE",
    "mae": "mean absolute error (MAE)",
    "accuracy": "accuracy",
    "f1_macro": "macro-averaged F1",
    "f1_micro": "micro-averaged F1",
    "qwk": "quadratic weighted kappa",
    "map_at_k": "mean average precision at k (MAP@k)",
    "mcc": "Matthews correlation coefficient (MCC)",
    "spearman": "Spearman rank correlation",
    "r2": "coefficient of determination (R²)",
    "mape": "mean absolute percentage error (MAPE, as a fraction)",
    "smape": "symmetric mean absolute percentage error (SMAPE, in percent)",
}


def _submission_text(dna: TaskDNA, bp: Blueprint) -> str:
    kind = dna.metric_kind
    idc = bp.id_column
    if dna.modality == "image_to_image":
        return ("One row per pixel of every test image: `id` is `<image>_<row>_<col>` (rows and columns "
                "counted from 1) and `value` the cleaned intensity in [0, 1].")
    if dna.target_kind == "sequence":
        return ("One row per token of test.csv: `id` is `<sentence_id>_<token_id>` and `after` the token's "
                "normalised, spoken form.")
    cols = ", ".join(f"`{c}`" for c in bp.target_columns)
    if kind == "binary_proba":
        positive = bp.classes[1] if len(bp.classes) == 2 else "1"     # twins keep the source's spelling
        return f"One row per `{idc}` of test.csv with {cols}: the probability (0 to 1) that the answer is {positive}."
    if kind == "multiclass_proba":
        return (f"One row per `{idc}` of test.csv with one column per class ({cols}) holding that class's "
                "probability.")
    if kind == "multilabel_proba":
        return f"One row per `{idc}` of test.csv with one probability (0 to 1) per column: {cols}."
    if kind == "ranking":
        k = dna.metric_params.get("k", 5)
        return (f"One row per `{idc}` of test.csv with {cols}: up to {k} predicted labels separated by spaces, "
                "most likely first.")
    if kind == "ordinal":
        return f"One row per `{idc}` of test.csv with {cols}: an integer grade from {bp.classes[0]} to {bp.classes[-1]}."
    if kind == "label":
        domain = ", ".join(bp.classes) if bp.classes else "0, 1"
        return f"One row per `{idc}` of test.csv with {cols}: one label ({domain})."
    return f"One row per `{idc}` of test.csv with {cols}: a number."


def _example(table: dict[str, list[str]], rows: int = 5) -> str:
    names = list(table)
    lines = [",".join(names)]
    for i in range(min(rows, len(table[names[0]]))):
        lines.append(",".join(table[n][i] for n in names))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "/")


def describe(dna: TaskDNA, bp: Blueprint, data: GeneratedData, grader: dict | None = None) -> str:
    """description.md for a generated task; `grader` is its grader block, whose rules it states."""
    dom = bp.domain
    metric = METRICS[dna.metric]
    direction = "lower is better" if metric.is_lower_better else "higher is better"
    n_train = len(next(iter(data.train.values())))
    n_test = len(next(iter(data.test.values())))
    out = [f"# {bp.title}", "", "## Overview", ""]
    if data.overview:
        out.append(data.overview)
    elif dna.modality == "image_to_image":
        out.append(f"{dom.organisation.capitalize()} digitises its paper records, and the scans picked up stains, "
                   "speckle and fading. Learn from the noisy/clean pairs in train/ and train_cleaned/ to restore "
                   "the pages in test/.")
    elif dna.target_kind == "sequence":
        lang = "Russian" if dna.language == "ru" else "English"
        out.append(f"{dom.organisation.capitalize()} needs written {lang} text turned into its spoken form for a "
                   "speech system: numbers, dates, times, amounts, measures and abbreviations become words, "
                   "punctuation stays as it is. Each row is one token of a sentence.")
    else:
        out.append(f"{dom.organisation.capitalize()} keeps records of each {dom.entity}. Predict "
                   f"{bp.target.description} for every {dom.entity} in test.csv, learning from the "
                   f"{n_train} labelled {dom.entity}s in train.csv.")
        if dna.features.has_images:
            out[-1] += f" Each {dom.entity} comes with a {dom.image_subject} in images/."
        if dna.features.has_audio:
            out[-1] += f" Each {dom.entity} comes with a {dom.audio_subject} in audio/."
        if dna.features.text:
            out[-1] += f" The {dom.text_source} are free text."
    out += ["", "## Files", ""]
    out.append(f"- `train.csv`: {n_train} rows with the columns below and the answer column(s).")
    out.append(f"- `test.csv`: {n_test} rows with the same columns, without the answer column(s).")
    for note in data.notes:
        out.append(f"- {note}")
    for doc in data.docs:
        if "/" in doc.name:
            out.append(f"- `{doc.name}`: {doc.meaning}.")
    out.append("- `sample_submission.csv`: a valid submission in the required format.")
    out += ["", "## Columns", "", "| column | meaning | unit |", "|---|---|---|"]
    if bp.id_column in data.test:
        out.append(f"| `{bp.id_column}` | row identifier | |")
    for doc in (d for d in data.docs if "/" not in d.name):
        out.append(f"| `{doc.name}` | {_cell(doc.meaning)} | {_cell(doc.unit)} |")
    for doc in data.label_docs:
        out.append(f"| `{doc.name}` | {_cell(doc.meaning)} (train.csv only) | {_cell(doc.unit)} |")
    params = ""
    if dna.metric_params:
        params = " with " + ", ".join(f"{k}={v}" for k, v in sorted(dna.metric_params.items()))
    out += ["", "## Evaluation", "",
            f"Submissions are scored with {METRIC_NAMES.get(dna.metric, dna.metric)}{params}; {direction}."]
    out += ["", "## Submission format", "", data.submission_text or _submission_text(dna, bp), "", "```", _example(data.sample), "```", ""]
    rules = _rules(dna, bp, grader)
    if rules:
        out += ["A submission must also meet these conditions, or it is invalid:", ""] + [f"- {r}" for r in rules] + [""]
    return "\n".join(out)


def _rules(dna: TaskDNA, bp: Blueprint, grader: dict | None) -> list[str]:
    """The grading rules of the task's `grader` block, as the description states them."""
    from types import SimpleNamespace

    from sandmle.grading.profile import GraderProfile, describe_rules

    spec = SimpleNamespace(metric=dna.metric, id_column=bp.id_column, target_columns=tuple(bp.target_columns))
    return describe_rules(GraderProfile.from_json(grader or {}), spec)
