"""`sandmle report RUN [RUN_B] [--chart FILE] [--labels A,B] [--json]`: show one evaluation
run, or compare two task by task and in totals (score gain in each metric's direction, best
tier, reward; medal and validity rates; the paired reward difference over common tasks with
its standard error). `sandmle report --stages RUN RUN RUN ...`: the stages of a pipeline in
order (valid rate, mean reward ± SE over tasks, each stage's paired difference to the one
before). `sandmle report --over-seeds RUN RUN ...`: runs of one policy on one bank with
different seeds, as MLE-bench reports them: each rate's mean +/- standard error.
`--chart` draws the runs' valid rates and mean rewards side by side as a PNG.

A run need not be finished: a run killed part way (or still going) is reported from the
episodes its episodes.jsonl holds, and the report says how many of how many planned.
Two runs that share no task are refused (exit 2); two that differ in a setting their rewards
depend on (score tool, reward scheme, episode budget: `evaluation.COMPARED_SETTINGS`) are
compared with one warning line on stderr naming the differences.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from sandmle.arguments import description, out_file
from sandmle.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="show an evaluation run or compare two",
                              description=description(__doc__))
    p.add_argument("runs", type=Path, metavar="RUN", nargs="+",
                   help="one run to show, two to compare, or several with --stages or --over-seeds")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--over-seeds", action="store_true",
                       help="the runs are seeds of one policy on one bank: mean +/- standard error of each rate")
    group.add_argument("--stages", action="store_true",
                       help="the runs are stages of a pipeline, in order: one row each, paired to the one before")
    p.add_argument("--chart", type=out_file, default=None, metavar="FILE",
                   help="also write a PNG of the runs' valid rates and mean rewards side by side")
    p.add_argument("--labels", default=None, metavar="A,B,...", help="names of the runs in the chart and table")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=handle)


def load_report(run: Path) -> dict:
    """The run's grading report; built from its episodes when the run did not finish. `run`
    is a run folder, or a grading report's .json file itself."""
    from sandmle.evaluation import EPISODES_FILE, REPORT_FILE, build_report, load_run

    if run.is_dir() and not (run / REPORT_FILE).exists() and (run / EPISODES_FILE).exists():
        manifest, episodes = load_run(run)
        planned = len(manifest["episode_ids"]) if manifest else None
        return build_report(episodes, policy=(manifest or {}).get("policy"),
                            bank=(manifest or {}).get("bank"),
                            reward_scheme=(manifest or {}).get("config", {}).get("reward_scheme"),
                            score_tool=(manifest or {}).get("config", {}).get("score_tool"),
                            episodes_planned=planned)
    if run.is_file() and run.suffix != ".json":
        raise UserError(f"run folder {run} is a file, not a folder")
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


def _rollout_config(run: Path) -> dict | None:
    """The rollout config in a run folder's run.json; None for a report file or a run without one."""
    from sandmle.evaluation import MANIFEST_FILE

    path = run / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from None
    return manifest.get("config") if isinstance(manifest, dict) else None


def progress_line(run: Path, report: dict) -> str:
    done, planned = report["total_runs"], report.get("episodes_planned", report["total_runs"])
    state = "finished" if report.get("complete", True) else "partial run"
    return f"{run}: {state}, {done} of {planned} episodes"


def handle(args) -> int:
    from sandmle.console import escape, make_console, print_json
    from sandmle.report_view import seeds_table, write_stage_chart

    if args.over_seeds:
        from sandmle.evaluation import seed_summary

        if args.chart is not None:
            raise UserError("--chart draws runs side by side; with --over-seeds show the runs with --stages "
                            "to chart them")
        summary = seed_summary([load_report(run) for run in args.runs])
        summary["runs_folders"] = [str(run) for run in args.runs]
        if args.json:
            print_json(summary)
        else:
            make_console().print(seeds_table(summary))
        return 0
    if len(args.runs) > 2 and not args.stages:
        raise UserError(f"{len(args.runs)} runs: give one to show, two to compare, or pass --stages (the "
                        "stages of a pipeline, in order) or --over-seeds (runs of one policy with different seeds)")
    reports = [load_report(run) for run in args.runs]
    labels = args.labels.split(",") if args.labels else [run.name for run in args.runs]
    if len(labels) != len(reports):
        raise UserError(f"--labels names {len(labels)} runs, but {len(reports)} are given")
    if len(reports) == 2 and not args.stages and not set(reports[0]["tasks"]) & set(reports[1]["tasks"]):
        raise UserError(f"{args.runs[0]} and {args.runs[1]} share no task ({len(reports[0]['tasks'])} and "
                        f"{len(reports[1]['tasks'])} tasks): nothing to compare; evaluate both on one bank")
    if args.chart is not None:
        write_stage_chart(reports, labels, args.chart)
    code = _stages(reports, labels, args.json) if args.stages else _show(args.runs, reports, args.json)
    if args.chart is not None and not args.json:
        make_console().print(escape(f"chart written to {args.chart}"))
    return code


def _show(runs: list[Path], reports: list[dict], as_json: bool) -> int:
    """One run's tables, or two runs compared."""
    from sandmle.console import escape, make_console, print_json
    from sandmle.evaluation import RATE_KEYS, compare_reports, run_settings, settings_differences
    from sandmle.report_view import comparison_table, report_tables

    run_a, run_b = runs[0], runs[1] if len(runs) > 1 else None
    report_a = reports[0]
    if run_b is None:
        if as_json:
            print_json(report_a)
            return 0
        console = make_console()
        console.print(escape(progress_line(run_a, report_a)))
        for table in report_tables(report_a):
            console.print(table)
        return 0
    report_b = reports[1]
    comparison = compare_reports(report_a, report_b)
    differences = settings_differences(run_settings(report_a, _rollout_config(run_a)),
                                       run_settings(report_b, _rollout_config(run_b)))
    if differences:
        print(f"sandmle: warning: the runs differ in {'; '.join(differences)}: their rewards and rates "
              "are not like for like", file=sys.stderr)
    comparison["episodes"] = {
        side: {"done": r["total_runs"], "planned": r.get("episodes_planned", r["total_runs"])}
        for side, r in (("a", report_a), ("b", report_b))}
    if as_json:
        print_json(comparison)
        return 0
    console = make_console()
    for run, report in ((run_a, report_a), (run_b, report_b)):
        console.print(escape(progress_line(run, report)))
    console.print(comparison_table(comparison))
    for key in RATE_KEYS:
        r = comparison["rates"][key]
        if r["a"] is not None and r["b"] is not None:
            console.print(f"{key}: {100 * r['a']:.0f}% -> {100 * r['b']:.0f}% ({100 * r['delta']:+.0f} points)")
    m = comparison["mean_reward"]
    if m["delta"] is not None:
        console.print(f"mean reward: {m['a']:.3f} -> {m['b']:.3f} ({m['delta']:+.3f})")
    p = comparison["reward_paired"]
    if p["se"] is not None:
        console.print(f"paired over {p['tasks']} task{'' if p['tasks'] == 1 else 's'}: reward {p['delta']:+.3f} ± {p['se']:.3f} (SE), "
                      f"{p['z']:+.1f} standard errors")
    console.print(f"tasks better in B: {comparison['tasks_better']}, worse: {comparison['tasks_worse']}, "
                  f"compared: {comparison['tasks_compared']}")
    return 0


def _stages(reports: list[dict], labels: list[str], as_json: bool) -> int:
    """Several runs in order: one row each, with its paired difference to the one before."""
    from sandmle.console import make_console, print_json
    from sandmle.evaluation import compare_reports
    from sandmle.report_view import stages_table

    rows = []
    for i, (label, report) in enumerate(zip(labels, reports)):
        valid = report["rates"]["valid_submission"]
        row = {"label": label, "policy": report.get("policy"), "episodes": report["total_runs"],
               "tasks": len(report["tasks"]), "valid_rate": valid["rate"],
               "valid_ci95": [valid["ci95_low"], valid["ci95_high"]], "mean_reward": report["mean_reward"],
               "reward_task_se": report.get("reward_task_se"), "medal_rate": report["rates"]["any_medal"]["rate"]}
        if i:
            row["vs_previous"] = compare_reports(reports[i - 1], report)["reward_paired"]
        rows.append(row)
    if as_json:
        print_json({"stages": rows})
    else:
        make_console().print(stages_table(rows))
    return 0
