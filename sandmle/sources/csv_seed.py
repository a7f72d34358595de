"""A seed from a user's CSV file: `dna_from_csv(path, targets, metric)` (`sandmle seeds from-csv`).

Reads the CSV once and records its structure, not its contents: column types (numeric,
categorical, datetime, free text), the widest categorical's cardinality, the missing-cell
rate, the share of gross numeric outliers, class balance, and label cardinality. Sizes are
micro-scale whatever the file's size. Anything capped to fit micro data (classes, levels)
is said in the DNA's notes. Bad input raises one `UserError`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sandmle.errors import UserError
from sandmle.metrics.registry import METRICS
from sandmle.synth.dna import FeatureSchema, Quirks, TaskDNA

MAX_CLASSES = 20
MAX_LEVELS = 8
MAX_COLUMNS = 30


def _role(series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "categorical"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    sample = series.dropna().astype(str)
    if len(sample) and sample.str.match(r"^\d{4}-\d{2}-\d{2}").mean() > 0.9:
        return "datetime"
    if len(sample) and sample.str.count(" ").mean() >= 3:
        return "text"
    return "categorical"


def _is_identifier(name: str, series) -> bool:
    """A column unique per row that is named like an id, or a unique label-like string."""
    unique = series.nunique(dropna=True) == len(series)
    return unique and (re.search(r"(^|_)id$", name.lower()) is not None or _role(series) == "categorical")


def dna_from_csv(path: str | Path, targets: list[str], metric: str, seed_id: str | None = None) -> TaskDNA:
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r} (known: {', '.join(sorted(METRICS))})")
    try:
        frame = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise UserError(f"{path} is not a readable CSV file ({str(exc).splitlines()[0]})") from None
    missing = [t for t in targets if t not in frame.columns]
    if missing:
        raise UserError(f"target column(s) {missing} not in {path.name} (columns: {', '.join(map(str, frame.columns))})")
    if len(frame) < 20:
        raise UserError(f"{path.name} has {len(frame)} rows; at least 20 are needed to read its structure")
    kind = METRICS[metric].kind
    notes = []
    y = frame[targets[0]].dropna()
    num_classes = num_labels = 0
    num_targets = 1
    params: dict = {}
    imbalance = 0.0
    if kind == "multilabel_proba" and len(targets) > 1:
        target_kind, num_labels = "multilabel", min(len(targets), 12)
        share = float(np.clip(frame[targets].mean().mean(), 0.05, 0.5))
        imbalance = round(float(np.clip(1 - 2 * share, 0, 0.9)), 2)
        if len(targets) > 12:
            notes.append(f"{len(targets)} labels capped to 12")
    elif kind in ("value", "multi_value"):
        target_kind, num_targets = "regression", len(targets)
        if (kind == "multi_value") != (len(targets) > 1):
            raise UserError(f"metric {metric} needs {'several' if kind == 'multi_value' else 'one'} target column(s)")
    elif len(targets) > 1:
        raise UserError(f"metric {metric} takes one target column, got {len(targets)}")
    else:
        counts = y.astype(str).value_counts()
        k = len(counts)
        if k < 2:
            raise UserError(f"target {targets[0]!r} has a single value; nothing to predict")
        shares = counts.to_numpy() / counts.sum()
        imbalance = round(float(np.clip(1 - shares.min() / shares.max(), 0, 0.9)), 2)
        if kind == "ordinal":
            target_kind = "ordinal"
        elif kind == "ranking":
            target_kind = "ranking"
        elif k == 2 and kind in ("binary_proba", "label"):
            target_kind = "binary"
            imbalance = round(float(np.clip(1 - 2 * shares.min(), 0, 0.9)), 2)
        elif kind == "binary_proba":
            raise UserError(f"metric {metric} needs a two-valued target; {targets[0]!r} has {k} values")
        else:
            target_kind = "multiclass"
        if target_kind != "binary":
            num_classes = int(np.clip(k, 3, MAX_CLASSES))
            if k > MAX_CLASSES:
                notes.append(f"{k} classes capped to {MAX_CLASSES} for micro data")
        if target_kind == "ranking":
            params["k"] = min(5, num_classes - 1)
    features = [c for c in frame.columns if c not in targets and not _is_identifier(str(c), frame[c])]
    roles = {c: _role(frame[c]) for c in features}
    counts = {r: sum(1 for v in roles.values() if v == r) for r in ("numeric", "categorical", "datetime", "text")}
    if counts["numeric"] + counts["categorical"] > MAX_COLUMNS:
        notes.append(f"{counts['numeric'] + counts['categorical']} tabular columns capped to {MAX_COLUMNS}")
        scale = MAX_COLUMNS / (counts["numeric"] + counts["categorical"])
        counts["numeric"] = int(counts["numeric"] * scale)
        counts["categorical"] = int(counts["categorical"] * scale)
    cats = [c for c, r in roles.items() if r == "categorical"]
    widest = max((int(frame[c].nunique()) for c in cats), default=0)
    if widest > MAX_LEVELS:
        notes.append(f"categorical levels capped to {MAX_LEVELS} (widest column has {widest})")
    text_words = [int(frame[c].dropna().astype(str).str.split().str.len().mean()) for c, r in roles.items() if r == "text"]
    feature_schema = FeatureSchema(
        numeric=counts["numeric"], categorical=counts["categorical"],
        max_cardinality=int(np.clip(widest, 2, MAX_LEVELS)) if counts["categorical"] else 0,
        datetime=min(counts["datetime"], 3), text=min(counts["text"], 2),
        text_length_words=int(np.clip(np.mean(text_words), 5, 60)) if text_words else 0)
    missing_rate = float(frame[features].isna().to_numpy().mean()) if features else 0.0
    numeric_cols = [c for c, r in roles.items() if r == "numeric"]
    outlier_rate = 0.0
    if numeric_cols:
        values = frame[numeric_cols].to_numpy(float)
        med = np.nanmedian(values, axis=0)
        mad = np.nanmedian(np.abs(values - med), axis=0) * 1.4826 + 1e-12
        outlier_rate = float(np.nanmean(np.abs(values - med) / mad > 6))
    quirks = Quirks(missing_rate=round(min(missing_rate, 0.5), 3), outlier_rate=round(min(outlier_rate, 0.2), 3),
                    imbalance=imbalance)
    has_tab = feature_schema.tabular_columns > 0
    if feature_schema.text and has_tab:
        modality = "multimodal"
    elif feature_schema.text:
        modality = "text"
    elif has_tab:
        modality = "tabular"
    else:
        raise UserError(f"{path.name} has no feature columns besides the target(s) and identifiers")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-") or "data"
    try:
        return TaskDNA(
            id=seed_id or f"csv-{stem}", modality=modality, target_kind=target_kind, metric=metric,
            num_classes=num_classes, num_labels=num_labels, num_targets=num_targets, metric_params=params,
            features=feature_schema, quirks=quirks, suite="user",
            title=f"Structure of {path.name}",
            source=f"user CSV {path.name}: {len(frame)} rows, {len(frame.columns)} columns, target {', '.join(targets)}",
            notes="; ".join(notes))
    except ValueError as exc:
        raise UserError(f"cannot describe {path.name} as a task: {exc}") from None
