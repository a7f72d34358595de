"""Generated tasks: every seed generates, deterministically, at micro scale, with a hidden
answer layout that matches the sample submission and an oracle that beats it."""
from __future__ import annotations

import csv
import io

import pytest

from sandmle.grading import score_submission
from sandmle.synth.generated import generate_task
from sandmle.synth.seeds import load_seeds, select_seeds
from sandmle.task import load_task, write_task

SEEDS = sorted(load_seeds())


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


@pytest.fixture(scope="module")
def generated():
    """One generated task per seed (random seed 7), built once for the module."""
    return {seed_id: generate_task(load_seeds()[seed_id], 7) for seed_id in SEEDS}


@pytest.mark.parametrize("seed_id", SEEDS)
def test_every_seed_generates_a_valid_task_folder(seed_id, generated, tmp_path):
    g = generated[seed_id]
    task = write_task(tmp_path / g.spec.id, g.spec, g.write)
    assert load_task(task.root).spec == g.spec
    assert (task.private_dir / "oracle.csv").is_file() and (task.private_dir / "rule.md").is_file()
    assert not any(name.startswith(("answers", "oracle", "rule")) for name in g.public_files)


@pytest.mark.parametrize("seed_id", SEEDS)
def test_sizes_are_micro(seed_id, generated):
    g = generated[seed_id]
    unit = g.dna.sizes.unit
    train_units, test_units = len(g.train_ids), len(g.test_ids)
    if unit == "row":
        # Training is micro-scale; test rows only need to keep the score's noise small
        # (tables and texts take up to 3000, audio clips up to 1000, other media rows up to 600).
        test_cap = {"tabular": 3000, "text": 3000, "audio": 1000}.get(g.dna.modality, 600)
        assert 50 <= train_units <= 200 and 200 <= test_units <= test_cap
        assert g.spec.train_rows == train_units and g.spec.test_rows == test_units
    elif unit == "sentence":
        assert 5 * 60 <= g.spec.train_rows <= 15 * 120
    elif unit == "step":        # forecasting: history x series rows to learn from, horizon x series to forecast
        series = g.dna.series.series[0]
        history, horizon = g.dna.sizes.train[0], g.dna.sizes.test[0]
        assert g.spec.train_rows == series * history and g.spec.test_rows == series * horizon
        assert 8 <= history <= 400 and 1 <= horizon <= 60
    elif unit in ("node", "pair"):
        assert 50 <= train_units <= 400 and train_units <= g.dna.sizes.train[0]
        assert 100 <= test_units <= g.dna.sizes.test[0]
    else:
        assert 10 <= train_units <= 20 and 4 <= test_units <= 6
    assert g.dna.domain and g.dna.sizes.train[0] == g.dna.sizes.train[1]


@pytest.mark.parametrize("seed_id", SEEDS)
def test_test_file_hides_the_target_and_layouts_match(seed_id, generated):
    g = generated[seed_id]
    train, test = rows(g.public_files["train.csv"]), rows(g.public_files["test.csv"])
    answers, oracle, sample = rows(g.answers_csv), rows(g.oracle_csv), rows(g.public_files["sample_submission.csv"])
    assert answers[0] == oracle[0] == sample[0] == [g.spec.id_column, *g.spec.target_columns]
    assert [r[0] for r in answers] == [r[0] for r in oracle] == [r[0] for r in sample]
    assert len(answers) - 1 == g.spec.test_rows
    label_columns = set(train[0]) - set(test[0])
    assert label_columns, "train.csv must hold the answer column(s)"
    assert not (set(g.spec.target_columns) - {g.spec.id_column}) & set(test[0])
    assert len({len(r) for r in train}) == 1 and len({len(r) for r in test}) == 1


@pytest.mark.parametrize("seed_id", SEEDS)
def test_oracle_beats_the_sample_submission(seed_id, generated, tmp_path):
    g = generated[seed_id]
    (tmp_path / "answers.csv").write_bytes(g.answers_csv)
    (tmp_path / "oracle.csv").write_bytes(g.oracle_csv)
    (tmp_path / "sample.csv").write_bytes(g.public_files["sample_submission.csv"])
    oracle = score_submission(g.spec, tmp_path / "answers.csv", tmp_path / "oracle.csv")
    sample = score_submission(g.spec, tmp_path / "answers.csv", tmp_path / "sample.csv")
    sign = -1 if g.spec.is_lower_better else 1
    assert sign * (oracle - sample) > 0.05 * max(abs(sample), 0.1), (oracle, sample)


@pytest.mark.parametrize("seed_id", ["tabular-multiclass-f1-macro", "random-acts-of-pizza", "aerial-cactus-identification",
                                     "mlsp-2013-birds", "text-normalization-challenge-russian-language",
                                     "denoising-dirty-documents"])
def test_same_seed_same_bytes_and_different_seeds_differ(seed_id, generated):
    seed = load_seeds()[seed_id]
    again = generate_task(seed, 7)
    first = generated[seed_id]
    assert again.public_files == first.public_files
    assert (again.answers_csv, again.oracle_csv, again.hidden_rule) == (first.answers_csv, first.oracle_csv, first.hidden_rule)
    other = generate_task(seed, 8)
    assert other.public_files["train.csv"] != first.public_files["train.csv"]


def test_domain_can_be_forced_and_task_id_given():
    seed = select_seeds("tabular-binary-mcc")[0]
    g = generate_task(seed, 1, task_id="my-task", domain="energy")
    assert g.spec.id == "my-task" and g.domain == "energy" and g.spec.lineage.dna["domain"] == "energy"
    assert g.spec.thresholds.as_tuple() == (0.0, 0.0, 0.0, 0.0)
    assert g.spec.lineage.generator == "procedural" and g.spec.lineage.seed == seed.id
    with pytest.raises(ValueError, match="unknown domain"):
        generate_task(seed, 1, domain="astrology")


def test_media_files_are_listed_rows(generated):
    image = generated["aerial-cactus-identification"]
    ids = [r[0] for r in rows(image.public_files["test.csv"])[1:]]
    assert all(f"images/{i}.png" in image.public_files for i in ids)
    assert image.public_files[f"images/{ids[0]}.png"][:8] == b"\x89PNG\r\n\x1a\n"
    audio = generated["the-icml-2013-whale-challenge-right-whale-redux"]
    ids = [r[0] for r in rows(audio.public_files["train.csv"])[1:]]
    assert all(audio.public_files[f"audio/{i}.wav"][:4] == b"RIFF" for i in ids)


def test_quirks_show_in_the_data():
    seed = select_seeds("tabular-regression-mae")[0]      # grouped rows, missing cells
    g = generate_task(seed, 3)
    train = rows(g.public_files["train.csv"])
    header = train[0]
    from sandmle.synth.domains import DOMAINS

    assert g.dna.quirks.grouped and header[1] == DOMAINS[g.domain].group_column
    assert any(cell == "" for r in train[1:] for cell in r)


def test_coarse_columns_get_finer_cells_instead_of_repeating_training_rows(tmp_path):
    """Random seed 10 of the melanoma seed draws a count column (prior visits) and two
    categories: as drawn, 62% of its 1869 test rows repeat a training row's features, which
    verification refuses; the count is shown finer until the repeats are within its limit."""
    from sandmle.synth.design import Design
    from sandmle.synth.verify import MAX_DUPLICATE_SHARE, check_no_duplicate_rows

    g = generate_task(load_seeds()["siim-isic-melanoma-classification"], 10, design=Design(test_scale=3.5))
    header, *cells = rows(g.public_files["test.csv"])
    assert "prior_visits" in header and any("." in row[header.index("prior_visits")] for row in cells)
    task = write_task(tmp_path / g.spec.id, g.spec, g.write)
    result = check_no_duplicate_rows(task)
    assert result.passed, result.reason
    repeated, total = map(int, result.reason.split(" test rows")[0].split(" of "))
    assert 0 < repeated <= MAX_DUPLICATE_SHARE * total
