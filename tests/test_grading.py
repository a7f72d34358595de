"""The grader: scores against scikit-learn, every kind, and one test per malformed input."""
from __future__ import annotations

import json
import math
import random
import shutil

import numpy as np
import pytest
from sklearn import metrics as skm

from sandmle.errors import UserError
from sandmle.grading import Grade, grade_submission, metric_inputs
from sandmle.leaderboard import tier_of
from sandmle.metrics import METRICS
from sandmle.task import Thresholds


def read_answers(task):
    import csv

    with open(task.answers_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def assert_invalid(grade: Grade, *fragments: str) -> None:
    assert grade.valid is False
    assert grade.score is None and grade.tier == "none"
    assert grade.reason and "\n" not in grade.reason
    for fragment in fragments:
        assert fragment in grade.reason, grade.reason


# -- every metric: the answers reach gold, the sample is valid ------------------------------

@pytest.mark.parametrize("metric", sorted(METRICS))
def test_answers_graded_as_a_submission_reach_gold(make_task, metric):
    task = make_task(metric)
    grade = grade_submission(task, task.answers_path)
    assert grade.valid, grade.reason
    assert grade.tier == "gold" and grade.gold_medal and grade.any_medal
    perfect = 0.0 if METRICS[metric].is_lower_better else 1.0
    assert grade.score == pytest.approx(perfect, abs=1e-9)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_sample_submission_is_valid(make_task, metric):
    task = make_task(metric)
    grade = grade_submission(task, task.sample_submission_path)
    assert grade.valid, grade.reason
    assert grade.tier == tier_of(grade.score, task.spec.thresholds, task.spec.is_lower_better)
    assert grade.tier == "none"


def test_grade_accepts_a_task_folder_path(make_task):
    task = make_task("auc")
    assert grade_submission(str(task.root), task.answers_path).valid


# -- scores against scikit-learn ------------------------------------------------------------

def random_probabilities(task, write_csv, seed=1):
    header, rows = read_answers(task)
    rng = random.Random(seed)
    out = [[r[0]] + [round(rng.random(), 6) for _ in header[1:]] for r in rows]
    return header, rows, out, write_csv("sub.csv", header, out)


def test_auc_matches_sklearn(make_task, write_csv):
    task = make_task("auc", n_test=200)
    header, rows, out, path = random_probabilities(task, write_csv)
    expected = skm.roc_auc_score([int(r[1]) for r in rows], [r[1] for r in out])
    assert grade_submission(task, path).score == round(expected, 5)


def test_log_loss_matches_sklearn(make_task, write_csv):
    task = make_task("log_loss", n_test=200)
    header, rows, out, path = random_probabilities(task, write_csv)
    expected = skm.log_loss([int(r[1]) for r in rows], [r[1] for r in out], labels=[0, 1])
    assert grade_submission(task, path).score == pytest.approx(round(expected, 5), abs=1e-5)


def test_mean_column_auc_matches_sklearn(make_task, write_csv):
    task = make_task("mean_column_auc", n_test=120)
    header, rows, out, path = random_probabilities(task, write_csv)
    y = np.array([[int(v) for v in r[1:]] for r in rows])
    p = np.array([r[1:] for r in out], dtype=float)
    expected = np.mean([skm.roc_auc_score(y[:, j], p[:, j]) for j in range(y.shape[1])])
    assert grade_submission(task, path).score == round(expected, 5)


def test_multiclass_log_loss_renormalises_rows(make_task, write_csv):
    task = make_task("multiclass_log_loss", n_test=90)
    header, rows, out, path = random_probabilities(task, write_csv)    # rows do not sum to 1
    y = [np.argmax([int(v) for v in r[1:]]) for r in rows]
    p = np.array([r[1:] for r in out], dtype=float)
    p = np.clip(p, 1e-15, 1 - 1e-15)
    p = p / p.sum(axis=1, keepdims=True)
    expected = skm.log_loss(y, p, labels=[0, 1, 2])
    grade = grade_submission(task, path)
    assert grade.valid, grade.reason
    assert grade.score == pytest.approx(expected, abs=2e-5)


@pytest.mark.parametrize("metric, oracle", [
    ("accuracy", skm.accuracy_score),
    ("f1_macro", lambda a, b: skm.f1_score(a, b, average="macro")),
    ("f1_micro", lambda a, b: skm.f1_score(a, b, average="micro")),
    ("mcc", skm.matthews_corrcoef),
])
def test_label_metrics_match_sklearn(make_task, write_csv, metric, oracle):
    task = make_task(metric, n_test=150)
    header, rows = read_answers(task)
    rng = random.Random(3)
    guesses = [rng.choice(["a", "b", "c", "zzz"]) for _ in rows]      # "zzz": outside the label set
    path = write_csv("sub.csv", header, [[r[0], g] for r, g in zip(rows, guesses)])
    grade = grade_submission(task, path)
    assert grade.valid, grade.reason
    assert grade.score == pytest.approx(round(oracle([r[1] for r in rows], guesses), 5), abs=1e-5)


def test_qwk_matches_sklearn_with_float_spelled_grades(make_task, write_csv):
    task = make_task("qwk", n_test=150)
    header, rows = read_answers(task)
    rng = random.Random(4)
    guesses = [rng.randint(0, 4) for _ in rows]
    path = write_csv("sub.csv", header, [[r[0], f"{g}.0"] for r, g in zip(rows, guesses)])
    expected = skm.cohen_kappa_score([int(r[1]) for r in rows], guesses, weights="quadratic")
    assert grade_submission(task, path).score == pytest.approx(round(expected, 5), abs=1e-5)


def test_qwk_grade_outside_the_label_set_is_wrong_not_invalid(make_task, write_csv):
    task = make_task("qwk", n_test=40)
    header, rows = read_answers(task)
    path = write_csv("sub.csv", header, [[r[0], 7 if i == 0 else r[1]] for i, r in enumerate(rows)])
    grade = grade_submission(task, path)
    assert grade.valid, grade.reason
    assert grade.score < 1.0


@pytest.mark.parametrize("metric, oracle", [
    ("rmse", lambda a, b: math.sqrt(skm.mean_squared_error(a, b))),
    ("mae", skm.mean_absolute_error),
    ("rmsle", lambda a, b: math.sqrt(skm.mean_squared_log_error(a, b))),
    ("r2", skm.r2_score),
])
def test_value_metrics_match_sklearn(make_task, write_csv, metric, oracle):
    task = make_task(metric, n_test=100)
    header, rows = read_answers(task)
    rng = random.Random(5)
    guesses = [round(rng.uniform(0, 20), 4) for _ in rows]
    path = write_csv("sub.csv", header, [[r[0], g] for r, g in zip(rows, guesses)])
    expected = oracle([float(r[1]) for r in rows], guesses)
    assert grade_submission(task, path).score == pytest.approx(round(expected, 5), abs=1e-5)


def test_mean_column_rmsle_averages_columns(make_task, write_csv):
    task = make_task("mean_column_rmsle", n_test=80)
    header, rows = read_answers(task)
    rng = random.Random(6)
    out = [[r[0], round(rng.uniform(0, 20), 3), round(rng.uniform(0, 20), 3)] for r in rows]
    path = write_csv("sub.csv", header, out)
    per_column = [math.sqrt(skm.mean_squared_log_error([float(r[j]) for r in rows], [o[j] for o in out]))
                  for j in (1, 2)]
    assert grade_submission(task, path).score == pytest.approx(round(np.mean(per_column), 5), abs=1e-5)


def apk(actual: list[str], predicted: list[str], k: int) -> float:
    """Kaggle's average precision at k, written out directly."""
    predicted = predicted[:k]
    hits, total = 0, 0.0
    for i, p in enumerate(predicted):
        if p in actual and p not in predicted[:i]:
            hits += 1
            total += hits / (i + 1.0)
    return total / min(len(actual), k) if actual else 0.0


def test_map_at_k_matches_the_direct_formula(make_task, write_csv):
    task = make_task("map_at_k", n_test=60)
    header, rows = read_answers(task)
    rng = random.Random(7)
    labels = list("abcdef")
    guesses = [" ".join(rng.sample(labels, 4)) for _ in rows]
    path = write_csv("sub.csv", header, [[r[0], g] for r, g in zip(rows, guesses)])
    k = task.spec.metric_params["k"]
    expected = np.mean([apk(r[1].split(), g.split(), k) for r, g in zip(rows, guesses)])
    assert grade_submission(task, path).score == pytest.approx(round(expected, 5), abs=1e-5)


def test_score_is_rounded_to_five_decimals(make_task, write_csv):
    task = make_task("rmse", n_test=30)
    header, rows = read_answers(task)
    path = write_csv("sub.csv", header, [[r[0], float(r[1]) + 1 / 3] for r in rows])
    score = grade_submission(task, path).score
    assert score == round(score, 5)
    assert score == pytest.approx(1 / 3, abs=1e-5)


# -- alignment ----------------------------------------------------------------------------

def test_row_and_column_order_do_not_matter(make_task, write_csv):
    task = make_task("mean_column_auc", n_test=60)
    header, rows, out, path = random_probabilities(task, write_csv)
    shuffled = list(out)
    random.Random(9).shuffle(shuffled)
    order = [0, 3, 1, 2]
    moved = write_csv("moved.csv", [header[i] for i in order], [[r[i] for i in order] for r in shuffled])
    assert grade_submission(task, moved).score == grade_submission(task, path).score


def test_integer_valued_float_labels_equal_integer_labels(make_task, write_csv):
    task = make_task("accuracy", classes=("0", "1", "2"), n_test=30)
    header, rows = read_answers(task)
    path = write_csv("sub.csv", header, [[r[0], f"{r[1]}.0"] for r in rows])
    assert grade_submission(task, path).score == 1.0


def test_bom_crlf_quotes_and_spaces_are_accepted(make_task, tmp_path):
    task = make_task("auc", n_test=20)
    header, rows = read_answers(task)
    lines = ['"id", target'] + [f'"{r[0]}", {r[1]} ' for r in rows]
    path = tmp_path / "sub.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n\r\n")
    grade = grade_submission(task, path)
    assert grade.valid, grade.reason
    assert grade.score == 1.0


def test_metric_inputs_are_aligned_to_the_answers(make_task, write_csv):
    task = make_task("rmse", n_test=10)
    header, rows = read_answers(task)
    out = [[r[0], float(r[1]) + 1] for r in reversed(rows)]
    y_true, y_pred = metric_inputs(task, write_csv("sub.csv", header, out))
    np.testing.assert_allclose(y_pred - y_true, np.ones(10))


# -- malformed submissions: each one invalid with a reason -------------------------------------

def test_missing_file(make_task, tmp_path):
    grade = grade_submission(make_task("auc"), tmp_path / "nope.csv")
    assert_invalid(grade, "does not exist")
    assert grade.submission_exists is False


def test_folder_instead_of_file(make_task, tmp_path):
    assert_invalid(grade_submission(make_task("auc"), tmp_path), "folder")


@pytest.mark.parametrize("content, fragment", [
    (b"", "empty"),
    (b"  \n\n \r\n", "empty"),
    (b"id,target\n", "no rows"),
    (b"id,target\n\xff\xfe1,0.5\n", "not UTF-8"),
    (b"id,target\n1000,0.5\x00\n", "NUL"),
    (b'id,target\n"1000,0.5\n', "not valid CSV"),
    (b"id,target\n1000,0.5,7\n", "fields"),
    (b"id,target\n1000\n", "submission has 1 row, expected"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL"),
])
def test_unreadable_files(make_task, tmp_path, content, fragment):
    path = tmp_path / "sub.csv"
    path.write_bytes(content)
    assert_invalid(grade_submission(make_task("auc"), path), fragment)


@pytest.mark.parametrize("rows", [200, 20_000])      # the csv module's read and polars' (>= 64 KB)
def test_a_record_wider_than_the_header_is_named_by_its_line(make_task, tmp_path, rows):
    lines = ["id,target"] + [f"{k},0.5" for k in range(rows)]
    lines[rows - 5] += ",7"                          # line rows - 4, one further down after the blank
    lines.insert(3, "")                               # a blank line still counts as a line
    path = tmp_path / "sub.csv"
    path.write_text("\n".join(lines) + "\n")
    assert_invalid(grade_submission(make_task("auc"), path), f"line {rows - 3} has 3 fields, the header 2")


def test_missing_target_column(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    assert_invalid(grade_submission(task, write_csv("s.csv", ["id"], [[r[0]] for r in rows])),
                   "missing columns", "'target'")


def test_index_column_and_extra_columns_are_ignored_with_a_note(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    path = write_csv("s.csv", ["", "id", "target", "note"], [[k, r[0], 0.5, "x"] for k, r in enumerate(rows)])
    grade = grade_submission(task, path)
    assert grade.valid and grade.score == 0.5
    assert any("index column" in n for n in grade.notes) and any("'note'" in n for n in grade.notes)
    assert grade.to_json()["notes"] == list(grade.notes)


def test_short_record_reads_as_empty_cells(make_task, write_csv, tmp_path):
    task = make_task("auc")
    header, rows = read_answers(task)
    text = "id,target\n" + "".join(f"{r[0]},0.5\n" if k != 3 else f"{r[0]}\n" for k, r in enumerate(rows))
    (tmp_path / "short.csv").write_text(text)
    assert_invalid(grade_submission(task, tmp_path / "short.csv"), "empty value", repr(rows[3][0]))


def test_ids_written_as_floats_read_as_integers_with_a_note(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    grade = grade_submission(task, write_csv("s.csv", header, [[f"{r[0]}.0", r[1]] for r in rows]))
    assert grade.valid and grade.score == 1.0
    assert any("floats" in n for n in grade.notes)


def test_duplicated_column(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    path = write_csv("s.csv", ["id", "target", "target"], [[r[0], 0.5, 0.5] for r in rows])
    assert_invalid(grade_submission(task, path), "duplicated columns")


def test_wrong_id_column_name(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    path = write_csv("s.csv", ["ID", "target"], [[r[0], 0.5] for r in rows])
    assert_invalid(grade_submission(task, path), "missing columns: 'id'")


def test_duplicated_id(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    out = [[r[0], 0.5] for r in rows]
    out[-1][0] = out[0][0]
    assert_invalid(grade_submission(task, write_csv("s.csv", header, out)), "duplicated ids", repr(out[0][0]))


def test_unknown_id(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    out = [[r[0], 0.5] for r in rows]
    out[3][0] = "not-an-id"
    assert_invalid(grade_submission(task, write_csv("s.csv", header, out)), "not in the test set", "not-an-id")


def test_unknown_integer_id_in_place_of_a_known_one(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    out = [[r[0], 0.5] for r in rows]
    out[3][0] = "99999999"             # integer ids on both sides, as many rows as the answers
    assert_invalid(grade_submission(task, write_csv("s.csv", header, out)), "not in the test set", "99999999")


def test_missing_rows(make_task, write_csv):
    task = make_task("auc", n_test=30)
    header, rows = read_answers(task)
    path = write_csv("s.csv", header, [[r[0], 0.5] for r in rows[:-2]])
    assert_invalid(grade_submission(task, path), "28 rows, expected 30", repr(rows[-1][0]))


def test_one_row_is_said_in_the_singular(make_task, write_csv):
    task = make_task("auc", n_test=30)
    header, rows = read_answers(task)
    from sandmle.synth import evaluator_template as ev
    from sandmle.synth.export import evaluator_facts

    path = write_csv("s.csv", header, [[rows[0][0], 0.5]])
    assert_invalid(grade_submission(task, path), "has 1 row, expected 30")
    with pytest.raises(ev.InvalidSubmission, match="has 1 row, expected 30"):      # the exported evaluator
        ev.evaluate(evaluator_facts(task), path, task.answers_path)


def test_extra_rows(make_task, write_csv):
    task = make_task("auc", n_test=30)
    header, rows = read_answers(task)
    path = write_csv("s.csv", header, [[r[0], 0.5] for r in rows] + [["99999", 0.5]])
    assert_invalid(grade_submission(task, path), "31 rows, expected 30", "not in the test set", "99999")


def test_empty_id(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    out = [[r[0], 0.5] for r in rows]
    out[1][0] = ""
    assert_invalid(grade_submission(task, write_csv("s.csv", header, out)), "empty ids")


@pytest.mark.parametrize("cell, fragment", [
    ("abc", "not a number"), ("nan", "not finite"), ("inf", "not finite"), ("-Infinity", "not finite"),
    ("1e400", "not finite"), ("", "empty value"), ("1.5", "outside [0, 1]"), ("-0.1", "outside [0, 1]"),
    ("0x1", "not a number"), ("½", "not a number"),
])
def test_bad_probability_cells(make_task, write_csv, cell, fragment):
    task = make_task("auc")
    header, rows = read_answers(task)
    out = [[r[0], 0.5] for r in rows]
    out[2][1] = cell
    assert_invalid(grade_submission(task, write_csv("s.csv", header, out)), fragment, repr(rows[2][0]))


def test_negative_multiclass_probability(make_task, write_csv):
    task = make_task("multiclass_log_loss")
    header, rows = read_answers(task)
    out = [[r[0], 0.2, 0.3, 0.5] for r in rows]
    out[0][2] = -0.3
    assert_invalid(grade_submission(task, write_csv("s.csv", header, out)), "outside [0, 1]", "'dog'")


@pytest.mark.parametrize("metric, cell, fragment", [
    ("rmse", "1,5", "not a number"), ("rmse", "nan", "not finite"), ("mean_column_rmsle", "", "empty value"),
    ("accuracy", "", "empty value"), ("qwk", "2.5", "not an integer"), ("qwk", "two", "not a number"),
    ("qwk", "1e300", "not an integer"), ("map_at_k", "", "empty value"),
])
def test_bad_cells_of_other_kinds(make_task, write_csv, metric, cell, fragment):
    task = make_task(metric)
    header, rows = read_answers(task)
    out = [list(r) for r in rows]
    out[4][1] = cell
    assert_invalid(grade_submission(task, write_csv("s.csv", header, out)), fragment)


def test_undefined_metric_is_invalid_with_the_reason(make_task, write_csv):
    task = make_task("rmsle")
    header, rows = read_answers(task)
    path = write_csv("s.csv", header, [[r[0], -5.0] for r in rows])
    assert_invalid(grade_submission(task, path), "rmsle is undefined")


def test_auc_with_one_answer_class_is_invalid_not_a_crash(make_task, write_csv):
    task = make_task("auc")
    header, rows = read_answers(task)
    write_csv(str(task.answers_path), header, [[r[0], 1] for r in rows])
    assert_invalid(grade_submission(task, task.sample_submission_path), "auc is undefined")


def test_huge_file_is_refused_before_parsing(make_task, tmp_path):
    task = make_task("auc", n_test=10)
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:
        fh.write(b"id,target\n")
        fh.truncate(task.answers_path.stat().st_size * 20 + 1_000_001 + 100)
    assert_invalid(grade_submission(task, path), "far larger than the answers")


def test_unicode_ids_and_labels_do_not_crash(make_task, write_csv):
    task = make_task("f1_macro")
    header, rows = read_answers(task)
    out = [[r[0], "ç¥\u202e😀"] for r in rows]
    grade = grade_submission(task, write_csv("s.csv", header, out))
    assert grade.valid and grade.score == 0.0
    out[0][0] = "😀"
    assert_invalid(grade_submission(task, write_csv("t.csv", header, out)), "not in the test set")


# -- the trusted side -------------------------------------------------------------------------

def test_broken_answers_raise(make_task, write_csv):
    task = make_task("rmse")
    header, rows = read_answers(task)
    shutil.copyfile(task.answers_path, task.root / "good.csv")
    write_csv(str(task.answers_path), header, [[r[0], "oops"] for r in rows])
    with pytest.raises(UserError, match="broken answers"):
        grade_submission(task, task.root / "good.csv")
    write_csv(str(task.answers_path), ["id", "other"], rows)
    with pytest.raises(UserError, match="broken answers"):
        grade_submission(task, task.root / "good.csv")


# -- the Grade record -------------------------------------------------------------------------

def test_grade_json_round_trip_and_mlebench_keys(make_task):
    task = make_task("auc")
    grade = grade_submission(task, task.answers_path)
    data = json.loads(json.dumps(grade.to_json()))
    for key in ("score", "gold_threshold", "silver_threshold", "bronze_threshold", "median_threshold",
                "any_medal", "gold_medal", "silver_medal", "bronze_medal", "above_median",
                "submission_exists", "valid_submission", "is_lower_better", "submission_path"):
        assert key in data
    assert Grade.from_json(data) == grade
    invalid = Grade.invalid(task.spec, "x.csv", "line one\nline two")
    assert invalid.reason == "line one line two"
    assert Grade.from_json(json.loads(json.dumps(invalid.to_json()))) == invalid


@pytest.mark.parametrize("score, flags", [
    (0.95, (True, True, False, False, True)),
    (0.85, (True, False, True, False, True)),
    (0.75, (True, False, False, True, True)),
    (0.65, (False, False, False, False, True)),
    (0.6, (False, False, False, False, False)),
])
def test_medal_flags_follow_the_tier(score, flags):
    t = Thresholds(median=0.6, bronze=0.7, silver=0.8, gold=0.9)
    grade = Grade("t", True, score, None, tier_of(score, t, False), t, False, "s.csv")
    assert (grade.any_medal, grade.gold_medal, grade.silver_medal, grade.bronze_medal,
            grade.above_median) == flags


@pytest.mark.parametrize("name", ["x" * 5000 + ".csv", "a\x00b.csv", "/dev/null"])
def test_unopenable_paths_are_invalid_not_a_crash(make_task, name):
    grade = grade_submission(make_task("auc"), name)
    assert_invalid(grade)


def test_symlink_to_the_answers_is_invalid(make_task, tmp_path):
    # Agent code can plant a link that resolves only outside the sandbox, on the grader's side.
    task = make_task("auc")
    link = tmp_path / "work" / "submission.csv"
    link.parent.mkdir()
    link.symlink_to(task.answers_path)
    assert_invalid(grade_submission(task, link), "symbolic link")


ODD_NUMBERS = ["0.5", " 0.5", "0.5 ", "+0.5", ".5", "5e-1", "5E-1", "0.50000000000000000001", "1", "+1",
               "0x1", "1_0", "nan", "NaN", "inf", "-inf", "1e309", "", "-0", "0,5", "½"]
ODD_IDS = ["1000", " 1000", "1000 ", "+1000", "01000", "1000.0", "1_000", "1e3", "", "x"]


@pytest.mark.parametrize("metric", ["auc", "rmse"])
def test_parsing_while_reading_never_changes_a_grade(make_task, write_csv, monkeypatch, metric):
    """Files large enough for polars to parse the id and scored columns while it reads grade
    exactly as when every cell is read as text first: odd spellings of numbers and ids
    (blanks, signs, exponents, hex, empty cells) in the first row."""
    import sandmle.grading.read as read

    task = make_task(metric, n_test=8000)
    ids = [row[0] for row in read_answers(task)[1]]
    guess = np.random.default_rng(0).random(len(ids))
    spellings = [(i, v) for i in ODD_IDS[:1] for v in ODD_NUMBERS] + [(i, "0.5") for i in ODD_IDS[1:]]
    for first_id, first_value in spellings:
        rows = [[first_id, first_value]] + [[i, repr(float(v))] for i, v in zip(ids[1:], guess[1:])]
        path = write_csv("odd.csv", ["id", task.spec.target_columns[0]], rows)
        assert path.stat().st_size >= read.TYPED_MIN_BYTES
        typed = grade_submission(task, path)
        with monkeypatch.context() as patch:
            patch.setattr(read, "TYPED_MIN_BYTES", 1 << 40)
            text = grade_submission(task, path)
        assert (typed.valid, typed.score, typed.reason) == (text.valid, text.score, text.reason), \
            (first_id, first_value)


def test_answers_that_are_not_one_hot_are_a_broken_task(make_task):
    """A multi-class answers row without a single 1 is the task's bug (UserError naming the
    row), not the submission's."""
    task = make_task("multiclass_log_loss")
    header, rows = read_answers(task)
    rows[3][1:] = ["1", "1", "0"]
    task.answers_path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    with pytest.raises(UserError, match=r"one-hot rows .*row 3 is \[1.0, 1.0, 0.0\]"):
        grade_submission(task, task.sample_submission_path)


PLAIN_AND_ODD_CELLS = ["0.5", "+0.5", "-0.5", "5.", ".5", "5e-1", "1E+2", "007", "-0", "1e400", "9" * 30,
                       "0.1000000000000000055511151231257827", "2.4703282292062328e-324", " 0.5", "0.5 ",
                       "nan", "NaN", "inf", "-Infinity", "", "True", "1_0", "0x1", "½", "1,5"]
PLAIN_CELLS = PLAIN_AND_ODD_CELLS[:13]
HEADERS = [lambda names: ",".join(names), lambda names: "\ufeff" + ",".join(names),
           lambda names: ",".join(reversed(names)), lambda names: ",".join(names) + ",extra"]


@pytest.mark.parametrize("reader", ["sandmle", "pandas"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_the_sample_first_row_read_from_plain_lines_is_the_tables(make_task, monkeypatch, reader, line_end):
    """The sample submission's first row read straight from plain lines (no table) equals
    the row read through the grader's table for every spelling: plain decimals, and odd
    ones (blanks, nan, inf, hex, underscores), headers with a BOM, reordered or extra."""
    import sandmle.grading.grade as grade
    from sandmle.grading.profile import GraderProfile, mlebench_profile
    from sandmle.grading.read import read_answers as read_answers_table
    from sandmle.grading.read import read_table

    task = make_task("multiclass_log_loss")
    profile = GraderProfile.from_json(mlebench_profile() if reader == "pandas" else {})
    answers = read_answers_table(task.answers_path, profile.reader, task.spec.id)
    names = ["id", *task.spec.target_columns]
    for header in HEADERS:
        for cell in PLAIN_AND_ODD_CELLS:
            first = ["1000", cell, "0.25", "0.25"] + ([] if "extra" not in header(names) else ["x"])
            if header(names).startswith("fox"):
                first = [cell, "0.25", "0.25", "1000"]
            second = ["1001", "0.5", "0.25", "0.25"] + first[4:]
            task.sample_submission_path.write_bytes(
                (line_end.join([header(names), ",".join(first), ",".join(second)]) + line_end).encode())
            tables = []
            with monkeypatch.context() as patch:
                patch.setattr(grade, "read_table", lambda *a: tables.append(a) or read_table(*a))
                quick = grade._read_first_row(task, profile, answers)
            if cell in PLAIN_CELLS:
                assert not tables, (header(names), cell)          # read without a table
            with monkeypatch.context() as patch:
                patch.setattr(grade, "plain_first_record", lambda head, reader: None)
                table = grade._read_first_row(task, profile, answers)
            assert (quick is None) == (table is None), (header(names), cell)
            if quick is not None:
                assert np.array_equal(quick, table, equal_nan=True), (header(names), cell, quick, table)


@pytest.mark.parametrize("suffix", [".zip", ".gz", ".bz2", ".xz"])
def test_compressed_submissions_read_as_pandas_infers_them(make_task, tmp_path, suffix):
    import bz2
    import gzip
    import lzma
    import zipfile

    task = make_task("auc")
    raw = task.answers_path.read_bytes()
    path = tmp_path / f"sub.csv{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("sub.csv", raw)
    else:
        path.write_bytes({".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix](raw))
    grade = grade_submission(task, path)
    assert grade.valid and grade.score == 1.0


def test_compressed_files_that_are_broken_or_bombs_are_invalid(make_task, tmp_path):
    import gzip

    task = make_task("auc")
    raw = task.answers_path.read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(raw)[:-12])
    assert_invalid(grade_submission(task, tmp_path / "cut.csv.gz"), "gz file")
    (tmp_path / "twice.csv.gz").write_bytes(gzip.compress(raw[:40]) + gzip.compress(raw[40:]))
    assert grade_submission(task, tmp_path / "twice.csv.gz").valid             # members joined, as gzip reads
    (tmp_path / "bomb.csv.gz").write_bytes(gzip.compress(raw.splitlines(True)[0] + b"1,0.5\n" * 3_000_000))
    assert_invalid(grade_submission(task, tmp_path / "bomb.csv.gz"), "expands too far")
    (tmp_path / "text.csv.gz").write_bytes(raw)
    assert_invalid(grade_submission(task, tmp_path / "text.csv.gz"), "not a readable gz file")
