"""`sandmle synth`: synthesise a bank of calibrated, verified micro tasks from seed tasks.

    sandmle synth --seeds modality:tabular --num-tasks 40 --out bank --workers 2

Attempts N tasks round-robin over the selected seeds; accepted tasks land in BANK/<task_id>/,
rejected ones in BANK/_rejected.jsonl with their reason; BANK/_funnel.json keeps the funnel.
Re-running the same command resumes where a previous run stopped.
"""
from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth", help="generate, calibrate and verify synthetic tasks into a bank",
        description=__doc__.split("\n\n")[0] + " Re-running resumes; the same --seed gives "
                    "byte-identical public data.")
    parser.add_argument("--seeds", default=None, metavar="SELECTOR",
                        help="seed tasks: all (default), lite, modality:NAME, comma-separated ids, or a glob")
    parser.add_argument("--num-tasks", type=int, required=True, metavar="N",
                        help="tasks to attempt (accepted + rejected), round-robin over the seeds")
    parser.add_argument("--out", required=True, type=Path, metavar="BANK", help="bank folder")
    parser.add_argument("--workers", type=int, default=None, metavar="W",
                        help="sandbox workers running reference solutions (default: CPU count)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed of the run (default 0)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="wall-clock limit per reference solution (default 30)")
    parser.add_argument("--separation", type=float, default=1.0, metavar="SIGMAS",
                        help="adjacent medal thresholds must lie this many paired bootstrap standard "
                             "deviations apart (default 1; 0 only asks for strict order)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    from sandmle.synth.llm.command import add_arguments

    add_arguments(parser)            # --generator procedural|llm and the language-model flags
    parser.set_defaults(handler=run)


def run(args) -> int:
    from sandmle.errors import UserError
    from sandmle.synth.llm.command import check_flags, run_llm
    from sandmle.synth.pipeline import synthesize

    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    if args.num_tasks < 0:
        raise UserError(f"--num-tasks must be >= 0, got {args.num_tasks}")
    if args.timeout <= 0:
        raise UserError(f"--timeout must be > 0, got {args.timeout}")
    if args.separation < 0:
        raise UserError(f"--separation must be >= 0, got {args.separation}")
    check_flags(args)
    if args.generator == "llm":
        return run_llm(args)
    report = synthesize(args.seeds, args.num_tasks, args.out, workers=args.workers, seed=args.seed,
                        progress=not args.json, timeout_s=args.timeout, separation_sigmas=args.separation)
    if args.json:
        from sandmle.console import print_json

        print_json(report)
        return 0
    print_report(report)
    return 0


def print_report(report) -> None:
    from rich.table import Table

    from sandmle.console import make_console

    console = make_console()
    funnel = report.funnel
    console.print(f"[bold]bank[/] {report.out_dir}: {report.processed} tasks processed in {report.wall_s:.1f} s "
                  f"({report.tasks_per_min:.1f} tasks/min, {report.accepted_per_min:.1f} accepted/min), "
                  f"{report.skipped} already finished")
    table = Table(title="funnel (every finished task of the bank)")
    table.add_column("stage")
    table.add_column("tasks", justify="right")
    table.add_column("passes this check", justify="right")
    table.add_row("attempted", str(funnel.attempted), "")
    for name, count in funnel.cumulative:
        table.add_row(name, str(count), str(funnel.check_passes[name]) if name in funnel.check_passes else "")
    table.add_row("[bold]accepted[/]", f"[bold]{funnel.accepted}[/]", "")
    console.print(table)
    modalities = Table(title="acceptance by modality")
    for column in ("modality", "attempted", "generated", "accepted", "rate"):
        modalities.add_column(column, justify="left" if column == "modality" else "right")
    for modality, row in funnel.by_modality.items():
        rate = row["accepted"] / row["attempted"] if row["attempted"] else 0.0
        modalities.add_row(modality, str(row["attempted"]), str(row["generated"]), str(row["accepted"]), f"{rate:.0%}")
    console.print(modalities)
    if report.rejected_now:
        reasons = Table(title=f"rejected in this run ({len(report.rejected_now)})")
        reasons.add_column("task")
        reasons.add_column("stage")
        reasons.add_column("reason", overflow="fold")
        for o in report.rejected_now[:20]:
            reasons.add_row(o.task_id or f"{o.seed_id}#{o.index}", o.stage, o.reason or "")
        console.print(reasons)
    console.print(funnel.line())
