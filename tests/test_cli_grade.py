"""`sandmle grade`, `sandmle task check` and `sandmle task from-csv`: exit codes and JSON."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sandmle.cli import main
from sandmle.task import Thresholds


def run_json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return code, json.loads(lines[0])


def test_grade_valid_submission_json(make_task, capsys):
    task = make_task("auc")
    code, data = run_json(capsys, ["grade", str(task.root), str(task.answers_path), "--json"])
    assert code == 0
    assert data["valid"] is True and data["score"] == 1.0 and data["tier"] == "gold"
    assert data["reward"] == pytest.approx(1.0) and data["scheme"] == "paper"
    assert data["gold_threshold"] == task.spec.thresholds.gold and data["is_lower_better"] is False


@pytest.mark.parametrize("scheme, reward", [("paper", 0.4), ("release", 0.3), ("sparse", 0.1)])
def test_grade_reward_follows_the_scheme(make_task, tmp_path, capsys, scheme, reward):
    task = make_task("auc")       # a constant prediction scores 0.5: valid, below the median
    constant = tmp_path / "constant.csv"
    constant.write_text(task.sample_submission_path.read_text().replace(",0.5", ",0.25"))
    code, data = run_json(capsys, ["grade", str(task.root), str(constant), "--json", "--scheme", scheme])
    assert code == 0 and data["tier"] == "none" and not data["sample_copy"]
    assert data["reward"] == pytest.approx(reward)


def test_grade_invalid_submission_exits_1_with_the_reason(make_task, write_csv, capsys):
    task = make_task("rmse")
    path = write_csv("bad.csv", ["id", "value"], [["1000", "abc"]])
    code, data = run_json(capsys, ["grade", str(task.root), str(path), "--json"])
    assert code == 1
    assert data["valid"] is False and data["score"] is None and data["reason"]
    assert data["reward"] == pytest.approx(0.1)

    assert main(["grade", str(task.root), str(path)]) == 1
    out = capsys.readouterr().out
    assert "invalid submission" in out and "an invalid submission earns the format term only" in out


def test_grade_human_output_shows_score_tier_and_thresholds(make_task, capsys):
    task = make_task("rmse", thresholds=Thresholds(median=4.0, bronze=3.0, silver=2.0, gold=1.0))
    assert main(["grade", str(task.root), str(task.answers_path)]) == 0
    out = capsys.readouterr().out
    for fragment in ("lower is better", "score 0.00000", "tier gold", "median", "gold", "reward 1.000"):
        assert fragment in out


def test_grade_bad_task_or_usage_exits_2(make_task, tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nope"), str(tmp_path / "s.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    task = make_task("auc")
    assert main(["grade", str(task.root), "s.csv", "--scheme", "dense"]) == 2


def test_grade_missing_submission_is_invalid_not_a_usage_error(make_task, tmp_path, capsys):
    task = make_task("accuracy")
    code, data = run_json(capsys, ["grade", str(task.root), str(tmp_path / "none.csv"), "--json"])
    assert code == 1 and data["submission_exists"] is False


def test_grade_as_a_real_process(make_task):
    task = make_task("qwk")
    proc = subprocess.run([sys.executable, "-m", "sandmle", "grade", str(task.root),
                           str(task.sample_submission_path), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["valid"] is True and data["metric"] == "qwk"


# -- task check ---------------------------------------------------------------------------------

def test_task_check_passes_a_good_task(make_task, capsys):
    task = make_task("multiclass_log_loss")
    code, data = run_json(capsys, ["task", "check", str(task.root), "--json"])
    assert code == 0 and data["ok"] is True
    assert {c["name"] for c in data["checks"]} == {"loads", "sample_valid", "answers_gold"}
    assert data["warnings"] == []
    assert data["sample"]["valid"] is True and data["answers"]["tier"] == "gold"


def test_task_check_fails_an_invalid_sample(make_task, write_csv, capsys):
    task = make_task("auc")
    write_csv(str(task.sample_submission_path), ["id", "target"], [["1000", "0.5"]])
    code, data = run_json(capsys, ["task", "check", str(task.root), "--json"])
    assert code == 1 and data["ok"] is False
    failed = [c for c in data["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["sample_valid"] and "has 1 row, expected" in failed[0]["detail"]


def test_task_check_fails_a_task_that_does_not_load(make_task, capsys):
    task = make_task("auc")
    (task.public_dir / "description.md").unlink()
    assert main(["task", "check", str(task.root)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "description.md is missing" in out


def test_task_check_fails_when_the_answers_miss_gold(make_task, capsys):
    task = make_task("accuracy", thresholds=Thresholds(0.6, 0.7, 0.8, 1.5))
    code, data = run_json(capsys, ["task", "check", str(task.root), "--json"])
    assert code == 1
    assert [c["name"] for c in data["checks"] if not c["ok"]] == ["answers_gold"]


def test_task_check_warns_on_tied_thresholds_and_a_strong_sample(make_task, capsys):
    task = make_task("auc", thresholds=Thresholds(0.4, 0.4, 0.8, 0.9))
    code, data = run_json(capsys, ["task", "check", str(task.root), "--json"])
    assert code == 0
    assert {w["name"] for w in data["warnings"]} == {"thresholds_strict", "sample_below_median"}
    [tie] = [w["detail"] for w in data["warnings"] if w["name"] == "thresholds_strict"]
    assert tie == "thresholds tie (no tier lies between them): median 0.4, bronze 0.4, silver 0.8, gold 0.9"


def test_task_check_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["task", "check", str(tmp_path / "nope")]) == 2


# -- task from-csv ------------------------------------------------------------------------------

@pytest.fixture
def data_csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    frame = pd.DataFrame(x.round(4), columns=["a", "b", "c"])
    frame["y1"] = (np.abs(x[:, 0] + x[:, 1]) * 3).round(3)
    frame["y2"] = (np.abs(x[:, 2]) * 5 + 1).round(3)
    frame["label"] = np.where(x[:, 0] > 0.2, "up", "down")
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def test_from_csv_json_then_check(tmp_path, data_csv, capsys):
    out = tmp_path / "task"
    code, data = run_json(capsys, ["task", "from-csv", str(data_csv), "--target", "y1", "--target", "y2",
                                   "--metric", "mean_column_rmsle", "--out", str(out), "--seed", "2", "--json"])
    assert code == 0
    assert data["task_id"] == "task" and data["target_columns"] == ["y1", "y2"]
    assert data["train_rows"] + data["test_rows"] == 80 and data["is_lower_better"] is True
    assert len(data["leaderboard"]) >= 5
    t = data["thresholds"]
    assert t["median"] >= t["bronze"] >= t["silver"] >= t["gold"]
    code, check = run_json(capsys, ["task", "check", str(out), "--json"])
    assert code == 0 and check["ok"] is True
    code, comma = run_json(capsys, ["task", "from-csv", str(data_csv), "--target", "y1,y2", "--metric",
                                    "mean_column_rmsle", "--out", str(tmp_path / "comma"), "--seed", "2", "--json"])
    assert code == 0 and comma["target_columns"] == ["y1", "y2"]       # as seeds from-csv takes them


def test_from_csv_human_output(tmp_path, data_csv, capsys):
    assert main(["task", "from-csv", str(data_csv), "--target", "label", "--metric", "auc",
                 "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    assert "higher is better" in out and "thresholds median" in out


def test_from_csv_bad_input_is_one_line_and_exit_2(tmp_path, data_csv, capsys):
    code = main(["task", "from-csv", str(data_csv), "--target", "label", "--metric", "rmse",
                 "--out", str(tmp_path / "t"), "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and "numeric target" in captured.err
    assert not (tmp_path / "t").exists()


def test_grade_into_a_closed_pipe_exits_like_a_shell_writer(make_task):
    """`sandmle grade ... | head -1`: 141 (128 + SIGPIPE), not 1, which means an invalid submission."""
    import os

    task = make_task("auc")
    read_end, write_end = os.pipe()
    os.close(read_end)                                   # the reader has already left
    try:
        writer = subprocess.run([sys.executable, "-m", "sandmle", "grade", str(task.root),
                                 str(task.answers_path)], stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert writer.returncode == 141, writer.stderr
    assert writer.stderr == ""


def test_semicolon_separated_submission_names_the_separator(make_task, tmp_path, capsys):
    task = make_task("rmse")
    path = tmp_path / "semicolons.csv"
    path.write_text("id;value\n1000;1.0\n")
    assert main(["grade", str(task.root), str(path)]) == 1
    out = capsys.readouterr().out
    assert "read as one column 'id;value'" in out and "separated by commas" in out


def test_bench_commands_describe_themselves_in_their_help(capsys):
    from sandmle.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "kernels", "--help"])
    assert "Metric kernels vs scikit-learn / scipy." in capsys.readouterr().out
