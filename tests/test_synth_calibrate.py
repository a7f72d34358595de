"""Calibration: the simulated leaderboard, its medal thresholds and its CSV file."""
from __future__ import annotations

import math

import pytest

from sandmle.leaderboard import medal_thresholds
from sandmle.sandbox.job import JobResult
from sandmle.leaderboard import Entry, make_leaderboard, read_leaderboard
from sandmle.synth.calibrate import _job_failure


def entries(scores, invalid=0):
    rows = [Entry(f"s{i:02d}", "linear", "medium", s, True, 0.05) for i, s in enumerate(scores)]
    rows += [Entry(f"bad{i}", "forest", "strong", None, False, 0.1, "crashed (exit code 1): boom") for i in range(invalid)]
    return rows


def test_leaderboard_sorts_best_first_and_applies_the_medal_rule():
    scores = [0.5 + 0.02 * i for i in range(20)]
    board = make_leaderboard(entries(scores, invalid=2), is_lower_better=False)
    assert [e.score for e in board.valid_entries] == sorted(scores, reverse=True)
    assert [e.name for e in board.entries[-2:]] == ["bad0", "bad1"]
    assert board.thresholds == medal_thresholds(scores, False)
    assert board.problem is None


def test_lower_is_better_sorts_ascending():
    board = make_leaderboard(entries([3.0, 1.0, 2.0] * 4), is_lower_better=True)
    assert board.valid_entries[0].score == 1.0
    assert board.thresholds.gold <= board.thresholds.median


def test_too_few_valid_entries_give_no_thresholds_and_a_reason():
    board = make_leaderboard(entries([0.6, 0.7, 0.8], invalid=5), is_lower_better=False, min_valid=10)
    assert board.thresholds is None
    assert "only 3 of 8" in board.problem and "boom" in board.problem
    assert board.median_entry() is None


def test_median_entry_is_nearest_the_median():
    board = make_leaderboard(entries([0.1 * i for i in range(1, 12)]), is_lower_better=False)
    assert math.isclose(board.median_entry().score, board.thresholds.median)


def test_csv_round_trip(tmp_path):
    board = make_leaderboard(entries([0.5 + 0.01 * i for i in range(12)], invalid=1), is_lower_better=False)
    path = tmp_path / "leaderboard.csv"
    board.write_csv(path)
    header = path.read_text().splitlines()[0]
    assert header == "name,family,strength,score,valid,wall_s,reason"
    again = read_leaderboard(path, is_lower_better=False)
    assert again.entries == board.entries and again.thresholds == board.thresholds


def result(**kw):
    base = dict(exit_code=0, signal=None, timed_out=False, memory_exceeded=False, wall_s=0.1, cpu_s=0.1,
                stdout_tail="", stderr_tail="", files_written=("submission.csv",), isolation="namespaces")
    base.update(kw)
    return JobResult(**base)


@pytest.mark.parametrize("kw, expected", [
    (dict(), None),
    (dict(timed_out=True, exit_code=None, signal=9, wall_s=30.2), "timed out after 30.2 s"),
    (dict(memory_exceeded=True, exit_code=None, signal=9), "exceeded the memory limit"),
    (dict(exit_code=1, stderr_tail="Traceback\n  File x\nValueError: bad input\n"), "crashed (exit code 1): ValueError: bad input"),
    (dict(exit_code=None, signal=11), "crashed (signal 11)"),
])
def test_job_failures_are_one_line(kw, expected):
    assert _job_failure(result(**kw)) == expected


def test_tier_entries_set_the_thresholds():
    board = make_leaderboard(entries([0.5 + 0.01 * i for i in range(23)], invalid=3), is_lower_better=False)
    tiers = board.tier_entries()
    t = board.thresholds
    assert [tiers[k].score for k in ("bronze", "silver", "gold")] == [t.bronze, t.silver, t.gold]
    assert tiers["median"] == board.median_entry()
    assert make_leaderboard(entries([0.5]), False).tier_entries() == {}


def _solution(name, code, family="linear", strength="medium"):
    from sandmle.synth.solutions import Solution

    return Solution(name, family, strength, code)


WRITE = """
import pandas as pd
test = pd.read_csv("input/test.csv")
pd.DataFrame({{"id": test["id"], "target": {expr}}}).to_csv("submission.csv", index=False)
"""


def test_calibrate_folder_runs_solutions_in_the_pool(make_task, tmp_path):
    """Good, crashing, silent, invalid and hanging solutions: each becomes one leaderboard row."""
    import json

    from sandmle.sandbox.pool import Pool
    from sandmle.synth.calibrate import LEADERBOARD_FILE, TIER_SUBMISSIONS_DIR, calibrate_folder
    from sandmle.task import load_task

    task = make_task("auc", n_test=40)
    answers = __import__("pandas").read_csv(task.answers_path)
    truth = dict(zip(answers["id"].astype(str), answers["target"]))
    solutions = [_solution(f"blend_{k}", WRITE.format(expr=(
        f"[({truth!r}[str(i)] * {k} + (i % 7) / 7 * (10 - {k})) / 10 for i in test['id']]"))) for k in range(10)]
    solutions += [
        _solution("crash", "raise ValueError('bad model')"),
        _solution("silent", "print('nothing written')"),
        _solution("out_of_range", WRITE.format(expr="2.0")),
        _solution("hang", "import time\ntime.sleep(60)"),
        _solution("exit_process", "import os\nos._exit(3)"),    # ends its whole batch's process
    ]
    with Pool(num_workers=2, preload=("numpy", "pandas")) as pool:
        board = calibrate_folder(task.root, pool, solutions, timeout_s=3.0, min_valid=8)
    rows = {e.name: e for e in board.entries}
    assert [rows[f"blend_{k}"].valid for k in range(10)] == [True] * 10
    assert rows["blend_9"].score > rows["blend_0"].score
    assert rows["crash"].reason.startswith("crashed (exit code 1)") and "bad model" in rows["crash"].reason
    assert rows["silent"].reason == "wrote no submission.csv"
    assert rows["out_of_range"].reason.startswith("invalid submission: probability")
    assert rows["hang"].reason.startswith("timed out")
    assert rows["exit_process"].reason == "crashed (exit code 3)"     # rerun alone, so blamed alone
    assert board.thresholds is not None
    reloaded = load_task(task.root)
    assert reloaded.spec.thresholds == board.thresholds             # written into task.json
    assert (task.private_dir / LEADERBOARD_FILE).read_text() == board.to_csv()
    for tier, entry in board.tier_entries().items():
        saved = (task.private_dir / TIER_SUBMISSIONS_DIR / f"{tier}.csv").read_text()
        assert saved.startswith("id,target")
    assert json.loads((task.root / "task.json").read_text())["thresholds"]["gold"] == board.thresholds.gold


def test_calibrate_stages_the_generated_spec(tmp_path):
    """The contract entry point writes task.json with placeholder thresholds, then calibrates."""
    from sandmle.synth.calibrate import calibrate
    from sandmle.synth.generated import generate_task
    from sandmle.synth.seeds import get_seed
    from sandmle.task import load_task

    generated = generate_task(get_seed("tabular-binary-accuracy"), 3)
    root = tmp_path / "staged"
    generated.write(root / "public", root / "private")
    board = calibrate(generated, root / "public", root / "private", pool=None, solutions=[])
    assert board.thresholds is None and "only 0 of 0" in board.problem
    spec = load_task(root).spec
    assert spec.id == generated.spec.id and spec.thresholds.as_tuple() == (0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="<root>/public"):
        calibrate(generated, root / "public", tmp_path / "elsewhere", pool=None, solutions=[])


def test_batched_and_single_jobs_give_the_same_leaderboard(tmp_path):
    """Reference solutions sharing a sandbox job score exactly as they do one job each."""
    from sandmle.sandbox.pool import DEFAULT_PRELOAD, Pool
    from sandmle.synth.calibrate import calibrate
    from sandmle.synth.generated import generate_task
    from sandmle.synth.seeds import get_seed
    from sandmle.synth.solutions import reference_solutions

    generated = generate_task(get_seed("tabular-ordinal-qwk"), 0)
    fast = [s for s in reference_solutions(generated.spec)
            if s.family in ("constant", "linear", "knn", "tree", "nb", "forest")]
    boards = {}
    with Pool(num_workers=2, preload=DEFAULT_PRELOAD) as pool:
        for size in (1, 4):
            root = tmp_path / f"batch{size}"
            generated.write(root / "public", root / "private")
            boards[size] = calibrate(generated, root / "public", root / "private", pool,
                                     solutions=fast, batch_size=size, min_valid=5)
    scores = {size: {e.name: (e.score, e.valid, e.reason) for e in b.entries} for size, b in boards.items()}
    assert len(fast) >= 8 and all(valid for _, valid, _ in scores[4].values())
    assert scores[1] == scores[4]
    assert boards[1].thresholds == boards[4].thresholds
