"""Prompts of the four synthesis roles (REFERENCE §2), as plain templates and builders.

Each builder returns the OpenAI-style messages of one request; everything a role sees is
here, so `PROMPTS_SHA256` (a hash of every template) identifies the prompt version a task
was made with (stored in `lineage.extra`). The Technical Writer never sees the hidden rule:
what it cannot read it cannot leak, and its answer is still checked (`sandmle.synth.llm.leaks`).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sandmle.metrics.registry import METRICS

# REFERENCE §1: the paper's domain mix (healthcare 25%, retail 18%, manufacturing 14%, IT 13%, others).
DOMAIN_HINTS = ("healthcare", "retail", "manufacturing", "IT operations", "healthcare", "energy",
                "agriculture", "logistics", "retail", "finance", "education", "telecommunications")

STRATEGIST_SYSTEM = """\
You are the Data Strategist of a pipeline that builds synthetic micro-scale machine-learning \
competitions for training ML-engineering agents. From a seed task's DNA (its structure, stripped \
of meaning) you design a new task with the same structure in a new domain: a narrative, \
adversarial mutations of the data, and a hidden rule `target = f(features) + noise` that a \
good model can learn from 50-200 training rows but a naive one cannot.
Answer with one JSON object and nothing else. Keys:
- domain: a short domain name; title: the competition title; entity: what one row is
- id_column: name of the id column
- train_rows, test_rows: integers in the ranges given
- features: list of {name, type, description}; type is numeric, categorical, text or datetime; \
names are snake_case identifiers; descriptions say what the column measures, never how it relates to the target
- targets: list of {name, description}: the target column(s), count as required below
- classes: list of class names (snake_case) when required below, else []
- mutations: adversarial data properties {missing_rate, outlier_rate, label_noise, imbalance, distractors, shift}
- hidden_rule: {description: one or two sentences, formula: the exact rule with coefficients \
using feature names, informative_features: names of the features the rule uses, noise: how noise enters}"""

STRATEGIST_USER = """\
Seed task DNA:
```json
{dna}
```
Requirements for the new task:
- modality {modality}, target kind {target_kind}, metric {metric} ({metric_description}, {direction})
- train_rows between {train_low} and {train_high}; test_rows between {test_low} and {test_high}
- targets: exactly {num_targets} entr{targets_plural}{target_note}
- classes: {classes_note}
- features: {feature_note}
- mutations: missing_rate <= 0.5, outlier_rate <= 0.2, label_noise <= 0.3, imbalance <= 0.9, \
distractors 0..20 (extra columns unrelated to the target), shift <= 2.0 (test covariate shift in \
standard deviations); the seed's values: {quirks}
- hidden_rule: {rule_note}; a constant model must score clearly worse than one that learns the rule
Domain suggestion: {domain_hint} (choose another if it fits the structure badly).
Variation number: {random_seed}."""

DEVELOPER_SYSTEM = """\
You are the ML Developer of a pipeline that builds synthetic machine-learning competitions. You \
write one self-contained Python 3 script that generates a task's data with its hidden rule. Rules:
- import only the standard library, numpy, pandas and scipy; no network, no reading input files
- deterministic: draw every random number from numpy.random.default_rng(SEED) with the SEED given
- write exactly these files into the current working directory, with pandas `to_csv(..., index=False)`:
  train.csv, test.csv, answers.csv, oracle.csv, sample_submission.csv
- numeric columns as numbers, categorical columns as short labels, datetime columns as ISO \
dates (YYYY-MM-DD), text columns as words separated by spaces; missing cells left empty
- ids are unique strings; test ids differ from train ids; answers.csv, oracle.csv and \
sample_submission.csv list the test ids in the order of test.csv
- finish within a few seconds; print a one-line summary at the end
Answer with the complete script in one ```python code block."""

DEVELOPER_USER = """\
Task plan (from the Data Strategist):
```json
{plan}
```
SEED = {random_seed}

Files to write:
- train.csv: columns {train_columns} ({train_rows} rows)
- test.csv: columns {test_columns} ({test_rows} rows; no target columns)
- answers.csv: columns {submission_columns}: {answers_note}
- oracle.csv: same columns: {oracle_note}
- sample_submission.csv: same columns: {sample_note}
Apply the mutations to the feature columns of train and test (missing cells empty, outliers, \
distractor columns named like real measurements, covariate shift in test) and the label noise to \
the training targets only. answers.csv holds the true test targets drawn with the rule's noise."""

DEVELOPER_REPAIR = """\
The script did not produce a valid task.
{failure}
Fix it and answer with the complete corrected script in one ```python code block."""

MLOPS_SYSTEM = """\
You are the MLOps Engineer of a pipeline that builds synthetic machine-learning competitions. You \
choose the grader configuration for a task from the metric registry below. Answer with one JSON \
object and nothing else: {"metric": name from the registry, "id_column": ..., "target_columns": \
[submission columns after the id, in file order], "classes": [label domain, or []], "metric_params": {}}.
Metric registry (name | direction | submission kind | definition):
{registry}"""

MLOPS_USER = """\
Task: {title} ({domain}). Target kind {target_kind}; the seed's metric is {metric} (kind {kind}). \
Keep a metric of kind {kind} so the submission layout stays the same.
answers.csv columns: {answer_columns}
First rows of answers.csv:
{answer_head}
Distinct answer values per target column (up to 12): {answer_values}
sample_submission.csv columns: {sample_columns}
{params_note}"""

WRITER_SYSTEM = """\
You are the Technical Writer of a pipeline that builds synthetic machine-learning competitions. \
You write the competition's description.md in Markdown for the participants: an overview in the \
domain's narrative, the data files and their columns, the evaluation metric, and the submission \
format. Never reveal how the target was generated: no formulas, no coefficients, no claims about \
which columns drive, determine or predict the target, no test ids and no answers. Answer with the \
Markdown document only."""

WRITER_USER = """\
Title: {title}
Domain: {domain}; one row is {entity}.
Target: {targets}
Columns of train.csv ({train_rows} rows) and test.csv ({test_rows} rows, no target):
{columns}
Evaluation: {metric} -- {metric_description} ({direction}).
Submission: a CSV with header `{submission_header}` and one row per test id, like sample_submission.csv:
```
{sample_head}
```"""

WRITER_REPAIR = """\
The description was rejected: {reason}
Rewrite the whole description.md without it, and answer with the Markdown document only."""

RETRY = """\
Your answer was rejected:
{reasons}
Answer again with the corrected JSON object only."""

TEMPLATES = (STRATEGIST_SYSTEM, STRATEGIST_USER, DEVELOPER_SYSTEM, DEVELOPER_USER, DEVELOPER_REPAIR,
             MLOPS_SYSTEM, MLOPS_USER, WRITER_SYSTEM, WRITER_USER, WRITER_REPAIR, RETRY)
PROMPTS_SHA256 = hashlib.sha256("\x00".join(TEMPLATES).encode()).hexdigest()
ROLES = ("strategist", "developer", "mlops", "writer")


def _direction(metric: str) -> str:
    return "lower is better" if METRICS[metric].is_lower_better else "higher is better"


def registry_table() -> str:
    return "\n".join(f"- {m.name} | {_direction(m.name)} | {m.kind} | {m.description}" for m in METRICS.values())


def system_prompt(role: str) -> str:
    """A role's system prompt, as sent."""
    return {"strategist": STRATEGIST_SYSTEM, "developer": DEVELOPER_SYSTEM, "writer": WRITER_SYSTEM,
            "mlops": MLOPS_SYSTEM.replace("{registry}", registry_table())}[role]


def _msgs(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def strategist_messages(dna, random_seed: int, test_rows: tuple[int, int], layout_notes: dict[str, str]) -> list[dict[str, str]]:
    """The Data Strategist's request: the seed's DNA (its domain-free structure) and the constraints."""
    public = {k: v for k, v in dna.to_json().items() if k not in ("title", "source", "notes", "domain", "suite", "data_model")}
    user = STRATEGIST_USER.format(
        dna=json.dumps(public, indent=2), modality=dna.modality, target_kind=dna.target_kind,
        metric=dna.metric, metric_description=METRICS[dna.metric].description, direction=_direction(dna.metric),
        train_low=dna.sizes.train[0], train_high=dna.sizes.train[1], test_low=test_rows[0], test_high=test_rows[1], quirks=json.dumps(_quirk_floor(dna)),
        domain_hint=DOMAIN_HINTS[random_seed % len(DOMAIN_HINTS)], random_seed=random_seed, **layout_notes)
    return _msgs(STRATEGIST_SYSTEM, user)


def _quirk_floor(dna) -> dict[str, Any]:
    q = dna.quirks
    return {"missing_rate": q.missing_rate, "outlier_rate": q.outlier_rate, "label_noise": q.label_noise,
            "imbalance": q.imbalance, "distractors": q.distractors, "shift": q.shift}


def developer_messages(plan: dict[str, Any], random_seed: int, layout, notes: dict[str, str]) -> list[dict[str, str]]:
    user = DEVELOPER_USER.format(
        plan=json.dumps(plan, indent=2), random_seed=random_seed,
        train_columns=", ".join(layout.train_columns), train_rows=plan["train_rows"],
        test_columns=", ".join(layout.test_columns), test_rows=plan["test_rows"],
        submission_columns=", ".join(layout.submission_columns), **notes)
    return _msgs(DEVELOPER_SYSTEM, user)


def developer_repair(failure: str) -> dict[str, str]:
    return {"role": "user", "content": DEVELOPER_REPAIR.format(failure=failure)}


def mlops_messages(plan: dict[str, Any], dna, answer_columns: list[str], answer_head: str,
                   answer_values: dict[str, list[str]], sample_columns: list[str]) -> list[dict[str, str]]:
    kind = METRICS[dna.metric].kind
    params_note = (f"The seed's metric_params: {json.dumps(dna.metric_params)} (MAP@K needs an integer k "
                   f"below the number of classes)." if kind == "ranking" else "metric_params: {} for this kind.")
    user = MLOPS_USER.format(title=plan["title"], domain=plan["domain"], target_kind=dna.target_kind,
                             metric=dna.metric, kind=kind, answer_columns=", ".join(answer_columns),
                             answer_head=answer_head, answer_values=json.dumps(answer_values),
                             sample_columns=", ".join(sample_columns), params_note=params_note)
    return _msgs(system_prompt("mlops"), user)


def writer_messages(plan: dict[str, Any], metric: str, submission_columns: list[str], sample_head: str,
                    train_rows: int, test_rows: int) -> list[dict[str, str]]:
    """The Technical Writer's request: the public facts of the task, never the hidden rule."""
    columns = "\n".join([f"- {plan['id_column']}: unique row id"] +
                        [f"- {f['name']} ({f['type']}): {f['description']}" for f in plan["features"]])
    targets = "; ".join(f"{t['name']}: {t['description']}" for t in plan["targets"])
    user = WRITER_USER.format(title=plan["title"], domain=plan["domain"], entity=plan["entity"], targets=targets,
                              train_rows=train_rows, test_rows=test_rows, columns=columns, metric=metric,
                              metric_description=METRICS[metric].description, direction=_direction(metric),
                              submission_header=",".join(submission_columns), sample_head=sample_head)
    return _msgs(WRITER_SYSTEM, user)


def writer_repair(reason: str) -> dict[str, str]:
    return {"role": "user", "content": WRITER_REPAIR.format(reason=reason)}


def retry_message(reasons: list[str]) -> dict[str, str]:
    return {"role": "user", "content": RETRY.format(reasons="\n".join(f"- {r}" for r in reasons[:12]))}
