"""Task DNA: validation with clear errors, JSON round trip, derived sizes."""
from __future__ import annotations

import dataclasses

import pytest

from sandmle.synth.dna import FeatureSchema, Quirks, Sizes, TaskDNA, stable_test_rows


def tab(**kw) -> TaskDNA:
    base = dict(id="t", modality="tabular", target_kind="binary", metric="auc", features=FeatureSchema(numeric=3))
    base.update(kw)
    return TaskDNA(**base)


def test_round_trip_is_exact():
    dna = tab(target_kind="ranking", metric="map_at_k", num_classes=8, metric_params={"k": 3},
              quirks=Quirks(missing_rate=0.1, grouped=True), sizes=Sizes(train=(60, 90)))
    again = TaskDNA.from_json(dna.to_json())
    assert again == dna
    assert again.to_json() == dna.to_json()


@pytest.mark.parametrize("kw, message", [
    (dict(modality="video"), "modality"),
    (dict(target_kind="tree"), "target_kind"),
    (dict(metric="nope"), "unknown"),
    (dict(metric="rmse"), "cannot score a binary"),
    (dict(target_kind="multiclass", metric="accuracy", num_classes=2), "num_classes"),
    (dict(target_kind="multiclass", metric="accuracy", num_classes=40), "num_classes"),
    (dict(target_kind="multilabel", metric="mean_column_auc", num_labels=1), "num_labels"),
    (dict(target_kind="regression", metric="mean_column_rmsle", num_targets=1), "num_targets"),
    (dict(target_kind="ranking", metric="map_at_k", num_classes=5, metric_params={"k": 5}), "metric_params.k"),
    (dict(features=FeatureSchema()), "needs matching features"),
    (dict(id="bad id"), "id must be"),
    (dict(language="fr"), "language"),
])
def test_invalid_dna_names_the_problem(kw, message):
    with pytest.raises(ValueError, match=message):
        tab(**kw)


@pytest.mark.parametrize("make, message", [
    (lambda: FeatureSchema(numeric=-1), "numeric"),
    (lambda: FeatureSchema(categorical=2, max_cardinality=1), "max_cardinality"),
    (lambda: FeatureSchema(image_size_px=128, image_channels=3), "image_size_px"),
    (lambda: FeatureSchema(image_size_px=32, image_channels=2), "image_channels"),
    (lambda: FeatureSchema(audio_duration_s=0.5), "set together"),
    (lambda: Quirks(missing_rate=0.9), "missing_rate"),
    (lambda: Quirks(distractors=50), "distractors"),
    (lambda: Sizes(train=(10, 500)), "50..200"),
    (lambda: Sizes(train=(100, 50)), "low <= high"),
    (lambda: Sizes(unit="page"), "unit"),
])
def test_parts_validate(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_from_json_rejects_unknown_keys_and_bad_shapes():
    data = tab().to_json()
    with pytest.raises(ValueError, match="unknown keys"):
        TaskDNA.from_json(dict(data, colour="red"))
    with pytest.raises(ValueError, match="malformed"):
        TaskDNA.from_json(dict(data, features={"numeric": 2, "pixels": 3}))
    with pytest.raises(ValueError, match="JSON object"):
        TaskDNA.from_json([1, 2])


def test_special_layouts_are_consistent():
    with pytest.raises(ValueError, match="image_to_image"):
        TaskDNA(id="d", modality="image_to_image", target_kind="regression", metric="rmse",
                features=FeatureSchema(image_size_px=24, image_channels=1))
    with pytest.raises(ValueError, match="sequence"):
        TaskDNA(id="s", modality="sequence", target_kind="sequence", metric="accuracy")


def test_derived_properties():
    dna = tab(target_kind="multiclass", metric="multiclass_log_loss", num_classes=7)
    assert dna.metric_kind == "multiclass_proba" and dna.is_lower_better and dna.num_outputs == 7
    assert tab(target_kind="ordinal", metric="qwk", num_classes=5).num_outputs == 1


def test_stable_test_rows_grow_with_classes():
    few = stable_test_rows(tab())
    assert 2000 <= few[0] <= few[1] <= 3000     # table rows are cheap: a tight bootstrap
    from sandmle.synth.seeds import load_seeds

    seeds = load_seeds()     # a PNG per row: sized by classes, from 200 up to 600 rows
    small = Sizes(test=(100, 100))
    binary = dataclasses.replace(seeds["aerial-cactus-identification"], sizes=small)
    breeds = dataclasses.replace(seeds["dog-breed-identification"], sizes=small)
    assert 200 <= stable_test_rows(binary)[0] < stable_test_rows(breeds)[0] <= 600
    unit = dataclasses.replace(tab(), sizes=Sizes(test=(300, 400)))
    assert stable_test_rows(unit)[0] >= 300
