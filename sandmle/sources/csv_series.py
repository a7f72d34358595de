"""A time index in a user's CSV: when a table is a set of time series, its seed forecasts.

`series_structure(frame, target, features)` looks for a datetime column whose distinct
stamps are evenly spaced (one median step: hourly, daily, weekly or monthly) and that,
alone or with one text column naming the series, identifies each row. It returns the
`SeriesSchema` (frequency, the usual season of that frequency, how many series, whether
the target trends, whether a holiday-like flag column is present), the history and
horizon sizes and the columns it consumed, or None when the table is not a time series.
`sandmle.sources.csv_seed.dna_from_csv` turns a regression seed with a time index into a
forecasting seed this way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sandmle.synth.dna import SeriesSchema

SEASONS = {"H": 24, "D": 7, "W": 52, "M": 12}       # the usual cycle of each step
HORIZONS = {"H": (24, 48), "D": (14, 28), "W": (8, 13), "M": (6, 12)}   # a usual forecast range
MAX_SERIES = 40                                      # micro data: a few dozen series at most
_STEPS = (("H", 1 / 24), ("D", 1.0), ("W", 7.0), ("M", 30.4))


@dataclass(frozen=True)
class SeriesFound:
    schema: SeriesSchema
    history: tuple[int, int]             # steps per series in train.csv
    horizon: tuple[int, int]             # steps to forecast
    time_column: str
    key_column: str | None
    flag_columns: tuple[str, ...] = ()   # holiday or event flags: the generator's holidays.csv stands for them
    notes: tuple[str, ...] = ()


def _frequency(stamps) -> str | None:
    """H, D, W or M when the distinct stamps are evenly spaced by one of those, else None."""
    import pandas as pd

    distinct = pd.Series(sorted(stamps.dropna().unique()))
    if len(distinct) < 8:
        return None
    days = distinct.diff().dropna().dt.total_seconds().to_numpy() / 86400.0
    step = float(np.median(days))
    for name, size in _STEPS:
        tolerance = 0.1 * size if name != "M" else 3.1
        if abs(step - size) <= tolerance and np.mean(np.abs(days - step) <= tolerance) >= 0.9:
            return name
    return None


def series_structure(frame, target: str, features: list[str]) -> SeriesFound | None:
    """The table's time-series structure (see the module doc), or None."""
    import pandas as pd

    for column in features:
        if pd.api.types.is_numeric_dtype(frame[column]):
            continue
        text = frame[column].dropna().astype(str)
        if not len(text) or text.str.match(r"^\d{4}-\d{2}-\d{2}").mean() < 0.9:
            continue
        stamps = pd.to_datetime(frame[column], errors="coerce")
        frequency = _frequency(stamps)
        if frequency is None:
            continue
        keys = [c for c in features if c != column and not pd.api.types.is_numeric_dtype(frame[c])
                and 1 < frame[c].nunique() <= max(2, len(frame) // 8)]
        key = next((k for k in keys if not frame.duplicated([column, k]).any()), None)
        if key is None and frame[column].duplicated().any():
            continue                      # repeated stamps that no column tells apart: not a series
        return _found(frame, target, column, key, stamps, frequency)
    return None


def _found(frame, target: str, time_column: str, key: str | None, stamps, frequency: str) -> SeriesFound:
    count = int(frame[key].nunique()) if key else 1
    steps = int(stamps.nunique())
    season = SEASONS[frequency]
    if steps < 2 * season + 8:          # too short to show two yearly cycles: no season
        season = 0 if frequency in ("W", "M") else season
    low = 2 * season + 8
    history = (low, int(np.clip(steps, low, 400)))
    horizon = HORIZONS[frequency]
    order = np.argsort(stamps.to_numpy())
    y = frame[target].to_numpy(float)[order]
    t = np.arange(len(y), dtype=float)
    finite = np.isfinite(y)
    trend = bool(finite.sum() > 8 and abs(np.corrcoef(t[finite], y[finite])[0, 1]) > 0.3)
    flags = [c for c in frame.columns if c not in (target, time_column, key)
             and ("holiday" in str(c).lower() or "event" in str(c).lower())]
    low = min(count, MAX_SERIES)
    notes = [f"time index {time_column!r} ({frequency}), {count} series"
             + (f" by {key!r}" if key else "") + (f", capped to {MAX_SERIES}" if count > MAX_SERIES else "")]
    schema = SeriesSchema(frequency=frequency, season_length=season,
                          series=(max(1, low // 2) if low > 1 else 1, low), trend=trend, holidays=bool(flags))
    return SeriesFound(schema, history, horizon, time_column, key, tuple(flags), tuple(notes))
