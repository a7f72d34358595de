"""Grading reports: MLE-bench keys, totals, Wilson intervals, comparisons, the eval and
report commands end to end on a small bank."""
import json
import math

from sandmle.cli import main
from sandmle.evaluation import (RATE_KEYS, TOTAL_KEYS, build_report, compare_reports, wilson_interval,
                                write_chart)
from sandmle.rollout.episode import Episode, load_episodes

MLEBENCH_KEYS = {"competition_id", "score", "gold_threshold", "silver_threshold", "bronze_threshold",
                 "median_threshold", "any_medal", "gold_medal", "silver_medal", "bronze_medal",
                 "above_median", "submission_exists", "valid_submission", "is_lower_better",
                 "created_at", "submission_path"}


def grade(task_id, score, tier, lower=False, valid=True):
    t = {"median": 0.6, "bronze": 0.7, "silver": 0.8, "gold": 0.9}
    return {"task_id": task_id, "valid": valid, "score": score if valid else None,
            "reason": None if valid else "bad", "tier": tier, "is_lower_better": lower, "thresholds": t,
            "submission_path": "/x/submission.csv", "submission_exists": True,
            "above_median": tier != "none" and valid}


def episode(task_id, g, reward=0.5, wall_s=2.0, sandbox_s=1.0, i=0):
    return Episode(task_id=task_id, episode_id=f"{task_id}-{i}", policy="p", messages=(), steps=(),
                   termination="answered", terminated=True, truncated=False, final_grade=g, reward=reward,
                   reward_scheme="paper", format_rate=1.0, timed_out=False, input_ids=None, loss_mask=None,
                   prompt_len=None, wall_s=wall_s, sandbox_s=sandbox_s, num_turns=4)


def test_wilson_interval_known_values():
    low, high = wilson_interval(5, 10)
    assert math.isclose(low, 0.2366, abs_tol=1e-4) and math.isclose(high, 0.7634, abs_tol=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and math.isclose(high, 0.2775, abs_tol=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for n in range(1, 40):
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0


def test_report_keys_totals_and_rates(make_task):
    task = make_task("auc", task_id="t1")
    eps = [episode("t1", grade("t1", 0.95, "gold"), reward=1.0, i=0),
           episode("t1", grade("t1", 0.75, "bronze"), reward=0.7, i=1),
           episode("t1", grade("t1", None, "none", valid=False), reward=0.1, i=2),
           episode("t1", None, reward=0.1, i=3, sandbox_s=0.0)]
    report = build_report(eps, {"t1": task}, policy="p", run_wall_s=30.0, num_workers=2)
    assert len(report["competition_reports"]) == 4
    for entry in report["competition_reports"]:
        assert MLEBENCH_KEYS <= set(entry)
    missing = report["competition_reports"][3]
    assert missing["submission_exists"] is False and missing["median_threshold"] == 0.6
    assert missing["is_lower_better"] is False
    assert {k: report[k] for k in TOTAL_KEYS} == {
        "total_runs": 4, "total_runs_with_submissions": 3, "total_valid_submissions": 2, "total_medals": 2,
        "total_gold_medals": 1, "total_silver_medals": 0, "total_bronze_medals": 1, "total_above_median": 2}
    assert set(report["rates"]) == set(RATE_KEYS)
    assert report["rates"]["any_medal"]["rate"] == 0.5
    assert report["rates"]["any_medal"]["ci95_low"] < 0.5 < report["rates"]["any_medal"]["ci95_high"]
    assert math.isclose(report["mean_reward"], 0.475)
    assert math.isclose(report["sandbox_share"], 3.0 / 8.0)
    assert report["episodes_per_min"] == 8.0
    assert math.isclose(report["sandbox_utilisation"], 3.0 / 60.0)
    assert report["tasks"]["t1"]["best_tier"] == "gold" and report["tasks"]["t1"]["mean_score"] == 0.85
    json.dumps(report, allow_nan=False)


def test_compare_reports_respects_direction():
    a = build_report([episode("up", grade("up", 0.7, "bronze")), episode("down", grade("down", 0.5, "none", lower=True))])
    b = build_report([episode("up", grade("up", 0.9, "gold"), reward=1.0),
                      episode("down", grade("down", 0.3, "bronze", lower=True))])
    c = compare_reports(a, b)
    assert math.isclose(c["tasks"]["up"]["score_gain"], 0.2) and math.isclose(c["tasks"]["down"]["score_gain"], 0.2)
    assert c["tasks"]["up"]["tier_steps"] == 2 and c["tasks_better"] == 2 and c["tasks_worse"] == 0
    assert c["totals"]["total_gold_medals"] == {"a": 0, "b": 1, "delta": 1}
    assert math.isclose(c["mean_reward"]["delta"], 0.25)


def test_chart_is_a_png(tmp_path):
    from PIL import Image

    # Every rate at 0 or 1, where the interval's rounding must not break the error bars.
    report = build_report([episode("t", grade("t", 0.95, "gold"), i=i) for i in range(7)], policy="p")
    path = write_chart(report, tmp_path / "c.png")
    assert Image.open(path).format == "PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


def test_eval_and_report_commands_end_to_end(make_task, tmp_path, capsys):
    bank = tmp_path / "tasks"
    make_task("auc", task_id="a-task")
    make_task("rmse", task_id="b-task")
    runs = {}
    for strength in ("weak", "strong"):
        out = tmp_path / strength
        code = main(["eval", "--policy", f"scripted:{strength}", "--bank", str(bank), "--out", str(out),
                     "--workers", "2", "--max-turns", "6", "--json", "--sft-out", str(tmp_path / f"{strength}.sft.jsonl")])
        assert code == 0
        printed = capsys.readouterr().out
        assert printed.count("\n") == 1
        runs[strength] = json.loads(printed)
        assert runs[strength]["total_runs"] == 2 and runs[strength]["total_valid_submissions"] == 2
        saved = json.loads((out / "grading_report.json").read_text())
        assert {e["competition_id"] for e in saved["competition_reports"]} == {"a-task", "b-task"}
        assert (out / "rates.png").is_file()
        episodes = load_episodes(out / "episodes.jsonl")
        assert all(ep.termination == "answered" and ep.num_turns == 4 for ep in episodes)
        sft = [json.loads(line) for line in (tmp_path / f"{strength}.sft.jsonl").read_text().splitlines()]
        assert len(sft) == 2 and sft[0]["messages"][0]["role"] == "system"
    assert main(["report", str(tmp_path / "weak"), str(tmp_path / "strong"), "--json"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    assert comparison["tasks_compared"] == 2 and set(comparison["tasks"]) == {"a-task", "b-task"}
    # An existing run folder is refused, not overwritten.
    assert main(["eval", "--policy", "scripted", "--bank", str(bank), "--out", str(tmp_path / "weak")]) == 2
    assert "already holds" in capsys.readouterr().err


def test_report_of_a_missing_run_is_a_user_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), str(tmp_path / "nope2")]) == 2
    assert "does not exist" in capsys.readouterr().err
