"""Task format v1: a task is a folder, a bank is a folder of task folders.

    <task>/task.json          the spec below (TaskSpec), format_version 1
    <task>/public/            all the agent may see: description.md, train/test data,
                              sample_submission.csv (and images/, audio/ ...)
    <task>/private/           never shown to an agent: answers.csv (id column + the
                              submission's target columns), leaderboard.csv, oracle.csv ...

A submission carries the id column and `target_columns`, in the layout of the sample
submission; `private/answers.csv` holds at least those columns. How a column is read
(probability, label, value) follows from the metric (`sandmle.metrics.METRICS[name].kind`);
how the files are read, checked and paired follows the task's `grader` block
(`sandmle.grading.profile`; sandmle's own rules when absent). `classes` lists the label
domain where the metric needs one (class columns of a multi-class probability submission,
labels of QWK). `train_file` and `test_file` may be null when the data is not one table
(image folders, zipped audio): the test ids are then the sample submission's.

`load_task` validates a folder and raises one `UserError` that lists every problem found.
`write_task` builds the folder under a temporary name and renames it into place, so a
killed run never leaves a half-written task behind.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from sandmle.errors import UserError
from sandmle.files import existing_folder, staged_folder, write_json_atomic, write_text_atomic  # noqa: F401 (re-exported)

FORMAT_VERSION = 1
TASK_FILE = "task.json"
ANSWERS_FILE = "answers.csv"
TIERS = ("gold", "silver", "bronze", "median")
MODALITIES = (
    "tabular", "text", "image", "image_to_image", "audio", "multimodal", "sequence", "graph", "time_series",
)


@dataclass(frozen=True)
class Thresholds:
    """Score each tier needs; a score reaches a medal tier when at least as good as it."""

    median: float
    bronze: float
    silver: float
    gold: float

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.median, self.bronze, self.silver, self.gold)


@dataclass(frozen=True)
class Lineage:
    """Where a task came from: enough to regenerate it."""

    seed: str                      # seed task id, or "csv:<file name>" for from-csv tasks
    generator: str                 # "procedural", "llm", "from-csv"
    generator_version: str
    random_seed: int
    dna: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)   # model name, prompt hash, ...


@dataclass(frozen=True)
class TaskSpec:
    """The contents of task.json."""

    id: str
    title: str
    modality: str
    metric: str
    is_lower_better: bool
    id_column: str
    target_columns: tuple[str, ...]
    thresholds: Thresholds
    train_rows: int
    test_rows: int
    lineage: Lineage
    domain: str = "general"
    metric_params: dict[str, Any] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    train_file: str | None = "train.csv"
    test_file: str | None = "test.csv"
    sample_submission_file: str = "sample_submission.csv"
    grader: dict[str, Any] = field(default_factory=dict)
    layout: str = ""                   # one line on where the data lies, for the task prompt
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_columns"] = list(self.target_columns)
        data["classes"] = list(self.classes)
        for key in ("grader", "layout"):
            if not data[key]:
                del data[key]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TaskSpec":
        data = dict(data)
        data["thresholds"] = Thresholds(**data["thresholds"])
        data["lineage"] = Lineage(**data["lineage"])
        data["target_columns"] = tuple(data["target_columns"])
        data["classes"] = tuple(data.get("classes", ()))
        return cls(**data)


@dataclass(frozen=True)
class Task:
    """A loaded, validated task folder. `cache` holds what grading derives from the answers
    (parsed once per loaded task: rollouts grade one task many times) and the tables
    verification reads, each keyed by its file's size, modification time and inode; it
    never changes what a grade or a check is."""

    root: Path
    spec: TaskSpec
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    @property
    def private_dir(self) -> Path:
        return self.root / "private"

    @property
    def answers_path(self) -> Path:
        return self.private_dir / ANSWERS_FILE

    @property
    def sample_submission_path(self) -> Path:
        return self.public_dir / self.spec.sample_submission_file


_REQUIRED = {
    "id": str, "title": str, "modality": str, "metric": str, "is_lower_better": bool,
    "id_column": str, "target_columns": list, "thresholds": dict, "train_rows": int,
    "test_rows": int, "lineage": dict,
}


_OPTIONAL = {
    "domain": str, "metric_params": dict, "classes": list, "train_file": (str, type(None)),
    "test_file": (str, type(None)), "sample_submission_file": str, "grader": dict, "layout": str,
    "format_version": int,
}


def _spec_problems(data: Any) -> list[str]:
    """Every problem with a task.json document, as short phrases."""
    if not isinstance(data, dict):
        return ["task.json must hold a JSON object"]
    problems = []
    version = data.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        problems.append(f"format_version {version!r} is not supported (this sandmle reads {FORMAT_VERSION})")
    for key, kind in _REQUIRED.items():
        if key not in data:
            problems.append(f"missing key {key!r}")
        elif not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
            problems.append(f"{key!r} must be {kind.__name__}, got {type(data[key]).__name__}")
    if isinstance(data.get("modality"), str) and data["modality"] not in MODALITIES:
        problems.append(f"modality {data['modality']!r} is not one of {', '.join(MODALITIES)}")
    if isinstance(data.get("target_columns"), list) and not data["target_columns"]:
        problems.append("target_columns is empty")
    thresholds = data.get("thresholds")
    if isinstance(thresholds, dict):
        for tier in TIERS:
            value = thresholds.get(tier)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                problems.append(f"thresholds.{tier} must be a finite number, got {value!r}")
        extra = set(thresholds) - set(TIERS)
        if extra:
            problems.append(f"thresholds has unknown keys {sorted(extra)}")
    for key, kind in _OPTIONAL.items():
        if key in data and (not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool))):
            names = " or ".join("null" if k is type(None) else k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            problems.append(f"{key!r} must be {names}, got {type(data[key]).__name__}")
    for key in ("target_columns", "classes"):
        values = data.get(key)
        if isinstance(values, list):
            if not all(isinstance(v, str) and v for v in values):
                problems.append(f"{key!r} must hold non-empty strings")
            elif len(set(values)) != len(values):
                problems.append(f"{key!r} has repeated names")
    if isinstance(data.get("target_columns"), list) and data.get("id_column") in data["target_columns"]:
        problems.append(f"id_column {data['id_column']!r} is also a target column")
    for key in ("train_file", "test_file", "sample_submission_file"):
        name = data.get(key)
        if isinstance(name, str) and (not name or Path(name).is_absolute() or ".." in Path(name).parts):
            problems.append(f"{key!r} must be a file name inside public/, got {name!r}")
    if isinstance(data.get("grader"), dict):
        from sandmle.grading.profile import profile_problems

        targets = data.get("target_columns") if isinstance(data.get("target_columns"), list) else None
        problems += profile_problems(data["grader"], targets)
    lineage = data.get("lineage")
    if isinstance(lineage, dict):
        for key in ("seed", "generator", "generator_version", "random_seed"):
            if key not in lineage:
                problems.append(f"lineage is missing {key!r}")
    metric = data.get("metric")
    if isinstance(metric, str):
        from sandmle.metrics import METRICS

        if metric not in METRICS:
            problems.append(f"metric {metric!r} is unknown (known: {', '.join(sorted(METRICS))})")
        elif isinstance(data.get("is_lower_better"), bool) and data["is_lower_better"] != METRICS[metric].is_lower_better:
            problems.append(f"is_lower_better={data['is_lower_better']} contradicts metric {metric!r}")
    return problems


def _threshold_problems(spec: TaskSpec) -> list[str]:
    """Medal thresholds must be ordered in the metric's direction."""
    sign = -1.0 if spec.is_lower_better else 1.0
    values = [sign * v for v in spec.thresholds.as_tuple()]   # median, bronze, silver, gold
    if all(a <= b for a, b in zip(values, values[1:])):
        return []
    order = "falling" if spec.is_lower_better else "rising"
    return [f"thresholds median<=bronze<=silver<=gold must be {order} for {spec.metric}, got {spec.thresholds}"]


def load_task(path: str | os.PathLike) -> Task:
    """Load and validate a task folder; one UserError lists every problem."""
    root = existing_folder(path, "task folder")
    problems: list[str] = []
    spec = None
    spec_path = root / TASK_FILE
    try:
        data = json.loads(spec_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{TASK_FILE} is missing")
        data = None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{TASK_FILE} is not valid JSON ({exc})")
        data = None
    if data is not None:
        spec_problems = _spec_problems(data)
        problems += spec_problems
        if not spec_problems:
            try:
                spec = TaskSpec.from_json(data)
            except TypeError as exc:
                problems.append(f"{TASK_FILE}: {exc}")
    if spec is not None:
        problems += _threshold_problems(spec)
        for name in (spec.train_file, spec.test_file, spec.sample_submission_file):
            if name is not None and not (root / "public" / name).is_file():
                problems.append(f"public/{name} is missing")
        if not (root / "public" / "description.md").is_file():
            problems.append("public/description.md is missing")
        if not (root / "private" / ANSWERS_FILE).is_file():
            problems.append(f"private/{ANSWERS_FILE} is missing")
        if (root / "public" / ANSWERS_FILE).exists():
            problems.append(f"public/{ANSWERS_FILE} exists: answers must live only in private/")
    if problems:
        raise UserError(f"invalid task {root}: " + "; ".join(problems))
    return Task(root=root, spec=spec)


def iter_bank(path: str | os.PathLike) -> list[Path]:
    """Task folders of a bank (sub-folders holding a task.json), sorted by name."""
    bank = existing_folder(path, "bank folder")
    return sorted(p for p in bank.iterdir() if p.is_dir() and (p / TASK_FILE).is_file())


def load_bank(path: str | os.PathLike) -> list[Task]:
    """Every task of a bank, validated."""
    folders = iter_bank(path)
    if not folders:
        raise UserError(f"bank {path} holds no task folders")
    return [load_task(p) for p in folders]


def write_task(dest: str | os.PathLike, spec: TaskSpec, fill: Callable[[Path, Path], None],
               overwrite: bool = False) -> Task:
    """Create the task folder `dest` atomically.

    `fill(public_dir, private_dir)` writes the data files into a staging folder beside
    `dest`; task.json is written last, the folder is validated, then renamed into place, so
    neither a killed run nor an invalid task leaves a folder at `dest`.
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise UserError(f"{dest} already exists (remove it or choose another --out)")
    with staged_folder(dest) as staging:
        (staging / "public").mkdir()
        (staging / "private").mkdir()
        fill(staging / "public", staging / "private")
        write_json_atomic(staging / TASK_FILE, spec.to_json())
        try:
            load_task(staging)            # an invalid task never reaches `dest`
        except UserError as exc:
            raise UserError(str(exc).replace(str(staging), str(dest))) from None
    return load_task(dest)
