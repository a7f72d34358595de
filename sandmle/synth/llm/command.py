"""`sandmle synth --generator llm`: the command-line side of language-model synthesis.

    sandmle synth --generator llm --policy openai:Qwen/Qwen3-8B@http://localhost:8000/v1 \\
        --seeds modality:tabular --num-tasks 20 --out bank --cache llm-cache
    sandmle synth --generator llm --policy ... --num-tasks 4 --out bank --dry-run   # prompts only

`add_arguments(parser)` declares the flags, `check_flags(args)` refuses them without
`--generator llm`, and `run_llm(args)` runs `synthesize_llm` (or prints `dry_run_text`).
The cache defaults to BANK/_llm_cache, so re-running a command replays its model answers.
"""
from __future__ import annotations

from pathlib import Path

from sandmle.errors import UserError

DEFAULT_CACHE = "_llm_cache"
_LLM_FLAGS = {"policy": "--policy", "cache": "--cache", "max_repairs": "--max-repairs", "dry_run": "--dry-run"}


def add_arguments(parser) -> None:
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
        raise UserError(f"{', '.join(given)} only apply with --generator llm")


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
                            seed=args.seed, timeout_s=args.timeout, separation_sigmas=args.separation)
    if args.json:
        from sandmle.console import print_json

        print_json(report)
        return 0
    from sandmle.cli.synth import print_report
    from sandmle.console import make_console

    print_report(report.synth)
    roles = ", ".join(f"{role} {n}" for role, n in report.failures_by_role.items()) or "none"
    make_console().print(f"model {report.model}: {report.requests_sent} requests sent, {report.cache_hits} answered "
                         f"from the cache ({cache}); tasks lost per role: {roles}")
    return 0
