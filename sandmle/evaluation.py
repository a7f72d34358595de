"""Evaluation reports: episodes -> an MLE-bench grading report with rates, CIs and a chart.

`build_report(episodes, tasks)` gives one entry per episode with MLE-bench's per-run keys
(competition_id, score, the four thresholds, medal flags, above_median, submission_exists,
valid_submission, is_lower_better, created_at, submission_path), MLE-bench's totals
(total_runs ... total_above_median), and on top: rates of valid submissions, above median,
bronze, silver, gold and any medal with 95% intervals (Wilson over episodes; when tasks
are run more than once, widened to a bootstrap over tasks, since repeated episodes of one
task are not independent trials: `interval` says which); MLE-Dojo's HumanRank per
episode and its mean over the tasks with a human leaderboard (imported MLE-bench
competitions); mean reward, turns and wall time, the share of episode wall time spent in the
sandbox and the pool's busy share of the run (`sandbox_utilisation`), terminations,
`infrastructure_retries` (code steps the sandbox infrastructure lost, a Ray node that died
mid-job, and ran again: never the agent's failures), and per-task aggregates;
`reward_task_se` is the standard error of the mean reward over tasks (the spread of per-task
mean rewards / sqrt(tasks)). `compare_reports(a, b)` compares two reports task by task and in
totals, with the paired reward difference over their common tasks and its standard error
(`reward_paired`). Files are written atomically; tables and the charts are in
`sandmle.report_view`.

A run folder (`sandmle eval --out RUN`) holds run.json (what was asked: policy, bank, seed,
rollout config, the planned episode ids, and the sandmle version that started it), episodes.jsonl (one line per finished episode,
appended and synced as each ends, so a killed run keeps every finished episode),
grading_report.json and rates.png (written when the run completes) and work/ (each
episode's folder). `open_run` starts, resumes or overwrites one; `load_run` reads one,
finished or not; `EpisodeLog` appends to it.
"""
from __future__ import annotations

import json
import math
import os
import threading
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sandmle import __version__
from sandmle.errors import UserError
from sandmle.task import Task, load_task, write_json_atomic

Z_95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000
RATE_KEYS = ("valid_submission", "above_median", "bronze_medal", "silver_medal", "gold_medal", "any_medal")
TOTAL_KEYS = ("total_runs", "total_runs_with_submissions", "total_valid_submissions", "total_medals",
              "total_gold_medals", "total_silver_medals", "total_bronze_medals", "total_above_median")
TIER_ORDER = ("none", "above_median", "bronze", "silver", "gold")
FAILURE_TERMINATIONS = ("policy_error", "env_error")     # the policy or the sandbox failed, not the agent
MANIFEST_FILE = "run.json"
EPISODES_FILE = "episodes.jsonl"
REPORT_FILE = "grading_report.json"
CHART_FILE = "rates.png"
WORK_DIR = "work"
RESUMABLE_ACROSS = ("sandmle_version",)     # manifest keys a resume may differ in (recorded, not compared)
TIMING_KEYS = ("created_at", "run_wall_s", "episodes_per_min", "mean_wall_s", "sandbox_share",
               "sandbox_utilisation", "num_workers",   # differ between runs of the same episodes
               "infrastructure_retries")


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)     # exact at the ends, where
    high = 1.0 if successes == n else min(1.0, centre + half)   # rounding would leave 1e-17
    return low, high


def task_bootstrap_interval(successes: list[int], episodes: list[int], resamples: int = BOOTSTRAP_RESAMPLES,
                            seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of a rate when tasks are the sampled unit: tasks are resampled
    with all their episodes (scipy.stats.bootstrap, paired), so repeated episodes of one task
    count as one draw of its difficulty, not as independent trials. `successes[i]` of
    `episodes[i]` for task i; needs 2 tasks or more."""
    import warnings

    import numpy as np
    from scipy.stats import bootstrap

    s, n = np.asarray(successes, dtype=float), np.asarray(episodes, dtype=float)
    with warnings.catch_warnings():           # all tasks alike: a degenerate (zero-width) interval
        warnings.simplefilter("ignore")
        result = bootstrap((s, n), lambda a, b, axis=-1: a.sum(axis) / b.sum(axis), paired=True,
                           vectorized=True, method="percentile", n_resamples=resamples, random_state=seed)
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    point = float(s.sum() / n.sum())
    return (point if math.isnan(low) else max(0.0, low), point if math.isnan(high) else min(1.0, high))


def human_scores(task: Task) -> list[float] | None:
    """The scores of the human teams on the task's leaderboard (an imported competition's
    Kaggle leaderboard), or None when it has none; a synthetic task's leaderboard of
    reference solutions is not a human one."""
    from sandmle.leaderboard import read_leaderboard

    path = task.private_dir / "leaderboard.csv"
    if not path.is_file():
        return None
    board = read_leaderboard(path, task.spec.is_lower_better, min_valid=1)
    scores = [e.score for e in board.valid_entries if e.strength == "human"]
    return scores or None


def _human_rank(g: dict | None, task: Task | None, cache: dict[str, list[float] | None]) -> float | None:
    """MLE-Dojo's HumanRank of the episode's graded score; 0.0 without a valid submission
    (MLE-Dojo scores a failed submission 0); None when the task has no human leaderboard."""
    from sandmle.leaderboard import human_rank

    if task is None:
        return None
    if task.id not in cache:
        cache[task.id] = human_scores(task)
    scores = cache[task.id]
    if scores is None:
        return None
    if g is None or not g["valid"] or g["score"] is None:
        return 0.0
    return human_rank(float(g["score"]), scores, task.spec.is_lower_better)


def _entry(ep, task: Task | None, created_at: str, ranks: dict[str, list[float] | None]) -> dict[str, Any]:
    g = ep.final_grade
    if g is not None:
        t = g["thresholds"]
        lower = g["is_lower_better"]
    elif task is not None:
        t = {"median": task.spec.thresholds.median, "bronze": task.spec.thresholds.bronze,
             "silver": task.spec.thresholds.silver, "gold": task.spec.thresholds.gold}
        lower = task.spec.is_lower_better
    else:
        t = {"median": None, "bronze": None, "silver": None, "gold": None}
        lower = None
    tier = g["tier"] if g is not None else "none"
    valid = bool(g is not None and g["valid"])
    return {
        "competition_id": ep.task_id,
        "score": g["score"] if g is not None else None,
        "gold_threshold": t["gold"], "silver_threshold": t["silver"],
        "bronze_threshold": t["bronze"], "median_threshold": t["median"],
        "any_medal": tier in ("gold", "silver", "bronze"),
        "gold_medal": tier == "gold", "silver_medal": tier == "silver", "bronze_medal": tier == "bronze",
        "above_median": bool(g is not None and g.get("above_median", False)),
        "submission_exists": bool(g is not None and g.get("submission_exists", True)),
        "valid_submission": valid,
        "is_lower_better": lower,
        "created_at": created_at,
        "submission_path": g["submission_path"] if g is not None else None,
        "episode_id": ep.episode_id, "tier": tier, "reward": ep.reward, "num_turns": ep.num_turns,
        "termination": ep.termination, "wall_s": ep.wall_s, "sandbox_s": ep.sandbox_s,
        "format_rate": ep.format_rate, "human_rank": _human_rank(g, task, ranks),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def standard_error(values: list[float]) -> float | None:
    """Standard error of the mean of `values` (sample standard deviation / sqrt(n)); None
    for fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def build_report(episodes: list, tasks: dict[str, Task] | None = None, *, policy: str | None = None,
                 bank: str | None = None, run_wall_s: float | None = None,
                 reward_scheme: str | None = None, score_tool: str | None = None,
                 num_workers: int | None = None, episodes_planned: int | None = None,
                 episodes_timed: int | None = None, max_error_share: float | None = None) -> dict[str, Any]:
    """The grading report of a run (see the module docstring). `episodes_planned`: how many
    the run was asked for (default: all here); `episodes_timed`: how many ran within
    `run_wall_s` (default: all; fewer for a resumed run); `max_error_share`: the share of
    episodes that may end in policy_error or env_error before the run is marked
    `errors_exceeded` (None: not checked)."""
    tasks = dict(tasks or {})
    for ep in episodes:
        if ep.task_id not in tasks and ep.task_root and Path(ep.task_root).is_dir():
            try:
                tasks[ep.task_id] = load_task(ep.task_root)
            except UserError:
                if ep.final_grade is None:     # its thresholds are needed
                    raise
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    ranks: dict[str, list[float] | None] = {}
    entries = [_entry(ep, tasks.get(ep.task_id), created_at, ranks) for ep in episodes]
    ranked = [e["human_rank"] for e in entries if e["human_rank"] is not None]
    n = len(entries)
    totals = {
        "total_runs": n,
        "total_runs_with_submissions": sum(e["submission_exists"] for e in entries),
        "total_valid_submissions": sum(e["valid_submission"] for e in entries),
        "total_medals": sum(e["any_medal"] for e in entries),
        "total_gold_medals": sum(e["gold_medal"] for e in entries),
        "total_silver_medals": sum(e["silver_medal"] for e in entries),
        "total_bronze_medals": sum(e["bronze_medal"] for e in entries),
        "total_above_median": sum(e["above_median"] for e in entries),
    }
    rates = {}
    by_task: dict[str, list[dict]] = defaultdict(list)
    for e in entries:
        by_task[e["competition_id"]].append(e)
    clustered = len(by_task) > 1 and any(len(group) > 1 for group in by_task.values())
    for key in RATE_KEYS:
        k = sum(e[key] for e in entries)
        low, high = wilson_interval(k, n)
        wilson = (low, high)
        if clustered:
            boot = task_bootstrap_interval([sum(e[key] for e in g) for g in by_task.values()],
                                           [len(g) for g in by_task.values()])
            low, high = min(low, boot[0]), max(high, boot[1])
        rates[key] = {"count": k, "n": n, "rate": k / n if n else None, "ci95_low": low, "ci95_high": high,
                      "wilson_low": wilson[0], "wilson_high": wilson[1]}
    wall = sum(ep.wall_s for ep in episodes)
    sandbox = sum(ep.sandbox_s for ep in episodes)
    report = {
        "policy": policy, "bank": bank, "created_at": created_at, "sandmle_version": __version__,
        "reward_scheme": reward_scheme,
        "score_tool": score_tool,
        "competition_reports": entries,
        **totals,
        "rates": rates,
        "interval": ("bootstrap over tasks and Wilson, the wider" if clustered else "Wilson"),
        "mean_reward": _mean([ep.reward for ep in episodes]),
        "mean_human_rank": _mean(ranked), "human_rank_episodes": len(ranked),
        "mean_turns": _mean([ep.num_turns for ep in episodes]),
        "mean_wall_s": _mean([ep.wall_s for ep in episodes]),
        "sandbox_share": sandbox / wall if wall > 0 else None,
        "terminations": dict(sorted(Counter(ep.termination for ep in episodes).items())),
        "infrastructure_retries": sum(len((step.job or {}).get("infra_failures", ()))
                                      for ep in episodes for step in ep.steps),
        "run_wall_s": run_wall_s,
        "num_workers": num_workers,
        # Busy share of the pool: episodes in lock-step also wait for each other's jobs, so
        # sandbox_share (per episode) understates how much of the run the sandbox takes.
        "sandbox_utilisation": (sandbox / (run_wall_s * num_workers)
                                if run_wall_s and num_workers else None),
        "episodes_per_min": (60.0 * (n if episodes_timed is None else episodes_timed) / run_wall_s
                             if run_wall_s else None),
        "episodes_planned": n if episodes_planned is None else episodes_planned,
        "complete": episodes_planned is None or n >= episodes_planned,
        **error_summary(episodes, max_error_share),
        "tasks": _per_task(entries),
    }
    report["reward_task_se"] = standard_error([t["mean_reward"] for t in report["tasks"].values()])
    return report


def error_summary(episodes: list, max_error_share: float | None) -> dict[str, Any]:
    """How many episodes failed at a boundary sandmle does not grade (the policy or the
    sandbox), their share, the most common reasons, and whether the share is above
    `max_error_share` (then the rates measure the infrastructure, not the policy)."""
    failed = [ep for ep in episodes if ep.termination in FAILURE_TERMINATIONS]
    share = len(failed) / len(episodes) if episodes else None
    reasons = Counter((ep.termination, ep.error or "") for ep in failed).most_common(3)
    return {
        "failed_episodes": len(failed), "error_share": share, "max_error_share": max_error_share,
        "errors_exceeded": bool(max_error_share is not None and share is not None and share > max_error_share),
        "top_errors": [{"termination": t, "error": e, "count": c} for (t, e), c in reasons],
    }


def error_line(report: dict[str, Any]) -> str:
    """The one line that says a run's failures are above its allowed share."""
    top = report["top_errors"][0] if report["top_errors"] else None
    common = f"; most common: {top['termination']}: {top['error']} ({top['count']}x)" if top else ""
    return (f"{report['failed_episodes']} of {report['total_runs']} episodes "
            f"({100 * report['error_share']:.0f}%) ended in policy_error or env_error, above the allowed "
            f"{100 * report['max_error_share']:.0f}% (--max-error-share): these rates measure the "
            f"infrastructure, not the policy{common}")


# -- run folders ---------------------------------------------------------------------------
def _episode_cls():
    from sandmle.rollout.episode import Episode

    return Episode


def read_episode_lines(path: Path) -> tuple[list, int]:
    """The episodes of an episodes.jsonl and the byte length of its complete lines (a last
    line without its newline, torn by a crash, is not one)."""
    Episode = _episode_cls()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1
    episodes = []
    for number, line in enumerate(data[:end].splitlines(), 1):
        if not line.strip():
            continue
        try:
            episodes.append(Episode.from_json(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"{path}:{number}: not an episode record ({exc})") from None
    return episodes, end


def load_run(run: Path) -> tuple[dict | None, list]:
    """(run.json or None, finished episodes) of a run folder."""
    manifest = None
    if (run / MANIFEST_FILE).is_file():
        try:
            manifest = json.loads((run / MANIFEST_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"{run / MANIFEST_FILE} is not valid JSON ({exc})") from None
    episodes, _ = read_episode_lines(run / EPISODES_FILE)
    return manifest, episodes


def is_run_folder(run: Path) -> bool:
    return any((run / name).exists() for name in (MANIFEST_FILE, EPISODES_FILE, REPORT_FILE))


def open_run(run: Path, manifest: dict[str, Any], *, resume: bool, overwrite: bool) -> list:
    """Make `run` ready for the run `manifest` describes; the episodes already finished.

    An existing run is refused unless `resume` (it must be the same run: same policy, bank,
    seed, config and plan; its finished episodes are kept) or `overwrite` (its files and
    work folders are removed; nothing else in the folder is touched)."""
    from sandmle.sandbox.workdir import remove_tree

    check_run(run, manifest, resume=resume, overwrite=overwrite)
    finished: list = []
    if is_run_folder(run) and overwrite:
        for name in (MANIFEST_FILE, EPISODES_FILE, REPORT_FILE, CHART_FILE):
            (run / name).unlink(missing_ok=True)
        remove_tree(run / WORK_DIR)
    elif is_run_folder(run):
        _, finished = load_run(run)
        _, end = read_episode_lines(run / EPISODES_FILE)
        if (run / EPISODES_FILE).exists() and (run / EPISODES_FILE).stat().st_size != end:
            os.truncate(run / EPISODES_FILE, end)        # a line torn by a crash
        planned = set(manifest["episode_ids"])
        finished = [ep for ep in finished if ep.episode_id in planned]
    run.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run / MANIFEST_FILE, manifest)
    return finished


def check_run(run: Path, manifest: dict[str, Any], *, resume: bool, overwrite: bool) -> None:
    """Refuse what `open_run` would refuse, writing nothing: an existing run without
    `resume` or `overwrite`, or a resume of a different run."""
    if not is_run_folder(run):
        return
    if not (resume or overwrite):
        raise UserError(f"{run} already holds an evaluation run: pass --resume to finish it "
                        "or --overwrite to start it again")
    if overwrite:
        return
    old, _ = load_run(run)
    if old is None:
        raise UserError(f"{run} has no {MANIFEST_FILE}: it cannot be resumed (use --overwrite)")
    for key, value in manifest.items():
        if key not in RESUMABLE_ACROSS and old.get(key) != value:
            shown = key if key != "episode_ids" else "planned episodes"
            raise UserError(f"--resume: {run} was run with a different {shown} "
                            f"({_short(old.get(key))} here, {_short(value)} now)")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


class EpisodeLog:
    """Appends finished episodes to a run's episodes.jsonl: one write of one whole line per
    episode, flushed to disk, so a kill at any moment leaves only whole lines behind."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def append(self, episode) -> None:
        line = (json.dumps(episode.to_json(), allow_nan=False) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # the umask decides
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)


def _per_task(entries: list[dict]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for e in entries:
        groups[e["competition_id"]].append(e)
    out = {}
    for task_id, group in sorted(groups.items()):
        scores = [e["score"] for e in group if e["valid_submission"]]
        out[task_id] = {
            "episodes": len(group),
            "is_lower_better": group[0]["is_lower_better"],
            "mean_score": _mean(scores),
            "best_tier": max((e["tier"] for e in group), key=TIER_ORDER.index),
            "valid_rate": sum(e["valid_submission"] for e in group) / len(group),
            "any_medal_rate": sum(e["any_medal"] for e in group) / len(group),
            "mean_reward": _mean([e["reward"] for e in group]),
            "mean_human_rank": _mean([e["human_rank"] for e in group if e["human_rank"] is not None]),
        }
    return out


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """B against A: per task score (positive = B better in the metric's direction), tier and
    reward deltas; totals and rate deltas. A common task counts as better or worse in B
    (`tasks_better`, `tasks_worse`) by its mean score's gain when both sides have a valid
    score, else by its reward difference, the one `reward_paired` averages (a task that
    lost its valid submission is worse, one that gained it better)."""
    tasks = {}
    for task_id in sorted(set(a["tasks"]) | set(b["tasks"])):
        ta, tb = a["tasks"].get(task_id), b["tasks"].get(task_id)
        row: dict[str, Any] = {"in_a": ta is not None, "in_b": tb is not None}
        if ta and tb:
            sa, sb = ta["mean_score"], tb["mean_score"]
            delta = None
            if sa is not None and sb is not None:
                delta = (sa - sb) if ta["is_lower_better"] else (sb - sa)
            row.update(score_a=sa, score_b=sb, score_gain=delta,
                       tier_a=ta["best_tier"], tier_b=tb["best_tier"],
                       tier_steps=TIER_ORDER.index(tb["best_tier"]) - TIER_ORDER.index(ta["best_tier"]),
                       reward_a=ta["mean_reward"], reward_b=tb["mean_reward"],
                       reward_delta=_delta(ta["mean_reward"], tb["mean_reward"]))
        tasks[task_id] = row
    totals = {key: {"a": a[key], "b": b[key], "delta": b[key] - a[key]} for key in TOTAL_KEYS}
    rates = {key: {"a": a["rates"][key]["rate"], "b": b["rates"][key]["rate"],
                   "delta": _delta(a["rates"][key]["rate"], b["rates"][key]["rate"])} for key in RATE_KEYS}
    common = [r for r in tasks.values() if r["in_a"] and r["in_b"]]
    deltas = [r["reward_delta"] for r in common if r["reward_delta"] is not None]
    se = standard_error(deltas)
    paired = {"tasks": len(deltas), "delta": _mean(deltas), "se": se, "z": _mean(deltas) / se if se else None}
    return {
        "policy_a": a.get("policy"), "policy_b": b.get("policy"),
        "tasks": tasks, "totals": totals, "rates": rates,
        "mean_reward": {"a": a["mean_reward"], "b": b["mean_reward"],
                        "delta": _delta(a["mean_reward"], b["mean_reward"])},
        "tasks_better": sum(1 for r in common if _task_change(r) > 0),
        "tasks_worse": sum(1 for r in common if _task_change(r) < 0),
        "tasks_compared": len(common),
        "reward_paired": paired,
    }


def _task_change(row: dict[str, Any]) -> float:
    """B's change on a common task: the score gain when both sides have a valid score, else
    the reward difference (0 when neither is known)."""
    if row["score_gain"] is not None:
        return row["score_gain"]
    return row["reward_delta"] or 0.0


# What two runs must share for their rewards and rates to compare: how the score tool
# answered, how the reward was computed, and the episode budget (rollout config in run.json).
COMPARED_SETTINGS = {"score_tool": "score tool", "reward_scheme": "reward scheme", "reward_from": "reward from",
                     "max_turns": "max turns", "episode_timeout_s": "episode timeout (s)",
                     "step_timeout_s": "step timeout (s)", "max_context_tokens": "max context tokens",
                     "max_new_tokens": "max new tokens"}


def run_settings(report: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `COMPARED_SETTINGS` of a run: score tool and reward scheme from its report, the
    rest from its run.json rollout config (`config`) when there is one; unknown ones left out."""
    config = dict(config or {})
    config["max_new_tokens"] = (config.get("sampling") or {}).get("max_new_tokens")
    settings = {key: config.get(key) for key in COMPARED_SETTINGS}
    for key in ("score_tool", "reward_scheme"):
        if report.get(key) is not None:
            settings[key] = report[key]
    return {key: value for key, value in settings.items() if value is not None}


def settings_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """"NAME A vs B" for each setting both runs record and differ in (`run_settings`)."""
    return [f"{name} {a[key]} vs {b[key]}" for key, name in COMPARED_SETTINGS.items()
            if key in a and key in b and a[key] != b[key]]


def seed_summary(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs of one policy on one bank with different seeds, as MLE-bench reports them: the
    mean and standard error of the mean (sample standard deviation / sqrt(runs)) of each
    rate, the mean reward and the mean HumanRank. UserError when the runs are of different
    banks or policies, or fewer than 2."""
    import statistics

    if len(reports) < 2:
        raise UserError("a summary over seeds needs 2 runs or more")
    plural = {"bank": "banks", "policy": "policies"}
    for key in plural:
        seen = sorted({str(r.get(key)) for r in reports})
        if len(seen) > 1:
            raise UserError(f"the runs are of different {plural[key]} ({', '.join(seen)}): a summary over seeds "
                            f"compares one {key}")
    measures: dict[str, dict[str, Any]] = {}
    for key in (*RATE_KEYS, "mean_reward", "mean_human_rank"):
        values = [r["rates"][key]["rate"] if key in RATE_KEYS else r.get(key) for r in reports]
        known = [v for v in values if v is not None]
        measures[key] = {
            "values": values,
            "mean": statistics.fmean(known) if known else None,
            "sem": statistics.stdev(known) / math.sqrt(len(known)) if len(known) > 1 else None,
        }
    return {"policy": reports[0].get("policy"), "bank": reports[0].get("bank"), "runs": len(reports),
            "episodes": [r["total_runs"] for r in reports], "rate_keys": list(RATE_KEYS), "measures": measures}


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a
