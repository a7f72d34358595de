"""description.md: the sections an agent needs, and nothing about the hidden rule."""
from __future__ import annotations

import re

import pytest

from sandmle.metrics import METRICS
from sandmle.synth.describe import METRIC_NAMES
from sandmle.synth.generated import generate_task
from sandmle.synth.seeds import load_seeds

SEEDS = ["tabular-playground-series-may-2022", "tabular-regression-rmsle", "tabular-ranking-map5",
         "tabular-binary-accuracy", "spooky-author-identification", "random-acts-of-pizza", "aptos2019-blindness-detection",
         "text-normalization-challenge-english-language", "denoising-dirty-documents", "tabular-regression-r2"]
# Words that would give the rule away or point at the columns it uses.
FORBIDDEN = ("score[", "tanh", "sigmoid", "softmax", "latent", "hidden", "rule", "informative", "distractor",
             "irrelevant", "noise feature", "oracle", "weight", "coefficient", "interaction", "cut point")


@pytest.fixture(scope="module", params=SEEDS)
def task(request):
    return generate_task(load_seeds()[request.param], 11)


def test_description_has_every_section(task):
    text = task.public_files["description.md"].decode()
    for heading in ("## Overview", "## Files", "## Columns", "## Evaluation", "## Submission format"):
        assert heading in text
    direction = "lower is better" if METRICS[task.spec.metric].is_lower_better else "higher is better"
    assert direction in text
    sample_lines = task.public_files["sample_submission.csv"].decode().splitlines()[:4]
    for line in sample_lines:
        assert line in text


def test_every_visible_column_is_documented(task):
    text = task.public_files["description.md"].decode()
    header = task.public_files["train.csv"].decode().splitlines()[0].split(",")
    for column in header:
        assert f"`{column}`" in text


def test_description_never_reveals_the_rule(task):
    text = task.public_files["description.md"].decode().lower()
    text = text.replace(METRIC_NAMES[task.spec.metric].lower(), "")     # "quadratic weighted kappa" is fine
    for word in FORBIDDEN:
        assert word not in text, word
    # no rule weights or thresholds: every signed decimal of rule.md is absent
    for number in set(re.findall(r"[+-]\d+\.\d\d", task.hidden_rule)):
        assert number not in text
