"""Aligning: a read submission -> the columns and rows it is scored on.

`select_columns` finds the id and the scored columns by the profile's column rule;
`pair_rows` pairs submission rows with answer rows by its row rule (both described in
`sandmle.grading.profile`). Where the answer ids are unique, one hash join pairs every row;
where they repeat (MLE-bench's insults answers), both files are sorted as pandas sorts them
and compared position by position, as MLE-bench's graders do. Ids are compared as the
profile's reader reads them: text stripped of blanks ("sandmle") or typed as pandas types
them ("pandas": 1013 equals "1013.0", a text id never equals a number). The sandmle reader
also reads an integer id written as a float ("1013.0") as that integer, with a note.
A bad submission raises `InvalidSubmission`; broken answers raise `UserError`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sandmle.errors import InvalidSubmission, UserError
from sandmle.grading.cells import pandas_column
from sandmle.grading.profile import GraderProfile
from sandmle.grading.read import Table
from sandmle.grading.reasons import id_list, name_list, show
from sandmle.task import TaskSpec

INDEX_COLUMN_PREFIX = "Unnamed: "
_FLOAT_INTEGER = r"^([+-]?[0-9]+)\.0*$"


@dataclass(frozen=True)
class Columns:
    """Positions of the id and of each scored column, in the answers and the submission
    (`submission_id` -1 when the submission has no id column and the rows need none)."""

    scored: tuple[str, ...]
    answer_id: int
    submission_id: int
    answer: tuple[int, ...]
    submission: tuple[int, ...]


@dataclass(frozen=True)
class Pairs:
    """Scored rows: answer row `answer[i]` against submission row `submission[i]` (int64
    arrays); None for a side taken in file order (both None: the files pair row for row)."""

    answer: np.ndarray | None
    submission: np.ndarray | None


def select_columns(spec: TaskSpec, profile: GraderProfile, answers: Table, submission: Table,
                   notes: list[str]) -> Columns:
    key = spec.id_column
    scored = profile.scored(spec.target_columns)
    missing = [c for c in (key, *scored) if c not in answers.names]
    if missing:
        raise UserError(f"task {spec.id}: broken answers file: it lacks columns {name_list(missing)}")
    names = submission.names
    expected = [key, *spec.target_columns]
    shown = name_list(list(names))
    if profile.columns == "exact" and (set(names) != set(expected) or len(names) != len(expected)):
        raise InvalidSubmission(f"columns {shown} must be exactly {name_list(expected)} (in any order)")
    if profile.columns == "id_first" and (len(names) != len(expected) or names[0] != key
                                          or set(names) != set(expected)):
        raise InvalidSubmission(f"columns {shown} must be {key!r} first, then exactly "
                                f"{name_list(list(spec.target_columns))} (in any order)")
    # Rows paired in file order need no id (MLE-bench's nomad2018 never reads it).
    ids = [key] if profile.rows != "file_order" or key in names else []
    required = [*ids, *(spec.target_columns if profile.columns == "positional" else scored)]
    absent = [c for c in required if c not in names]
    if absent:
        hint = ""
        if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
            hint = f"; the header was read as one column {names[0]!r}: columns are separated by commas"
        raise InvalidSubmission(f"missing columns: {name_list(absent)} (expected {name_list(expected)}){hint}")
    repeated = sorted({c for c in required if names.count(c) > 1})
    if repeated:
        raise InvalidSubmission(f"duplicated columns: {name_list(repeated)}")
    answer_id = answers.position(key)
    if profile.columns == "positional":
        answer_cols = tuple(j for j in range(len(answers.names)) if j != answer_id)
        submission_cols = tuple(j for j in range(len(names)) if names[j] != key)
        if len(submission_cols) != len(answer_cols):
            raise InvalidSubmission(
                f"{len(submission_cols)} columns besides {key!r}, expected {len(answer_cols)} "
                f"({name_list([answers.names[j] for j in answer_cols])}, paired by position)")
        scored = tuple(answers.names[j] for j in answer_cols)
    else:
        answer_cols = tuple(answers.position(c) for c in scored)
        submission_cols = tuple(names.index(c) for c in scored)
        _note_ignored([c for c in names if c not in required], notes)
    return Columns(scored=scored, answer_id=answer_id, submission_id=names.index(key) if ids else -1,
                   answer=answer_cols, submission=submission_cols)


def _note_ignored(ignored: list[str], notes: list[str]) -> None:
    index = [c for c in ignored if c == "" or c.startswith(INDEX_COLUMN_PREFIX)]
    other = [c for c in ignored if c not in index]
    if index:
        notes.append(f"ignored index column {name_list(index)} (pandas' to_csv writes one "
                     "unless index=False)")
    if other:
        notes.append(f"ignored columns {name_list(other)}")


# -- rows -------------------------------------------------------------------------------------

def pair_rows(spec: TaskSpec, profile: GraderProfile, answers: Table, submission: Table,
              columns: Columns, keep: np.ndarray | None, notes: list[str]) -> Pairs:
    """Pairs of scored rows. `keep`: answer rows that are scored (None: all)."""
    import polars as pl

    n, m = submission.height, answers.height
    if n != m:
        reason = f"submission has {n} row{'' if n == 1 else 's'}, expected {m}"
        if profile.rows in ("id", "id_set"):
            reason += _count_detail(*_comparable(*_ids(profile, spec, answers, submission, columns)))
        raise InvalidSubmission(reason)
    if profile.rows == "file_order":
        notes.append("ids not compared: rows are paired in file order (this task's grader rules)")
        return _kept(Pairs(None, None), keep)
    own_a, own_s = _ids(profile, spec, answers, submission, columns)
    if profile.rows == "sorted":
        notes.append("ids not compared: both files are sorted by id and paired by position (this task's "
                     "grader rules)")
        return _kept(Pairs(pandas_sort_order(own_a), pandas_sort_order(own_s)), keep)
    keys_a, keys_s = _comparable(own_a, own_s)
    # the same ids in the same order (the first ids tell most other files apart at no cost)
    if keys_s[0] == keys_a[0] and keys_s.equals(keys_a) and keys_a.null_count() == 0:
        return _kept(Pairs(None, None), keep)
    rows, unique_answers = match_ids(keys_a, keys_s, answers.memo)
    if profile.reader == "sandmle" and keys_s.dtype == pl.String and (rows < 0).any():
        fixed = _integer_float_ids(keys_s, rows < 0, notes)
        if fixed is not None:
            keys_s = fixed
            rows, unique_answers = match_ids(keys_a, keys_s, answers.memo)
    if profile.rows == "id_members":
        return _member_pairs(keys_a, keys_s, rows, keep, unique_answers)
    if unique_answers:
        return _kept(_joined_pairs(spec, keys_s, rows), keep)
    return _kept(_multiset_pairs(profile, keys_a, keys_s), keep)


def match_ids(keys_a, keys_s, memo: dict | None = None) -> tuple[np.ndarray, bool]:
    """(answer row of each submission id, -1 where it is no answer id or missing; whether
    the answer ids are unique), in one pass: integer ids by direct addressing or a binary
    search, text ids by their 64-bit hashes (every hashed match is then checked as text).
    `memo` keeps the answers' side (its index) between grades of one task."""
    import polars as pl

    memo = {} if memo is None else memo
    kind = ("int" if keys_a.dtype == pl.Int64 and keys_s.dtype == pl.Int64 else
            "float" if keys_a.dtype == pl.Float64 else "hash")
    numbers = {"int": _integer_ids, "float": _floats, "hash": lambda k: k.hash(seed=0).to_numpy()}[kind]
    key = ("index", kind, id(keys_a))
    index = memo.get(key)
    if index is None:
        index = _NumberIndex(numbers(keys_a), _missing(keys_a), keys_a)
        # only the answers' own ids; a snapshot of the values, as episodes grading the same
        # task in other threads add to this memo meanwhile
        if any(value is keys_a for value in list(memo.values())):
            memo[key] = index
    rows, unique = index.rows_of(numbers(keys_s), _missing(keys_s))
    if kind != "hash":
        return rows, unique
    found = np.flatnonzero(rows >= 0)
    if len(found) and not (keys_s.gather(found) == keys_a.gather(rows[found])).all():
        index = pl.DataFrame({"k": keys_a, "a": pl.int_range(len(keys_a), eager=True, dtype=pl.Int64)})
        joined = pl.DataFrame({"k": keys_s}).join(index.unique("k", keep="first"), on="k", how="left",
                                                  maintain_order="left")
        rows = joined.get_column("a").fill_null(-1).to_numpy()      # a hash collision: match as text
        unique = keys_a.n_unique() == len(keys_a)
    return rows, unique


def _missing(keys) -> np.ndarray:
    """Where ids are missing (a cheap zero array when none is: polars' is_null costs more)."""
    return keys.is_null().to_numpy() if keys.null_count() else np.zeros(len(keys), dtype=bool)


def _floats(keys) -> np.ndarray:
    import polars as pl

    return (keys.fill_null(np.nan) if keys.null_count() else keys).cast(pl.Float64).to_numpy()


def _integer_ids(keys) -> np.ndarray:
    """int64 values of Int64 ids (0 where missing)."""
    return (keys.fill_null(0) if keys.null_count() else keys).to_numpy()


class _NumberIndex:
    """The answers' ids (numbers or hashes) indexed for lookups: a table when integer ids
    span a small range, else the sorted ids for a binary search. Missing ids and NaN match
    nothing. `keys` is kept so that `id()` of a memoised series stays unique."""

    def __init__(self, a: np.ndarray, missing: np.ndarray, keys) -> None:
        self.keys, m = keys, len(a)
        usable = ~missing & (a == a)
        self.table = None
        if a.dtype.kind == "i" and m and bool(usable.all()):
            self.lo, hi = int(a.min()), int(a.max())
            if hi - self.lo <= 4 * m + 1024:
                self.table = np.full(hi - self.lo + 1, -1, dtype=np.int64)
                self.table[a - self.lo] = np.arange(m, dtype=np.int64)
                self.unique = int(np.count_nonzero(self.table >= 0)) == m
                return
        kept = np.flatnonzero(usable)
        self.order = kept[np.argsort(a[kept], kind="stable")]
        self.ordered = a[self.order]
        self.unique = len(kept) == m and not (self.ordered[1:] == self.ordered[:-1]).any()

    def rows_of(self, s: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, bool]:
        if self.table is not None:
            index = s - self.lo
            outside = (index < 0) | (index >= len(self.table)) | missing
            spill = bool(outside.any())
            rows = self.table[np.where(outside, 0, index) if spill else index]
            if spill:
                rows[outside] = -1
            return rows, self.unique
        rows = np.full(len(s), -1, dtype=np.int64)
        if len(self.order):
            where = np.searchsorted(self.ordered, s).clip(0, len(self.order) - 1)
            hit = (self.ordered[where] == s) & ~missing
            rows[hit] = self.order[where[hit]]
        return rows, self.unique


def _ids(profile: GraderProfile, spec: TaskSpec, answers: Table, submission: Table, columns: Columns):
    """Each file's id column as its reader reads it (polars series; null: missing)."""
    import polars as pl

    raw_a, raw_s = answers.cells_at(columns.answer_id), submission.cells_at(columns.submission_id)
    if profile.reader == "sandmle":
        a = _memo(answers, ("ids", "sandmle", columns.answer_id), lambda: _sandmle_ids(raw_a))
        s = _sandmle_ids(raw_s)
        if s.dtype == pl.String and (s == "").any():
            raise InvalidSubmission(f"column {spec.id_column!r} has empty ids")
        if a.dtype != s.dtype:                # "12" and " 12" are one id: compare as text
            a, s = a.cast(pl.String), s.cast(pl.String)
        return a, s
    def typed(raw):
        column = pandas_column(raw)
        if column.dtype == "bool":
            return column.values.cast(pl.Int64)
        return column.values.fill_nan(None) if column.dtype == "float64" else column.values

    return _memo(answers, ("ids", "pandas", columns.answer_id), lambda: typed(raw_a)), typed(raw_s)


def _memo(table: Table, key: tuple, compute):
    """`compute()`, kept on the (possibly cached) answers table under `key`."""
    if key not in table.memo:
        table.memo[key] = compute()
    return table.memo[key]


def _sandmle_ids(raw):
    """Ids as the sandmle reader compares them: integers when every cell is one (so "007"
    equals "7", as pandas reads them), else text stripped of blanks."""
    import polars as pl

    if raw.dtype == pl.Int64:
        return raw
    ints = raw.cast(pl.Int64, strict=False)
    if ints.null_count() == 0 and len(ints):
        return ints
    return raw.str.strip_chars()


def _comparable(a, s):
    """Both id series in one type: numbers as Int64 or Float64, text as String; a number
    never equals a text id (the submission's ids are then all unmatched)."""
    import polars as pl

    numeric = {pl.Int64, pl.UInt64, pl.Float64}
    if a.dtype in numeric and s.dtype in numeric:
        dtype = pl.Int64 if a.dtype == s.dtype == pl.Int64 else pl.Float64
        return (a if a.dtype == dtype else a.cast(dtype)), (s if s.dtype == dtype else s.cast(dtype))
    if (a.dtype in numeric) != (s.dtype in numeric):
        kinds = ("numbers", "text") if a.dtype in numeric else ("text", "numbers")
        raise InvalidSubmission(f"the test set's ids are {kinds[0]} but the submission's are {kinds[1]} "
                                "(read as pandas reads them)")
    return a, s


def _count_detail(keys_a, keys_s) -> str:
    """Why the row counts differ: unknown, duplicated or missing ids."""
    unknown = keys_s.filter(~keys_s.is_in(keys_a.implode()).fill_null(False))
    if len(unknown):
        return f"; ids not in the test set: {_ids_shown(unknown)}"
    repeated = keys_s.filter(keys_s.is_duplicated()).unique(maintain_order=True)
    if len(keys_s) > len(keys_a) and len(repeated):
        return f"; duplicated ids: {_ids_shown(repeated)}"
    missing = keys_a.filter(~keys_a.is_in(keys_s.drop_nulls().implode()).fill_null(False))
    return f"; missing ids: {_ids_shown(missing)}" if len(missing) else ""


def _ids_shown(keys) -> str:
    import polars as pl

    return id_list(keys.cast(pl.String).fill_null("<missing>").to_list())


def _integer_float_ids(keys_s, unknown: np.ndarray, notes: list[str]):
    """Unknown ids written as floats ("1013.0") read as the integer ids they spell, as pandas
    reads them; None when no unknown id is spelled so."""
    import polars as pl

    spelled = pl.Series(unknown) & keys_s.str.contains(_FLOAT_INTEGER)
    if not spelled.any():
        return None
    notes.append(f"ids written as floats ({show(keys_s.filter(spelled)[0])}) were read as "
                 "integers, as pandas reads them")
    fixed = keys_s.str.replace(_FLOAT_INTEGER, "${1}")
    return pl.select(pl.when(pl.lit(spelled)).then(pl.lit(fixed)).otherwise(pl.lit(keys_s))).to_series()


def _kept(pairs: Pairs, keep: np.ndarray | None) -> Pairs:
    """Only the pairs whose answer row is scored."""
    if keep is None or keep.all():
        return pairs
    size = len(keep) if pairs.answer is None and pairs.submission is None else \
        len(pairs.answer if pairs.answer is not None else pairs.submission)
    answer = np.arange(size, dtype=np.int64) if pairs.answer is None else pairs.answer
    submission = np.arange(size, dtype=np.int64) if pairs.submission is None else pairs.submission
    mask = keep[answer]
    return Pairs(answer[mask], submission[mask])


def answer_order(pairs: Pairs) -> np.ndarray | None:
    """The permutation that puts the scored pairs in the answers' row order (None: they are)."""
    if pairs.answer is None:
        return None
    order = np.argsort(pairs.answer, kind="stable")
    return None if np.array_equal(order, np.arange(len(order))) else order


def _joined_pairs(spec: TaskSpec, keys_s, rows: np.ndarray) -> Pairs:
    """Unique answer ids: every submission row paired with its id's answer row."""
    import polars as pl

    if keys_s.null_count():
        raise InvalidSubmission(f"column {spec.id_column!r} has missing ids")
    unknown = rows < 0
    if unknown.any():
        raise InvalidSubmission(f"ids not in the test set: {_ids_shown(keys_s.filter(pl.Series(unknown)))}")
    seen = np.zeros(len(rows), dtype=bool)         # as many rows as answers: a repeat leaves a gap
    seen[rows] = True
    if np.count_nonzero(seen) < len(rows):
        repeated = keys_s.filter(keys_s.is_duplicated()).unique(maintain_order=True)
        raise InvalidSubmission(f"duplicated ids: {_ids_shown(repeated)}")
    return Pairs(answer=rows, submission=None)       # the submission in file order: cheapest to read


def _multiset_pairs(profile: GraderProfile, keys_a, keys_s) -> Pairs:
    """Repeated answer ids: both files sorted by id as pandas sorts them, then compared and
    paired position by position (MLE-bench's sort_values, then `!=` on the id values)."""
    order_a, order_s = pandas_sort_order(keys_a), pandas_sort_order(keys_s)
    if profile.rows == "id_set":
        same = keys_s.null_count() == 0 and set(keys_a.to_list()) == set(keys_s.to_list())
    else:
        same = bool((keys_a.gather(order_a) == keys_s.gather(order_s)).fill_null(False).all())
    if not same:
        unknown = keys_s.filter(~keys_s.is_in(keys_a.implode()).fill_null(False))
        if len(unknown):
            raise InvalidSubmission(f"ids not in the test set: {_ids_shown(unknown)}")
        raise InvalidSubmission("ids do not match the test set's: each id must appear as often "
                                "as in the test set")
    return Pairs(answer=order_a, submission=order_s)


def _member_pairs(keys_a, keys_s, rows: np.ndarray, keep: np.ndarray | None, unique_answers: bool) -> Pairs:
    """Every submission id an answer id (MLE-bench's jigsaw: ids as the index, a boolean mask
    of the scored answer rows applied to both): both sorted by id, the scored rows of each
    then paired by position."""
    import polars as pl

    if not unique_answers:
        raise UserError("answers with repeated ids cannot pair rows by id membership")
    if (rows < 0).any():
        raise InvalidSubmission(f"ids not in the test set: {_ids_shown(keys_s.filter(pl.Series(rows < 0)))}")
    order_a, order_s = pandas_sort_order(keys_a), pandas_sort_order(keys_s)
    if keep is not None:
        order_a = order_a[keep[order_a]]
        order_s = order_s[keep[rows[order_s]]]
        if len(order_s) != len(order_a):
            raise InvalidSubmission(f"{len(order_s)} submission rows fall on scored answer ids, "
                                    f"expected {len(order_a)} (are ids repeated?)")
    return Pairs(answer=order_a, submission=order_s)


def pandas_sort_order(keys) -> np.ndarray:
    """Row order of `DataFrame.sort_values(id)` (pandas' nargsort: numpy's quicksort of the
    non-missing values, missing ones last). Without repeated values every sort gives that
    order, so polars sorts; with repeats, numpy's quicksort orders them as in pandas."""
    import polars as pl

    missing = keys.is_null()
    present = keys.filter(~missing)
    if present.n_unique() == len(present):
        frame = pl.DataFrame({"k": keys, "m": missing}).with_row_index("i", offset=0)
        return frame.sort(["m", "k"]).get_column("i").cast(pl.Int64).to_numpy()
    rows = np.flatnonzero(~missing.to_numpy())
    values = np.asarray(present.to_list(), dtype=object) if keys.dtype == pl.String else present.to_numpy()
    order = rows[values.argsort(kind="quicksort")]
    return np.concatenate([order, np.flatnonzero(missing.to_numpy())]).astype(np.int64)
