"""End to end: MLE-bench-lite's 22 competitions, mocked in their real layouts, imported with
`sandmle bank import mlebench` and evaluated with `sandmle eval --policy scripted:strong`
under the paper's evaluation budget; the report carries MLE-Dojo's HumanRank."""
from __future__ import annotations

import json

import pytest

from mlebench_mocks import build_mlebench
from sandmle.cli import main
from sandmle.sources.mlebench_lite import LITE


@pytest.mark.slow
def test_import_then_eval_of_all_lite_competitions_reports_human_rank(tmp_path, capsys):
    data_dir, checkout = build_mlebench(tmp_path, n_test=30)
    bank, run = tmp_path / "bank", tmp_path / "run"
    assert main(["bank", "import", "mlebench", str(data_dir), "--out", str(bank),
                 "--leaderboards", str(checkout), "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert sorted(imported["tasks"]) == sorted(LITE)
    assert main(["eval", "--policy", "scripted:strong", "--bank", str(bank), "--out", str(run),
                 "--budget", "paper-eval", "--workers", "2", "--json"]) == 0
    capsys.readouterr()
    report = json.loads((run / "grading_report.json").read_text())
    entries = report["competition_reports"]
    assert sorted(e["competition_id"] for e in entries) == sorted(LITE)
    for entry in entries:
        assert entry["submission_exists"], entry["competition_id"]
        assert entry["valid_submission"], (entry["competition_id"], entry["termination"])
        assert 0.0 <= entry["human_rank"] <= 1.0, entry["competition_id"]
    assert 0.0 <= report["mean_human_rank"] <= 1.0
    assert report["total_valid_submissions"] == len(LITE)
    # the budget preset reached the episodes: the paper's 20 turns, 300 s a step, 20 min an episode
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["config"]["max_turns"] == 20 and manifest["config"]["step_timeout_s"] == 300.0
    assert manifest["config"]["episode_timeout_s"] == 1200.0


def test_unknown_competition_is_one_line(tmp_path, capsys):
    data_dir, checkout = build_mlebench(tmp_path, n_test=10, competitions=["spooky-author-identification"])
    code = main(["bank", "import", "mlebench", str(data_dir), "--out", str(tmp_path / "bank"),
                 "--competitions", "spooky-author-identification,not-a-competition"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not-a-competition" in err


def test_missing_leaderboard_and_lfs_pointer_are_one_line(tmp_path, capsys):
    cid = "spooky-author-identification"
    data_dir, checkout = build_mlebench(tmp_path, n_test=10, competitions=[cid])
    args = ["bank", "import", "mlebench", str(data_dir), "--out", str(tmp_path / "bank"), "--competitions", cid]
    assert main(args) == 2
    assert "--leaderboards" in capsys.readouterr().err
    board = checkout / "mlebench" / "competitions" / cid / "leaderboard.csv"
    board.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n")
    assert main(args + ["--leaderboards", str(checkout)]) == 2
    assert "git lfs pull" in capsys.readouterr().err


def test_import_links_the_data_and_sets_mlebench_thresholds(tmp_path):
    from sandmle.leaderboard import human_rank, mlebench_thresholds
    from sandmle.sources.mlebench import import_competitions, read_kaggle_leaderboard
    from sandmle.task import load_task

    cid = "tabular-playground-series-may-2022"
    data_dir, checkout = build_mlebench(tmp_path, n_test=20, competitions=[cid])
    written, notes = import_competitions(data_dir, tmp_path / "bank", cid, checkout)
    task = load_task(written[0].path)
    assert (task.root / "public").is_symlink() and (task.root / "private" / "answers.csv").is_symlink()
    assert (task.root / "public").resolve() == (data_dir / cid / "prepared" / "public").resolve()
    _, scores = read_kaggle_leaderboard(checkout / "mlebench" / "competitions" / cid / "leaderboard.csv")
    # 60 teams: gold at rank 6, silver 12, bronze 24 (Kaggle's progression), median of all
    assert task.spec.thresholds == mlebench_thresholds(scores, False)
    assert task.spec.thresholds.gold == scores[5] and task.spec.thresholds.bronze == scores[23]
    assert human_rank(scores[0] + 1, scores, False) == 1.0 and human_rank(-1.0, scores, False) == 0.0
    assert human_rank(scores[9], scores, False) == pytest.approx(51 / 60)
    assert task.spec.test_file is None or (task.public_dir / task.spec.test_file).is_file()


def _config(*flags):
    from sandmle.cli import build_parser
    from sandmle.cli.eval import rollout_config

    return rollout_config(build_parser().parse_args(["eval", "--policy", "scripted", "--bank", "b",
                                                     "--out", "r", *flags]))


def test_budget_preset_then_flags_one_by_one():
    default = _config()
    assert (default.max_turns, default.episode_timeout_s, default.step_timeout_s, default.memory_mb) == \
        (20, 1200.0, 300.0, 4096)
    train = _config("--budget", "paper-train", "--step-timeout-s", "60", "--memory-mb", "16384")
    assert (train.max_turns, train.episode_timeout_s, train.step_timeout_s, train.memory_mb) == \
        (15, 1200.0, 60.0, 16384)
    assert _config("--episode-timeout", "90", "--max-turns", "3").episode_timeout_s == 90.0  # older spelling
    assert _config().devices == ()


def test_bad_budget_values_are_one_line(capsys):
    for flag, value in (("--memory-mb", "0"), ("--step-timeout-s", "-1")):
        with pytest.raises(SystemExit) as stop:
            _config(flag, value)
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("sandmle: error: argument " + flag) and "Traceback" not in "".join(err)
