"""Tabular inputs: numeric, categorical and datetime columns with their latent values.

Numeric columns are `mean + sd * z` in the domain's units (rounded, clipped at zero where
the quantity cannot be negative); a categorical column's latent input is a random effect
per level; a datetime column contributes its hour-of-day cycle and a weekend flag. Quirks
act on what the agent sees, never on the latent values the rule reads: missing cells,
gross outliers, distractor columns (visible, not latent), test covariate shift, and a group
column whose random effect the rule adds.

A few coarse columns (counts, a level of two categories) can leave so few distinct rows that
test rows repeat training rows by chance alone, which verification refuses as a leak
(`sandmle.synth.verify.check_no_duplicate_rows`): then the numeric column with the fewest
distinct values is shown with one more decimal, up to `MAX_EXTRA_DECIMALS`, until the repeats
are within the check's limit. Tables already within it are unchanged.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.generators.common import ColumnDoc, Part, fmt

_UNIT_TOKENS = {"mmhg", "bpm", "kg", "m2", "mg", "dl", "pct", "usd", "years", "c", "k", "ul", "g", "mmol", "l",
                "rpm", "mm", "min", "s", "nm", "kw", "bar", "hb", "km", "kmh", "psi", "ms", "mb", "ha", "m",
                "ev", "hz", "v", "mwh", "kwh", "kpa", "deg", "angstrom", "months", "days", "minutes", "hours",
                "h", "w", "r", "t", "um", "kg_ha", "soc"}
_EPOCH = dt.datetime(2023, 1, 2)
MAX_EXTRA_DECIMALS = 3      # finer cells a coarse numeric column may get against repeated rows


def humanise(name: str) -> str:
    """'systolic_bp_mmhg' -> 'systolic bp'."""
    words = name.split("_")
    while len(words) > 1 and words[-1].lower() in _UNIT_TOKENS:
        words.pop()
    return " ".join(words)


def tabular_part(dna: TaskDNA, bp: Blueprint, is_test: np.ndarray, rng: np.random.Generator,
                 rows_distinct: bool = False) -> Part:
    """The tabular columns of n = len(is_test) rows. `rows_distinct`: another part (a text
    column) already tells every row apart, so repeated tabular cells leak nothing."""
    n = len(is_test)
    q = dna.quirks
    latent, names, columns, docs = [], [], {}, []
    numeric: dict[str, tuple[np.ndarray, int]] = {}      # name -> (unrounded values, decimals shown)
    for col in bp.columns:
        if col.kind == "numeric":
            z = rng.standard_normal(n)
            if q.shift and rng.random() < 0.6:
                z[is_test] += q.shift * rng.choice([-1.0, 1.0])
            spec = col.numeric
            values = spec.mean + spec.sd * z
            if spec.non_negative:
                values = np.maximum(values, 0.0)
            wild = rng.random(n) < q.outlier_rate
            if wild.any():
                values[wild] = (spec.mean + spec.sd * rng.choice([-1, 1], int(wild.sum()))
                                * rng.uniform(6, 12, int(wild.sum())))
                if spec.non_negative:
                    values[wild] = np.abs(values[wild])
            values[rng.random(n) < q.missing_rate] = np.nan
            numeric[col.name] = (values, spec.decimals)
            columns[col.name] = fmt(np.round(values, spec.decimals), spec.decimals)
            docs.append(ColumnDoc(col.name, humanise(col.name), col.unit))
            if not col.distractor:
                latent.append(z)
                names.append(col.name)
        elif col.kind == "categorical":
            k = len(col.levels)
            weights = rng.dirichlet(np.full(k, 2.0))
            level = rng.choice(k, size=n, p=weights)
            effect = rng.standard_normal(k)
            latent.append(effect[level])
            names.append(f"effect({col.name})")
            cells = [col.levels[i] for i in level]
            for i in np.flatnonzero(rng.random(n) < q.missing_rate).tolist():
                cells[i] = ""
            columns[col.name] = cells
            docs.append(ColumnDoc(col.name, f"{humanise(col.name)} (one of: {', '.join(col.levels)})"))
        elif col.kind == "datetime":
            seconds = rng.integers(0, 365 * 86400, n)
            hour = (seconds % 86400) / 3600.0
            weekday = (seconds // 86400) % 7          # the epoch is a Monday
            latent.append(np.sin(2 * np.pi * (hour - 6) / 24))
            names.append(f"daily_cycle({col.name})")
            latent.append((weekday >= 5).astype(float))
            names.append(f"weekend({col.name})")
            columns[col.name] = [(_EPOCH + dt.timedelta(seconds=int(s))).strftime("%Y-%m-%d %H:%M:%S")
                                 for s in seconds.tolist()]
            docs.append(ColumnDoc(col.name, f"{humanise(col.name)} timestamp", "YYYY-MM-DD HH:MM:SS"))
    group_effect = None
    if bp.group_column:
        groups = max(4, n // 12)
        gid = rng.integers(0, groups, n)
        group_effect = (0.8 * rng.standard_normal(groups))[gid]
        columns = {bp.group_column: [f"G{g:03d}" for g in gid.tolist()], **columns}
        docs.insert(0, ColumnDoc(bp.group_column, f"{humanise(bp.group_column)} shared by related rows"))
    if not rows_distinct:
        _spread_repeated_rows(columns, numeric, is_test)
    z = np.stack(latent, axis=1) if latent else np.zeros((n, 0))
    return Part(latent=z, input_names=names, columns=columns, docs=docs, group_effect=group_effect)


def repeated_share(columns: dict[str, list[str]], is_test: np.ndarray) -> float:
    """Share of test rows whose cells in `columns` all repeat one training row's, as
    `sandmle.synth.verify.check_no_duplicate_rows` counts them."""
    if not columns or not is_test.any():
        return 0.0
    rows = list(zip(*columns.values()))
    seen = {row for row, test in zip(rows, is_test.tolist()) if not test}
    return sum(row in seen for row, test in zip(rows, is_test.tolist()) if test) / int(is_test.sum())


def _spread_repeated_rows(columns: dict[str, list[str]], numeric: dict[str, tuple[np.ndarray, int]],
                          is_test: np.ndarray) -> None:
    """Show numeric columns with more decimals (`columns` in place) until at most
    MAX_DUPLICATE_SHARE of test rows repeat a training row, coarsest column first."""
    from sandmle.synth.verify import MAX_DUPLICATE_SHARE

    shown = {name: decimals for name, (_, decimals) in numeric.items()}
    while repeated_share(columns, is_test) > MAX_DUPLICATE_SHARE:
        finer = [name for name, (_, decimals) in numeric.items() if shown[name] < decimals + MAX_EXTRA_DECIMALS]
        if not finer:
            return
        name = min(finer, key=lambda c: len(set(columns[c])))
        shown[name] += 1
        columns[name] = fmt(np.round(numeric[name][0], shown[name]), shown[name])
