"""`sandmle report RUN [RUN_B] [--json]`: show one evaluation run, or compare two task by
task and in totals (score gain in each metric's direction, best tier, reward; medal and
validity rates). `sandmle report --over-seeds RUN RUN ...`: runs of one policy on one bank
with different seeds, as MLE-bench reports them: each rate's mean +/- standard error.

A run need not be finished: a run killed part way (or still going) is reported from the
episodes its episodes.jsonl holds, and the report says how many of how many planned.
"""
from __future__ import annotations

import json
from pathlib import Path

from sandmle.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="show an evaluation run or compare two",
                              description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, metavar="RUN", nargs="+",
                   help="one run to show, two to compare, or several with --over-seeds")
    p.add_argument("--over-seeds", action="store_true",
                   help="the runs are seeds of one policy on one bank: mean +/- standard error of each rate")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=handle)


def load_report(run: Path) -> dict:
    """The run's grading report; built from its episodes when the run did not finish."""
    from sandmle.evaluation import EPISODES_FILE, REPORT_FILE, build_report, load_run

    if run.is_dir() and not (run / REPORT_FILE).exists() and (run / EPISODES_FILE).exists():
        manifest, episodes = load_run(run)
        planned = len(manifest["episode_ids"]) if manifest else None
        return build_report(episodes, policy=(manifest or {}).get("policy"),
                            bank=(manifest or {}).get("bank"),
                            reward_scheme=(manifest or {}).get("config", {}).get("reward_scheme"),
                            score_tool=(manifest or {}).get("config", {}).get("score_tool"),
                            episodes_planned=planned)
    path = run / REPORT_FILE if run.is_dir() else run
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} does not exist: pass a folder written by `sandmle eval`") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(report, dict) or "tasks" not in report or "rates" not in report:
        raise UserError(f"{path} is not a sandmle grading report")
    return report


def progress_line(run: Path, report: dict) -> str:
    done, planned = report["total_runs"], report.get("episodes_planned", report["total_runs"])
    state = "finished" if report.get("complete", True) else "partial run"
    return f"{run}: {state}, {done} of {planned} episodes"


def handle(args) -> int:
    from sandmle.console import escape, make_console, print_json
    from sandmle.evaluation import RATE_KEYS, compare_reports
    from sandmle.report_view import comparison_table, report_tables, seeds_table

    if args.over_seeds:
        from sandmle.evaluation import seed_summary

        summary = seed_summary([load_report(run) for run in args.runs])
        summary["runs_folders"] = [str(run) for run in args.runs]
        if args.json:
            print_json(summary)
        else:
            make_console().print(seeds_table(summary))
        return 0
    if len(args.runs) > 2:
        raise UserError(f"{len(args.runs)} runs: give one to show, two to compare, or pass --over-seeds "
                        "to summarise runs of one policy with different seeds")
    args.run_a, args.run_b = args.runs[0], (args.runs[1] if len(args.runs) == 2 else None)
    report_a = load_report(args.run_a)
    if args.run_b is None:
        if args.json:
            print_json(report_a)
            return 0
        console = make_console()
        console.print(escape(progress_line(args.run_a, report_a)))
        for table in report_tables(report_a):
            console.print(table)
        return 0
    report_b = load_report(args.run_b)
    comparison = compare_reports(report_a, report_b)
    comparison["episodes"] = {
        side: {"done": r["total_runs"], "planned": r.get("episodes_planned", r["total_runs"])}
        for side, r in (("a", report_a), ("b", report_b))}
    if args.json:
        print_json(comparison)
        return 0
    console = make_console()
    for run, report in ((args.run_a, report_a), (args.run_b, report_b)):
        console.print(escape(progress_line(run, report)))
    console.print(comparison_table(comparison))
    for key in RATE_KEYS:
        r = comparison["rates"][key]
        if r["a"] is not None and r["b"] is not None:
            console.print(f"{key}: {100 * r['a']:.0f}% -> {100 * r['b']:.0f}% ({100 * r['delta']:+.0f} points)")
    m = comparison["mean_reward"]
    if m["delta"] is not None:
        console.print(f"mean reward: {m['a']:.3f} -> {m['b']:.3f} ({m['delta']:+.3f})")
    console.print(f"tasks better in B: {comparison['tasks_better']}, worse: {comparison['tasks_worse']}, "
                  f"compared: {comparison['tasks_compared']}")
    return 0
