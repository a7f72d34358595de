"""`sandmle eval`: run a policy on a task bank and write an MLE-bench grading report.

    sandmle eval --policy scripted:strong --bank BANK --out RUN [--num-episodes-per-task K]
                 [--max-turns N] [--workers W] [--scheme S] [--sft-out FILE] [--json]

Writes RUN/episodes.jsonl, RUN/grading_report.json, RUN/rates.png and keeps each episode's
work folder under RUN/work/ (so `replay` can re-grade it). Prints a table, or with --json
one JSON object: the report without its per-episode entries.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sandmle.errors import UserError

REPORT_FILE = "grading_report.json"
EPISODES_FILE = "episodes.jsonl"
CHART_FILE = "rates.png"


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="run a policy on a bank and write a grading report",
                              description=__doc__.splitlines()[0])
    add_rollout_arguments(p)
    p.add_argument("--policy", required=True, metavar="SPEC",
                   help="scripted[:weak|medium|strong], openai:MODEL@URL, hf:DIR or vllm:MODEL")
    p.add_argument("--bank", required=True, type=Path, metavar="BANK", help="task bank folder")
    p.add_argument("--out", required=True, type=Path, metavar="RUN", help="run folder to create")
    p.add_argument("--num-episodes-per-task", type=int, default=1, metavar="K")
    p.add_argument("--limit-tasks", type=int, default=None, metavar="N", help="only the first N tasks")
    p.add_argument("--sft-out", type=Path, default=None, metavar="FILE",
                   help="also write the episodes as chat-format SFT data (JSONL)")
    p.add_argument("--min-reward", type=float, default=0.0, help="SFT export: keep episodes with reward >= this")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=handle)


def add_rollout_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-turns", type=int, default=20, metavar="N",
                   help="LLM calls per episode (default 20, MLE-bench-lite evaluation)")
    p.add_argument("--workers", type=int, default=None, metavar="W", help="sandbox workers (default: CPU count)")
    p.add_argument("--scheme", default="paper", choices=("paper", "release", "sparse"), help="reward scheme")
    p.add_argument("--reward-from", default="last", choices=("last", "best"), help="graded score the reward uses")
    p.add_argument("--episode-timeout", type=float, default=1200.0, metavar="SECONDS")
    p.add_argument("--step-timeout", type=float, default=300.0, metavar="SECONDS")
    p.add_argument("--max-context-tokens", type=int, default=32768)
    p.add_argument("--max-new-tokens", type=int, default=4096)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)


def rollout_config(args):
    from sandmle.policies.base import SamplingParams
    from sandmle.rollout.runner import RolloutConfig

    try:
        sampling = SamplingParams(temperature=args.temperature, top_p=args.top_p,
                                  max_new_tokens=args.max_new_tokens, seed=args.seed)
        return RolloutConfig(max_turns=args.max_turns, episode_timeout_s=args.episode_timeout,
                             step_timeout_s=args.step_timeout, max_context_tokens=args.max_context_tokens,
                             reward_scheme=args.scheme, reward_from=args.reward_from, sampling=sampling)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def run_eval(policy_spec: str, bank: Path, out: Path, config, *, episodes_per_task: int = 1,
             workers: int | None = None, seed: int = 0, limit_tasks: int | None = None,
             pool=None, policy=None, progress=None) -> tuple[dict, list]:
    """Run the evaluation into `out`; return (report, episodes). Reuses `pool`/`policy`."""
    import time

    from sandmle.evaluation import build_report, write_chart
    from sandmle.policies import make_policy
    from sandmle.rollout.episode import save_episodes
    from sandmle.rollout.runner import run_episodes
    from sandmle.task import load_bank, write_json_atomic

    if episodes_per_task < 1:
        raise UserError(f"--num-episodes-per-task must be >= 1, got {episodes_per_task}")
    if (out / EPISODES_FILE).exists():
        raise UserError(f"{out} already holds {EPISODES_FILE}: choose another --out")
    tasks = load_bank(bank)[:limit_tasks]
    plan = [t for t in tasks for _ in range(episodes_per_task)]
    own_policy = policy is None
    policy = policy or make_policy(policy_spec)
    tokenizer = getattr(policy, "tokenizer", None)
    timing: dict[str, float] = {}

    def run(active_pool):
        start = time.perf_counter()     # the pool's start-up is not part of the run's rate
        result = run_episodes(policy, plan, active_pool, config, tokenizer=tokenizer,
                              work_root=out / "work", seed=seed, on_episode=progress)
        timing["wall_s"] = time.perf_counter() - start
        timing["workers"] = getattr(active_pool, "num_workers", None)
        return result

    try:
        if pool is None:
            from sandmle.sandbox.pool import Pool

            with Pool(num_workers=workers) as own_pool:
                episodes = run(own_pool)
        else:
            episodes = run(pool)
    finally:
        if own_policy:
            policy.close()
    wall_s = timing["wall_s"]
    report = build_report(episodes, {t.id: t for t in tasks}, policy=getattr(policy, "name", policy_spec),
                          bank=str(bank), run_wall_s=wall_s, reward_scheme=config.reward_scheme,
                          num_workers=timing["workers"])
    save_episodes(out / EPISODES_FILE, episodes)
    write_json_atomic(out / REPORT_FILE, report)
    write_chart(report, out / CHART_FILE)
    return report, episodes


def handle(args) -> int:
    from sandmle.console import make_console, print_json
    from sandmle.evaluation import report_tables
    from sandmle.rollout.episode import save_sft, to_sft

    config = rollout_config(args)
    progress = None
    if not args.json:
        status = make_console(stderr=True)

        def progress(ep) -> None:
            grade = ep.final_grade or {}
            status.print(f"{ep.episode_id}: {ep.termination}, {ep.num_turns} turns, "
                         f"score {grade.get('score')}, tier {grade.get('tier', 'none')}, reward {ep.reward:.3f}")

    report, episodes = run_eval(args.policy, args.bank, args.out, config,
                                episodes_per_task=args.num_episodes_per_task, workers=args.workers,
                                seed=args.seed, limit_tasks=args.limit_tasks, progress=progress)
    if args.sft_out is not None:
        save_sft(args.sft_out, to_sft(episodes, min_reward=args.min_reward))
    if args.json:
        print_json({k: v for k, v in report.items() if k != "competition_reports"})
        return 0
    console = make_console()
    for table in report_tables(report):
        console.print(table)
    console.print(f"wrote {args.out / REPORT_FILE}, {args.out / EPISODES_FILE}, {args.out / CHART_FILE}")
    return 0
