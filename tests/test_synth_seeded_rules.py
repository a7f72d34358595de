"""Synthetic tasks teach MLE-bench's rules: a task seeded from a lite competition carries that
competition's grading rules, multi-class sample rows sum to 1 as written, and the
description states the rules the grader applies."""
from __future__ import annotations

import csv
import io

import pytest

from sandmle.grading.profile import GraderProfile
from sandmle.sources.mlebench_lite import LITE, SEEDED_KEYS
from sandmle.synth.generated import generate_task
from sandmle.synth.seeds import get_seed, load_seeds

MULTICLASS_LITE = ["spooky-author-identification", "dog-breed-identification", "leaf-classification"]


def rows_of(data: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(data.decode())))
    return rows[0], rows[1:]


@pytest.mark.parametrize("seed_id", MULTICLASS_LITE)
def test_multiclass_lite_seeds_require_rows_that_sum_to_one(seed_id):
    task = generate_task(get_seed(seed_id), 3)
    profile = GraderProfile.from_json(task.spec.grader)
    assert profile.row_sum == (1e-6, 1e-5) and profile.clip_eps < 1e-15
    header, rows = rows_of(task.public_files["sample_submission.csv"])
    for row in rows[:50]:
        assert abs(sum(float(v) for v in row[1:]) - 1.0) < 1e-9
    assert "sum to 1" in task.public_files["description.md"].decode()
    assert "normalised to sum" not in task.public_files["description.md"].decode()


def test_every_lite_seed_inherits_its_competitions_rules():
    seeds = load_seeds()
    for seed_id, comp in LITE.items():
        if seed_id not in seeds:
            continue
        task = generate_task(seeds[seed_id], 1)
        want = {k: v for k, v in comp.grader.items() if k in SEEDED_KEYS}
        assert task.spec.grader == want, seed_id


def test_other_seeds_get_mlebench_row_sums_for_multiclass_and_sandmle_rules_otherwise():
    from sandmle.sources.mlebench_lite import seeded_grader

    assert GraderProfile.from_json(seeded_grader("my-csv-seed", "multiclass_proba")).row_sum == (1e-6, 1e-5)
    assert seeded_grader("my-csv-seed", "binary_proba") == {}
