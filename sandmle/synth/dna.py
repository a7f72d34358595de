"""Task DNA: the structure of a task stripped of its meaning.

A `TaskDNA` says what kind of task a seed is (modality, target kind, metric, submission
shape, feature schema, data quirks, sizes) and nothing about its domain. Amplification
(`sandmle.synth.amplify`) re-targets a DNA to a domain and fixes its sizes; the generators
(`sandmle.synth.generators`) turn the amplified DNA into data. Every DNA validates itself
once in `__post_init__` and round-trips through JSON (`to_json` / `from_json`).

Sizes count `Sizes.unit`s: rows of train.csv for most tasks, sentences for token-sequence
tasks (each sentence is several token rows), images for image-to-image tasks (each image is
many pixel rows in the submission), time steps per series for forecasting tasks (train:
history, test: horizon; `SeriesSchema.series` says how many series), nodes for node
classification and ranked link prediction, node pairs for scored link prediction.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sandmle.metrics.registry import METRICS
from sandmle.task import MODALITIES

TARGET_KINDS = ("binary", "multiclass", "multilabel", "ordinal", "regression", "ranking", "sequence")
SUBMISSION_SHAPES = ("row", "long")      # one row per test id | one row per pixel or token
SIZE_UNITS = ("row", "sentence", "image", "step", "node", "pair")
FREQUENCIES = ("H", "D", "W", "M")         # hourly, daily, weekly, monthly time steps
GRAPH_TASKS = ("node", "link")             # classify nodes | predict edges
SUITES = ("mle-bench-lite", "archetype", "user")
LANGUAGES = ("en", "ru")

# Metric kinds each target kind may be scored with (sandmle.metrics.registry.KINDS).
_KINDS_FOR_TARGET = {
    "binary": {"binary_proba", "label"},
    "multiclass": {"multiclass_proba", "label", "multilabel_proba"},
    "multilabel": {"multilabel_proba"},
    "ordinal": {"ordinal", "label"},
    "regression": {"value", "multi_value"},
    "ranking": {"ranking"},
    "sequence": {"label"},
}


@dataclass(frozen=True)
class FeatureSchema:
    """What the inputs look like (counts of columns by type, media formats)."""

    numeric: int = 0
    categorical: int = 0
    max_cardinality: int = 0            # levels of the widest categorical column
    text: int = 0                       # free-text columns
    text_length_words: int = 0          # typical words per text cell
    datetime: int = 0
    image_size_px: int = 0              # side of a square image; 0 = no images
    image_channels: int = 0             # 1 grey, 3 RGB
    audio_duration_s: float = 0.0       # 0 = no audio
    audio_sample_rate_hz: int = 0

    def __post_init__(self) -> None:
        for name in ("numeric", "categorical", "max_cardinality", "text", "text_length_words",
                     "datetime", "image_size_px", "image_channels", "audio_sample_rate_hz"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"features.{name} must be a non-negative int, got {value!r}")
        if self.categorical and self.max_cardinality < 2:
            raise ValueError(f"features.max_cardinality must be >= 2 with categorical columns, got {self.max_cardinality}")
        if self.text and self.text_length_words < 3:
            raise ValueError(f"features.text_length_words must be >= 3 with text columns, got {self.text_length_words}")
        if self.image_size_px and not 8 <= self.image_size_px <= 64:
            raise ValueError(f"features.image_size_px must be 8..64 for micro tasks, got {self.image_size_px}")
        if bool(self.image_size_px) != bool(self.image_channels) or self.image_channels not in (0, 1, 3):
            raise ValueError(f"features.image_channels must be 1 or 3 with images and 0 without, got {self.image_channels}")
        if self.audio_duration_s < 0 or self.audio_duration_s > 2.0:
            raise ValueError(f"features.audio_duration_s must be in [0, 2] s, got {self.audio_duration_s}")
        if bool(self.audio_duration_s) != bool(self.audio_sample_rate_hz):
            raise ValueError("features.audio_duration_s and audio_sample_rate_hz must be set together")
        if self.audio_sample_rate_hz and not 2000 <= self.audio_sample_rate_hz <= 16000:
            raise ValueError(f"features.audio_sample_rate_hz must be 2000..16000, got {self.audio_sample_rate_hz}")

    @property
    def has_images(self) -> bool:
        return self.image_size_px > 0

    @property
    def has_audio(self) -> bool:
        return self.audio_sample_rate_hz > 0

    @property
    def tabular_columns(self) -> int:
        return self.numeric + self.categorical + self.datetime


@dataclass(frozen=True)
class Quirks:
    """Adversarial properties of the data."""

    missing_rate: float = 0.0           # share of feature cells left empty
    outlier_rate: float = 0.0           # share of numeric cells replaced by gross outliers
    label_noise: float = 0.0            # share of training labels replaced at random
    imbalance: float = 0.0              # 0 balanced; binary positive share = 0.5 * (1 - imbalance)
    distractors: int = 0                # extra columns unrelated to the target
    shift: float = 0.0                  # test covariate shift, in feature standard deviations
    grouped: bool = False               # rows share a group id whose effect the target carries

    def __post_init__(self) -> None:
        for name, high in (("missing_rate", 0.5), ("outlier_rate", 0.2), ("label_noise", 0.3),
                           ("imbalance", 0.9), ("shift", 2.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= high:
                raise ValueError(f"quirks.{name} must be a number in [0, {high}], got {value!r}")
        if not isinstance(self.distractors, int) or isinstance(self.distractors, bool) or not 0 <= self.distractors <= 20:
            raise ValueError(f"quirks.distractors must be an int in [0, 20], got {self.distractors!r}")
        if not isinstance(self.grouped, bool):
            raise ValueError(f"quirks.grouped must be a bool, got {self.grouped!r}")


@dataclass(frozen=True)
class SeriesSchema:
    """The time structure of a forecasting task (modality "time_series"); frequency "" = none.

    Exogenous inputs known in advance (prices, promotions, weather forecasts) are the DNA's
    numeric and categorical feature columns."""

    frequency: str = ""                 # one of FREQUENCIES
    season_length: int = 0              # steps per seasonal cycle (24 hourly, 7 daily, 52 weekly, 12 monthly); 0 none
    series: tuple[int, int] = (1, 1)    # how many series, an inclusive range
    trend: bool = False
    holidays: bool = False              # dated events with their own effect, listed in holidays.csv

    def __post_init__(self) -> None:
        if self.frequency and self.frequency not in FREQUENCIES:
            raise ValueError(f"series.frequency must be one of {FREQUENCIES} or empty, got {self.frequency!r}")
        if not isinstance(self.season_length, int) or not 0 <= self.season_length <= 60 or self.season_length == 1:
            raise ValueError(f"series.season_length must be 0 or 2..60 steps, got {self.season_length!r}")
        low, high = self.series
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high <= 200):
            raise ValueError(f"series.series must be a range (low, high) with 1 <= low <= high <= 200, got {self.series}")
        if not isinstance(self.trend, bool) or not isinstance(self.holidays, bool):
            raise ValueError("series.trend and series.holidays must be booleans")

    @property
    def is_set(self) -> bool:
        return bool(self.frequency)


@dataclass(frozen=True)
class GraphSchema:
    """The structure of a graph task (modality "graph"); task "" = none.

    Nodes fall into communities (the classes of a node task); edges join nodes of one
    community with probability `homophily`; node features are the DNA's numeric columns."""

    task: str = ""                      # one of GRAPH_TASKS
    mean_degree: float = 0.0            # edges per node in the full graph
    homophily: float = 0.0              # share of edges inside a community
    communities: int = 0                # node tasks: the classes; link tasks: hidden groups

    def __post_init__(self) -> None:
        if self.task and self.task not in GRAPH_TASKS:
            raise ValueError(f"graph.task must be one of {GRAPH_TASKS} or empty, got {self.task!r}")
        if self.task and not 2.0 <= self.mean_degree <= 30.0:
            raise ValueError(f"graph.mean_degree must be in [2, 30], got {self.mean_degree!r}")
        if self.task and not 0.0 <= self.homophily <= 1.0:
            raise ValueError(f"graph.homophily must be in [0, 1], got {self.homophily!r}")
        if self.task and not 2 <= self.communities <= 20:
            raise ValueError(f"graph.communities must be 2..20, got {self.communities!r}")

    @property
    def is_set(self) -> bool:
        return bool(self.task)


@dataclass(frozen=True)
class Sizes:
    """Inclusive ranges amplification draws sizes from, in `unit`s (see the module doc)."""

    train: tuple[int, int] = (50, 200)
    test: tuple[int, int] = (200, 600)
    unit: str = "row"

    def __post_init__(self) -> None:
        if self.unit not in SIZE_UNITS:
            raise ValueError(f"sizes.unit must be one of {SIZE_UNITS}, got {self.unit!r}")
        for name in ("train", "test"):
            low, high = getattr(self, name)
            if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
                raise ValueError(f"sizes.{name} must be a range (low, high) with 1 <= low <= high, got {(low, high)}")
        if self.unit in ("row", "node") and not (50 <= self.train[0] and self.train[1] <= 200):
            raise ValueError(f"sizes.train must lie within 50..200 {self.unit}s for micro tasks, got {self.train}")
        if self.unit == "pair" and not (50 <= self.train[0] and self.train[1] <= 400):
            raise ValueError(f"sizes.train must lie within 50..400 pairs for micro tasks, got {self.train}")
        if self.unit == "step" and not (8 <= self.train[0] and self.train[1] <= 400 and self.test[1] <= 240):
            raise ValueError(f"forecasting sizes must be 8..400 history steps and at most 240 horizon steps, "
                             f"got train {self.train}, test {self.test}")
        if self.test[1] > 5000:
            raise ValueError(f"sizes.test must be at most 5000 {self.unit}s, got {self.test}")


@dataclass(frozen=True)
class TaskDNA:
    """Typed, serialisable structure of a task (see the module doc)."""

    id: str
    modality: str
    target_kind: str
    metric: str
    num_classes: int = 0                # multiclass, ordinal and ranking: label domain size
    num_labels: int = 0                 # multilabel: label columns
    num_targets: int = 1                # regression: target columns
    metric_params: dict[str, Any] = field(default_factory=dict)
    submission: str = "row"
    features: FeatureSchema = field(default_factory=FeatureSchema)
    quirks: Quirks = field(default_factory=Quirks)
    sizes: Sizes = field(default_factory=Sizes)
    language: str = "en"
    suite: str = "archetype"
    title: str = ""
    source: str = ""                    # what the seed stands for, e.g. the real competition
    notes: str = ""                     # how the micro version departs from the source
    domain: str = ""                    # "" for a seed; set by amplification
    data_model: dict[str, Any] = field(default_factory=dict)   # real-data seeds: sandmle.synth.twin.model
    series: SeriesSchema = field(default_factory=SeriesSchema)     # forecasting tasks only
    graph: GraphSchema = field(default_factory=GraphSchema)        # graph tasks only

    def __post_init__(self) -> None:
        if not self.id or not all(c.isalnum() or c in "-_." for c in self.id):
            raise ValueError(f"id must be non-empty letters, digits, '-', '_' or '.', got {self.id!r}")
        if self.modality not in MODALITIES:
            raise ValueError(f"modality {self.modality!r} is not one of {', '.join(MODALITIES)}")
        if self.target_kind not in TARGET_KINDS:
            raise ValueError(f"target_kind {self.target_kind!r} is not one of {', '.join(TARGET_KINDS)}")
        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r} is unknown (known: {', '.join(sorted(METRICS))})")
        kind = METRICS[self.metric].kind
        if kind not in _KINDS_FOR_TARGET[self.target_kind]:
            raise ValueError(f"metric {self.metric!r} (kind {kind}) cannot score a {self.target_kind} target")
        if self.submission not in SUBMISSION_SHAPES:
            raise ValueError(f"submission must be one of {SUBMISSION_SHAPES}, got {self.submission!r}")
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {self.language!r}")
        if self.suite not in SUITES:
            raise ValueError(f"suite must be one of {SUITES}, got {self.suite!r}")
        ranks_nodes = self.modality == "graph" and self.target_kind == "ranking"     # candidates are nodes
        if self.target_kind in ("multiclass", "ordinal", "ranking") and not ranks_nodes and not 3 <= self.num_classes <= 20:
            raise ValueError(f"num_classes must be 3..20 for a {self.target_kind} target, got {self.num_classes}")
        if self.target_kind == "binary" and self.num_classes not in (0, 2):
            raise ValueError(f"num_classes must be 0 or 2 for a binary target, got {self.num_classes}")
        if self.target_kind == "multilabel" and not 2 <= self.num_labels <= 12:
            raise ValueError(f"num_labels must be 2..12 for a multilabel target, got {self.num_labels}")
        if self.target_kind != "multilabel" and self.num_labels:
            raise ValueError(f"num_labels is only for multilabel targets, got {self.num_labels} for {self.target_kind}")
        if not 1 <= self.num_targets <= 6 or (self.num_targets > 1 and self.target_kind != "regression"):
            raise ValueError(f"num_targets must be 1, or 2..6 for regression, got {self.num_targets}")
        if (self.num_targets > 1) != (kind == "multi_value"):
            raise ValueError(f"metric {self.metric!r} needs num_targets {'> 1' if kind == 'multi_value' else '== 1'}, got {self.num_targets}")
        if kind == "ranking":
            k = self.metric_params.get("k", 5)
            top = 21 if ranks_nodes else self.num_classes
            if not isinstance(k, int) or not 1 <= k < top:
                raise ValueError(f"metric_params.k must be an int in [1, {top}), got {k!r}")
        if self.modality == "image_to_image":
            if self.submission != "long" or self.sizes.unit != "image" or not self.features.has_images:
                raise ValueError("image_to_image needs submission='long', sizes.unit='image' and an image size")
        elif self.sizes.unit == "image":
            raise ValueError("sizes.unit 'image' is only for image_to_image tasks")
        if self.target_kind == "sequence" and (self.modality != "sequence" or self.sizes.unit != "sentence" or self.submission != "long"):
            raise ValueError("sequence targets need modality 'sequence', sizes.unit 'sentence' and submission 'long'")
        if self.modality == "sequence" and self.target_kind != "sequence":
            raise ValueError("modality 'sequence' needs target_kind 'sequence'")
        needs = {
            "tabular": self.features.tabular_columns > 0,
            "text": self.features.text > 0,
            "image": self.features.has_images,
            "audio": self.features.has_audio,
            "multimodal": sum((self.features.tabular_columns > 0, self.features.text > 0,
                               self.features.has_images, self.features.has_audio)) >= 2,
        }
        if self.modality in needs and not needs[self.modality]:
            raise ValueError(f"modality {self.modality!r} needs matching features, got {self.features}")
        self._check_series_and_graph()
        if self.data_model:
            self._check_data_model()

    def _check_series_and_graph(self) -> None:
        if (self.modality == "time_series") != self.series.is_set:
            raise ValueError("modality 'time_series' needs series.frequency, and only it may set one")
        if self.modality == "time_series":
            if self.target_kind != "regression" or self.num_targets != 1 or self.sizes.unit != "step":
                raise ValueError("a time_series task forecasts one regression target with sizes.unit 'step'")
            if self.series.season_length and 2 * self.series.season_length > self.sizes.train[0]:
                raise ValueError(f"history of {self.sizes.train[0]} steps holds fewer than two seasons of "
                                 f"{self.series.season_length}")
        elif self.sizes.unit == "step":
            raise ValueError("sizes.unit 'step' is only for time_series tasks")
        if (self.modality == "graph") != self.graph.is_set:
            raise ValueError("modality 'graph' needs graph.task, and only it may set one")
        if self.modality == "graph":
            if self.features.numeric < 1:
                raise ValueError("a graph task needs at least one numeric node feature")
            if self.graph.task == "node":
                if self.target_kind not in ("binary", "multiclass") or self.sizes.unit != "node":
                    raise ValueError("a node task classifies nodes (binary or multiclass) with sizes.unit 'node'")
                classes = self.num_classes or 2
                if self.graph.communities != classes:
                    raise ValueError(f"graph.communities ({self.graph.communities}) must equal the classes ({classes})")
            elif self.metric_kind == "ranking":
                if self.target_kind != "ranking" or self.sizes.unit != "node":
                    raise ValueError("ranked link prediction needs target_kind 'ranking' and sizes.unit 'node'")
            elif self.target_kind != "binary" or self.metric_kind != "binary_proba" or self.sizes.unit != "pair":
                raise ValueError("scored link prediction needs a binary target, a probability metric and "
                                 "sizes.unit 'pair'")
        elif self.sizes.unit in ("node", "pair"):
            raise ValueError(f"sizes.unit {self.sizes.unit!r} is only for graph tasks")

    def _check_data_model(self) -> None:
        """A data model must describe exactly the DNA's tabular columns and target."""
        from sandmle.synth.twin.model import DataModel

        model = DataModel.from_json(self.data_model)
        kinds = [c.kind for c in model.columns]
        counts = (kinds.count("numeric"), kinds.count("categorical"), kinds.count("datetime"))
        f = self.features
        if self.modality != "tabular" or counts != (f.numeric, f.categorical, f.datetime):
            raise ValueError(f"data_model columns {counts} (numeric, categorical, datetime) do not match a tabular "
                             f"DNA's features ({f.numeric}, {f.categorical}, {f.datetime})")
        head = {"binary": "binary", "multiclass": "multiclass", "ranking": "multiclass", "ordinal": "ordinal",
                "regression": "regression"}.get(self.target_kind)
        if head != model.head.kind or (head in ("multiclass", "ordinal") and len(model.head.classes) != self.num_classes):
            raise ValueError(f"data_model head {model.head.kind} with {len(model.head.classes)} classes does not fit "
                             f"a {self.target_kind} target with {self.num_classes} classes")
        if self.num_targets != 1:
            raise ValueError("data_model describes one target column")

    # ---- derived -------------------------------------------------------------------------
    @property
    def metric_kind(self) -> str:
        return METRICS[self.metric].kind

    @property
    def is_lower_better(self) -> bool:
        return METRICS[self.metric].is_lower_better

    @property
    def num_outputs(self) -> int:
        """Width of the hidden rule's output: logits, label scores or target values."""
        if self.target_kind in ("multiclass", "ordinal", "ranking"):
            return self.num_classes if self.target_kind != "ordinal" else 1
        if self.target_kind == "multilabel":
            return self.num_labels
        return self.num_targets

    @property
    def is_data_conditioned(self) -> bool:
        return bool(self.data_model)

    # ---- JSON ----------------------------------------------------------------------------
    def lineage_json(self) -> dict[str, Any]:
        """`to_json` with the data model replaced by its SHA-256 (task.json stays small)."""
        import hashlib
        import json

        data = self.to_json()
        model = data.pop("data_model")
        if model:
            data["data_model_sha256"] = hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()
        return data

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sizes"]["train"] = list(self.sizes.train)
        data["sizes"]["test"] = list(self.sizes.test)
        data["series"]["series"] = list(self.series.series)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TaskDNA":
        if not isinstance(data, dict):
            raise ValueError(f"a task DNA must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"task DNA has unknown keys {sorted(unknown)}")
        try:
            data["features"] = FeatureSchema(**data.get("features", {}))
            data["quirks"] = Quirks(**data.get("quirks", {}))
            series = dict(data.get("series", {}))
            if "series" in series:
                series["series"] = tuple(series["series"])
            data["series"] = SeriesSchema(**series)
            data["graph"] = GraphSchema(**data.get("graph", {}))
            sizes = dict(data.get("sizes", {}))
            for name in ("train", "test"):
                if name in sizes:
                    sizes[name] = tuple(sizes[name])
            data["sizes"] = Sizes(**sizes)
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"task DNA is malformed: {exc}") from None


def stable_test_rows(dna: TaskDNA) -> tuple[int, int]:
    """Test sizes for a stable metric: at least 30 rows per class or label (rows unit only)."""
    low, high = dna.sizes.test
    if dna.sizes.unit != "row":
        return (low, high)
    width = max(dna.num_classes, dna.num_labels, 2)
    # Rows of tables and short texts cost next to nothing, and the bootstrap noise of the
    # score shrinks as 1/sqrt(rows): more of them keep adjacent medal tiers separable.
    # Audio scores sit closer together than image scores at micro scale (calls in noise are
    # hard to pick out from 150 clips), so audio tasks need more test clips than images.
    floors_caps = {"tabular": (2000, 3000), "text": (2000, 3000), "audio": (800, 1000)}
    floor, cap = floors_caps.get(dna.modality, (200, 600))
    need = min(cap, max(floor, 30 * width))
    if dna.quirks.imbalance >= 0.6 or dna.metric_kind == "multilabel_proba":
        need = min(cap, need + 100)
    low = max(low, need)
    return (low, max(low, high))
