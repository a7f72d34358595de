"""`sandmle task check TASK_DIR` and `sandmle task from-csv DATA.csv --target COL --metric NAME --out DIR`.

check (`sandmle.grading.check.check_task`): the folder must load (task.json, files, ordered
thresholds), its sample submission must grade as valid and its own answers, graded as a
submission, must reach gold. Thresholds that tie, or a sample submission not below the
median, are reported as warnings (the paper's sanity filter, REFERENCE §2, drops such
tasks). Exit 0 when every check passes, 1 when one fails, 2 for a usage error.

from-csv: build a task folder from a CSV file (`sandmle.sources.csv_task.make_task_from_csv`).
"""
from __future__ import annotations

from pathlib import Path

from sandmle.arguments import add_target_argument, description, out_folder, target_columns


def register(subparsers) -> None:
    parser = subparsers.add_parser("task", help="check a task folder, or make one from a CSV file",
                                   description=description(__doc__))
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    check = actions.add_parser("check", help="validate a task folder and grade its sample submission",
                               description="Validate a task folder, grade its sample submission (must be "
                                           "valid) and its own answers (must reach gold).")
    check.add_argument("task_dir", type=Path, metavar="TASK_DIR")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    check.set_defaults(handler=run_check)

    make = actions.add_parser("from-csv", help="build a task folder from a CSV file",
                              description="Build a task folder from a CSV file: a train/test split, its answers "
                                          "and medal thresholds from a leaderboard of baseline models.")
    make.add_argument("data", type=Path, metavar="DATA.csv")
    add_target_argument(make)
    make.add_argument("--metric", required=True, metavar="NAME", help="metric name (see sandmle.metrics)")
    make.add_argument("--out", required=True, type=out_folder, metavar="DIR", help="task folder to create")
    make.add_argument("--seed", type=int, default=0, metavar="S", help="split and model seed (default 0)")
    make.add_argument("--test-fraction", type=float, default=0.3, metavar="F",
                      help="share of rows held out as the test set (default 0.3)")
    make.add_argument("--id-column", default=None, metavar="COL",
                      help="existing id column (default: 'id' when unique, else one is added)")
    make.add_argument("--task-id", default=None, metavar="ID", help="task id (default: from --out)")
    make.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    make.set_defaults(handler=run_from_csv)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser) -> int:
    parser.print_help()
    return 2


def run_check(args) -> int:
    from sandmle.files import existing_folder
    from sandmle.grading.check import check_task

    existing_folder(args.task_dir, "task folder")
    checks, warnings, grades = check_task(args.task_dir)
    ok = all(c.ok for c in checks)
    if args.json:
        from sandmle.console import print_json

        print_json({"task_dir": str(args.task_dir), "ok": ok, "checks": checks, "warnings": warnings, **grades})
    else:
        from sandmle.console import make_console

        console = make_console()
        for c in checks:
            console.print(f"{'[green]ok[/]  ' if c.ok else '[red]FAIL[/]'} {c.name}: {c.detail}")
        for c in warnings:
            console.print(f"[yellow]warn[/] {c.name}: {c.detail}")
        console.print("[bold green]task ok[/]" if ok else "[bold red]task check failed[/]")
    return 0 if ok else 1


def run_from_csv(args) -> int:
    from sandmle.sources.csv_task import make_task_from_csv

    task = make_task_from_csv(args.data, target_columns(args.target), args.metric, args.out, seed=args.seed,
                              test_fraction=args.test_fraction, id_column=args.id_column,
                              task_id=args.task_id)
    spec = task.spec
    if args.json:
        from sandmle.console import print_json

        print_json({"task_id": spec.id, "task_dir": str(task.root), "metric": spec.metric,
                    "is_lower_better": spec.is_lower_better, "id_column": spec.id_column,
                    "target_columns": list(spec.target_columns), "train_rows": spec.train_rows,
                    "test_rows": spec.test_rows, "thresholds": spec.thresholds,
                    "leaderboard": spec.lineage.extra.get("leaderboard", [])})
        return 0
    from sandmle.console import make_console

    direction = "lower is better" if spec.is_lower_better else "higher is better"
    t = spec.thresholds
    make_console().print(
        f"[bold]{spec.id}[/] written to {task.root}: {spec.train_rows} train / {spec.test_rows} test rows, "
        f"metric {spec.metric} ({direction})\n"
        f"thresholds median {t.median:.5g}, bronze {t.bronze:.5g}, silver {t.silver:.5g}, gold {t.gold:.5g} "
        f"(from {len(spec.lineage.extra.get('leaderboard', []))} baselines in private/leaderboard.csv)")
    return 0
