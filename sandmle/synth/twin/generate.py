"""A twin: the data of a task from a data-conditioned seed (`generate_twin`).

The amplified DNA and blueprint (`sandmle.synth.amplify`) choose the domain, the sizes, the
target's name and the mutations; the seed's `DataModel` supplies the rows and their labels:

1. rows from the copula (`sample_cells`), the covariate-shift mutation moving some columns'
   normal scores on test rows;
2. labels from the teacher with its calibrated noise (`draw_labels`), at the real class
   shares; the noise-free teacher output is the oracle;
3. re-targeting: each column takes a name, unit and scale of the domain, in the source's
   column order. Continuous columns are rescaled (by a factor where the source is
   non-negative, else to the domain's mean and spread), discrete numbers (flags, counts
   with few values) keep their values, categorical levels take the domain's level names in
   frequency order; the structure (marginal shape, dependence, joint gaps, label relation)
   is unchanged;
4. the other mutations on top, on what the agent sees: distractor columns (drawn from a
   real column's marginal, independent of everything), extra empty cells, gross outliers and
   training-label noise. `mutations(seed, dna)` lists what was applied; it goes to the lineage.
"""
from __future__ import annotations

import numpy as np

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.generators import GeneratedData
from sandmle.synth.generators.common import ColumnDoc, fmt, fmt_proba, fmt_simplex, fmt_value, ids_for
from sandmle.synth.generators.rules import _ensure_present, _prior_labels
from sandmle.synth.generators.tabular import humanise
from sandmle.synth.twin.model import ColumnModel, DataModel, encode
from sandmle.synth.twin.sample import column_values, draw_labels, matched_grades, sample_cells

GENERIC_BINARY = {"0", "1", "no", "yes", "n", "y", "false", "true", "neg", "pos", "negative", "positive"}
MUTATED = ("missing_rate", "outlier_rate", "label_noise", "distractors", "shift")


def mutations(seed: TaskDNA, dna: TaskDNA) -> dict[str, float]:
    """Quirks amplification added on top of the seed's measured ones."""
    return {name: getattr(dna.quirks, name) for name in MUTATED
            if getattr(dna.quirks, name) != getattr(seed.quirks, name)}


def twin_classes(model: DataModel, dna: TaskDNA, bp: Blueprint) -> tuple[str, ...]:
    """Label names of the twin: generic binary spellings ("No"/"Yes") and ordinal grades as in
    the source; class names from the domain otherwise."""
    head = model.head
    if head.kind == "binary":
        generic = {c.lower() for c in head.classes} <= GENERIC_BINARY
        return head.classes if generic else ("0", "1")
    if head.kind == "ordinal":
        return head.classes
    return tuple(bp.classes)


def generate_twin(seed: TaskDNA, dna: TaskDNA, bp: Blueprint, rng: np.random.Generator) -> GeneratedData:
    model = DataModel.from_json(seed.data_model)
    applied = mutations(seed, dna)
    n_train, n_test = bp.train_rows, bp.test_rows
    n = n_train + n_test
    is_test = np.zeros(n, dtype=bool)
    is_test[n_train:] = True
    continuous = [j for j, c in enumerate(model.columns) if c.kind == "numeric" and not c.is_discrete]
    shift = {}
    if applied.get("shift"):
        for j in continuous:
            if rng.random() < 0.6:
                shift[j] = float(applied["shift"] * rng.choice([-1.0, 1.0]))
    cells = sample_cells(model, n, rng, shift=shift, shift_rows=is_test)
    raw = model.head.teacher.raw(encode(model.columns, cells))
    labels = draw_labels(model.head, raw, rng)
    names = _retarget(model, dna, bp, rng)
    visible, docs = {}, []
    for (col, values), (name, unit, scale) in zip(zip(model.columns, cells), names):
        visible[name], doc = _cells(col, values, name, unit, scale)
        docs.append(doc)
    distractors = [c for c in bp.columns if c.distractor]
    for col in distractors:
        source = model.columns[int(rng.choice(continuous))] if continuous else None
        values = (column_values(source, rng.random(n)) if source is not None
                  else np.round(col.numeric.mean + col.numeric.sd * rng.standard_normal(n), col.numeric.decimals))
        scale = _scale(source, col.numeric) if source is not None else (0.0, 1.0, col.numeric.decimals)
        visible[col.name], doc = _cells(source or ColumnModel(col.name, "numeric", values=(0.0,), probs=(1.0,)),
                                        values, col.name, col.unit, scale)
        docs.append(doc)
    order = list(visible)
    for col in distractors:            # distractors sit anywhere among the columns
        order.remove(col.name)
        order.insert(int(rng.integers(0, len(order) + 1)), col.name)
    _mutate_visible(visible, model, names, applied, rng)
    ids = ids_for("", 1, n)
    classes = twin_classes(model, dna, bp)
    tables = _targets(model, dna, bp, classes, labels, is_test, applied.get("label_noise", 0.0), rng)
    train = {bp.id_column: ids[:n_train], **{c: visible[c][:n_train] for c in order}, **tables["train"]}
    test = {bp.id_column: ids[n_train:], **{c: visible[c][n_train:] for c in order}}
    head = model.head
    rule = (f"Twin of a real table ({model.source_rows} rows): Gaussian-copula rows over {len(model.columns)} "
            f"columns ({', '.join(f'{c.name} -> {name}' for c, (name, _, _) in zip(model.columns, names))}), "
            f"labelled by a {head.teacher.kind} teacher fitted on the real rows "
            + (f"at temperature {head.temperature:.3g}" if head.kind in ("binary", "multiclass")
               else f"with noise scale {head.noise_scale:.3g}")
            + f"; real shares {list(head.shares)}.\n\nMutations on top of the measured structure: "
            + (", ".join(f"{k} {v}" for k, v in applied.items()) or "none") + "\n")
    return GeneratedData(
        train=train, test=test, answers={bp.id_column: ids[n_train:], **tables["answers"]},
        oracle={bp.id_column: ids[n_train:], **tables["oracle"]},
        sample={bp.id_column: ids[n_train:], **tables["sample"]}, files={}, docs=[docs[list(visible).index(c)]
                                                                                 for c in order],
        label_docs=tables["docs"], rule_text=rule, train_ids=tuple(ids[:n_train]), test_ids=tuple(ids[n_train:]))


# ---- re-targeting ----------------------------------------------------------------------------

def _scale(col: ColumnModel, spec) -> tuple[float, float, int]:
    """(offset, factor, decimals) taking a continuous column to the domain column's scale."""
    q = np.asarray(col.quantiles, dtype=float)
    if q[0] >= 0:
        typical = float(np.median(q)) or float(q.mean()) or 1.0
        factor = spec.mean / typical if typical > 0 else 1.0
        offset = 0.0
    else:
        factor = spec.sd / (col.sd or 1.0)
        offset = spec.mean - factor * col.mean
    spread = (q[-8] - q[7]) * factor         # the middle ~80% of the scaled values
    decimals = spec.decimals
    while decimals < 6 and spread < 50 * 10.0 ** -decimals:
        decimals += 1
    return offset, factor, decimals


def _retarget(model: DataModel, dna: TaskDNA, bp: Blueprint, rng) -> list[tuple[str, str, object]]:
    """Per source column: (name, unit, scale): scale is (offset, factor, decimals) for
    continuous numbers, a level map for categories, None where values are kept."""
    numeric = [c for c in bp.columns if c.kind == "numeric" and not c.distractor]
    categorical = list(bp.domain.categorical)
    categorical = [categorical[i] for i in rng.permutation(len(categorical))]
    dates = list(bp.domain.datetime_columns)
    used: set[str] = set()
    out = []
    k_num = k_cat = k_date = 0
    for col in model.columns:
        if col.kind == "numeric":
            spec = numeric[k_num % len(numeric)] if numeric else None
            name = spec.name if spec is not None else f"measure_{k_num + 1}"
            k_num += 1
            scale = _scale(col, spec.numeric) if spec is not None and not col.is_discrete else None
            out.append((_unique(name, used), spec.unit if spec is not None and scale is not None else "", scale))
        elif col.kind == "categorical":
            dom = categorical[k_cat % len(categorical)]
            k_cat += 1
            levels = list(dom.levels) + [f"{dom.name}_{i}" for i in range(len(dom.levels) + 1, len(col.values) + 1)]
            out.append((_unique(dom.name, used), "", dict(zip(col.values, levels))))
        else:
            base = dates[k_date % len(dates)]
            k_date += 1
            out.append((_unique(base, used), "", None))
    return out


def _unique(name: str, used: set[str]) -> str:
    candidate, k = name, 2
    while candidate in used:
        candidate, k = f"{name}_{k}", k + 1
    used.add(candidate)
    return candidate


def _cells(col: ColumnModel, values, name: str, unit: str, scale) -> tuple[list[str], ColumnDoc]:
    import datetime as dt

    if col.kind == "categorical":
        cells = ["" if v is None else scale[v] for v in values]
        return cells, ColumnDoc(name, f"{humanise(name)} (one of: {', '.join(scale[v] for v in col.values)})")
    values = np.asarray(values, dtype=float)
    if col.kind == "datetime":
        layout = "%Y-%m-%d %H:%M:%S" if col.decimals else "%Y-%m-%d"
        epoch = dt.datetime(1970, 1, 1)
        cells = ["" if v != v else (epoch + dt.timedelta(seconds=float(v))).strftime(layout) for v in values.tolist()]
        return cells, ColumnDoc(name, f"{humanise(name)} {'timestamp' if col.decimals else 'date'}",
                                "YYYY-MM-DD HH:MM:SS" if col.decimals else "YYYY-MM-DD")
    if isinstance(scale, tuple):
        offset, factor, decimals = scale
        return fmt(np.round(offset + factor * values, decimals), decimals), ColumnDoc(name, humanise(name), unit)
    return fmt(values, col.decimals), ColumnDoc(name, humanise(name), unit)


def _mutate_visible(visible: dict[str, list[str]], model: DataModel, names, applied: dict, rng) -> None:
    """Extra empty cells and gross outliers on the visible numeric columns (in place)."""
    continuous = [name for col, (name, _, scale) in zip(model.columns, names)
                  if col.kind == "numeric" and isinstance(scale, tuple)]
    rate = applied.get("outlier_rate", 0.0)
    for name in continuous if rate else ():
        cells = visible[name]
        numbers = np.array([float(c) if c else np.nan for c in cells])
        finite = numbers[np.isfinite(numbers)]
        if len(finite) < 10:
            continue
        med, spread = float(np.median(finite)), float(np.std(finite)) or 1.0
        decimals = max((len(c.split(".")[1]) for c in cells if "." in c), default=0)
        for i in np.flatnonzero((rng.random(len(cells)) < rate) & np.isfinite(numbers)).tolist():
            value = med + spread * float(rng.choice([-1, 1]) * rng.uniform(6, 12))
            value = abs(value) if finite.min() >= 0 else value
            cells[i] = fmt(np.array([value]), decimals)[0]
    rate = applied.get("missing_rate", 0.0)
    for name, cells in visible.items() if rate else ():
        for i in np.flatnonzero(rng.random(len(cells)) < rate).tolist():
            cells[i] = ""


# ---- targets ---------------------------------------------------------------------------------

def _targets(model: DataModel, dna: TaskDNA, bp: Blueprint, classes, labels, is_test, label_noise: float, rng):
    """Train label columns, answers, oracle, sample submission and label docs."""
    kind, metric_kind = model.head.kind, dna.metric_kind
    train, test = ~is_test, is_test
    n_train, n_test = int(train.sum()), int(test.sum())
    col = bp.target_columns[0]
    label = bp.label_columns[0]
    if kind == "regression":
        y_train = labels.values[train].copy()
        noisy = rng.random(n_train) < label_noise
        y_train[noisy] = rng.permutation(y_train)[noisy]
        decimals = model.head.target_decimals
        sample = (np.round(rng.random(n_test), 4) if dna.metric == "spearman"
                  else np.full(n_test, float(np.median(y_train))))
        unit = bp.target.unit
        return {"train": {label: fmt(y_train, decimals)}, "answers": {col: fmt_value(labels.values[test])},
                "oracle": {col: fmt_value(labels.oracle[test])}, "sample": {col: fmt_value(sample)},
                "docs": [ColumnDoc(label, bp.target.description, unit)]}
    k = len(classes)
    y = labels.values.copy()
    if kind in ("binary", "multiclass"):
        y[train] = _ensure_present(y[train], labels.probs[train], k, 3 if kind == "binary" else 2)
        y[test] = _ensure_present(y[test], labels.probs[test], k, 5 if kind == "binary" else 3)
    y_train = y[train].copy()
    noisy = rng.random(n_train) < label_noise
    if kind == "ordinal":
        y_train[noisy] = np.clip(y_train[noisy] + rng.choice([-1, 1], int(noisy.sum())), 0, k - 1)
    else:
        y_train[noisy] = (y_train[noisy] + rng.integers(1, k, int(noisy.sum()))) % k
    names = np.array(classes)
    freq = np.bincount(y_train, minlength=k) / n_train
    if kind == "ordinal":
        docs = [ColumnDoc(label, f"{bp.target.description}, an integer grade {classes[0]}-{classes[-1]}")]
        oracle = (matched_grades(labels.score[test], model.head.shares) if metric_kind == "ordinal"
                  else labels.oracle[test])
        return {"train": {label: names[y_train].tolist()}, "answers": {col: names[y[test]].tolist()},
                "oracle": {col: names[oracle].tolist()},
                "sample": {col: _prior_labels(list(classes), freq, n_test, dna.metric, rng)}, "docs": docs}
    p = labels.probs
    if kind == "binary":
        docs = [ColumnDoc(label, f"{bp.target.description}: {classes[1]} if so, {classes[0]} if not")]
        answers = {col: [str(v) for v in y[test]]} if metric_kind == "binary_proba" else {col: names[y[test]].tolist()}
        if metric_kind == "binary_proba":
            oracle = {col: fmt_proba(p[test, 1])}
            sample = {col: fmt_proba(np.full(n_test, round(float(freq[1]), 4)))}
        else:
            oracle = {col: names[(p[test, 1] >= 0.5).astype(int)].tolist()}
            sample = {col: _prior_labels(list(classes), freq, n_test, dna.metric, rng)}
        return {"train": {label: names[y_train].tolist()}, "answers": answers, "oracle": oracle,
                "sample": sample, "docs": docs}
    docs = [ColumnDoc(label, f"{bp.target.description} (one of: {', '.join(classes)})")]
    if metric_kind == "ranking":
        top_k = dna.metric_params.get("k", 5)
        best = np.argsort(-p[test], axis=1, kind="stable")[:, :top_k]
        frequent = " ".join(names[np.argsort(-freq, kind="stable")[:top_k]])
        return {"train": {label: names[y_train].tolist()}, "answers": {col: names[y[test]].tolist()},
                "oracle": {col: [" ".join(names[r]) for r in best]}, "sample": {col: [frequent] * n_test},
                "docs": docs}
    if metric_kind in ("multiclass_proba", "multilabel_proba"):
        onehot = np.eye(k, dtype=int)
        if metric_kind == "multiclass_proba":
            train_labels = {label: names[y_train].tolist()}
        else:
            train_labels = {c: [str(v) for v in onehot[y_train, j]] for j, c in enumerate(classes)}
            docs = [ColumnDoc(c, f"1 if {c.replace('_', ' ')} applies, else 0") for c in classes]
        if metric_kind == "multiclass_proba":          # rows that sum to 1 as written
            oracle = dict(zip(classes, fmt_simplex(p[test])))
            sample = dict(zip(classes, fmt_simplex(np.tile(freq / freq.sum(), (n_test, 1)))))
        else:
            oracle = {c: fmt_proba(p[test, j]) for j, c in enumerate(classes)}
            sample = {c: fmt_proba(np.full(n_test, round(float(freq[j]), 4))) for j, c in enumerate(classes)}
        return {"train": train_labels, "answers": {c: [str(v) for v in onehot[y[test], j]] for j, c in enumerate(classes)},
                "oracle": oracle, "sample": sample, "docs": docs}
    return {"train": {label: names[y_train].tolist()}, "answers": {col: names[y[test]].tolist()},
            "oracle": {col: names[p[test].argmax(axis=1)].tolist()},
            "sample": {col: _prior_labels(list(classes), freq, n_test, dna.metric, rng)}, "docs": docs}
