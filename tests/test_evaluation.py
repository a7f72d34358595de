"""Grading reports: MLE-bench keys, totals, Wilson intervals, comparisons, the eval and
report commands end to end on a small bank."""
import json
import math

import pytest

from sandmle.cli import main
from sandmle.evaluation import RATE_KEYS, TOTAL_KEYS, build_report, compare_reports, wilson_interval
from sandmle.report_view import write_chart
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
                   reward_scheme="paper", format_rate=1.0, timed_out=False, wall_s=wall_s, sandbox_s=sandbox_s, num_turns=4)


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


def test_a_task_without_a_valid_score_counts_by_reward():
    a = build_report([episode("kept", grade("kept", 0.75, "bronze"), reward=0.7, i=0),
                      episode("lost", grade("lost", 0.75, "bronze"), reward=0.7, i=1),
                      episode("found", grade("found", None, "none", valid=False), reward=0.0, i=2)])
    b = build_report([episode("kept", grade("kept", 0.95, "gold"), reward=1.0, i=0),
                      episode("lost", grade("lost", None, "none", valid=False), reward=0.0, i=1),
                      episode("found", grade("found", 0.75, "bronze"), reward=0.7, i=2)])
    c = compare_reports(a, b)
    assert c["tasks"]["lost"]["score_gain"] is None and c["tasks"]["found"]["score_gain"] is None
    # "lost" fell 0.7 -> 0 (no valid submission in B): worse, as its paired reward difference says.
    assert (c["tasks_better"], c["tasks_worse"], c["tasks_compared"]) == (2, 1, 3)
    assert math.isclose(c["reward_paired"]["delta"], (0.3 - 0.7 + 0.7) / 3)


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
        # Evaluation's score tool only checks the format unless asked otherwise, and says so.
        assert saved["score_tool"] == "format" and runs[strength]["score_tool"] == "format"
        assert json.loads((out / "run.json").read_text())["config"]["score_tool"] == "format"
        assert {e["competition_id"] for e in saved["competition_reports"]} == {"a-task", "b-task"}
        assert (out / "rates.png").is_file()
        episodes = load_episodes(out / "episodes.jsonl")
        assert all(ep.termination == "answered" and ep.num_turns == 4 for ep in episodes)
        assert all(ep.steps[2].observation.startswith("valid submission") for ep in episodes)
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


def test_report_refuses_two_runs_that_share_no_task(tmp_path, capsys):
    a = _run_folder(tmp_path, "a", [episode("t1", grade("t1", 0.95, "gold"), reward=0.8)])
    b = _run_folder(tmp_path, "b", [episode("t2", grade("t2", 0.75, "bronze"), reward=0.7)])
    assert main(["report", a, b, "--chart", str(tmp_path / "c.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("sandmle: error: ") and "share no task" in err
    assert not (tmp_path / "c.png").exists()


def test_report_warns_when_the_runs_settings_differ(tmp_path, capsys):
    eps = [episode("t1", grade("t1", 0.95, "gold"), reward=0.8)]
    runs = {}
    for name, tool, turns in (("a", "format", 20), ("b", "test", 6), ("c", "format", 20)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "grading_report.json").write_text(json.dumps(build_report(eps, policy="p", score_tool=tool,
                                                                            reward_scheme="paper")))
        (folder / "run.json").write_text(json.dumps({"config": {"max_turns": turns, "reward_scheme": "paper",
                                                                "sampling": {"max_new_tokens": 4096}}}))
        runs[name] = str(folder)
    assert main(["report", runs["a"], runs["b"]]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sandmle: warning: "), err
    assert "score tool format vs test" in err and "max turns 20 vs 6" in err and "reward scheme" not in err
    assert main(["report", runs["a"], runs["c"], "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_report_chart_path_is_checked_and_said(tmp_path, capsys):
    from PIL import Image

    a = _run_folder(tmp_path, "a", [episode("t1", grade("t1", 0.95, "gold"), reward=0.8)])
    b = _run_folder(tmp_path, "b", [episode("t1", grade("t1", 0.75, "bronze"), reward=0.7)])
    missing = tmp_path / "nowhere" / "dir" / "c.png"
    assert main(["report", a, b, "--chart", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and not (tmp_path / "nowhere").exists()
    assert main(["report", a, b, "--chart", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    chart = tmp_path / "c.png"
    for runs in ([a, b], [a], ["--stages", a, b]):
        assert main(["report", *runs, "--chart", str(chart)]) == 0
        assert f"chart written to {chart}" in capsys.readouterr().out
        assert Image.open(chart).format == "PNG"
    assert main(["report", a, b, "--chart", str(chart), "--json"]) == 0
    json.loads(capsys.readouterr().out)                  # the JSON alone
    assert main(["report", "--over-seeds", a, b, "--chart", str(chart)]) == 2   # not drawn: refused, not ignored
    assert "--chart" in capsys.readouterr().err


# -- resumable runs -------------------------------------------------------------------------
KILL_AFTER = """
import os, signal, sys
import sandmle.evaluation as evaluation
appended = []
original = evaluation.EpisodeLog.append
def append(self, episode):
    original(self, episode)
    appended.append(episode.episode_id)
    if len(appended) == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)        # kill -9 in the middle of the run
evaluation.EpisodeLog.append = append
from sandmle.cli import main
sys.exit(main(sys.argv[2:]))
"""
PER_EPISODE_TIMING = ("created_at", "wall_s", "sandbox_s", "submission_path")


def _comparable(report: dict) -> dict:
    from sandmle.evaluation import TIMING_KEYS

    out = {k: v for k, v in report.items() if k not in TIMING_KEYS}
    out["competition_reports"] = [{k: v for k, v in e.items() if k not in PER_EPISODE_TIMING}
                                  for e in report["competition_reports"]]
    return out


def _eval_args(bank, out, *extra):
    return ["eval", "--policy", "scripted:medium", "--bank", str(bank), "--out", str(out),
            "--workers", "2", "--max-turns", "6", "--num-episodes-per-task", "3", "--json", *extra]


def test_killed_run_resumes_to_the_uninterrupted_report(make_task, tmp_path, capsys):
    import subprocess
    import sys

    bank = tmp_path / "tasks"
    make_task("auc", task_id="a-task")
    make_task("rmse", task_id="b-task")
    killed = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER, "2", *_eval_args(bank, killed)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr
    lines = (killed / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 2 and not (killed / "grading_report.json").exists()
    assert main(["report", str(killed)]) == 0
    assert "partial run, 2 of 6 episodes" in capsys.readouterr().out
    assert main(_eval_args(bank, killed, "--resume")) == 0
    resumed = json.loads((killed / "grading_report.json").read_text())
    capsys.readouterr()
    assert main(_eval_args(bank, tmp_path / "whole")) == 0
    whole = json.loads((tmp_path / "whole" / "grading_report.json").read_text())
    assert resumed["total_runs"] == 6 and resumed["complete"]
    assert _comparable(resumed) == _comparable(whole)
    assert (killed / "episodes.jsonl").read_text().splitlines()[:2] == lines


def test_existing_run_is_refused_without_resume_or_overwrite(make_task, tmp_path, capsys):
    bank = tmp_path / "tasks"
    make_task("auc", task_id="a-task")
    out = tmp_path / "run"
    args = ["eval", "--policy", "scripted", "--bank", str(bank), "--out", str(out), "--json",
            "--workers", "1"]
    assert main(args) == 0
    (out / "keep.txt").write_text("the user's")
    capsys.readouterr()
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(args + ["--resume", "--seed", "5"]) == 2
    assert "different seed" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    assert (out / "keep.txt").read_text() == "the user's"
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 1


def test_resume_of_a_finished_run_keeps_its_timing(make_task, tmp_path, capsys):
    timing = ("run_wall_s", "num_workers", "episodes_per_min", "sandbox_utilisation")
    bank = tmp_path / "tasks"
    make_task("auc", task_id="a-task")
    out = tmp_path / "run"
    args = ["eval", "--policy", "scripted", "--bank", str(bank), "--out", str(out), "--json", "--workers", "1"]
    assert main(args) == 0
    first = json.loads((out / "grading_report.json").read_text())
    assert all(first[key] is not None for key in timing)
    assert main(args + ["--resume"]) == 0                  # nothing left to run
    again = json.loads((out / "grading_report.json").read_text())
    assert {k: again[k] for k in timing} == {k: first[k] for k in timing}
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "episodes per minute" in shown and "sandbox busy share (1 worker)" in shown


def test_torn_last_line_is_dropped_on_resume(make_task, tmp_path, capsys):
    bank = tmp_path / "tasks"
    make_task("auc", task_id="a-task")
    make_task("rmse", task_id="b-task")
    out = tmp_path / "run"
    args = ["eval", "--policy", "scripted", "--bank", str(bank), "--out", str(out), "--json",
            "--workers", "1"]
    assert main(args) == 0
    log = out / "episodes.jsonl"
    first, second = log.read_text().splitlines()
    log.write_text(first + "\n" + second[: len(second) // 2])       # a crash mid-write
    (out / "grading_report.json").unlink()
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    partial = json.loads(capsys.readouterr().out)
    assert partial["total_runs"] == 1 and partial["episodes_planned"] == 2 and not partial["complete"]
    assert main(args + ["--resume"]) == 0
    assert [json.loads(x)["episode_id"] for x in log.read_text().splitlines()] == \
        [json.loads(first)["episode_id"], json.loads(second)["episode_id"]]


def test_human_rank_from_a_human_leaderboard_only(make_task):
    from sandmle.leaderboard import Entry, make_leaderboard

    human = make_task("auc", task_id="kaggle")
    synthetic = make_task("auc", task_id="synth")
    scores = [0.95, 0.9, 0.85, 0.8, 0.7]        # a score of 0.85 beats 3 of 5 teams (ties count)
    make_leaderboard([Entry(f"team {i}", "kaggle", "human", s, True, 0.0) for i, s in enumerate(scores)],
                     False, min_valid=1).write_csv(human.private_dir / "leaderboard.csv")
    make_leaderboard([Entry(f"ref {i}", "linear", "strong", s, True, 0.0) for i, s in enumerate(scores)],
                     False, min_valid=1).write_csv(synthetic.private_dir / "leaderboard.csv")
    eps = [episode("kaggle", grade("kaggle", 0.85, "bronze"), i=0),
           episode("kaggle", grade("kaggle", None, "none", valid=False), i=1),
           episode("kaggle", grade("kaggle", 0.99, "gold"), i=2),
           episode("synth", grade("synth", 0.85, "bronze"), i=3)]
    report = build_report(eps, {"kaggle": human, "synth": synthetic})
    ranks = [e["human_rank"] for e in report["competition_reports"]]
    assert ranks == [0.6, 0.0, 1.0, None]       # invalid: 0 (MLE-Dojo); no human board: None
    assert math.isclose(report["mean_human_rank"], 1.6 / 3) and report["human_rank_episodes"] == 3
    assert report["tasks"]["synth"]["mean_human_rank"] is None


# -- runs that cannot mislead ---------------------------------------------------------------
class _Endpoint:
    """A chat-completions server on loopback: answers the one-token probe, then `status`
    (with an error body) to every episode's request; `probe_status` for the probe itself."""

    def __init__(self, status=400, probe_status=200):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                code = probe_status if body.get("max_tokens") == 1 else status
                payload = ({"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                            "choices": [{"index": 0, "finish_reason": "length",
                                         "message": {"role": "assistant", "content": "x"}}]}
                           if code == 200 else {"error": {"message": f"model {body['model']} is not served"}})
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_endpoint_is_one_line_before_any_episode(make_task, tmp_path, capsys):
    bank = tmp_path / "tasks"
    make_task("auc", task_id="a-task")
    out = tmp_path / "run"
    url = f"http://127.0.0.1:{_free_port()}/v1"
    assert main(["eval", "--policy", f"openai:m@{url}", "--bank", str(bank), "--out", str(out),
                 "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"sandmle: error: policy openai:m@{url}: nothing answers at {url}")
    assert not out.exists()                       # no run folder to --overwrite afterwards


def test_an_endpoint_that_does_not_serve_the_model_is_one_line(make_task, tmp_path, capsys):
    bank = tmp_path / "tasks"
    make_task("auc", task_id="a-task")
    endpoint = _Endpoint(probe_status=404)
    try:
        assert main(["eval", "--policy", f"openai:nope@{endpoint.url}", "--bank", str(bank),
                     "--out", str(tmp_path / "run"), "--workers", "1"]) == 2
    finally:
        endpoint.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 404" in err and "model nope is not served" in err


def test_episodes_failing_at_the_policy_above_the_share_exit_1_and_say_so(make_task, tmp_path, capsys):
    bank = tmp_path / "tasks"
    make_task("auc", task_id="a-task")
    make_task("rmse", task_id="b-task")
    endpoint = _Endpoint(status=400)
    args = ["eval", "--policy", f"openai:m@{endpoint.url}", "--bank", str(bank), "--workers", "1"]
    try:
        assert main([*args, "--out", str(tmp_path / "run")]) == 1
        captured = capsys.readouterr()
        line = captured.err.splitlines()[-1]
        assert line.startswith("sandmle: error: 2 of 2 episodes (100%) ended in policy_error or env_error, "
                               "above the allowed 10% (--max-error-share)")
        assert "HTTP 400" in line and "(2x)" in line
        assert "failed at the policy or sandbox" in captured.out and "above the allowed 10%" in captured.out
        report = json.loads((tmp_path / "run" / "grading_report.json").read_text())
        assert report["errors_exceeded"] and report["error_share"] == 1.0 and report["max_error_share"] == 0.1
        assert report["top_errors"][0]["termination"] == "policy_error"
        # A run allowed every failure passes, and still reports them.
        assert main([*args, "--out", str(tmp_path / "lenient"), "--max-error-share", "1", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["failed_episodes"] == 2
    finally:
        endpoint.close()


def test_max_error_share_outside_0_1_is_refused(tmp_path, capsys):
    assert main(["eval", "--policy", "scripted", "--bank", "B", "--out", str(tmp_path / "r"),
                 "--max-error-share", "1.5"]) == 2
    assert "--max-error-share" in capsys.readouterr().err


# -- intervals researchers can cite ---------------------------------------------------------
def test_repeated_episodes_widen_the_interval_to_a_bootstrap_over_tasks():
    from sandmle.evaluation import task_bootstrap_interval

    # every episode of "easy" medals, none of "hard": 8 episodes, but 2 tasks of evidence
    eps = [episode("easy", grade("easy", 0.95, "gold"), i=i) for i in range(4)]
    eps += [episode("hard", grade("hard", 0.5, "none"), i=4 + i) for i in range(4)]
    report = build_report(eps)
    medal = report["rates"]["any_medal"]
    assert report["interval"] == "bootstrap over tasks and Wilson, the wider"
    assert (medal["wilson_low"], medal["wilson_high"]) == wilson_interval(4, 8)
    assert (medal["ci95_low"], medal["ci95_high"]) == (0.0, 1.0)       # tasks drawn 0 or 2 times easy
    assert task_bootstrap_interval([4, 0], [4, 4]) == (0.0, 1.0)
    # one episode per task: episodes are independent, the Wilson interval stands
    single = build_report([episode(t, grade(t, 0.95, "gold")) for t in ("a", "b", "c")])
    assert single["interval"] == "Wilson"
    assert (single["rates"]["any_medal"]["ci95_low"], single["rates"]["any_medal"]["ci95_high"]) == \
        wilson_interval(3, 3)


def _run_folder(root, name, eps, bank="bank", policy="p"):
    folder = root / name
    folder.mkdir()
    (folder / "grading_report.json").write_text(json.dumps(build_report(eps, policy=policy, bank=bank)))
    return str(folder)


def test_report_over_seeds_gives_mean_and_standard_error(tmp_path, capsys):
    import statistics

    medals = [(1, 3), (2, 3), (3, 3)]          # medals out of 3 episodes in each of three seeds
    runs = [_run_folder(tmp_path, f"seed{s}", [episode(f"t{j}", grade(f"t{j}", 0.95 if j < m else 0.5,
                                                                        "gold" if j < m else "none"), i=j)
                                                for j in range(n)]) for s, (m, n) in enumerate(medals)]
    assert main(["report", "--over-seeds", *runs, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rates = [1 / 3, 2 / 3, 1.0]
    assert summary["runs"] == 3 and summary["measures"]["any_medal"]["values"] == rates
    assert math.isclose(summary["measures"]["any_medal"]["mean"], statistics.fmean(rates))
    assert math.isclose(summary["measures"]["any_medal"]["sem"], statistics.stdev(rates) / math.sqrt(3))
    assert main(["report", "--over-seeds", *runs]) == 0
    assert "mean +/- standard error over 3 runs" in capsys.readouterr().out
    assert main(["report", *runs]) == 2
    assert "--over-seeds" in capsys.readouterr().err
    other = _run_folder(tmp_path, "other", [episode("t0", grade("t0", 0.5, "none"))], bank="elsewhere")
    assert main(["report", "--over-seeds", runs[0], other]) == 2
    assert "different banks" in capsys.readouterr().err
    other = _run_folder(tmp_path, "other-policy", [episode("t0", grade("t0", 0.5, "none"))], policy="q")
    assert main(["report", "--over-seeds", runs[0], other]) == 2
    assert "different policies (p, q)" in capsys.readouterr().err


def test_runs_record_the_sandmle_version(make_task, tmp_path, capsys):
    from sandmle import __version__

    make_task("auc", task_id="a-task")
    out = tmp_path / "run"
    assert main(["eval", "--policy", "scripted", "--bank", str(tmp_path / "tasks"), "--out", str(out),
                 "--workers", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sandmle_version"] == __version__
    assert json.loads((out / "run.json").read_text())["sandmle_version"] == __version__


def test_hf_policies_without_a_gpu_get_the_cpu_budget(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: hf: keeps the paper's budget")
    from sandmle.cli import build_parser
    from sandmle.cli.eval import rollout_config

    def config(*flags):
        return rollout_config(build_parser().parse_args(["eval", "--bank", "b", "--out", "r", *flags]))

    cpu = config("--policy", "hf:model")
    assert (cpu.max_turns, cpu.sampling.max_new_tokens, cpu.max_context_tokens, cpu.episode_timeout_s) == \
        (8, 512, 8192, 600.0)
    assert "budget hf-cpu" in capsys.readouterr().err
    chosen = config("--policy", "hf:model", "--budget", "paper-eval", "--max-new-tokens", "64")
    assert (chosen.max_turns, chosen.sampling.max_new_tokens) == (20, 64)
    paper = config("--policy", "scripted")
    assert (paper.max_turns, paper.sampling.max_new_tokens, paper.max_context_tokens) == (20, 4096, 32768)


def test_exec_help_shows_the_layout_a_script_sees(capsys):
    assert main(["exec", "--help"]) == 0
    out = capsys.readouterr().out
    assert "/sandbox/work" in out and "./input/train.csv" in out and "no network" in out


def test_steps_the_infrastructure_lost_are_counted_apart_from_the_policy():
    from dataclasses import replace

    from sandmle.rollout.episode import Step

    def step(index, infra=()):
        job = {"exit_code": 0, "infra_failures": list(infra)}
        return Step(index=index, text="x", finish_reason="stop", action={"kind": "python"}, observation="ok",
                    job=job, grade=None, failed=False, generate_s=0.1, sandbox_s=0.2, context_tokens=10)

    lost = ["node host:12 lost while it held the job: actor died"]
    ep = replace(episode("t", grade("t", 0.95, "gold")), steps=(step(0, lost), step(1), step(2, lost)))
    report = build_report([ep, episode("t", grade("t", 0.5, "none"), i=1)])
    assert report["infrastructure_retries"] == 2
    assert report["total_valid_submissions"] == 2 and report["terminations"] == {"answered": 2}


def test_reward_standard_errors_over_tasks_and_paired():
    """The SE of the mean reward is taken over tasks' mean rewards; a comparison pairs the
    two runs task by task (formulas checked against statistics.stdev)."""
    import statistics

    a_rewards = {"t1": [0.4, 0.5], "t2": [0.9, 0.7], "t3": [0.1, 0.3]}
    b_rewards = {"t1": [0.7, 0.9], "t2": [1.0, 0.9], "t3": [0.4, 0.4]}

    def run(rewards):
        return build_report([episode(t, grade(t, 0.7, "bronze"), reward=r, i=i)
                             for t, rs in rewards.items() for i, r in enumerate(rs)])
    a, b = run(a_rewards), run(b_rewards)
    means = [statistics.mean(v) for v in a_rewards.values()]
    assert math.isclose(a["reward_task_se"], statistics.stdev(means) / math.sqrt(3))
    paired = compare_reports(a, b)["reward_paired"]
    deltas = [statistics.mean(b_rewards[t]) - statistics.mean(a_rewards[t]) for t in a_rewards]
    assert paired["tasks"] == 3 and math.isclose(paired["delta"], statistics.mean(deltas))
    assert math.isclose(paired["se"], statistics.stdev(deltas) / math.sqrt(3))
    assert math.isclose(paired["z"], paired["delta"] / paired["se"])
    one = build_report([episode("t1", grade("t1", 0.7, "bronze"))])
    assert one["reward_task_se"] is None and compare_reports(one, one)["reward_paired"]["se"] is None


def test_report_lines_up_stages_and_draws_them(make_task, tmp_path, capsys):
    from PIL import Image

    from sandmle.rollout.episode import save_episodes

    runs = []
    for name, rewards in (("before", (0.1, 0.1)), ("middle", (0.4, 0.7)), ("after", (0.9, 0.9))):
        run = tmp_path / name
        save_episodes(run / "episodes.jsonl", [episode(t, grade(t, 0.7, "bronze"), reward=r, i=0)
                                               for t, r in zip(("t1", "t2"), rewards)])
        runs.append(str(run))
    chart = tmp_path / "stages.png"
    assert main(["report", "--stages", *runs, "--labels", "before SFT,after SFT,after GRPO",
                 "--chart", str(chart), "--json"]) == 0
    stages = json.loads(capsys.readouterr().out)["stages"]
    assert [s["label"] for s in stages] == ["before SFT", "after SFT", "after GRPO"]
    assert math.isclose(stages[2]["vs_previous"]["delta"], 0.35) and stages[0].get("vs_previous") is None
    assert Image.open(chart).format == "PNG"
    assert main(["report", "--stages", *runs]) == 0
    assert "stages" in capsys.readouterr().out
    assert main(["report", *runs]) == 2                  # several runs: say what they are
    assert "--stages" in capsys.readouterr().err
    assert main(["report", "--stages", *runs, "--labels", "a,b"]) == 2
    assert "--labels names 2 runs, but 3" in capsys.readouterr().err


def test_one_run_shows_its_mean_reward_and_se_with_the_same_digits(tmp_path, capsys):
    from sandmle.rollout.episode import save_episodes

    run = tmp_path / "run"
    save_episodes(run / "episodes.jsonl", [episode(t, grade(t, 0.7, "bronze"), reward=r, i=0)
                                           for t, r in (("t1", 0.7), ("t2", 0.9))])
    assert main(["report", str(run)]) == 0
    assert "0.800 ± 0.100 (SE over tasks)" in capsys.readouterr().out
