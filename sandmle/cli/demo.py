"""`sandmle demo`: the whole pipeline on a laptop in a few minutes.

Synthesises a small bank with the procedural engine (seeds across tabular, text, image and
audio), runs the three scripted baselines (weak, medium, strong reference solutions through
the agent protocol and the sandbox) on it, and prints the medal table. Outputs under --out
(default ./demo-out): bank/, runs/<strength>/ (episodes.jsonl, grading_report.json,
rates.png) and demo_summary.json. Re-running resumes the bank and redoes the runs.
"""
from __future__ import annotations

import time
from pathlib import Path

from sandmle.arguments import count, description, out_folder
from sandmle.errors import UserError

DEMO_SEEDS = ",".join((
    "tabular-playground-series-may-2022", "new-york-city-taxi-fare-prediction",
    "tabular-playground-series-dec-2021", "tabular-regression-mae",
    "detecting-insults-in-social-commentary", "spooky-author-identification",
    "aerial-cactus-identification", "histopathologic-cancer-detection",
    "the-icml-2013-whale-challenge-right-whale-redux", "mlsp-2013-birds",
    "tabular-binary-accuracy", "text-multiclass-f1-micro",
))
STRENGTHS = ("weak", "medium", "strong")


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="synthesise a small bank and evaluate the scripted baselines",
                              description=description(__doc__))
    p.add_argument("--out", type=out_folder, default=Path("demo-out"), metavar="DIR", help="output folder (default demo-out)")
    p.add_argument("--num-tasks", type=count, default=12, metavar="N", help="accepted tasks to make (default 12, one per seed)")
    p.add_argument("--seeds", default=DEMO_SEEDS, metavar="SELECTOR", help="seed selector (default: 12 mixed seeds)")
    p.add_argument("--workers", type=count, default=None, metavar="W", help="sandbox workers (default: CPU count)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=handle)


def _clear_run(run: Path) -> None:
    """Remove a previous demo run folder (only one that a run wrote)."""
    if run.exists():
        from sandmle.cli.eval import EPISODES_FILE, REPORT_FILE
        from sandmle.sandbox.workdir import remove_tree

        if not ((run / EPISODES_FILE).exists() or (run / REPORT_FILE).exists() or (run / "work").exists()):
            raise UserError(f"{run} exists and is not a demo run folder: remove it or choose another --out")
        remove_tree(run)


def medal_table(summary: dict):
    from rich import box
    from rich.table import Table

    table = Table(title=f"scripted baselines on {summary['num_tasks']} synthetic tasks",
                  box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 1), collapse_padding=True)
    table.add_column("policy", no_wrap=True)
    for col in ("valid", ">median", "bronze", "silver", "gold", "medal (95% CI)", "reward", "ep/min"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, row in summary["policies"].items():
        rates = row["rates"]
        cells = [f"{100 * rates[k]['rate']:.0f}%" for k in ("valid_submission", "above_median", "bronze_medal",
                                                             "silver_medal", "gold_medal")]
        medal = rates["any_medal"]
        cells.append(f"{100 * medal['rate']:.0f}% ({100 * medal['ci95_low']:.0f}-{100 * medal['ci95_high']:.0f})")
        table.add_row(name.split(":")[-1], *cells, f"{row['mean_reward']:.2f}", f"{row['episodes_per_min']:.0f}")
    return table


def _modalities(folders) -> dict[str, int]:
    from sandmle.task import load_task

    counts: dict[str, int] = {}
    for folder in folders:
        modality = load_task(folder).spec.modality
        counts[modality] = counts.get(modality, 0) + 1
    return dict(sorted(counts.items()))


def handle(args) -> int:
    from sandmle.cli.eval import run_eval
    from sandmle.console import make_console, print_json
    from sandmle.rollout.runner import RolloutConfig
    from sandmle.sandbox.pool import Pool
    from sandmle.synth.pipeline import synthesize
    from sandmle.task import iter_bank, write_json_atomic

    if args.num_tasks < 1:
        raise UserError(f"--num-tasks must be >= 1, got {args.num_tasks}")
    console = make_console(stderr=args.json)
    bank = args.out / "bank"
    start = time.perf_counter()
    console.print(f"[bold]1/2[/] synthesising {args.num_tasks} tasks into {bank} ...")
    synth = synthesize(args.seeds, args.num_tasks, bank, workers=args.workers, seed=args.seed,
                       progress=not args.json)
    synth_s = time.perf_counter() - start
    console.print(synth.funnel.line())
    console.print(synth.request.line())
    folders = iter_bank(bank)
    num_tasks = len(folders)
    console.print("bank by modality: " + ", ".join(f"{m} {n}" for m, n in _modalities(folders).items()))
    if num_tasks == 0:
        raise UserError(f"synthesis accepted no task into {bank}: try more --num-tasks or other --seeds")
    config = RolloutConfig(max_turns=8, step_timeout_s=60.0, episode_timeout_s=300.0, score_tool="format")
    summary = {"bank": str(bank), "num_tasks": num_tasks, "synth_wall_s": synth_s, "policies": {}}
    console.print(f"[bold]2/2[/] running the scripted baselines on {num_tasks} tasks ...")
    with Pool(num_workers=args.workers) as pool:
        for strength in STRENGTHS:
            run = args.out / "runs" / strength
            _clear_run(run)
            report, _ = run_eval(f"scripted:{strength}", bank, run, config, pool=pool, seed=args.seed)
            summary["policies"][f"scripted:{strength}"] = {
                "run": str(run), "rates": report["rates"], "mean_reward": report["mean_reward"],
                "mean_turns": report["mean_turns"], "sandbox_share": report["sandbox_share"],
                "sandbox_utilisation": report["sandbox_utilisation"],
                "episodes_per_min": report["episodes_per_min"], "terminations": report["terminations"],
                "total_medals": report["total_medals"]}
    summary["wall_s"] = time.perf_counter() - start
    write_json_atomic(args.out / "demo_summary.json", summary)
    if args.json:
        print_json(summary)
        return 0
    console.print(medal_table(summary))
    console.print(f"done in {summary['wall_s']:.0f} s (synthesis {synth_s:.0f} s); reports under {args.out / 'runs'}")
    return 0
