"""Cells as values: the text of a column -> numbers, keys, labels or strings, per reader.

- reader "sandmle": a cell is its text stripped of blanks; a number is what polars parses.
- reader "pandas": a column is typed as `pandas.read_csv` types it (pandas 2.2, the C parser
  with MLE-bench's `float_precision="round_trip"`): NA tokens are missing; the column is
  int64 when every other cell is an integer (float64 if a cell is missing, uint64 or text
  past int64), float64 when every cell is a number (blanks around it allowed, "inf" and
  "infinity" in any case, overflow to infinity is text), bool when every cell is
  True/TRUE/true/False/FALSE/false, else text ("object"). MLE-bench's graders see those
  types: a number in a text column is a string, and a string never equals a number.

`pandas_column` does the typing with polars' vectorised casts; the other functions build
the arrays the grader compares and scores.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# pandas' default NA tokens (pandas._libs.parsers.STR_NA_VALUES, pandas 2.x)
NA_TOKENS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
             "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
TRUE_TOKENS = ("True", "TRUE", "true")
FALSE_TOKENS = ("False", "FALSE", "false")
BOOL_TOKENS = TRUE_TOKENS + FALSE_TOKENS
PANDAS_BLANKS = " \t\r\n\x0b\x0c"    # what the C parser skips around a number
_INF = r"(?i)^[+-]?(inf|infinity)$"
_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"

_PLAIN_NUMBER = re.compile(_FLOAT.encode())


def plain_numbers(cells: list[bytes]) -> np.ndarray | None:
    """float64 values (k,) of cells each spelled as a plain decimal number (digits, one
    point, an exponent; no blanks, no inf or nan), or None when one is spelled otherwise.
    Each reader reads such a cell as the nearest double (polars, pandas' round_trip parser,
    Python's float), so these are the values the grader's reading gives."""
    if not all(_PLAIN_NUMBER.fullmatch(c) for c in cells):
        return None
    return np.array([float(c) for c in cells], dtype=np.float64)


@dataclass(frozen=True)
class PandasColumn:
    """A column as pandas types it. `values`: Int64, UInt64, Float64 (NaN where missing) or
    Boolean series for numeric dtypes; a String series (null where missing) for "object"."""

    dtype: str                     # "int64" | "uint64" | "float64" | "bool" | "object"
    values: object                 # polars.Series

    @property
    def is_numeric(self) -> bool:
        return self.dtype != "object"


def pandas_column(raw) -> PandasColumn:
    """Type a String series as pandas.read_csv would (see the module docstring)."""
    import polars as pl

    missing = raw.is_in(NA_TOKENS)
    n_missing = int(missing.sum())
    if n_missing == len(raw):
        return PandasColumn("float64", pl.Series(raw.name, np.full(len(raw), np.nan)))
    stripped = raw.str.strip_chars(PANDAS_BLANKS)
    present = stripped if n_missing == 0 else stripped.filter(~missing)
    as_int = present.cast(pl.Int64, strict=False)
    if as_int.null_count() == 0:
        values = stripped.cast(pl.Int64, strict=False)
        if n_missing == 0:
            return PandasColumn("int64", values)
        return PandasColumn("float64", _with_nan(values.cast(pl.Float64), missing))
    if present.str.contains(r"^[+]?[0-9]+$").all():            # past int64: uint64 or text
        as_uint = present.cast(pl.UInt64, strict=False)
        if as_uint.null_count() == 0:
            values = stripped.cast(pl.UInt64, strict=False)
            return (PandasColumn("uint64", values) if n_missing == 0 else
                    PandasColumn("float64", _with_nan(values.cast(pl.Float64), missing)))
        return PandasColumn("object", _text(raw, missing))
    as_float = present.cast(pl.Float64, strict=False)
    if as_float.null_count() == 0:
        finite_or_inf = as_float.is_finite() | present.str.contains(_INF)
        if finite_or_inf.all() and (present.str.contains(_FLOAT) | present.str.contains(_INF)).all():
            return PandasColumn("float64", _with_nan(stripped.cast(pl.Float64, strict=False), missing))
    if n_missing == 0 and raw.is_in(BOOL_TOKENS).all():
        return PandasColumn("bool", raw.is_in(TRUE_TOKENS))
    return PandasColumn("object", _text(raw, missing))


def _with_nan(values, missing):
    import polars as pl

    return pl.select(pl.when(pl.lit(missing)).then(float("nan")).otherwise(pl.lit(values))
                     .alias(values.name)).to_series().fill_null(float("nan"))


def _text(raw, missing):
    import polars as pl

    return pl.select(pl.when(pl.lit(missing)).then(None).otherwise(pl.lit(raw)).alias(raw.name)).to_series()


def number_array(column: PandasColumn) -> np.ndarray:
    """float64 values of a numeric pandas column (NaN where missing)."""
    import polars as pl

    return column.values.cast(pl.Float64).to_numpy()


def first_non_number(raw) -> int:
    """Row of the first cell that is neither missing nor a number, in a pandas "object" column."""
    import polars as pl

    stripped = raw.str.strip_chars(PANDAS_BLANKS)
    number = stripped.str.contains(_FLOAT) | stripped.str.contains(_INF) | raw.is_in(NA_TOKENS)
    bad = (~number).arg_true()
    return int(bad[0]) if len(bad) else 0


def pandas_text(column: PandasColumn):
    """The strings `Series.astype(str)` gives (pandas 2.2): "nan" for missing cells,
    Python's repr for floats ("1.0", "1e-05"), "True"/"False" for bools."""
    import polars as pl

    values = column.values
    if column.dtype == "object":
        return values.fill_null("nan")
    if column.dtype in ("int64", "uint64"):
        return values.cast(pl.String)
    if column.dtype == "bool":
        return pl.select(pl.when(pl.lit(values)).then(pl.lit("True")).otherwise(pl.lit("False"))).to_series()
    return pl.Series(values.name, [repr(v) for v in values.to_list()], dtype=pl.String)


def sandmle_numbers(raw):
    """(float64 values, missing mask) of cells read the sandmle way: stripped text parsed by
    polars; unparseable cells are NaN and marked in the mask (NaN and inf parse as themselves)."""
    import polars as pl

    values = raw.str.strip_chars().cast(pl.Float64, strict=False)
    unparsed = values.is_null()
    return values.fill_null(float("nan")).to_numpy(), unparsed.to_numpy()
