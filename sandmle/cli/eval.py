"""`sandmle eval`: run a policy on a task bank and write an MLE-bench grading report.

    sandmle eval --policy scripted:strong --bank BANK --out RUN [--num-episodes-per-task K]
                 [--budget paper-eval] [--max-turns N] [--step-timeout-s S] [--episode-timeout-s S]
                 [--memory-mb MB] [--gpus] [--workers W] [--sandbox ray[:ADDRESS]] [--scheme S]
                 [--sft-out FILE] [--json] [--split NAME]
                 [--resume | --overwrite]
    sandmle eval --mix scripted:weak:short=0.25,scripted:strong:short=0.75 ...

`--mix SPEC=SHARE,...` plays the planned episodes with several policies in those shares
(`sandmle.rollout.mix`: exact counts, interleaved so each task holds the shares); each
episode records the policy that played it. `--split NAME` records the bank's split ("train",
"heldout", ...) in every episode, for `sandmle sft`'s split filter.

Budgets: --budget paper-eval is the paper's MLE-bench-lite evaluation (20 LLM calls, 20 min
an episode, 300 s a code run; the default); the flags override it one by one. Full-size
MLE-bench data usually needs more than the default --memory-mb 4096; --gpus binds the host's
NVIDIA device nodes into code runs and is an error on a machine without them.

Writes RUN/run.json first, appends each episode to RUN/episodes.jsonl as it finishes, then
RUN/grading_report.json and RUN/rates.png, and keeps each episode's work folder under
RUN/work/ (so `replay` can re-grade it). A remote policy is probed first: an endpoint that
cannot answer is one error line (exit 2) and no run folder. When more than
--max-error-share of the episodes end in policy_error or env_error, the report says so and
the command exits 1. An existing RUN is refused unless `--resume`
(finish it: episodes already in episodes.jsonl are skipped, the rest run as they would
have, and the report is the uninterrupted run's; its timing figures are of the part this
command ran, or the earlier report's when it ran nothing) or `--overwrite`. `sandmle report RUN`
shows a run, finished or not. Prints a table, or with --json one JSON object: the report
without its per-episode entries.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
from pathlib import Path

from sandmle.arguments import add_sandbox_argument, count, description, out_file, out_folder, positive, share
from sandmle import __version__
from sandmle.errors import UserError
from sandmle.evaluation import CHART_FILE, EPISODES_FILE, REPORT_FILE, WORK_DIR
from sandmle.rollout.score_tool import SCORE_TOOLS


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="run a policy on a bank and write a grading report",
                              description=description(__doc__))
    add_rollout_arguments(p)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--policy", metavar="SPEC",
                     help="scripted[:weak|medium|strong][:short], openai:MODEL@URL, hf:DIR or vllm:MODEL")
    who.add_argument("--mix", metavar="SPEC=SHARE,...",
                     help="several policies in shares, e.g. scripted:weak:short=0.3,scripted:strong:short=0.7")
    p.add_argument("--bank", required=True, type=Path, metavar="BANK", help="task bank folder")
    p.add_argument("--out", required=True, type=out_folder, metavar="RUN", help="run folder to create")
    p.add_argument("--num-episodes-per-task", type=count, default=1, metavar="K",
                   help="episodes of each task (default %(default)s; several give each task's spread)")
    p.add_argument("--limit-tasks", type=count, default=None, metavar="N", help="only the first N tasks")
    p.add_argument("--sft-out", type=out_file, default=None, metavar="FILE",
                   help="also write the episodes as chat-format SFT data (JSONL)")
    p.add_argument("--min-reward", type=float, default=0.0, help="SFT export: keep episodes with reward >= this (default %(default)s)")
    p.add_argument("--max-error-share", type=share, default=0.1, metavar="SHARE",
                   help="exit 1 when more than this share of episodes end in policy_error or env_error "
                        "(the policy endpoint or the sandbox failed; default 0.1)")
    p.add_argument("--split", default=None, metavar="NAME",
                   help="the bank's split, recorded in every episode (e.g. train, heldout)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="finish an interrupted run in --out (skip its finished episodes)")
    again.add_argument("--overwrite", action="store_true", help="start the run in --out again")
    p.set_defaults(handler=handle)


def add_rollout_arguments(p: argparse.ArgumentParser) -> None:
    from sandmle.rollout.budgets import BUDGETS

    p.add_argument("--budget", choices=tuple(BUDGETS), default=None,
                   help="a named budget: paper-eval (20 turns, 1200 s an episode, 300 s a code run, "
                        "4096 new tokens a turn: the paper's MLE-bench-lite evaluation; the default), "
                        "paper-train (15 turns) or hf-cpu (8 turns of 512 new tokens, 600 s an episode: "
                        "the default for hf: policies without a GPU); the flags below override it")
    p.add_argument("--max-turns", type=count, default=None, metavar="N",
                   help="LLM calls per episode (default 20, MLE-bench-lite evaluation)")
    p.add_argument("--episode-timeout-s", "--episode-timeout", dest="episode_timeout_s", type=positive,
                   default=None, metavar="SECONDS", help="wall clock per episode (default 1200)")
    p.add_argument("--step-timeout-s", "--step-timeout", dest="step_timeout_s", type=positive,
                   default=None, metavar="SECONDS", help="wall clock per code run (default 300)")
    p.add_argument("--memory-mb", type=count, default=4096, metavar="MB",
                   help="memory of a code run's process tree (default 4096; raise it for full-size "
                        "MLE-bench data)")
    p.add_argument("--gpus", action="store_true",
                   help="bind the host's NVIDIA device nodes into code runs (an error when there are none)")
    p.add_argument("--workers", type=count, default=None, metavar="W",
                   help="sandbox workers (default: CPU count; per node with --sandbox ray)")
    add_sandbox_argument(p)
    p.add_argument("--scheme", default="paper", choices=("paper", "release", "sparse"),
                   help="reward scheme (sandmle.reward; default %(default)s)")
    p.add_argument("--reward-from", default="last", choices=("last", "best"),
                   help="graded score the reward uses: the episode's last or its best (default %(default)s)")
    p.add_argument("--score-tool", default="format", choices=SCORE_TOOLS,
                   help="what the agent's score tool answers: format (default: validity only, as MLE-bench), "
                        "validation (a score on rows held out from train), test (the hidden test score, as in "
                        "the paper's training: not comparable with MLE-bench), off")
    p.add_argument("--max-context-tokens", type=count, default=None, metavar="N",
                   help="context budget of an episode (default 32768)")
    p.add_argument("--max-new-tokens", type=count, default=None, metavar="N",
                   help="tokens per assistant turn (default 4096)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="sampling temperature of the policy (default %(default)s)")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P",
                   help="nucleus sampling: sample from the smallest set of tokens holding this much "
                        "probability (default %(default)s: all)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the sampling and of the episode ids (default %(default)s)")


def default_budget(policy_spec: str | None) -> str:
    """paper-eval, or hf-cpu for an hf: policy on a machine without a GPU (said on stderr)."""
    from sandmle.rollout.budgets import BUDGETS, CPU_BUDGET

    if not (policy_spec or "").startswith("hf:"):
        return "paper-eval"
    import torch

    if torch.cuda.is_available():
        return "paper-eval"
    b = BUDGETS[CPU_BUDGET]
    print(f"sandmle: no GPU: budget {CPU_BUDGET} ({int(b['max_turns'])} turns of {int(b['max_new_tokens'])} new "
          f"tokens, {int(b['episode_timeout_s'])} s an episode) where no flag sets a value; "
          f"--budget paper-eval for the paper's budget",
          file=sys.stderr)
    return CPU_BUDGET


def rollout_config(args):
    """The RolloutConfig of the command line: explicit flags, then --budget, then the
    evaluation defaults (the paper-eval budget; hf-cpu for hf: policies without a GPU)."""
    from sandmle.policies.base import SamplingParams
    from sandmle.rollout.budgets import BUDGETS
    from sandmle.rollout.runner import RolloutConfig

    budget = BUDGETS[args.budget or default_budget(args.policy or args.mix)]
    chosen = {key: budget[key] if getattr(args, key) is None else getattr(args, key) for key in budget}
    devices = ()
    if args.gpus:
        from sandmle.sandbox.devices import require_gpu_device_nodes

        if args.sandbox.kind != "local":
            raise UserError("--gpus binds this machine's GPUs into code runs; with --sandbox ray the "
                            "code runs on other nodes: drop one of the two")
        devices = require_gpu_device_nodes()
    try:
        sampling = SamplingParams(temperature=args.temperature, top_p=args.top_p,
                                  max_new_tokens=int(chosen["max_new_tokens"]), seed=args.seed)
        return RolloutConfig(max_turns=int(chosen["max_turns"]), episode_timeout_s=chosen["episode_timeout_s"],
                             step_timeout_s=chosen["step_timeout_s"], max_context_tokens=int(chosen["max_context_tokens"]),
                             reward_scheme=args.scheme, reward_from=args.reward_from, sampling=sampling,
                             memory_mb=args.memory_mb, devices=devices, score_tool=args.score_tool)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _prewarm() -> threading.Thread:
    """Import what grading and the chart need in the background, while the pool starts: the
    episode threads then never queue on a module's import lock, and the chart costs no
    import at the end."""
    def work() -> None:
        import io

        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        import sandmle.grading  # noqa: F401

        Figure(figsize=(1, 1)).savefig(io.BytesIO(), format="png")    # fonts, the Agg backend

    thread = threading.Thread(target=work, name="prewarm", daemon=True)
    thread.start()
    return thread


def run_eval(policy_spec: str, bank: Path, out: Path, config, *, episodes_per_task: int = 1,
             workers: int | None = None, seed: int = 0, limit_tasks: int | None = None,
             pool=None, policy=None, progress=None, resume: bool = False,
             overwrite: bool = False, max_error_share: float | None = None,
             show_progress: bool = False, sandbox=None, split: str | None = None) -> tuple[dict, list]:
    """Run the evaluation into `out`; return (report, episodes). Reuses `pool`/`policy`;
    without a `pool` one is started where `sandbox` says (`sandmle.sandbox.backend`).
    With `resume`, episodes `out` already holds are kept and not run again. The policy is
    probed before `out` is written (a dead endpoint is a UserError, and leaves no run). A
    `policy_spec` of the form SPEC=SHARE,... is a mixture (`sandmle.rollout.mix`).
    `progress(episode)` is called as each episode ends; `show_progress` prints each one and
    the run's progress on stderr (`sandmle.progress`)."""
    import time

    from sandmle.evaluation import FAILURE_TERMINATIONS, EpisodeLog, build_report, check_run, load_run, open_run
    from sandmle.policies import make_policy
    from sandmle.progress import Progress
    from sandmle.policies.base import probe_policy
    from sandmle.report_view import write_chart
    from sandmle.rollout.mix import assign_members, is_mix, parse_mix, shared_tokenizer
    from sandmle.rollout.runner import episode_id_for, run_episodes
    from sandmle.task import load_bank, write_json_atomic

    if episodes_per_task < 1:
        raise UserError(f"--num-episodes-per-task must be >= 1, got {episodes_per_task}")
    warm = _prewarm()
    tasks = load_bank(bank)[:limit_tasks]
    plan = [t for t in tasks for _ in range(episodes_per_task)]
    ids = [episode_id_for(t.id, i, seed) for i, t in enumerate(plan)]
    mix = parse_mix(policy_spec) if is_mix(policy_spec) else None
    manifest = {"policy": policy_spec, "bank": str(Path(bank).resolve()), "seed": seed,
                "episodes_per_task": episodes_per_task, "limit_tasks": limit_tasks,
                "config": _jsonable(dataclasses.asdict(config)), "episode_ids": ids,
                "sandmle_version": __version__, "split": split}
    check_run(out, manifest, resume=resume, overwrite=overwrite)       # before anything loads
    prior = load_run(out)[1] if resume else []
    remaining = len(set(ids) - {ep.episode_id for ep in prior})
    starting = None
    if pool is None and remaining:                # the pool starts while the policy loads
        from concurrent.futures import ThreadPoolExecutor

        from sandmle.sandbox.backend import open_pool

        starter = ThreadPoolExecutor(1, thread_name_prefix="pool-start")
        starting = starter.submit(open_pool, sandbox, num_workers=workers)
        starter.shutdown(wait=False)
    own_policy = policy is None
    members: list = []
    try:
        if mix is not None:
            for spec, _ in mix:
                members.append(make_policy(spec))
            tokenizer = shared_tokenizer(members)
            chosen = assign_members([s for _, s in mix], len(tasks), episodes_per_task)
            policy = [members[i] for i in chosen]
        else:
            policy = policy or make_policy(policy_spec)
            members = [policy]
            tokenizer = getattr(policy, "tokenizer", None)
        if remaining:
            for member in members:
                if hasattr(member, "check_tasks"):
                    member.check_tasks(tasks)
                probe_policy(member)
        finished = open_run(out, manifest, resume=resume, overwrite=overwrite)
    except BaseException:
        if own_policy:
            for member in members:
                member.close()
        if starting is not None and starting.exception() is None:
            starting.result().close()
        raise
    done = {ep.episode_id for ep in finished}
    log = EpisodeLog(out / EPISODES_FILE)
    bar = Progress("eval", len(plan), "episodes", start_done=len(done), enabled=show_progress)
    failed = sum(ep.termination in FAILURE_TERMINATIONS for ep in finished)
    lock = threading.Lock()

    def on_episode(episode) -> None:
        nonlocal failed
        log.append(episode)
        with lock:
            failed += episode.termination in FAILURE_TERMINATIONS
            bar.print(episode_line(episode))
            bar.advance(note=f"{failed} failed at the policy or sandbox" if failed else "")
        if progress is not None:
            progress(episode)
    timing: dict[str, float] = {}

    def run(active_pool):
        warm.join()
        start = time.perf_counter()     # the pool's start-up is not part of the run's rate
        bar.restart_clock()             # nor of the progress line's, which then agrees with the report
        result = run_episodes(policy, plan, active_pool, config, tokenizer=tokenizer,
                              work_root=out / WORK_DIR, seed=seed, on_episode=on_episode,
                              skip=done, split=split)
        timing["wall_s"] = time.perf_counter() - start
        timing["workers"] = getattr(active_pool, "num_workers", None)
        bar.close()                     # its last line now, not after the pool's shut-down
        return result

    earlier = _run_timing(out) if len(done) == len(plan) else {}     # read before the report is rewritten
    try:
        if len(done) == len(plan):
            new = []
            timing.update(wall_s=0.0, workers=None)
        elif pool is None:
            with starting.result() as own_pool:
                new = run(own_pool)
        else:
            new = run(pool)
    finally:
        bar.close()
        if own_policy:
            for member in members:
                member.close()
        if starting is not None:
            starting.cancel()
            if starting.done() and starting.exception() is None:
                starting.result().close()
    order = {episode_id: i for i, episode_id in enumerate(ids)}
    episodes = sorted(finished + new, key=lambda ep: order[ep.episode_id])
    name = policy_spec if mix is not None else getattr(policy, "name", policy_spec)
    report = build_report(episodes, {t.id: t for t in tasks}, policy=name,
                          bank=str(bank), run_wall_s=timing["wall_s"] or None,
                          reward_scheme=config.reward_scheme, score_tool=config.score_tool,
                          num_workers=timing["workers"],
                          episodes_planned=len(plan), episodes_timed=len(new),
                          max_error_share=max_error_share)
    report.update(earlier)
    write_json_atomic(out / REPORT_FILE, report)
    warm.join()
    write_chart(report, out / CHART_FILE)
    return report, episodes


RUN_TIMING_KEYS = ("run_wall_s", "num_workers", "episodes_per_min", "sandbox_utilisation")


def _run_timing(out: Path) -> dict:
    """The run's timing figures in `out`'s grading report, for a resume that runs nothing:
    the figures are of the run that played the episodes. {} when there is no readable report
    (a run killed after its last episode; then the figures are unknown, and None)."""
    import json

    try:
        earlier = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(earlier, dict):
        return {}
    return {key: earlier[key] for key in RUN_TIMING_KEYS if earlier.get(key) is not None}


def episode_line(ep) -> str:
    """One line for an episode that ended (its id, how it ended, score, tier, reward)."""
    grade = ep.final_grade or {}
    why = f" ({ep.error})" if ep.error else ""
    return (f"{ep.episode_id}: {ep.termination}{why}, {ep.num_turns} turns, score {grade.get('score')}, "
            f"tier {grade.get('tier', 'none')}, reward {ep.reward:.3f}")


def _jsonable(data):
    import json

    return json.loads(json.dumps(data))


def handle(args) -> int:
    from sandmle.console import make_console, print_json, printable
    from sandmle.evaluation import error_line
    from sandmle.report_view import report_tables
    from sandmle.rollout.episode import save_sft, to_sft

    config = rollout_config(args)
    if args.mix is not None:
        from sandmle.rollout.mix import is_mix, parse_mix

        if not is_mix(args.mix):
            raise UserError(f"--mix {args.mix!r}: write SPEC=SHARE,SPEC=SHARE, e.g. "
                            "scripted:weak:short=0.25,scripted:strong:short=0.75")
        parse_mix(args.mix)             # a bad mix is refused before any work
    report, episodes = run_eval(args.policy or args.mix, args.bank, args.out, config,
                                episodes_per_task=args.num_episodes_per_task, workers=args.workers,
                                seed=args.seed, limit_tasks=args.limit_tasks, show_progress=not args.json,
                                resume=args.resume, overwrite=args.overwrite,
                                max_error_share=args.max_error_share, sandbox=args.sandbox, split=args.split)
    if args.sft_out is not None:
        save_sft(args.sft_out, to_sft(episodes, min_reward=args.min_reward))
    if args.json:
        print_json({k: v for k, v in report.items() if k != "competition_reports"})
    else:
        console = make_console()
        for table in report_tables(report):
            console.print(table)
        if report["infrastructure_retries"]:
            console.print(f"{report['infrastructure_retries']} code steps ran again after the sandbox "
                          "infrastructure lost them (not counted against the policy)")
        console.print(f"wrote {args.out / REPORT_FILE}, {args.out / EPISODES_FILE}, {args.out / CHART_FILE}")
    if report["errors_exceeded"]:
        print(f"sandmle: error: {printable(error_line(report))}", file=sys.stderr)
        return 1
    return 0
