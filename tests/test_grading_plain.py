"""The plain reader (sandmle.grading.plain) gives the values polars' typed read gives, bit for
bit, and Python's float(); anything outside its grammar is left to polars, and grades come
out identical with it or without it."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, getcontext

import numpy as np
import polars as pl
import pytest

import sandmle.grading.read as read
from sandmle.grading import grade_submission
from sandmle.grading.plain import read_plain

TRICKY_DECIMALS = [
    "0", "-0", "0.0", "-0.0", "+0.5", "1", "-1", "00012", "0.1", "0.2", "0.3", "1.5e-3", "1E5", "1e+05",
    "2.5e-1", "0.000001", "123456789", "9007199254740992", "9007199254740993", "9007199254740995",
    "9007199254740993.0", "18446744073709551615", "18446744073709551616", "1844674407370955161",
    "9999999999999999999", "99999999999999999999", "0.12345678901234567", "0.9999999999999999",
    "0.99999999999999999", "1.0000000000000002", "1.00000000000000011102230246251565404236316680908203125",
    "1.00000000000000011102230246251565404236316680908203124",
    "1.00000000000000011102230246251565404236316680908203126",
    "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "1e308", "1e309",
    "1e400", "-1e400", "2.2250738585072014e-308", "2.2250738585072011e-308", "4.9e-324", "5e-324",
    "2e-324", "3e-324", "1e-400", "1e-330", "123e-330", "1e22", "1e23", "9e22", "1e-22", "1e-23",
    "4503599627370496.5", "4503599627370497.5", "0.500000000000000000000000000000000000000001",
    "7.0e-10", "3.14159265358979323846264338327950288", "1" + "0" * 30, "0." + "0" * 500 + "1",
    "1e0000000000000000005", "1e-0000000000000000005", "1e999999999", "0e999999999",
]
TRICKY_INTEGERS = ["0", "-0", "+7", "007", "123456789012345678", "-123456789012345678", "42"]
# each alone in a column typed "f" (or "i" where marked) is left to polars
NOT_PLAIN = [".5", "5.", "1e", "1e+", "-", "+", "", "inf", "-inf", "nan", "NaN", "Infinity", " 1", "1 ",
             '"1"', "1_0", "0x10", "1,2", "\x001", "\u0661", "1..2", "1e5.5", "--1", "1d5", "1.5f"]
NOT_PLAIN_INTEGERS = ["1.0", "1e3", "1234567890123456789", "", " 7", "0x7", "7L"]


def plain(tokens: list[str], kind: str = "f") -> np.ndarray | None:
    data = ("x\n" + "\n".join(tokens) + "\n").encode("utf-8")
    columns = read_plain(data, 2, kind)
    if columns is None:
        return None
    return columns.decimals[:, 0] if kind == "f" else columns.integers[0]


def by_polars(tokens: list[str], dtype) -> np.ndarray:
    data = ("x\n" + "\n".join(tokens) + "\n").encode("utf-8")
    return pl.read_csv(data, schema_overrides={"x": dtype}, infer_schema=False).get_column("x").to_numpy()


def assert_same_bits(tokens: list[str]) -> None:
    ours = plain(tokens)
    assert ours is not None
    theirs = by_polars(tokens, pl.Float64)
    python = np.array([float(t) for t in tokens])
    differ = np.flatnonzero((ours.view(np.uint64) != theirs.view(np.uint64))
                            | (ours.view(np.uint64) != python.view(np.uint64)))
    assert not len(differ), [(tokens[i], ours[i], theirs[i], python[i]) for i in differ[:5]]


def test_tricky_decimals_match_polars_and_python_bit_for_bit():
    assert_same_bits(TRICKY_DECIMALS)


def test_random_decimals_in_every_spelling_match_bit_for_bit():
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.random(20_000), rng.random(5_000) ** 40,
                             rng.standard_normal(5_000) * 10.0 ** rng.integers(-300, 300, 5_000),
                             rng.integers(0, 2 ** 63, 5_000, dtype=np.uint64).view(np.float64)])
    values = values[np.isfinite(values)]
    tokens = [repr(float(v)) for v in values] + ["%.17g" % v for v in values[:20_000]]
    tokens += [f"%.{d}g" % v for d in range(1, 21) for v in values[:2_000]]
    tokens += [f"%.{d}e" % v for d in (0, 5, 16, 18, 19, 22) for v in values[20_000:22_000]]
    assert_same_bits(tokens)


def test_random_digit_strings_with_every_point_and_exponent_match_bit_for_bit():
    rng = np.random.default_rng(11)
    tokens = []
    for _ in range(40_000):
        digits = "".join(map(str, rng.integers(0, 10, rng.integers(1, 24))))
        point = int(rng.integers(0, len(digits)))
        text = digits if point == 0 else digits[:point] + "." + digits[point:]
        if rng.random() < 0.7:
            text += f"e{int(rng.integers(-345, 330))}"
        tokens.append(("-" if rng.random() < 0.3 else "") + text)
    assert_same_bits(tokens)


def test_decimals_near_rounding_ties_match_bit_for_bit():
    """Midpoints between neighbouring doubles, written exactly and cut to 15-19 significant
    digits (either side of the tie): the cases a truncated power of ten could round wrongly."""
    getcontext().prec = 800
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.random(3_000), 10.0 ** rng.uniform(-307, 308, 3_000)])
    tokens = []
    for v in values:
        v = float(v)
        middle = (Decimal(v) + Decimal(np.nextafter(v, np.inf))) / 2
        exact = f"{middle:e}"
        tokens.append(exact)
        mantissa, exponent = f"{middle:.25e}".split("e")
        digits = mantissa.replace(".", "")
        for size in (15, 17, 18, 19):
            cut = digits[:size]
            for last in (cut, str(int(cut) + 1)):
                tokens.append(f"{last[0]}.{last[1:]}e{int(exponent) - (len(last) - size)}")
    assert_same_bits(tokens)


def test_integers_match_polars():
    ours = plain(TRICKY_INTEGERS, "i")
    assert ours is not None and ours.dtype == np.int64
    assert ours.tolist() == by_polars(TRICKY_INTEGERS, pl.Int64).tolist()


@pytest.mark.parametrize("token", NOT_PLAIN)
def test_a_token_outside_the_grammar_is_left_to_polars(token):
    assert plain(["0.5", token, "0.25"]) is None


@pytest.mark.parametrize("token", NOT_PLAIN_INTEGERS)
def test_an_integer_column_cell_outside_the_grammar_is_left_to_polars(token):
    assert plain(["1", token, "3"], "i") is None


@pytest.mark.parametrize("body", [b"1,0.5\n\n2,0.5\n", b"1,0.5\r2,0.5\n", b"1,0.5\n2,0.5\r", b"1,0.5,\n",
                                  b"1\n", b"1,0.5,0.5\n", b'1,"0.5"\n', b"1;0.5\n", b"", b"\n"])
def test_structure_outside_the_grammar_is_left_to_polars(body):
    assert read_plain(b"id,p\n" + body, 5, "if") is None


def test_line_ends_and_a_missing_last_newline_are_plain():
    for body in (b"1,0.5\n2,0.25\n", b"1,0.5\r\n2,0.25\r\n", b"1,0.5\n2,0.25"):
        columns = read_plain(b"id,p\n" + body, 5, "if")
        assert columns.rows == 2 and columns.integers[0].tolist() == [1, 2]
        assert columns.decimals.tolist() == [[0.5], [0.25]] and columns.decimals.flags.c_contiguous


def test_arrays_grow_when_the_first_record_is_longer_than_the_rest():
    """The arrays are sized from the first record: a long one then many short ones."""
    body = "1," + "0." + "1" * 300 + "\n" + "".join(f"{i},0.{i % 7}\n" for i in range(2, 20_000))
    columns = read_plain(("id,p\n" + body).encode(), 5, "if")
    assert columns.rows == 19_999
    assert columns.integers[0].tolist() == list(range(1, 20_000))
    assert columns.decimals[1:, 0].tolist() == [float(f"0.{i % 7}") for i in range(2, 20_000)]
    assert columns.decimals.flags.c_contiguous


def _table_cells(table):
    return table.names, table.height, [(table.cells_at(j).dtype, table.cells_at(j).to_list())
                                        for j in range(len(table.names))]


def test_a_plain_table_has_the_cells_of_polars_typed_read(monkeypatch, tmp_path):
    rng = np.random.default_rng(3)
    rows = [f"{i},{rng.random()!r},{rng.random():.17g}" for i in range(5_000)]
    data = ("\ufeffid, a ,b\r\n" + "\r\n".join(rows) + "\r\n").encode("utf-8")
    path = tmp_path / "sub.csv"
    path.write_bytes(data)
    typed = {"id": "int", "a": "float", "b": "float"}
    ours = read.read_submission(path, len(data), "sandmle", typed)
    from_bytes = read.read_table(data, "sandmle", typed)
    monkeypatch.setattr(read, "read_plain", lambda *args: None)
    theirs = read.read_submission(path, len(data), "sandmle", typed)
    assert ours.plain is not None and from_bytes.plain is not None and theirs.plain is None
    assert _table_cells(ours) == _table_cells(theirs) == _table_cells(from_bytes)


SUBMISSION_EDITS = {
    "valid": lambda lines: lines,
    "out of range": lambda lines: lines[:5] + [lines[5].rsplit(",", 1)[0] + ",1.5"] + lines[6:],
    "negative": lambda lines: lines[:7] + [lines[7].rsplit(",", 1)[0] + ",-0.25"] + lines[8:],
    "overflow": lambda lines: lines[:9] + [lines[9].rsplit(",", 1)[0] + ",1e400"] + lines[10:],
    "unknown id": lambda lines: lines[:3] + ["99999999" + lines[3][lines[3].index(","):]] + lines[4:],
    "repeated id": lambda lines: lines[:3] + [lines[4]] + lines[4:],
    "missing row": lambda lines: lines[:-1],
    "float ids": lambda lines: lines[:1] + [lines[1].replace(",", ".0,", 1)] + lines[2:],
    "columns swapped": lambda lines: [",".join(line.split(",")[::-1]) for line in lines],
}


@pytest.mark.parametrize("metric", ["auc", "multiclass_log_loss"])
def test_grades_are_identical_with_the_plain_reader_or_without(metric, monkeypatch, tmp_path):
    from sandmle.bench.grade import make_case

    task, submission = make_case(tmp_path, metric, 4_000)       # files over read.TYPED_MIN_BYTES
    lines = submission.read_text().splitlines()
    for name, edit in SUBMISSION_EDITS.items():
        path = tmp_path / f"{name}.csv"
        path.write_text("\n".join(edit(lines)) + "\n")
        with monkeypatch.context() as patch:
            ours = grade_submission(replace(task, cache={}), path)
            patch.setattr(read, "read_plain", lambda *args: None)
            theirs = grade_submission(replace(task, cache={}), path)
        assert ours == theirs, name
        assert ours.valid == (name in ("valid", "columns swapped", "float ids")), (name, ours.reason)
