"""The data model a data-conditioned seed keeps: marginals, copula, missingness and a teacher.

A `DataModel` describes a real table without holding any of its rows:

- `columns`: one `ColumnModel` per feature column in file order. Continuous numeric and
  datetime columns keep 65 quantiles (their inverse CDF at evenly spaced probabilities);
  numeric columns of at most 20 distinct values and categorical columns keep their values
  or levels with their frequencies.
- `correlation`: the Gaussian copula's correlation between the columns' normal scores.
- `missing`: joint missingness patterns (sets of columns empty together) with their shares.
- `head`: the label relationship: a `Teacher` (a linear model and/or boosted trees fitted on
  the real rows) whose output, with calibrated noise, labels the twin's rows, plus the
  realised class shares (or the target's quantiles for regression).

Inputs to the teacher are encoded by `encode`: numbers median-imputed and standardised with a
missing-value indicator where the real column had gaps, categories one-hot. Fitting lives in
`sandmle.sources.csv_twin`; sampling in `sandmle.synth.twin.sample`. JSON round trip:
`DataModel.from_json(model.to_json())`; `from_json` raises ValueError on a malformed model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

COLUMN_KINDS = ("numeric", "categorical", "datetime")
HEAD_KINDS = ("binary", "multiclass", "ordinal", "regression")
QUANTILE_POINTS = 65
VERSION = 1


@dataclass(frozen=True)
class ColumnModel:
    """One feature column's marginal and how the teacher reads it."""

    name: str
    kind: str                               # numeric | categorical | datetime
    quantiles: tuple[float, ...] = ()       # continuous: values at linspace(0, 1, QUANTILE_POINTS)
    values: tuple[Any, ...] = ()            # discrete numeric values or categorical levels
    probs: tuple[float, ...] = ()           # their frequencies (sum 1)
    decimals: int = 0                       # numeric: decimals the source writes
    missing_rate: float = 0.0
    center: float = 0.0                     # teacher input: median (imputation)
    mean: float = 0.0                       # teacher input: standardisation
    sd: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in COLUMN_KINDS:
            raise ValueError(f"column {self.name!r}: kind must be one of {COLUMN_KINDS}, got {self.kind!r}")
        if bool(self.quantiles) == bool(self.values):
            raise ValueError(f"column {self.name!r} needs either quantiles or values")
        if self.values and (len(self.probs) != len(self.values) or abs(sum(self.probs) - 1) > 1e-3):
            raise ValueError(f"column {self.name!r}: probs must match values and sum to 1")
        if self.kind == "categorical" and not self.values:
            raise ValueError(f"categorical column {self.name!r} needs levels")
        if self.quantiles and len(self.quantiles) != QUANTILE_POINTS:
            raise ValueError(f"column {self.name!r} needs {QUANTILE_POINTS} quantiles, got {len(self.quantiles)}")
        if not 0 <= self.missing_rate < 1 or self.sd <= 0:
            raise ValueError(f"column {self.name!r}: missing_rate in [0, 1) and sd > 0 needed")

    @property
    def is_discrete(self) -> bool:
        return bool(self.values)

    @property
    def width(self) -> int:
        """Teacher inputs this column contributes."""
        if self.kind == "categorical":
            return len(self.values)
        return 1 + (self.missing_rate > 0)


@dataclass(frozen=True)
class Trees:
    """Gradient-boosted regression trees: raw[:, out] = init[out] + rate * sum of its trees."""

    init: tuple[float, ...]
    rate: float
    trees: tuple[dict, ...]     # {"out", "feature", "threshold", "left", "right", "value"} (leaf: feature -1)

    def raw(self, x: np.ndarray) -> np.ndarray:
        out = np.tile(np.asarray(self.init, dtype=float), (x.shape[0], 1))
        rows = np.arange(x.shape[0])
        for tree in self.trees:
            feature = np.asarray(tree["feature"])
            threshold = np.asarray(tree["threshold"], dtype=float)
            left, right = np.asarray(tree["left"]), np.asarray(tree["right"])
            node = np.zeros(x.shape[0], dtype=int)
            while True:
                inner = feature[node] >= 0
                if not inner.any():
                    break
                go_left = x[rows, np.maximum(feature[node], 0)] <= threshold[node]
                node = np.where(inner, np.where(go_left, left[node], right[node]), node)
            out[:, tree["out"]] += self.rate * np.asarray(tree["value"], dtype=float)[node]
        return out


@dataclass(frozen=True)
class Teacher:
    """raw = blend * linear(x) + (1 - blend) * trees(x), on encoded inputs (rows, inputs)."""

    kind: str                                   # "linear", "trees" or "blend" (what CV chose)
    outputs: int
    blend: float                                # weight of the linear part
    coef: tuple[tuple[float, ...], ...] = ()    # (outputs, inputs)
    intercept: tuple[float, ...] = ()
    trees: Trees | None = None

    def raw(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((x.shape[0], self.outputs))
        if self.blend > 0:
            out += self.blend * (x @ np.asarray(self.coef, dtype=float).T + np.asarray(self.intercept, dtype=float))
        if self.blend < 1:
            out += (1 - self.blend) * self.trees.raw(x)
        return out


@dataclass(frozen=True)
class LabelHead:
    """How teacher outputs become labels.

    binary/multiclass: P(class) = softmax(raw / temperature + bias) (binary: one logit,
    sigmoid). ordinal/regression: a normal score z = raw + noise_scale * e, e drawn from the
    real out-of-fold residual quantiles; z / z_sd is mapped through the real target's
    quantiles (regression) or cut at the real class shares (ordinal)."""

    kind: str
    teacher: Teacher
    classes: tuple[str, ...] = ()           # label spellings of the source, in label order
    shares: tuple[float, ...] = ()          # realised class shares
    temperature: float = 1.0
    bias: tuple[float, ...] = ()
    residuals: tuple[float, ...] = ()       # standardised out-of-fold residual quantiles
    noise_scale: float = 0.0
    z_sd: float = 1.0                       # sd of raw + noise over the real rows' inputs
    target_quantiles: tuple[float, ...] = ()
    target_decimals: int = 6
    signal: dict[str, float] = field(default_factory=dict)   # measured CV signal, real and twin

    def __post_init__(self) -> None:
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"head kind must be one of {HEAD_KINDS}, got {self.kind!r}")
        if self.kind in ("binary", "multiclass", "ordinal"):
            if len(self.classes) < 2 or len(self.shares) != len(self.classes):
                raise ValueError(f"a {self.kind} head needs classes and their shares")
        if self.kind in ("ordinal", "regression") and len(self.residuals) != QUANTILE_POINTS:
            raise ValueError(f"a {self.kind} head needs {QUANTILE_POINTS} residual quantiles")
        if self.kind == "regression" and len(self.target_quantiles) != QUANTILE_POINTS:
            raise ValueError(f"a regression head needs {QUANTILE_POINTS} target quantiles")
        if self.temperature <= 0 or self.noise_scale < 0 or self.z_sd <= 0:
            raise ValueError("temperature and z_sd must be > 0, noise_scale >= 0")


@dataclass(frozen=True)
class DataModel:
    """A compact, row-free model of a real table (see the module doc)."""

    columns: tuple[ColumnModel, ...]
    correlation: tuple[tuple[float, ...], ...]
    missing: tuple[tuple[tuple[int, ...], float], ...]     # (column indices empty together, share)
    head: LabelHead
    source_rows: int
    privacy: dict[str, Any] = field(default_factory=dict)  # the probe's distance-to-closest-record check
    duplicate_share: float = 0.0    # real micro splits: share of test rows whose features repeat a training row
    version: int = VERSION

    def __post_init__(self) -> None:
        d = len(self.columns)
        if d == 0:
            raise ValueError("a data model needs at least one column")
        corr = np.asarray(self.correlation, dtype=float)
        if corr.shape != (d, d) or not np.allclose(np.diag(corr), 1.0, atol=1e-6):
            raise ValueError(f"correlation must be a {d}x{d} matrix with a unit diagonal")
        if sum(share for _, share in self.missing) > 1 + 1e-6:
            raise ValueError("missingness pattern shares sum to more than 1")
        if any(not 0 <= i < d for cols, _ in self.missing for i in cols):
            raise ValueError("a missingness pattern names a column that does not exist")
        width = sum(c.width for c in self.columns)
        t = self.head.teacher
        if t.blend > 0 and np.asarray(t.coef).shape != (t.outputs, width):
            raise ValueError(f"teacher coefficients must be ({t.outputs}, {width})")
        if self.version != VERSION:
            raise ValueError(f"data model version {self.version} is not {VERSION}")

    # ---- JSON ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DataModel":
        try:
            head = dict(data["head"])
            teacher = dict(head.pop("teacher"))
            trees = teacher.pop("trees", None)
            teacher = Teacher(**{**teacher, "coef": tuple(tuple(r) for r in teacher.get("coef", ())),
                                 "intercept": tuple(teacher.get("intercept", ())),
                                 "trees": Trees(tuple(trees["init"]), trees["rate"], tuple(trees["trees"]))
                                 if trees else None})
            head = LabelHead(teacher=teacher, **{k: tuple(v) if isinstance(v, list) else v for k, v in head.items()})
            columns = tuple(ColumnModel(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()})
                            for c in data["columns"])
            return cls(columns=columns, correlation=tuple(tuple(r) for r in data["correlation"]),
                       missing=tuple((tuple(cols), share) for cols, share in data["missing"]), head=head,
                       source_rows=data["source_rows"], privacy=dict(data.get("privacy", {})),
                       duplicate_share=data.get("duplicate_share", 0.0), version=data.get("version", VERSION))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"data model is malformed: {exc!r}") from None


def encode(columns: tuple[ColumnModel, ...], cells: list[np.ndarray]) -> np.ndarray:
    """Teacher inputs (rows, sum of widths) of raw cells: per column a float array with NaN
    for missing (numeric, datetime as seconds) or an object array of levels / None."""
    blocks = []
    for col, values in zip(columns, cells):
        if col.kind == "categorical":
            blocks.append(np.stack([np.array([v == level for v in values], dtype=float) for level in col.values], axis=1))
            continue
        values = np.asarray(values, dtype=float)
        missing = np.isnan(values)
        blocks.append(((np.where(missing, col.center, values) - col.mean) / col.sd)[:, None])
        if col.missing_rate > 0:
            blocks.append(missing.astype(float)[:, None])
    return np.hstack(blocks)
