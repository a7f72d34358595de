"""Shared fixtures: small, real task folders for any metric.

- `make_task(metric="auc", **options) -> Task` builds a valid task folder (task.json, public/
  train.csv, test.csv, sample_submission.csv, description.md, private/answers.csv) under
  tmp_path with `sandmle.task.write_task`, for every metric in `sandmle.metrics.METRICS`.
  The layout follows the metric's kind:

  | kind             | target columns              | answers                       |
  |------------------|-----------------------------|-------------------------------|
  | binary_proba     | target                      | 0/1, both classes present     |
  | multilabel_proba | label_a, label_b, label_c   | 0/1 per column, both present  |
  | multiclass_proba | the classes (cat, dog, fox) | one-hot rows                  |
  | label            | label                       | strings a/b/c                 |
  | ordinal          | grade                       | integers 0-4                  |
  | value            | value                       | floats in [0, 20]             |
  | multi_value      | value_a, value_b            | floats in [0, 20]             |
  | ranking          | labels                      | one label of a-e (k=3)        |

  Options: n_test (30), n_train (60), seed (0), task_id, classes, thresholds (a
  `Thresholds`; by default (0.6, 0.7, 0.8, 0.9) rising or (0.4, 0.3, 0.2, 0.1) falling, so the
  answers themselves reach gold and the sample submission stays below the median),
  metric_params. The sample submission is a constant (prior) prediction, except for
  spearman, where a constant is undefined and a ramp is used.
- `cached_task(metric="auc", **options) -> Task`: the same, built once per session for each
  distinct (metric, options) and shared between tests: treat it as read-only. For
  property-based tests, where a function-scoped fixture would be reused across examples.
- `write_csv(name, header, rows) -> Path` writes a CSV file under tmp_path (rows of any
  values, written with str()); `name` may be a path relative to tmp_path.
"""
from __future__ import annotations

import csv
import random
import uuid
from pathlib import Path

import pytest

from sandmle.metrics import METRICS
from sandmle.task import Lineage, Task, TaskSpec, Thresholds, write_task

RISING = Thresholds(median=0.6, bronze=0.7, silver=0.8, gold=0.9)
FALLING = Thresholds(median=0.4, bronze=0.3, silver=0.2, gold=0.1)
DEFAULT_CLASSES = {
    "multiclass_proba": ("cat", "dog", "fox"),
    "label": ("a", "b", "c"),
    "ordinal": ("0", "1", "2", "3", "4"),
    "ranking": ("a", "b", "c", "d", "e"),
}


SECRET = "sandmle-secret-" + uuid.uuid4().hex   # a hidden answer hostile job code must never see


def write_secret_task(root: Path) -> Path:
    """A minimal task folder at `root`: public/train.csv, and private/answers.csv holding SECRET."""
    (root / "public").mkdir(parents=True)
    (root / "private").mkdir()
    (root / "public" / "train.csv").write_text("id,x\n1,2\n")
    (root / "private" / "answers.csv").write_text(f"id,target\nsecret-row,{SECRET}\n")
    return root


def _write_rows(path: Path, header, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[str(v) for v in row] for row in rows])
    return path


def _answers(kind: str, classes: tuple[str, ...], n: int, rng: random.Random):
    """(target columns, answer rows without ids, sample rows without ids, train rows)."""
    if kind == "binary_proba":
        y = [i % 2 for i in range(n)]
        rng.shuffle(y)
        return ["target"], [[v] for v in y], [[0.5]] * n
    if kind == "multilabel_proba":
        cols = ["label_a", "label_b", "label_c"]
        per_col = []
        for _ in cols:
            y = [1 if i < max(1, n // 3) else 0 for i in range(n)]
            rng.shuffle(y)
            per_col.append(y)
        rows = [list(r) for r in zip(*per_col)]
        prior = [round(sum(c) / n, 4) for c in per_col]
        return cols, rows, [prior] * n
    if kind == "multiclass_proba":
        labels = [classes[i % len(classes)] for i in range(n)]
        rng.shuffle(labels)
        rows = [[int(label == c) for c in classes] for label in labels]
        return list(classes), rows, [[round(1 / len(classes), 6)] * len(classes)] * n
    if kind == "label":
        labels = [classes[i % len(classes)] for i in range(n)]
        rng.shuffle(labels)
        return ["label"], [[v] for v in labels], [[classes[0]]] * n
    if kind == "ordinal":
        grades = [classes[i % len(classes)] for i in range(n)]
        rng.shuffle(grades)
        return ["grade"], [[v] for v in grades], [[classes[0]]] * n
    if kind in ("value", "multi_value"):
        cols = ["value"] if kind == "value" else ["value_a", "value_b"]
        rows = [[round(rng.uniform(0.0, 20.0), 4) for _ in cols] for _ in range(n)]
        means = [round(sum(r[j] for r in rows) / n, 4) for j in range(len(cols))]
        return cols, rows, [means] * n
    if kind == "ranking":
        labels = [classes[i % len(classes)] for i in range(n)]
        rng.shuffle(labels)
        return ["labels"], [[v] for v in labels], [[" ".join(classes[:3])]] * n
    raise ValueError(f"no fixture layout for metric kind {kind!r}")


def build_task(root: Path, metric: str = "auc", *, n_test: int = 30, n_train: int = 60, seed: int = 0,
               task_id: str | None = None, classes: tuple[str, ...] | None = None,
               thresholds: Thresholds | None = None, metric_params: dict | None = None) -> Task:
    """Write a task folder for `metric` under `root`/<task_id> and load it."""
    info = METRICS[metric]
    kind = info.kind
    classes = tuple(classes) if classes is not None else DEFAULT_CLASSES.get(kind, ())
    rng = random.Random(seed)
    columns, answer_rows, sample_rows = _answers(kind, classes, n_test, rng)
    if metric == "spearman":
        sample_rows = [[float(i)] for i in range(n_test)]
    train_columns, train_rows, _ = _answers(kind, classes, n_train, rng)
    ids = [str(1000 + i) for i in range(n_test)]
    params = dict(metric_params or {})
    if kind == "ranking":
        params.setdefault("k", 3)
    task_id = task_id or f"fixture-{metric}"
    spec = TaskSpec(
        id=task_id, title=f"Fixture task for {metric}", modality="tabular", metric=metric,
        is_lower_better=info.is_lower_better, id_column="id", target_columns=tuple(columns),
        thresholds=thresholds or (FALLING if info.is_lower_better else RISING),
        train_rows=n_train, test_rows=n_test,
        lineage=Lineage(seed="fixture", generator="procedural", generator_version="test", random_seed=seed),
        metric_params=params, classes=classes if kind in DEFAULT_CLASSES else (),
    )

    def fill(public: Path, private: Path) -> None:
        _write_rows(private / "answers.csv", ["id", *columns], [[i, *r] for i, r in zip(ids, answer_rows)])
        _write_rows(public / "sample_submission.csv", ["id", *columns],
                    [[i, *r] for i, r in zip(ids, sample_rows)])
        _write_rows(public / "train.csv", ["id", "x", *train_columns],
                    [[f"tr{i}", round(rng.random(), 4), *r] for i, r in enumerate(train_rows)])
        _write_rows(public / "test.csv", ["id", "x"], [[i, round(rng.random(), 4)] for i in ids])
        (public / "description.md").write_text(f"# {spec.title}\n\nPredict {', '.join(columns)}.\n",
                                               encoding="utf-8")

    return write_task(root / task_id, spec, fill)


@pytest.fixture
def make_task(tmp_path):
    """Factory fixture: `make_task(metric="auc", **options) -> Task` (see the module docstring)."""
    root = tmp_path / "tasks"

    def factory(metric: str = "auc", **options) -> Task:
        return build_task(root, metric, **options)

    return factory


@pytest.fixture(scope="session")
def cached_task(tmp_path_factory):
    """Session-wide factory: `cached_task(metric="auc", **options) -> Task`, built once, read-only."""
    root = tmp_path_factory.mktemp("cached-tasks")
    built: dict[str, Task] = {}

    def factory(metric: str = "auc", **options) -> Task:
        key = repr((metric, sorted(options.items())))
        if key not in built:
            options.setdefault("task_id", f"cached-{len(built)}-{metric}")
            built[key] = build_task(root, metric, **options)
        return built[key]

    return factory


@pytest.fixture
def write_csv(tmp_path):
    """Factory fixture: `write_csv(name, header, rows) -> Path` under tmp_path."""

    def factory(name: str, header, rows) -> Path:
        return _write_rows(tmp_path / name, header, rows)

    return factory
