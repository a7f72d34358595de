"""Data generators: one module per input modality, one assembly step for all of them.

`generate_data(dna, blueprint, rng, signal)` builds the parts a DNA needs (tabular.py, text.py,
image.py, audio.py; several for multimodal tasks), draws a hidden rule over their latent
inputs (rules.py), samples targets, and lays out train/test tables, hidden answers, the
noise-free oracle and a weak sample submission. Token-sequence normalisation (sequence.py)
image-to-image denoising (denoise.py), forecasting (forecast.py) and graphs (graph.py) have
their own layouts and return the same `GeneratedData`. Everything is drawn from one numpy
Generator: same seed, same bytes.
"""
from __future__ import annotations

import numpy as np

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.generators.common import ColumnDoc, GeneratedData, Part, Table, ids_for
from sandmle.synth.generators.rules import draw_targets, make_rule


def generate_data(dna: TaskDNA, bp: Blueprint, rng: np.random.Generator, signal: float = 1.0) -> GeneratedData:
    """The task's data. `signal` scales the hidden rule against its noise (1 = as drawn;
    `sandmle.synth.design`): the rule's scores, the forecast's noise, the graph's structure."""
    if dna.modality == "sequence":
        from sandmle.synth.generators.sequence import generate_sequence
        return generate_sequence(dna, bp, rng)
    if dna.modality == "image_to_image":
        from sandmle.synth.generators.denoise import generate_denoise
        return generate_denoise(dna, bp, rng)
    if dna.modality == "time_series":
        from sandmle.synth.generators.forecast import generate_forecast
        return generate_forecast(dna, bp, rng, signal)
    if dna.modality == "graph":
        from sandmle.synth.generators.graph import generate_graph
        return generate_graph(dna, bp, rng, signal)
    n_train, n_test = bp.train_rows, bp.test_rows
    is_test = np.zeros(n_train + n_test, dtype=bool)
    is_test[n_train:] = True
    media = dna.features.has_images or dna.features.has_audio
    prefix = "img_" if dna.features.has_images else ("clip_" if dna.features.has_audio else "")
    ids = ids_for(prefix, 1, n_train + n_test) if media else ids_for("", 1, n_train + n_test)
    parts: list[Part] = []
    if dna.features.tabular_columns or bp.group_column:
        from sandmle.synth.generators.tabular import tabular_part
        parts.append(tabular_part(dna, bp, is_test, rng, rows_distinct=bool(dna.features.text)))
    if dna.features.text:
        from sandmle.synth.generators.text import text_part
        parts.append(text_part(dna, bp, is_test, rng))
    if dna.features.has_images:
        from sandmle.synth.generators.image import image_part
        parts.append(image_part(dna, bp, ids, is_test, rng))
    if dna.features.has_audio:
        from sandmle.synth.generators.audio import audio_part
        parts.append(audio_part(dna, bp, ids, is_test, rng))
    latent = np.concatenate([p.latent for p in parts], axis=1)
    names = [n for p in parts for n in p.input_names]
    sd = latent.std(axis=0)
    latent = (latent - latent.mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0)
    sparse = bool(dna.features.text or dna.features.has_images or dna.features.has_audio)
    rule = make_rule(rng, latent, dna.num_outputs, interactions=2 if latent.shape[1] >= 3 else 1, sparse=sparse)
    scores = rule.evaluate(latent)
    for part in parts:
        if part.group_effect is not None:
            scores = scores + part.group_effect[:, None] * rng.uniform(0.5, 1.0, scores.shape[1])
    scores = signal * scores
    scale = [(t.mean, t.sd) for t in _regression_targets(bp)]
    targets = draw_targets(dna, scores, is_test, bp.classes, bp.target_columns, bp.label_columns, rng,
                           regression_scale=scale or None)
    train_ids, test_ids = ids[:n_train], ids[n_train:]
    visible: Table = {}
    for part in parts:
        visible.update(part.columns)
    train: Table = {bp.id_column: train_ids}
    test: Table = {bp.id_column: test_ids}
    for name, cells in visible.items():
        train[name] = cells[:n_train]
        test[name] = cells[n_train:]
    train.update(targets.train_labels)
    files = {path: data for part in parts for path, data in part.files.items()}
    rule_text = (f"Latent inputs (standardised over all rows): {', '.join(names)}\n\n{rule.describe(names)}\n\n"
                 f"{targets.mechanics}\n")
    if bp.group_column:
        rule_text += f"\nEach {bp.group_column} adds its own random effect to the scores.\n"
    return GeneratedData(
        train=train, test=test,
        answers={bp.id_column: test_ids, **targets.answers},
        oracle={bp.id_column: test_ids, **targets.oracle},
        sample={bp.id_column: test_ids, **targets.sample},
        files=files, docs=[d for p in parts for d in p.docs], label_docs=_label_docs(dna, bp),
        rule_text=rule_text, train_ids=tuple(train_ids), test_ids=tuple(test_ids))


def _regression_targets(bp: Blueprint):
    by_name = {t.name: t for t in bp.domain.regression_targets}
    return [by_name[c] for c in bp.target_columns if c in by_name]


def _label_docs(dna: TaskDNA, bp: Blueprint) -> list[ColumnDoc]:
    kind = dna.target_kind
    if kind == "regression":
        by_name = {t.name: t for t in bp.domain.regression_targets}
        return [ColumnDoc(c, by_name[c].description if c in by_name else c, by_name[c].unit if c in by_name else "")
                for c in bp.label_columns]
    if kind == "multilabel" or (kind == "multiclass" and len(bp.label_columns) > 1):
        return [ColumnDoc(c, f"1 if {c.replace('_', ' ')} applies, else 0") for c in bp.label_columns]
    if kind == "binary":
        return [ColumnDoc(bp.label_columns[0], f"{bp.target.description}: 1 yes, 0 no")]
    if kind == "ordinal":
        return [ColumnDoc(bp.label_columns[0], f"{bp.target.description}, an integer grade 0-{dna.num_classes - 1}")]
    return [ColumnDoc(bp.label_columns[0], f"{bp.target.description} (one of: {', '.join(bp.classes)})")]
