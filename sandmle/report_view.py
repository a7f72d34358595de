"""How a grading report is shown: rich tables (per task, totals, a comparison of two runs,
stages of a pipeline) and charts (matplotlib, Agg, PNGs written atomically): one run's rates
(`write_chart`), several runs' valid rate and mean reward side by side
(`write_stage_chart`). The report itself is built in `sandmle.evaluation`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sandmle.evaluation import RATE_KEYS
from sandmle.files import atomic_tmp


def write_chart(report: dict[str, Any], path: str | os.PathLike, title: str | None = None) -> Path:
    """Bar chart of the rates with their 95% intervals, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    labels = ["valid", "> median", "bronze", "silver", "gold", "any medal"]
    rates = [report["rates"][k] for k in RATE_KEYS]
    values = [r["rate"] or 0.0 for r in rates]
    low = [max(0.0, v - r["ci95_low"]) for v, r in zip(values, rates)]     # rounding at 0 and 1
    high = [max(0.0, r["ci95_high"] - v) for v, r in zip(values, rates)]
    fig = Figure(figsize=(7, 3.6), dpi=100)
    ax = fig.add_subplot()
    colors = ["#4c72b0", "#55a868", "#b87333", "#a8a9ad", "#d4af37", "#c44e52"]
    ax.bar(labels, values, yerr=[low, high], capsize=4, color=colors)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of episodes (95% Wilson CI)")
    ax.set_title(title or f"{report.get('policy')}: {report['total_runs']} episodes")
    fig.tight_layout()
    return _save_png(fig, path)


def write_stage_chart(reports: list[dict[str, Any]], labels: list[str], path: str | os.PathLike,
                      title: str | None = None) -> Path:
    """Valid-submission rate (95% Wilson CI) and mean reward (± one standard error over
    tasks) of several runs side by side (before SFT, after SFT, after GRPO); a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 + 1.6 * len(reports), 3.8), dpi=100)
    valid_ax, reward_ax = fig.subplots(1, 2)
    rates = [r["rates"]["valid_submission"] for r in reports]
    valid = [x["rate"] or 0.0 for x in rates]
    valid_ax.bar(labels, valid, color="#4c72b0", capsize=4,
                 yerr=[[max(0.0, v - x["ci95_low"]) for v, x in zip(valid, rates)],
                       [max(0.0, x["ci95_high"] - v) for v, x in zip(valid, rates)]])
    valid_ax.set_title("valid submissions (95% Wilson CI)")
    means = [r["mean_reward"] or 0.0 for r in reports]
    reward_ax.bar(labels, means, color="#55a868", capsize=4, yerr=[r.get("reward_task_se") or 0.0 for r in reports])
    reward_ax.set_title("mean reward (± SE over tasks)")
    for ax, heights in ((valid_ax, valid), (reward_ax, means)):
        ax.set_ylim(0, 1.05)
        ax.tick_params(axis="x", labelsize=8)
        for i, h in enumerate(heights):
            ax.annotate(f"{h:.2f}", (i, h), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                        textcoords="offset points")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save_png(fig, path)


def _save_png(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_tmp(path, ".png") as tmp:
        fig.savefig(tmp, format="png")
    return path


_COMPACT = {"pad_edge": False, "padding": (0, 1, 0, 1), "collapse_padding": True}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _rate_cell(r: dict) -> str:
    if r["rate"] is None:
        return "-"
    return f"{100 * r['rate']:.0f}% [{100 * r['ci95_low']:.0f}, {100 * r['ci95_high']:.0f}]"


def report_tables(report: dict[str, Any]) -> list:
    """rich Tables: per task, then the totals with rates."""
    from rich.table import Table

    per_task = Table(title=f"{report.get('policy') or 'run'}: per task", **_COMPACT)
    per_task.add_column("task", overflow="fold", min_width=24)
    ranked = any(row.get("mean_human_rank") is not None for row in report["tasks"].values())
    for col in ("episodes", "mean score", "best tier", "valid", "any medal", "mean reward") + (
            ("HumanRank",) if ranked else ()):
        per_task.add_column(col, justify="right")
    for task_id, row in report["tasks"].items():
        per_task.add_row(task_id, str(row["episodes"]), _fmt(row["mean_score"], 5), row["best_tier"],
                         f"{100 * row['valid_rate']:.0f}%", f"{100 * row['any_medal_rate']:.0f}%",
                         _fmt(row["mean_reward"], 3),
                         *((_fmt(row.get("mean_human_rank"), 3),) if ranked else ()))
    totals = Table(title=f"totals (rates with 95% intervals: {report.get('interval', 'Wilson')})", **_COMPACT)
    totals.add_column("measure")
    totals.add_column("value", justify="right")
    names = {"valid_submission": "valid submissions", "above_median": "above median",
             "bronze_medal": "bronze", "silver_medal": "silver", "gold_medal": "gold", "any_medal": "any medal"}
    totals.add_row("episodes", str(report["total_runs"]))
    if report.get("score_tool"):
        totals.add_row("score tool", report["score_tool"])
    for key in RATE_KEYS:
        totals.add_row(names[key], f"{report['rates'][key]['count']}  {_rate_cell(report['rates'][key])}")
    se = report.get("reward_task_se")
    reward = "-" if report["mean_reward"] is None else f"{report['mean_reward']:.3f}"
    totals.add_row("mean reward", reward + ("" if se is None else f" ± {se:.3f} (SE over tasks)"))
    if report.get("mean_human_rank") is not None:
        totals.add_row(f"mean HumanRank ({report['human_rank_episodes']} episodes)",
                       _fmt(report["mean_human_rank"], 3))
    totals.add_row("mean turns", _fmt(report["mean_turns"], 3))
    totals.add_row("mean wall time (s)", _fmt(report["mean_wall_s"], 3))
    share = report["sandbox_share"]
    totals.add_row("sandbox share of episode wall time", "-" if share is None else f"{100 * share:.0f}%")
    busy = report.get("sandbox_utilisation")
    if busy is not None:
        workers = report["num_workers"]
        totals.add_row(f"sandbox busy share ({workers} worker{'' if workers == 1 else 's'})", f"{100 * busy:.0f}%")
    if report.get("episodes_per_min") is not None:
        totals.add_row("episodes per minute", _fmt(report["episodes_per_min"], 3))
    totals.add_row("terminations", ", ".join(f"{k} {v}" for k, v in report["terminations"].items()))
    if report.get("error_share") is not None:
        allowed = report.get("max_error_share")
        verdict = "" if allowed is None else (
            f" [bold red]above the allowed {100 * allowed:.0f}%[/]" if report["errors_exceeded"]
            else f" (allowed {100 * allowed:.0f}%)")
        totals.add_row("failed at the policy or sandbox",
                       f"{report['failed_episodes']} ({100 * report['error_share']:.0f}%){verdict}")
    return [per_task, totals]


def seeds_table(summary: dict[str, Any]):
    """Mean +/- standard error of each measure over the runs of `evaluation.seed_summary`."""
    from rich.table import Table

    table = Table(title=f"{summary['policy']}: mean +/- standard error over {summary['runs']} runs", **_COMPACT)
    for col in ("measure", "mean", "s.e.", "per run"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    for key, row in summary["measures"].items():
        percent = key in summary["rate_keys"]
        show = (lambda v: "-" if v is None else f"{100 * v:.1f}%") if percent else (lambda v: _fmt(v, 4))
        table.add_row(key, show(row["mean"]), show(row["sem"]), ", ".join(show(v) for v in row["values"]))
    return table


def comparison_table(comparison: dict[str, Any]):
    from rich.table import Table

    table = Table(title=f"{comparison['policy_a']} (A) vs {comparison['policy_b']} (B)", **_COMPACT)
    table.add_column("task", overflow="fold", min_width=24)
    for col in ("score A", "score B", "gain", "tier A", "tier B", "reward A", "reward B"):
        table.add_column(col, justify="right")
    for task_id, row in comparison["tasks"].items():
        if not (row["in_a"] and row["in_b"]):
            table.add_row(task_id, *(["-"] * 7))
            continue
        table.add_row(task_id, _fmt(row["score_a"], 5), _fmt(row["score_b"], 5), _fmt(row["score_gain"], 3),
                      row["tier_a"], row["tier_b"], _fmt(row["reward_a"], 3), _fmt(row["reward_b"], 3))
    return table



def stages_table(rows: list[dict[str, Any]]):
    """Several runs in order (`sandmle report A B C`): valid rate, medal rate, mean reward
    ± SE over tasks, and each run's paired reward difference to the one before."""
    from rich.table import Table

    table = Table(title="stages", **_COMPACT)
    for col in ("stage", "episodes", "tasks", "valid", "any medal", "mean reward ± SE", "vs previous (paired)"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for row in rows:
        se = row["reward_task_se"]
        prev = row.get("vs_previous")
        change = "-" if not prev or prev["se"] is None else \
            f"{prev['delta']:+.3f} ± {prev['se']:.3f}" + ("" if prev['z'] is None else f" ({prev['z']:+.1f} SE)")
        reward = "-" if row["mean_reward"] is None else f"{row['mean_reward']:.3f}" + ("" if se is None else f" ± {se:.3f}")
        table.add_row(row["label"], str(row["episodes"]), str(row["tasks"]),
                      "-" if row["valid_rate"] is None else f"{100 * row['valid_rate']:.0f}%",
                      "-" if row["medal_rate"] is None else f"{100 * row['medal_rate']:.0f}%", reward, change)
    return table
