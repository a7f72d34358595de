"""`sandmle bank`: inspect, export and import task banks.

    sandmle bank stats BANK [--json] [--chart FILE.png]
    sandmle bank export BANK --format sandmle-release|mlebench --out DIR
    sandmle bank import mlebench DATA_DIR --out BANK [--competitions lite|all|ID,...] [--leaderboards DIR]
"""
from __future__ import annotations

from pathlib import Path

from sandmle.sources.mlebench_lite import LITE
from sandmle.arguments import description, out_file, out_folder

EXPORT_HELP = """Formats:
  sandmle-release  SandMLE's released layout: <DIR>/<task_id>/prepared/public/ with the data,
                   description.md, sample_submission.csv, evaluator.py and answer.csv.
                   `python evaluator.py --submission_path X`, run from that folder, prints the
                   score and thresholds as JSON (exit 1 on an invalid submission).
                   Known flaw of that layout: answer.csv sits in the folder the agent can read,
                   so an agent can copy the answers; hide it in your scaffold or use mlebench.
  mlebench         MLE-bench's layout: prepared/public/ (agent-visible) and prepared/private/
                   (answers.csv, leaderboard.csv of the simulated leaderboard), with
                   description.md, leaderboard.csv and config.yaml beside prepared/."""


IMPORT_HELP = """Each competition becomes BANK/<id>/: task.json (metric, columns, the grader block that
reproduces MLE-bench's grade.py, thresholds from the Kaggle leaderboard by MLE-bench's medal
rule), public/ as a link to <id>/prepared/public and private/answers.csv as a link to the
answers (nothing large is copied). Known competitions: the 22 of MLE-bench-lite:
  """ + "\n  ".join(LITE)


def register(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser("bank", help="statistics and export of a task bank",
                                   description=description(__doc__))
    commands = parser.add_subparsers(dest="bank_command", metavar="COMMAND", parser_class=type(parser))
    stats = commands.add_parser("stats", help="modality, domain, metric and size mix, and the funnel",
                                description="Statistics of a task bank: its modality, domain, metric and size "
                                            "mix, and the synthesis funnel (tasks attempted and accepted at each stage).")
    stats.add_argument("bank", type=Path, metavar="BANK")
    stats.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    stats.add_argument("--chart", type=out_file, default=None, metavar="FILE.png", help="also write a PNG chart")
    stats.set_defaults(handler=run_stats)
    export = commands.add_parser("export", help="write a bank in another benchmark's layout",
                                 description="Export every task of BANK to DIR.", epilog=EXPORT_HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("bank", type=Path, metavar="BANK")
    export.add_argument("--format", required=True, choices=("sandmle-release", "mlebench"), dest="fmt")
    export.add_argument("--out", required=True, type=out_folder, metavar="DIR")
    export.add_argument("--overwrite", action="store_true", help="replace task folders already in DIR")
    export.add_argument("--json", action="store_true", help="print one JSON object")
    export.set_defaults(handler=run_export)
    imp = commands.add_parser("import", help="turn another benchmark's prepared data into a bank",
                              description="Import MLE-bench prepared competitions as sandmle tasks.",
                              epilog=IMPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("source", choices=("mlebench",), help="the benchmark the data comes from")
    imp.add_argument("data_dir", type=Path, metavar="DATA_DIR",
                     help="MLE-bench's data folder (<id>/prepared/public and private)")
    imp.add_argument("--out", required=True, type=Path, metavar="BANK", help="bank folder to write")
    imp.add_argument("--competitions", default="lite", metavar="lite|all|ID,...",
                     help="which competitions (default lite: the 22 of MLE-bench-lite that are prepared)")
    imp.add_argument("--leaderboards", type=Path, default=None, metavar="DIR",
                     help="an MLE-bench checkout (mlebench/competitions/<id>/leaderboard.csv) for thresholds")
    imp.add_argument("--overwrite", action="store_true", help="replace task folders already in BANK")
    imp.add_argument("--json", action="store_true", help="print one JSON object")
    imp.set_defaults(handler=run_import)


def run_stats(args) -> int:
    from sandmle.synth.bank import bank_stats, write_chart

    stats = bank_stats(args.bank)
    if args.chart is not None:
        write_chart(stats, args.chart)
    if args.json:
        from sandmle.console import print_json

        print_json(stats)
        return 0
    print_stats(stats, args.chart)
    return 0


def print_stats(stats, chart: Path | None) -> None:
    from rich.table import Table

    from sandmle.console import make_console

    console = make_console()
    console.print(f"[bold]{stats.path}[/]: {stats.num_tasks} tasks, train rows {stats.train_rows_min}-"
                  f"{stats.train_rows_max}, {stats.test_rows_total} test rows in all")
    for title, counts in (("modality", stats.by_modality), ("domain", stats.by_domain),
                          ("metric", stats.by_metric), ("train rows", stats.by_train_rows)):
        table = Table(title=title)
        table.add_column(title)
        table.add_column("tasks", justify="right")
        table.add_column("share", justify="right")
        for name, n in counts.items():
            table.add_row(name, str(n), f"{n / stats.num_tasks:.0%}")
        console.print(table)
    if stats.funnel:
        f = stats.funnel
        table = Table(title="funnel")
        table.add_column("stage")
        table.add_column("tasks", justify="right")
        table.add_row("attempted", str(f["attempted"]))
        for name, n in f["cumulative"]:
            table.add_row(name, str(n))
        table.add_row("accepted", str(f["accepted"]))
        console.print(table)
        rates = Table(title="acceptance by modality")
        for column in ("modality", "attempted", "accepted", "rate"):
            rates.add_column(column, justify="left" if column == "modality" else "right")
        for modality, row in f["by_modality"].items():
            rate = row["accepted"] / row["attempted"] if row["attempted"] else 0.0
            rates.add_row(modality, str(row["attempted"]), str(row["accepted"]), f"{rate:.0%}")
        console.print(rates)
    if stats.fidelity:
        f = stats.fidelity
        console.print(f"[bold]fidelity[/] to {f['data']} ({f['rows']} rows, {f['task_kind']}, {f['metric']}): "
                      f"Spearman real vs twins {f['spearman']}, ceiling {f['ceiling']}, control "
                      f"{f['control_id']} {f['control_spearman']}, twins accepted {f['twins_accepted']}/"
                      f"{f['twins_attempted']}")
    if chart is not None:
        console.print(f"chart written to {chart}")


def run_export(args) -> int:
    from sandmle.synth.export import export_bank

    written = export_bank(args.bank, args.fmt, args.out, overwrite=args.overwrite)
    if args.json:
        from sandmle.console import print_json

        print_json({"format": args.fmt, "out": str(args.out), "tasks": [p.name for p in written]})
        return 0
    from sandmle.console import make_console

    make_console().print(f"exported {len(written)} tasks to {args.out} ({args.fmt})")
    return 0


def run_import(args) -> int:
    from sandmle.sources.mlebench import import_competitions

    status = None
    if not args.json:
        from sandmle.console import make_console

        status = make_console(stderr=True)

    def progress(item) -> None:
        if status is not None:
            status.print(f"{item.id}: {item.test_rows} test rows, {item.num_teams} teams on the leaderboard")

    written, notes = import_competitions(args.data_dir, args.out, args.competitions, args.leaderboards,
                                         overwrite=args.overwrite, progress=progress)
    if args.json:
        from sandmle.console import print_json

        print_json({"source": args.source, "out": str(args.out), "tasks": [w.id for w in written], "notes": notes})
        return 0
    from sandmle.console import make_console

    console = make_console()
    for note in notes:
        console.print(f"note: {note}")
    console.print(f"imported {len(written)} competitions into {args.out}")
    return 0
