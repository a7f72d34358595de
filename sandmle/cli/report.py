"""`sandmle report RUN_A RUN_B [--json]`: compare two evaluation runs task by task and in
totals (score gain in each metric's direction, best tier, reward; medal and validity rates)."""
from __future__ import annotations

import json
from pathlib import Path

from sandmle.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="compare two evaluation runs",
                              description=__doc__.splitlines()[0])
    p.add_argument("run_a", type=Path, metavar="RUN_A")
    p.add_argument("run_b", type=Path, metavar="RUN_B")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=handle)


def load_report(run: Path) -> dict:
    from sandmle.cli.eval import REPORT_FILE

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


def handle(args) -> int:
    from sandmle.console import make_console, print_json
    from sandmle.evaluation import RATE_KEYS, compare_reports, comparison_table

    comparison = compare_reports(load_report(args.run_a), load_report(args.run_b))
    if args.json:
        print_json(comparison)
        return 0
    console = make_console()
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
