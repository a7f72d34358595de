"""The Data Strategist's plan and what it implies, as pure functions of the seed's DNA.

`plan_problems(dna, plan)` is every reason to reject a plan (`STRATEGY_SCHEMA`, then the
DNA's target count, classes, sizes and quirk ranges); `layout_for` gives the columns of the
files the plan implies (`Layout`); `strategist_notes` and `developer_notes` fill the roles'
prompts; `provisional_spec` is the task spec used to trial-score a script's files before
thresholds exist. `supports(dna)` says why a seed cannot be synthesised this way.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sandmle.synth.dna import Quirks, TaskDNA, stable_test_rows
from sandmle.synth.llm.leaks import HiddenRule
from sandmle.synth.llm.schema import STRATEGY_SCHEMA, schema_problems

SUPPORTED_MODALITIES = ("tabular", "text", "multimodal")
_QUIRKS = ("missing_rate", "outlier_rate", "label_noise", "imbalance", "distractors", "shift")


def supports(dna: TaskDNA) -> str | None:
    """Why this synthesis cannot take `dna` as a seed, or None (CSV-only data, row submissions)."""
    if dna.modality not in SUPPORTED_MODALITIES or dna.features.has_images or dna.features.has_audio:
        return f"seed {dna.id}: language-model synthesis writes CSV data only (tabular, text), not {dna.modality}"
    if dna.submission != "row":
        return f"seed {dna.id}: language-model synthesis needs one submission row per test id"
    return None



@dataclass(frozen=True)
class Layout:
    """The columns of the files a plan implies (the procedural engine's conventions)."""

    id_column: str
    feature_columns: tuple[str, ...]
    label_columns: tuple[str, ...]          # target columns of train.csv
    submission_columns: tuple[str, ...]     # columns of answers/oracle/sample after the id
    classes: tuple[str, ...]                # label domain, () for probabilities of 0/1 or values

    @property
    def train_columns(self) -> tuple[str, ...]:
        return (self.id_column, *self.feature_columns, *self.label_columns)

    @property
    def test_columns(self) -> tuple[str, ...]:
        return (self.id_column, *self.feature_columns)


def layout_for(dna: TaskDNA, plan: dict[str, Any]) -> Layout:
    kind = dna.metric_kind
    targets = tuple(t["name"] for t in plan["targets"])
    features = tuple(f["name"] for f in plan["features"])
    classes = tuple(plan["classes"])
    if dna.target_kind == "ordinal":
        classes = tuple(str(i) for i in range(dna.num_classes))
    if dna.target_kind in ("multiclass", "ranking") and kind in ("multiclass_proba", "multilabel_proba"):
        labels = classes if kind == "multilabel_proba" else targets
        return Layout(plan["id_column"], features, labels, classes, classes)
    if dna.target_kind == "multilabel":
        return Layout(plan["id_column"], features, targets, targets, targets)
    if dna.target_kind in ("multiclass", "ranking", "ordinal"):
        return Layout(plan["id_column"], features, targets, targets, classes)
    return Layout(plan["id_column"], features, targets, targets, ())


def num_targets(dna: TaskDNA) -> int:
    return dna.num_labels if dna.target_kind == "multilabel" else dna.num_targets


def strategist_notes(dna: TaskDNA) -> dict[str, str]:
    kind, n = dna.target_kind, num_targets(dna)
    target_note = {
        "binary": " (a yes/no outcome, 0 or 1)",
        "multiclass": f" (its values are the {dna.num_classes} classes)",
        "ranking": f" (its values are the {dna.num_classes} classes; submissions rank them)",
        "ordinal": f" (an integer grade 0..{dna.num_classes - 1})",
        "multilabel": " (one 0/1 column per label; the label names are the target names)",
        "regression": " (numeric)",
    }.get(kind, "")
    classes_note = (f"exactly {dna.num_classes} class names" if kind in ("multiclass", "ranking") else "[]")
    feature_note = {
        "text": "include at least one text column (free text of about "
                f"{max(dna.features.text_length_words, 8)} words) and optionally numeric/categorical columns",
        "multimodal": "include at least one text column and at least two numeric or categorical columns",
    }.get(dna.modality, f"about {max(3, dna.features.tabular_columns)} numeric, categorical or datetime columns, no text")
    rule_note = ("the target depends on which words or phrases occur in the text (name the word lists in the "
                 "formula), and on the other columns if any, with at least one interaction"
                 if dna.modality in ("text", "multimodal") else
                 "uses 2-6 of the features with at least one nonlinearity or interaction, so a one-feature or "
                 "linear model falls short")
    return {"num_targets": str(n), "targets_plural": "y" if n == 1 else "ies", "target_note": target_note,
            "classes_note": classes_note, "feature_note": feature_note, "rule_note": rule_note}


def _prior_note(dna: TaskDNA, what: str) -> str:
    if dna.metric in ("accuracy", "f1_micro"):
        return f"the most frequent training {what} in every row"
    return f"{what}s drawn at random with the training frequencies"


def developer_notes(dna: TaskDNA, layout: Layout) -> dict[str, str]:
    kind = dna.metric_kind
    classes = ", ".join(layout.classes)
    if kind == "binary_proba":
        return {"answers_note": "the true 0/1 test labels",
                "oracle_note": "the noise-free probability P(label = 1) under the rule, in [0, 1]",
                "sample_note": "the training positive rate in every row"}
    if kind == "multilabel_proba":
        return {"answers_note": "the true 0/1 value of each column per test row",
                "oracle_note": "the noise-free probability of each column under the rule, in [0, 1]",
                "sample_note": "each column's training positive rate in every row"}
    if kind == "multiclass_proba":
        return {"answers_note": f"one-hot 0/1 over the class columns ({classes}) marking the true class; "
                                f"train.csv's {layout.label_columns[0]} holds the class name",
                "oracle_note": "the noise-free class probabilities under the rule (each row sums to 1)",
                "sample_note": "the training class frequencies in every row"}
    if kind == "ranking":
        k = dna.metric_params.get("k", 5)
        return {"answers_note": f"the true class name (one of {classes})",
                "oracle_note": f"the {k} most probable class names under the noise-free rule, space-separated, best first",
                "sample_note": f"the {k} most frequent training classes, space-separated, in every row"}
    if kind == "ordinal":
        return {"answers_note": f"the true integer grade ({classes})",
                "oracle_note": "the noise-free expected grade under the rule, rounded to an integer",
                "sample_note": _prior_note(dna, "grade")}
    if kind == "label":
        return {"answers_note": f"the true label ({classes})",
                "oracle_note": "the most likely label under the noise-free rule",
                "sample_note": _prior_note(dna, "label")}
    sample = ("uniform random numbers in [0, 1] (a constant has no rank correlation)" if dna.metric == "spearman"
              else "the training median of each target column in every row")
    return {"answers_note": "the true numeric target values (with the rule's noise)",
            "oracle_note": "the noise-free target values under the rule", "sample_note": sample}



@dataclass(frozen=True)
class Strategy:
    plan: dict[str, Any]
    dna: TaskDNA                 # the seed's DNA re-targeted: domain, mutated quirks, fixed sizes
    layout: Layout
    rule: HiddenRule


def plan_problems(dna: TaskDNA, plan: Any) -> list[str]:
    """Every reason to reject a strategist's plan: the schema first, then the DNA's constraints."""
    problems = schema_problems(plan, STRATEGY_SCHEMA)
    if problems:
        return problems
    features = [f["name"] for f in plan["features"]]
    targets = [t["name"] for t in plan["targets"]]
    names = [plan["id_column"], *features, *targets]
    if len(set(n.lower() for n in names)) != len(names):
        problems.append(f"id, feature and target names must be distinct, got {names}")
    if len(targets) != num_targets(dna):
        problems.append(f"targets: need exactly {num_targets(dna)}, got {len(targets)}")
    if dna.target_kind in ("multiclass", "ranking"):
        classes = plan["classes"]
        if len(classes) != dna.num_classes or len(set(classes)) != len(classes):
            problems.append(f"classes: need {dna.num_classes} distinct names, got {classes}")
        clash = sorted(set(classes) & set(names))
        if clash:
            problems.append(f"classes must not reuse column names: {clash}")
    types = [f["type"] for f in plan["features"]]
    if dna.modality in ("text", "multimodal") and "text" not in types:
        problems.append(f"features: a {dna.modality} task needs a text column")
    if dna.modality == "tabular" and "text" in types:
        problems.append("features: a tabular task has no text columns")
    if dna.modality in ("tabular", "multimodal") and sum(t != "text" for t in types) < 2:
        problems.append("features: need at least two numeric, categorical or datetime columns")
    unknown = sorted(set(plan["hidden_rule"]["informative_features"]) - set(features))
    if unknown:
        problems.append(f"hidden_rule.informative_features names unknown features {unknown}")
    low, high = dna.sizes.train
    if not low <= plan["train_rows"] <= high:
        problems.append(f"train_rows: need {low}..{high}, got {plan['train_rows']}")
    low, high = stable_test_rows(dna)
    if not low <= plan["test_rows"] <= max(high, low):
        problems.append(f"test_rows: need {low}..{high}, got {plan['test_rows']}")
    try:
        mutated_quirks(dna, plan["mutations"])
    except ValueError as exc:
        problems.append(f"mutations: {exc}")
    return problems


def mutated_quirks(dna: TaskDNA, mutations: dict[str, Any]) -> Quirks:
    values = {k: mutations.get(k, getattr(dna.quirks, k)) for k in _QUIRKS}
    return dataclasses.replace(dna.quirks, **values)



def provisional_spec(strategy: Strategy, task_id: str, train_rows: int, test_rows: int):
    """A task spec from the DNA and the layout (thresholds not yet known), for trial scoring."""
    from sandmle.task import Lineage, TaskSpec, Thresholds

    dna, layout = strategy.dna, strategy.layout
    classes = layout.classes if dna.metric_kind in ("multiclass_proba", "label", "ordinal", "ranking") else ()
    return TaskSpec(id=task_id, title=strategy.plan["title"], modality=dna.modality, metric=dna.metric,
                    is_lower_better=dna.is_lower_better, id_column=layout.id_column,
                    target_columns=layout.submission_columns, thresholds=Thresholds(0.0, 0.0, 0.0, 0.0),
                    train_rows=train_rows, test_rows=test_rows, domain=dna.domain,
                    metric_params=dict(dna.metric_params), classes=classes,
                    lineage=Lineage(seed=dna.id, generator="llm", generator_version="", random_seed=0))

