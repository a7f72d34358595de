"""Property: no file, however malformed, makes the grader raise.

Thousands of generated files (random bytes, unicode text, truncated and mangled copies of
the answers, CSVs with wrong headers, shuffled/duplicated/unknown ids and odd cells) are
graded for one task of every metric kind; every result is either valid with a finite score
or invalid with a one-line reason.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandmle.grading import grade_submission
from sandmle.leaderboard import TIERS

# One metric per kind, plus the undefined-prone ones (AUC, RMSLE, Spearman).
FUZZ_METRICS = ("auc", "mean_column_auc", "multiclass_log_loss", "accuracy", "qwk", "rmsle",
                "spearman", "mean_column_rmsle", "map_at_k")
EXAMPLES_PER_STRATEGY = 80    # x 5 strategies x 9 metrics = 3,600 files per run

CELLS = st.one_of(
    st.sampled_from(["", "0", "1", "0.5", "1.0", "-1", "nan", "NaN", "inf", "-inf", "1e308", "1e309",
                     "-0", "2", "7", "a", "b c d", "cat", "dog", "0x10", "1_000", "½", "\u202e",
                     " 1 ", '"', "'", ",", "\n", "\r", "9" * 400]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2 ** 80), max_value=2 ** 80).map(str),
    st.text(max_size=12),
)

SETTINGS = settings(max_examples=EXAMPLES_PER_STRATEGY, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def answers_of(task) -> tuple[list[str], list[list[str]]]:
    import csv

    with open(task.answers_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def to_csv(header, rows) -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", errors="surrogatepass")


def check(task, path, data: bytes):
    path.write_bytes(data)
    grade = grade_submission(task, path)
    assert grade.tier in TIERS
    if grade.valid:
        assert grade.reason is None
        assert isinstance(grade.score, float) and math.isfinite(grade.score)
    else:
        assert grade.score is None and grade.tier == "none"
        assert isinstance(grade.reason, str) and grade.reason and "\n" not in grade.reason
    return grade


@pytest.fixture(params=FUZZ_METRICS)
def fuzz_task(request, cached_task, tmp_path_factory):
    return cached_task(request.param, n_test=25), tmp_path_factory.mktemp("fuzz") / "submission.csv"


def test_random_bytes(fuzz_task):
    task, path = fuzz_task

    @SETTINGS
    @given(st.binary(max_size=600))
    def run(data):
        check(task, path, data)

    run()


def test_random_unicode_text(fuzz_task):
    task, path = fuzz_task
    header, _ = answers_of(task)

    @SETTINGS
    @given(st.text(max_size=400), st.booleans())
    def run(text, with_header):
        prefix = ",".join(header) + "\n" if with_header else ""
        check(task, path, (prefix + text).encode("utf-8", errors="surrogatepass"))

    run()


def test_truncated_and_mangled_answers(fuzz_task):
    task, path = fuzz_task
    original = task.answers_path.read_bytes()

    @SETTINGS
    @given(st.integers(0, len(original)), st.lists(st.tuples(st.integers(0, len(original)), st.binary(max_size=3)),
                                                   max_size=4))
    def run(cut, edits):
        data = bytearray(original[:cut])
        for at, junk in edits:
            at = min(at, len(data))
            data[at:at + len(junk)] = junk
        check(task, path, bytes(data))

    run()


def test_structured_csvs_with_wrong_headers_ids_and_cells(fuzz_task):
    task, path = fuzz_task
    header, rows = answers_of(task)
    ids = [r[0] for r in rows]

    @SETTINGS
    @given(st.data())
    def run(data):
        columns = data.draw(st.one_of(
            st.just(header),
            st.permutations(header),
            st.lists(st.sampled_from(header + ["ID", "extra", "", "target "]), min_size=1, max_size=5),
        ))
        row_ids = data.draw(st.one_of(
            st.permutations(ids),
            st.lists(st.sampled_from(ids), max_size=40),
            st.lists(st.sampled_from(ids) | st.text(max_size=6), max_size=30),
        ))
        width = st.integers(len(columns) - 1, len(columns) + 1) if data.draw(st.booleans()) else st.just(len(columns))
        out = []
        for i in row_ids:
            n = data.draw(width)
            out.append([i] + [data.draw(CELLS) for _ in range(max(0, n - 1))])
        check(task, path, to_csv(columns, out))

    run()


def test_shuffled_answers_stay_valid_and_perfect(fuzz_task):
    task, path = fuzz_task
    header, rows = answers_of(task)
    perfect = grade_submission(task, task.answers_path)

    @SETTINGS
    @given(st.permutations(rows), st.permutations(range(len(header))))
    def run(shuffled, order):
        grade = check(task, path, to_csv([header[j] for j in order], [[r[j] for j in order] for r in shuffled]))
        assert grade.valid and grade.score == perfect.score

    run()
