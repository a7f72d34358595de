"""The seed library, seed selection and the `sandmle seeds` command."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sandmle.cli import main
from sandmle.errors import UserError
from sandmle.sources.csv_seed import dna_from_csv
from sandmle.synth.seeds import load_seeds, select_seeds

# REFERENCE §8, mapped onto the metric registry.
LITE = {
    "aerial-cactus-identification": ("image", "auc"),
    "aptos2019-blindness-detection": ("image", "qwk"),
    "denoising-dirty-documents": ("image_to_image", "rmse"),
    "detecting-insults-in-social-commentary": ("text", "auc"),
    "dog-breed-identification": ("image", "multiclass_log_loss"),
    "dogs-vs-cats-redux-kernels-edition": ("image", "log_loss"),
    "histopathologic-cancer-detection": ("image", "auc"),
    "jigsaw-toxic-comment-classification-challenge": ("text", "mean_column_auc"),
    "leaf-classification": ("multimodal", "multiclass_log_loss"),
    "mlsp-2013-birds": ("audio", "mean_column_auc"),
    "new-york-city-taxi-fare-prediction": ("tabular", "rmse"),
    "nomad2018-predict-transparent-conductors": ("tabular", "mean_column_rmsle"),
    "plant-pathology-2020-fgvc7": ("image", "mean_column_auc"),
    "random-acts-of-pizza": ("multimodal", "auc"),
    "ranzcr-clip-catheter-line-classification": ("image", "mean_column_auc"),
    "siim-isic-melanoma-classification": ("multimodal", "auc"),
    "spooky-author-identification": ("text", "multiclass_log_loss"),
    "tabular-playground-series-dec-2021": ("tabular", "accuracy"),
    "tabular-playground-series-may-2022": ("tabular", "auc"),
    "text-normalization-challenge-english-language": ("sequence", "accuracy"),
    "text-normalization-challenge-russian-language": ("sequence", "accuracy"),
    "the-icml-2013-whale-challenge-right-whale-redux": ("audio", "auc"),
}


def test_library_holds_the_lite_set_and_archetypes():
    seeds = load_seeds()
    assert len(seeds) >= 30
    lite = {d.id: (d.modality, d.metric) for d in seeds.values() if d.suite == "mle-bench-lite"}
    assert lite == LITE
    archetypes = [d for d in seeds.values() if d.suite == "archetype"]
    assert len(archetypes) >= 8
    assert {"f1_macro", "mcc", "map_at_k", "spearman", "r2", "mae", "rmsle", "f1_micro"} <= {d.metric for d in archetypes}


def test_capped_class_counts_are_noted():
    dog = load_seeds()["dog-breed-identification"]
    assert 10 <= dog.num_classes <= 12 and "120" in dog.notes


def test_selectors():
    assert len(select_seeds(None)) == len(select_seeds("all")) == len(load_seeds())
    assert len(select_seeds("lite")) == 22
    assert {d.modality for d in select_seeds("modality:audio")} == {"audio"}
    assert {d.metric for d in select_seeds("metric:qwk")} == {"qwk"}
    ids = [d.id for d in select_seeds("tabular-*")]
    assert ids and all(i.startswith("tabular-") for i in ids)
    pair = select_seeds("mlsp-2013-birds, aerial-cactus-identification")
    assert [d.id for d in pair] == ["mlsp-2013-birds", "aerial-cactus-identification"]


@pytest.mark.parametrize("selector", ["nope", "modality:video", "colour:red", "tabular-*,nope", " , "])
def test_unknown_selector_is_a_user_error(selector):
    with pytest.raises(UserError):
        select_seeds(selector)


def test_cli_list_and_show(capsys):
    assert main(["seeds", "list", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == len(load_seeds())
    assert main(["seeds", "show", "spooky-author-identification", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["metric"] == "multiclass_log_loss" and shown["num_classes"] == 3
    assert main(["seeds", "show", "nope"]) == 2
    assert "unknown seed" in capsys.readouterr().err


@pytest.fixture
def user_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame({
        "row_id": range(n), "age": rng.normal(40, 10, n), "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["north", "south", "east"], n),
        "seen_at": pd.date_range("2021-01-01", periods=n, freq="h").astype(str),
        "churn": rng.choice([0, 1], n, p=[0.8, 0.2]),
        "grade": rng.integers(0, 4, n), "price": rng.lognormal(3, 0.5, n), "price2": rng.lognormal(2, 0.5, n),
    })
    frame.loc[::8, "age"] = np.nan
    frame.loc[3, "income"] = 1e9
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    return path


def test_from_csv_reads_structure(user_csv):
    dna = dna_from_csv(user_csv, ["churn"], "auc")
    assert dna.id == "csv-people" and dna.suite == "user" and dna.target_kind == "binary"
    assert dna.features.datetime == 1 and dna.features.categorical == 1 and dna.features.max_cardinality == 3
    assert dna.features.numeric == 5          # age, income, grade, price, price2 (row_id is an identifier)
    assert 0.01 < dna.quirks.missing_rate < 0.1 and dna.quirks.outlier_rate > 0
    assert 0.4 < dna.quirks.imbalance < 0.8
    assert dna_from_csv(user_csv, ["grade"], "qwk").num_classes == 4
    assert dna_from_csv(user_csv, ["price", "price2"], "mean_column_rmsle").num_targets == 2


@pytest.mark.parametrize("targets, metric, message", [
    (["nope"], "auc", "not in"), (["churn"], "nope", "unknown metric"),
    (["grade"], "auc", "two-valued"), (["price"], "mean_column_rmsle", "several"),
])
def test_from_csv_errors(user_csv, targets, metric, message):
    with pytest.raises(UserError, match=message):
        dna_from_csv(user_csv, targets, metric)


def test_cli_from_csv_writes_a_loadable_dna(user_csv, tmp_path, capsys):
    out = tmp_path / "dna.json"
    assert main(["seeds", "from-csv", str(user_csv), "--target", "churn", "--metric", "mcc",
                 "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    from sandmle.synth.dna import TaskDNA

    assert TaskDNA.from_json(json.loads(out.read_text())) == TaskDNA.from_json(printed["dna"])
    assert main(["seeds", "from-csv", str(tmp_path / "missing.csv"), "--target", "y", "--metric", "auc"]) == 2
    capsys.readouterr()
    for targets in (["--target", "price,price2"], ["--target", "price", "--target", "price2"]):   # as task from-csv
        assert main(["seeds", "from-csv", str(user_csv), *targets, "--metric", "mean_column_rmsle", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["dna"]["num_targets"] == 2
