"""Amplification: re-target a seed's DNA to a domain, mutate it, and fix micro sizes.

`amplify(seed, rng)` returns the amplified DNA (domain set, quirks mutated, sizes fixed to
one value each) and a `Blueprint`: the names, units and levels every column takes in the
chosen domain, the target's name and the submission columns. The paper's Data Strategist
role (REFERENCE §2) without a language model: domain vocabularies are data in
`sandmle.synth.domains`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sandmle.synth.dna import Quirks, Sizes, TaskDNA, stable_test_rows
from sandmle.synth.domains import (DOMAINS, GRAPH_VOCABULARY, SERIES_VOCABULARY, CategoricalColumn, Domain,
                                   NumericColumn, Target)


MAX_TEST_UNITS = 5000      # Sizes' cap on test units
MAX_SERIES = 200           # SeriesSchema's cap on series
MAX_HORIZON = 240          # Sizes' cap on forecast steps (a single series grows its horizon up to it)


@dataclass(frozen=True)
class Column:
    """One input column of train.csv/test.csv as the task shows it."""

    name: str
    kind: str                     # "numeric" | "categorical" | "datetime" | "text"
    unit: str = ""
    numeric: NumericColumn | None = None
    levels: tuple[str, ...] = ()
    distractor: bool = False      # private: unrelated to the target, never described as such


@dataclass(frozen=True)
class Blueprint:
    domain: Domain
    title: str
    id_column: str
    columns: tuple[Column, ...]           # tabular and text inputs, in file order
    target: Target
    target_columns: tuple[str, ...]       # submission columns after the id
    label_columns: tuple[str, ...]        # label columns of train.csv
    classes: tuple[str, ...]              # label domain (classes, grades, items, labels)
    group_column: str | None
    train_rows: int                       # in dna.sizes.unit
    test_rows: int
    series: int = 0                       # forecasting tasks: how many series


def _mutate(dna: TaskDNA, rng: np.random.Generator) -> Quirks:
    """The seed's quirks plus random adversarial mutations that fit its inputs."""
    q = dna.quirks
    has_columns = dna.features.numeric + dna.features.categorical > 0
    changes: dict = {}
    if dna.modality in ("time_series", "graph"):       # only the quirks these generators act on
        if rng.random() < 0.4:
            changes["distractors"] = min(20, q.distractors + int(rng.integers(1, 3)))
        if q.missing_rate == 0 and rng.random() < 0.3:
            changes["missing_rate"] = round(float(rng.uniform(0.01, 0.05)), 3)
        if dna.modality == "time_series" and q.outlier_rate == 0 and rng.random() < 0.3:
            changes["outlier_rate"] = round(float(rng.uniform(0.005, 0.02)), 3)
        if dna.modality == "graph" and q.label_noise == 0 and rng.random() < 0.3:
            changes["label_noise"] = round(float(rng.uniform(0.01, 0.04)), 3)
        return dataclasses.replace(q, **changes)
    if has_columns and dna.modality != "image_to_image":
        if q.missing_rate == 0 and rng.random() < 0.4:
            changes["missing_rate"] = round(float(rng.uniform(0.01, 0.06)), 3)
        if dna.features.numeric and q.outlier_rate == 0 and rng.random() < 0.3:
            changes["outlier_rate"] = round(float(rng.uniform(0.005, 0.02)), 3)
        if rng.random() < 0.5:
            changes["distractors"] = min(20, q.distractors + int(rng.integers(1, 3)))
        if q.shift == 0 and rng.random() < 0.2:
            changes["shift"] = round(float(rng.uniform(0.2, 0.5)), 2)
    if dna.target_kind not in ("sequence",) and dna.modality != "image_to_image" and q.label_noise == 0 and rng.random() < 0.3:
        changes["label_noise"] = round(float(rng.uniform(0.01, 0.04)), 3)
    return dataclasses.replace(q, **changes)


def _columns(dna: TaskDNA, domain: Domain, quirks: Quirks, rng: np.random.Generator) -> list[Column]:
    f = dna.features
    numeric_pool = list(domain.numeric)
    order = rng.permutation(len(numeric_pool))
    wanted = f.numeric + quirks.distractors
    chosen = [numeric_pool[i] for i in order[:wanted]]
    for i in range(len(chosen), wanted):       # more columns than the vocabulary: numbered measures
        base = numeric_pool[order[i % len(numeric_pool)]]
        chosen.append(dataclasses.replace(base, name=f"{base.name}_{i // len(numeric_pool) + 2}"))
    columns = [Column(c.name, "numeric", c.unit, numeric=c, distractor=i >= f.numeric) for i, c in enumerate(chosen)]
    cats = [domain.categorical[i] for i in rng.permutation(len(domain.categorical))]
    for i in range(f.categorical):
        cat: CategoricalColumn = cats[i % len(cats)]
        k = int(min(len(cat.levels), max(2, f.max_cardinality if i == 0 else rng.integers(2, f.max_cardinality + 1))))
        name = cat.name if i < len(cats) else f"{cat.name}_{i // len(cats) + 2}"
        columns.append(Column(name, "categorical", levels=cat.levels[:k]))
    for i in range(f.datetime):
        base = domain.datetime_columns[i % len(domain.datetime_columns)]
        columns.append(Column(base if i == 0 else f"{base}_{i + 1}", "datetime"))
    for i in range(f.text):
        columns.append(Column(domain.text_column if i == 0 else f"{domain.text_column}_{i + 1}", "text"))
    # Shuffle the tabular columns so position says nothing; text stays last, as on Kaggle.
    tab = [c for c in columns if c.kind != "text"]
    tab = [tab[i] for i in rng.permutation(len(tab))]
    return tab + [c for c in columns if c.kind == "text"]


def _target(dna: TaskDNA, domain: Domain, rng: np.random.Generator) -> tuple[Target, tuple, tuple, tuple]:
    """(target, submission columns, train label columns, classes)."""
    kind, metric_kind = dna.target_kind, dna.metric_kind
    if dna.modality == "time_series":
        t = SERIES_VOCABULARY[domain.name].target
        return t, (t.name,), (t.name,), ()
    if dna.modality == "graph" and dna.graph.task == "link":
        vocab = GRAPH_VOCABULARY[domain.name]
        if metric_kind == "ranking":
            t = Target("linked", f"which {vocab.node}s each {vocab.node} {vocab.relation}, beyond the known edges")
        else:
            t = Target("linked", f"whether one {vocab.node} {vocab.relation} another")
        return t, (t.name,), (t.name,), ()
    if kind == "binary":
        t = domain.binary_targets[int(rng.integers(len(domain.binary_targets)))]
        return t, (t.name,), (t.name,), ()
    if kind in ("multiclass", "ranking"):
        t = domain.class_targets[0]
        names = tuple(domain.class_names[i] for i in sorted(rng.permutation(len(domain.class_names))[:dna.num_classes]))
        if metric_kind in ("multiclass_proba", "multilabel_proba"):
            train_cols = names if metric_kind == "multilabel_proba" else (t.name,)
            return t, names, train_cols, names
        return t, (t.name,), (t.name,), names
    if kind == "ordinal":
        t = domain.class_targets[1]
        return t, (t.name,), (t.name,), tuple(str(i) for i in range(dna.num_classes))
    if kind == "multilabel":
        names = tuple(domain.label_names[i] for i in sorted(rng.permutation(len(domain.label_names))[:dna.num_labels]))
        t = Target("labels", "which of several conditions apply")
        return t, names, names, names
    if kind == "regression":
        if dna.modality == "image_to_image":
            t = Target("value", "the clean pixel intensity", "intensity in [0, 1]")
            return t, ("value",), ("value",), ()
        pool = [domain.regression_targets[i] for i in rng.permutation(len(domain.regression_targets))]
        targets = pool[:dna.num_targets]
        names = tuple(t.name for t in targets)
        return targets[0], names, names, ()
    t = Target("after", "the normalised, spoken form of each token")
    return t, ("after",), ("after",), ()


def amplify(seed: TaskDNA, rng: np.random.Generator, domain: str | None = None,
            test_scale: float = 1.0) -> tuple[TaskDNA, Blueprint]:
    """Amplified DNA and its blueprint; `domain` forces a domain (else drawn). `test_scale`
    multiplies the test size drawn (series for forecasting tasks), within the DNA's limits
    (`sandmle.synth.design`); it draws nothing, so the rest of the task stays as drawn."""
    names = sorted(DOMAINS)
    if domain is None:
        domain = names[int(rng.integers(len(names)))]
    elif domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r} (known: {', '.join(names)})")
    dom = DOMAINS[domain]
    quirks = _mutate(seed, rng)
    train = int(rng.integers(seed.sizes.train[0], seed.sizes.train[1] + 1))
    low, high = stable_test_rows(dataclasses.replace(seed, quirks=quirks))
    test = int(rng.integers(low, high + 1))
    series = 0
    if seed.modality == "time_series":
        lo, hi = seed.series.series
        series = int(rng.integers(lo, hi + 1))
        if hi > 1:          # more series; one series keeps one and looks further ahead instead
            series = min(MAX_SERIES, max(1, round(series * test_scale)))
        else:
            test = min(MAX_HORIZON, max(1, round(test * test_scale)))
    elif test_scale != 1.0:
        test = min(MAX_TEST_UNITS, max(test, round(test * test_scale)))
    dna = dataclasses.replace(seed, domain=domain, quirks=quirks,
                              sizes=Sizes(train=(train, train), test=(test, test), unit=seed.sizes.unit))
    if series:
        dna = dataclasses.replace(dna, series=dataclasses.replace(seed.series, series=(series, series)))
    columns = _columns(dna, dom, quirks, rng)
    target, target_columns, label_columns, classes = _target(dna, dom, rng)
    id_column = "id" if dna.submission == "long" or dna.modality == "time_series" else dom.id_column
    if dna.modality == "graph":
        id_column = "pair_id" if dna.sizes.unit == "pair" else GRAPH_VOCABULARY[domain].node_column
    verb = "forecast" if dna.modality == "time_series" else "predict"
    title = f"{dom.title}: {verb} {target.description}"
    return dna, Blueprint(
        domain=dom, title=title, id_column=id_column, columns=tuple(columns), target=target,
        target_columns=target_columns, label_columns=label_columns, classes=classes,
        group_column=dom.group_column if quirks.grouped else None, train_rows=train, test_rows=test, series=series)
