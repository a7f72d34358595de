"""MLE-bench's rules, as the 22 lite competitions' grader blocks reproduce them.

Mock prepared competitions in each real layout (`tests/mlebench_mocks.py`) are imported with
`sandmle bank import mlebench`; then every layout a participant could produce is graded and
must get the verdict MLE-bench's own grade.py gives it (pandas 2.2, scikit-learn 1.5). The
verdict table below was checked against those grade.py files on the same layouts.
"""
from __future__ import annotations

import random
import re

import pytest

from mlebench_mocks import answers_of, build_mlebench, csv_text, load_exported_grade, sample_of
from sandmle.grading import grade_submission
from sandmle.sources.mlebench import import_competitions
from sandmle.sources.mlebench_lite import LITE
from sandmle.task import load_task

COMPETITIONS = sorted(LITE)


@pytest.fixture(scope="module")
def mlebench(tmp_path_factory):
    """(data_dir, bank): every lite competition mocked and imported once for the module."""
    root = tmp_path_factory.mktemp("mlebench")
    data_dir, checkout = build_mlebench(root, n_test=40)
    import_competitions(data_dir, root / "bank", "lite", checkout)
    return data_dir, root / "bank"


def _base(data_dir, cid: str, seed: int = 0) -> tuple[list[str], list[list]]:
    """A valid submission in the sample's layout with varied predictions."""
    comp = LITE[cid]
    header, rows = sample_of(data_dir, cid)
    a_header, a_rows = answers_of(data_dir, cid)
    rng = random.Random(seed)
    targets = [c for c in header if c != comp.id_column and c not in comp.sample_extra]
    truth = {r[a_header.index(comp.id_column)]: r for r in a_rows}
    out = []
    for row in rows:
        row = list(row)
        if comp.metric == "multiclass_log_loss":
            weights = [rng.random() for _ in targets]
            for c, w in zip(targets, weights):
                row[header.index(c)] = w / sum(weights)
        else:
            for c in targets:
                j = header.index(c)
                if comp.metric in ("accuracy", "qwk"):       # the truth, some rows off
                    value = truth[row[header.index(comp.id_column)]][a_header.index(c)]
                    row[j] = value if rng.random() < 0.7 else row[j]
                elif comp.metric in ("rmse", "mean_column_rmsle"):
                    row[j] = round(rng.uniform(0.01, 10), 4)
                else:
                    row[j] = round(rng.random(), 6)
        out.append(row)
    return header, out


# -- the layouts ------------------------------------------------------------------------------

def rows_permuted(h, rows, comp):
    rows = rows[:]
    random.Random(1).shuffle(rows)
    return h, rows


def cols_permuted(h, rows, comp):              # the id first, the other columns reversed
    order = [0] + list(range(len(h) - 1, 0, -1)) if h[0] == comp.id_column else list(range(len(h)))[::-1]
    return [h[j] for j in order], [[r[j] for j in order] for r in rows]


def cols_reversed(h, rows, comp):
    return h[::-1], [r[::-1] for r in rows]


def float_ids(h, rows, comp):
    j = h.index(comp.id_column)
    return h, [[f"{v}.0" if k == j and re.fullmatch(r"\d+", str(v)) else v for k, v in enumerate(r)] for r in rows]


def index_column(h, rows, comp):               # pandas' to_csv() without index=False
    return [""] + h, [[k] + r for k, r in enumerate(rows)]


def extra_column(h, rows, comp):
    return h + ["extra"], [r + ["x"] for r in rows]


def na_cell(h, rows, comp):
    rows = [r[:] for r in rows]
    target = [c for c in h if c != comp.id_column and c not in comp.sample_extra][0]
    rows[1][h.index(target)] = "NA"
    return h, rows


def missing_row(h, rows, comp):
    return h, rows[:-1]


def duplicated_row(h, rows, comp):             # the first row twice, the last one gone
    return h, rows[:-1] + [rows[0]]


def ids_spaced(h, rows, comp):
    j = h.index(comp.id_column)
    return h, [[f" {v}" if k == j else v for k, v in enumerate(r)] for r in rows]


def header_spaced(h, rows, comp):
    return [f" {c}" if c == comp.id_column else c for c in h], rows


def sums_off(delta):
    def layout(h, rows, comp):
        j = h.index([c for c in h if c != comp.id_column][0])
        return h, [[v + delta if k == j else v for k, v in enumerate(r)] for r in rows]
    return layout


# Verdict of each layout against the base submission: "same" score, "other" (valid, another
# score) or "invalid"; the default first, then the competitions that differ.
NOMAD, NYC, JIGSAW, INSULTS = ("nomad2018-predict-transparent-conductors", "new-york-city-taxi-fare-prediction",
                               "jigsaw-toxic-comment-classification-challenge",
                               "detecting-insults-in-social-commentary")
EXACT = ("leaf-classification", "plant-pathology-2020-fgvc7", "spooky-author-identification", JIGSAW)
TEXT_NORM = ("text-normalization-challenge-english-language", "text-normalization-challenge-russian-language")
NUMERIC_IDS = ("dogs-vs-cats-redux-kernels-edition", "leaf-classification", "mlsp-2013-birds", NYC, NOMAD,
               "tabular-playground-series-dec-2021", "tabular-playground-series-may-2022")
MULTICLASS = ("dog-breed-identification", "leaf-classification", "spooky-author-identification")

VERDICTS = {
    "rows_permuted": (rows_permuted, "same", {NOMAD: "other"}),           # nomad pairs rows in file order
    "cols_permuted": (cols_permuted, "same", {JIGSAW: "other"}),          # jigsaw pairs columns by position
    "cols_reversed": (cols_reversed, "same", {JIGSAW: "other", "spooky-author-identification": "invalid"}),
    "float_ids": (float_ids, "same", {}),
    "index_column": (index_column, "same", {c: "invalid" for c in EXACT}),
    "extra_column": (extra_column, "same", {c: "invalid" for c in EXACT}),
    "na_cell": (na_cell, "invalid", {TEXT_NORM[0]: "valid", TEXT_NORM[1]: "valid"}),
    "missing_row": (missing_row, "invalid", {}),
    "duplicated_row": (duplicated_row, "invalid", {INSULTS: "valid", JIGSAW: "valid", NYC: "valid",
                                                   NOMAD: "valid"}),
    "ids_spaced": (ids_spaced, "invalid", {c: "same" for c in NUMERIC_IDS}),
    "header_spaced": (header_spaced, "invalid", {NOMAD: "same"}),
}


def verdict_of(grade, base_score) -> str:
    if not grade.valid:
        return "invalid"
    return "same" if grade.score == base_score else "other"


@pytest.mark.parametrize("cid", COMPETITIONS)
def test_layouts_get_mlebench_verdicts(mlebench, tmp_path, cid):
    data_dir, bank = mlebench
    task = load_task(bank / cid)
    comp = LITE[cid]
    header, rows = _base(data_dir, cid)
    base_path = tmp_path / "base.csv"
    base_path.write_text(csv_text(header, rows))
    base = grade_submission(task, base_path)
    assert base.valid, base.reason
    wrong = []
    for name, (layout, default, special) in VERDICTS.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(csv_text(*layout(header, rows, comp)))
        grade = grade_submission(task, path)
        want = special.get(cid, default)
        got = verdict_of(grade, base.score)
        if not (got == want or (want == "valid" and got in ("same", "other"))):
            wrong.append(f"{name}: want {want}, got {got} ({grade.reason or grade.score})")
    path = tmp_path / "blank_lines_first.csv"       # pandas' header is the first line with content
    path.write_text("\n \t\n" + csv_text(header, rows))
    grade = grade_submission(task, path)
    if verdict_of(grade, base.score) != "same":
        wrong.append(f"blank_lines_first: want same, got {grade.reason or grade.score}")
    assert not wrong, "; ".join(wrong)


@pytest.mark.parametrize("cid", MULTICLASS)
def test_multiclass_rows_must_sum_to_one_within_mlebench_tolerance(mlebench, tmp_path, cid):
    data_dir, bank = mlebench
    task = load_task(bank / cid)
    header, rows = _base(data_dir, cid)
    for delta, valid in ((1e-4, False), (2e-5, False), (5e-6, True), (-5e-6, True)):
        path = tmp_path / "s.csv"
        path.write_text(csv_text(*sums_off(delta)(header, rows, LITE[cid])))
        grade = grade_submission(task, path)
        assert grade.valid is valid, (delta, grade.reason)
        if not valid:
            assert "sum to" in grade.reason and "not 1" in grade.reason


@pytest.mark.parametrize("cid", COMPETITIONS)
def test_sample_is_valid_and_the_answers_reach_gold(mlebench, tmp_path, cid):
    data_dir, bank = mlebench
    task = load_task(bank / cid)
    comp = LITE[cid]
    sample = grade_submission(task, task.sample_submission_path)
    assert sample.valid, sample.reason
    header, rows = sample_of(data_dir, cid)
    a_header, a_rows = answers_of(data_dir, cid)
    truth: dict[str, list] = {}
    for r in a_rows:
        truth.setdefault(r[a_header.index(comp.id_column)], []).append(r)
    perfect = []
    for row in rows:
        answer = truth[row[header.index(comp.id_column)]].pop(0)
        perfect.append([answer[a_header.index(c)] if c in a_header and c not in comp.sample_extra else v
                        for c, v in zip(header, row)])
    (tmp_path / "perfect.csv").write_text(csv_text(header, perfect))
    grade = grade_submission(task, tmp_path / "perfect.csv")
    assert grade.valid and grade.tier == "gold", grade.reason or grade.score


def test_text_normalization_compares_strings_as_pandas_reads_them(mlebench, tmp_path):
    cid = TEXT_NORM[0]
    data_dir, bank = mlebench
    task = load_task(bank / cid)
    a_header, a_rows = answers_of(data_dir, cid)
    def score(transform):
        rows = [[r[0], transform(r[1])] for r in a_rows]
        (tmp_path / "s.csv").write_text(csv_text(["id", "after"], rows))
        return grade_submission(task, tmp_path / "s.csv").score
    na_like = {"", "NA", "null", "N/A", "<NA>", "n/a", "None", "nan"}
    # every NA-like answer equals every NA-like prediction ("nan" both); nothing is stripped
    assert score(lambda v: "N/A" if v in na_like else v) == 1.0
    assert score(lambda v: f" {v}" if v not in na_like else v) < 1.0
    n_na = sum(r[1] in na_like for r in a_rows)
    assert 0 < n_na < len(a_rows)
    assert score(lambda v: "" if v in na_like else "x") == pytest.approx(round(n_na / len(a_rows), 5))


def test_jigsaw_skips_answer_rows_labelled_minus_one(mlebench, tmp_path):
    cid = JIGSAW
    data_dir, bank = mlebench
    task = load_task(bank / cid)
    header, rows = _base(data_dir, cid)
    a_header, a_rows = answers_of(data_dir, cid)
    skipped = {r[0] for r in a_rows if int(r[1]) < 0}
    assert skipped
    junk = [[r[0], *(["", "abc", "", "", "", ""] if r[0] in skipped else r[1:])] for r in rows]
    (tmp_path / "s.csv").write_text(csv_text(header, junk))
    base = tmp_path / "b.csv"
    base.write_text(csv_text(header, rows))
    assert grade_submission(task, tmp_path / "s.csv").score == grade_submission(task, base).score


def test_ranzcr_scores_nine_of_eleven_labels(mlebench, tmp_path):
    cid = "ranzcr-clip-catheter-line-classification"
    data_dir, bank = mlebench
    task = load_task(bank / cid)
    assert len(task.spec.target_columns) == 11 and len(task.spec.grader["scored_columns"]) == 9
    header, rows = _base(data_dir, cid)
    all_eleven = header + ["CVC - Normal", "Swan Ganz Catheter Present"]
    (tmp_path / "s.csv").write_text(csv_text(all_eleven, [r + ["junk", ""] for r in rows]))
    (tmp_path / "b.csv").write_text(csv_text(header, rows))
    assert grade_submission(task, tmp_path / "s.csv").score == grade_submission(task, tmp_path / "b.csv").score
    (tmp_path / "m.csv").write_text(csv_text(header[:-1], [r[:-1] for r in rows]))
    missing = grade_submission(task, tmp_path / "m.csv")
    assert not missing.valid and "CVC - Borderline" in missing.reason


def test_nyc_taxi_pairs_sorted_rows_without_comparing_keys(mlebench, tmp_path):
    data_dir, bank = mlebench
    task = load_task(bank / NYC)
    header, rows = _base(data_dir, NYC)
    renamed = [[f"zz{k:05d}", r[1]] for k, r in enumerate(sorted(rows))]
    (tmp_path / "s.csv").write_text(csv_text(header, renamed))
    (tmp_path / "b.csv").write_text(csv_text(header, rows))
    assert grade_submission(task, tmp_path / "s.csv").score == grade_submission(task, tmp_path / "b.csv").score


def test_nomad_refuses_negative_predictions_as_scikit_learn_1_5(mlebench, tmp_path):
    data_dir, bank = mlebench
    task = load_task(bank / NOMAD)
    header, rows = _base(data_dir, NOMAD)
    rows[0][1] = -0.01
    (tmp_path / "s.csv").write_text(csv_text(header, rows))
    grade = grade_submission(task, tmp_path / "s.csv")
    assert not grade.valid and "negative" in grade.reason


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("cid", COMPETITIONS)
def test_exported_grade_py_gives_sandmles_verdict_and_score_on_every_layout(mlebench, tmp_path, cid):
    import warnings

    import pandas as pd

    data_dir, bank = mlebench
    task = load_task(bank / cid)
    from sandmle.synth.export import export_task

    folder = export_task(task, "mlebench", tmp_path / "export")
    grade, invalid = load_exported_grade(folder, tmp_path / "mlebench-helpers")
    assert f"grade_fn: mlebench.competitions.{cid}.grade:grade" in (folder / "config.yaml").read_text()

    def read(path):                           # MLE-bench's utils.read_csv
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.read_csv(path, float_precision="round_trip")

    answers = read(folder / "prepared" / "private" / "answers.csv")
    header, rows = _base(data_dir, cid)
    layouts = {"base": (header, rows), **{name: layout(header, rows, LITE[cid])
                                          for name, (layout, _, _) in VERDICTS.items()}}
    if cid in MULTICLASS:
        layouts.update({f"sums {d}": sums_off(d)(header, rows, LITE[cid]) for d in (1e-4, 2e-5, 5e-6)})
    a_header, a_rows = answers_of(data_dir, cid)
    if cid == JIGSAW:                         # junk in the rows whose answers are not scored
        skipped = {r[0] for r in a_rows if int(r[1]) < 0}
        layouts["junk in skipped rows"] = (header, [[r[0], *(["", "abc", "", "", "", ""] if r[0] in skipped
                                                              else r[1:])] for r in rows])
    if cid in TEXT_NORM:                      # NA-like strings, and blanks that are not stripped
        na_like = {"", "NA", "null", "N/A", "<NA>", "n/a", "None", "nan"}
        layouts["na spellings"] = (["id", "after"], [[r[0], "N/A" if r[1] in na_like else r[1]] for r in a_rows])
        layouts["blanks"] = (["id", "after"], [[r[0], f" {r[1]}" if r[1] not in na_like else r[1]] for r in a_rows])
    wrong = []
    for name, (h, r) in layouts.items():
        path = tmp_path / f"{name.replace(' ', '_')}.csv"
        path.write_text(csv_text(h, r))
        ours = grade_submission(task, path)
        try:
            theirs = grade(read(path), answers)
        except invalid as exc:
            theirs, reason = None, str(exc)
        else:
            reason = None
        if (theirs is not None) != ours.valid or (ours.valid and abs(theirs - ours.score) > 1.1e-5):
            wrong.append(f"{name}: sandmle {ours.score} ({ours.reason}), grade.py {theirs} ({reason})")
    assert not wrong, "; ".join(wrong)
