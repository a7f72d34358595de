"""`sandmle synth`: synthesise a bank of calibrated, verified micro tasks from seed tasks.

    sandmle synth --seeds modality:tabular --num-tasks 40 --out bank --workers 2
    sandmle synth --seeds all --num-tasks 1200 --out bank --sandbox ray:auto   # on a Ray cluster

Makes N accepted tasks, spread evenly over the selected seeds, in at most --max-attempts
attempts (default 3 N); accepted tasks land in BANK/<task_id>/, rejected attempts in
BANK/_rejected.jsonl with their reason; BANK/_funnel.json keeps the funnel, the attempts
taken and the seeds that fell short of their share. Re-running the same command resumes
where a previous run stopped; a larger N continues toward it.

    sandmle synth --generator llm --policy openai:Qwen/Qwen3-8B@http://localhost:8000/v1 \\
        --seeds modality:tabular --num-tasks 20 --out bank --cache llm-cache
    sandmle synth --generator llm --policy ... --num-tasks 4 --out bank --dry-run   # prompts only

`--generator llm` runs `sandmle.synth.llm.pipeline.synthesize_llm` (or prints its
`dry_run_text`); the model flags are refused without it. The answer cache defaults to
BANK/_llm_cache, so re-running a command replays its model answers.
"""
from __future__ import annotations

from pathlib import Path

from sandmle.arguments import add_sandbox_argument
from sandmle.cli import count, out_folder, positive
from sandmle.errors import UserError

DEFAULT_CACHE = "_llm_cache"
_LLM_FLAGS = {"policy": "--policy", "cache": "--cache", "max_repairs": "--max-repairs", "dry_run": "--dry-run"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth", help="generate, calibrate and verify synthetic tasks into a bank",
        description=__doc__.split("\n\n")[0] + " Re-running resumes; the same --seed gives "
                    "byte-identical public data.")
    parser.add_argument("--seeds", default=None, metavar="SELECTOR",
                        help="seed tasks: all (default), lite, modality:NAME, comma-separated ids or globs, "
                             "seed files (SEED.json) or folders of them (DIR/)")
    parser.add_argument("--num-tasks", type=count, required=True, metavar="N",
                        help="accepted tasks to make, spread evenly over the seeds")
    parser.add_argument("--max-attempts", type=count, default=None, metavar="M",
                        help="attempts the run may spend, accepted or rejected (default 3 N)")
    parser.add_argument("--out", required=True, type=out_folder, metavar="BANK", help="bank folder")
    parser.add_argument("--workers", type=count, default=None, metavar="W",
                        help="sandbox workers running reference solutions (default: CPU count; "
                             "per node with --sandbox ray)")
    add_sandbox_argument(parser)
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed of the run (default 0)")
    parser.add_argument("--timeout", type=positive, default=30.0, metavar="SECONDS",
                        help="wall-clock limit per reference solution (default 30)")
    parser.add_argument("--separation", type=float, default=1.0, metavar="SIGMAS",
                        help="adjacent medal thresholds must lie this many paired bootstrap standard "
                             "deviations apart (default 1; 0 only asks for strict order)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    add_llm_arguments(parser)        # --generator procedural|llm and the language-model flags
    parser.set_defaults(handler=run)


def run(args) -> int:
    from sandmle.synth.pipeline import synthesize

    if args.max_attempts is not None and args.max_attempts < args.num_tasks:
        raise UserError(f"--max-attempts ({args.max_attempts}) must be at least --num-tasks ({args.num_tasks})")
    if args.separation < 0:
        raise UserError(f"--separation must be >= 0, got {args.separation}")
    check_flags(args)
    if args.generator == "llm":
        return run_llm(args)
    report = synthesize(args.seeds, args.num_tasks, args.out, workers=args.workers, seed=args.seed,
                        progress=not args.json, max_attempts=args.max_attempts, timeout_s=args.timeout,
                        separation_sigmas=args.separation, sandbox=args.sandbox)
    if args.json:
        from sandmle.console import print_json

        print_json(report)
        return exit_status(report.request)
    print_report(report)
    return exit_status(report.request)


def exit_status(request) -> int:
    """0 when the run made every task asked for; else 1, with one line on stderr saying why."""
    import sys

    if request.accepted >= request.requested:
        return 0
    print(f"sandmle synth: accepted {request.accepted} of {request.requested} tasks in {request.attempts} attempts "
          f"(at most {request.max_attempts}); rerun with a larger --max-attempts to continue", file=sys.stderr)
    return 1


def add_llm_arguments(parser) -> None:
    parser.add_argument("--generator", choices=("procedural", "llm"), default="procedural",
                        help="procedural (default) or llm: the four model roles over --policy")
    parser.add_argument("--policy", default=None, metavar="SPEC",
                        help="model for --generator llm, e.g. openai:MODEL@http://localhost:8000/v1")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="model answer cache for --generator llm (default BANK/_llm_cache); reruns replay it")
    parser.add_argument("--max-repairs", type=int, default=None, metavar="N",
                        help="--generator llm: times a failing data script goes back to the model (default 3)")
    parser.add_argument("--dry-run", action="store_true",
                        help="--generator llm: print the prompts and exit without calling a model")


def check_flags(args) -> None:
    """Model flags only make sense with --generator llm."""
    if args.generator == "llm":
        return
    given = [flag for name, flag in _LLM_FLAGS.items() if getattr(args, name) not in (None, False)]
    if given:
        raise UserError(f"{', '.join(given)} only {'applies' if len(given) == 1 else 'apply'} with --generator llm")


def run_llm(args) -> int:
    from sandmle.synth.llm.pipeline import LLMConfig, dry_run_text, synthesize_llm

    if args.max_repairs is not None and args.max_repairs < 0:
        raise UserError(f"--max-repairs must be >= 0, got {args.max_repairs}")
    cache = args.cache if args.cache is not None else Path(args.out) / DEFAULT_CACHE
    config = None
    if args.policy is not None:
        extra = {} if args.max_repairs is None else {"max_repairs": args.max_repairs}
        config = LLMConfig(policy=args.policy, cache_dir=cache, **extra)
    if args.dry_run:
        print(dry_run_text(args.seeds, args.num_tasks, seed=args.seed, config=config), end="")
        return 0
    if config is None:
        raise UserError("--generator llm needs --policy SPEC, e.g. openai:MODEL@http://localhost:8000/v1")
    report = synthesize_llm(args.seeds, args.num_tasks, Path(args.out), config, workers=args.workers,
                            seed=args.seed, max_attempts=args.max_attempts, timeout_s=args.timeout,
                            separation_sigmas=args.separation, sandbox=args.sandbox)
    if args.json:
        from sandmle.console import print_json

        print_json(report)
        return exit_status(report.synth.request)
    from sandmle.console import make_console

    print_report(report.synth)
    roles = ", ".join(f"{role} {n}" for role, n in report.failures_by_role.items()) or "none"
    make_console().print(f"model {report.model}: {report.requests_sent} requests sent, {report.cache_hits} answered "
                         f"from the cache ({cache}); tasks lost per role: {roles}")
    return exit_status(report.synth.request)


def print_report(report) -> None:
    from rich.table import Table

    from sandmle.console import make_console

    console = make_console()
    funnel = report.funnel
    console.print(f"[bold]bank[/] {report.out_dir}: {report.processed} attempts finished in {report.wall_s:.1f} s "
                  f"({report.tasks_per_min:.1f} attempts/min, {report.accepted_per_min:.1f} accepted/min), "
                  f"{report.skipped} replayed from an earlier run")
    table = Table(title="funnel (every finished attempt of the bank)")
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
    request = report.request
    style = "bold" if request.accepted >= request.requested else "bold red"
    console.print(f"[{style}]{request.line()}[/]")
