"""`sandmle sft [RECIPE] [--data FILE ...] [--model PATH|scratch] [--out DIR] [--min-reward R]
[--split NAME ...] [--set section.key=value ...] [--steps N] [--json]`: supervised fine-tuning
on episode files (`sandmle eval`'s episodes.jsonl or chat-format JSONL), with the loss on the
policy's own tokens (the masks GRPO uses). Writes DIR/model, a transformers folder that
`sandmle train` ([model] path) and `sandmle eval --policy hf:DIR/model` load; a checkpoint in
DIR is resumed. Several GPUs: `accelerate launch -m sandmle sft ...`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from sandmle.arguments import count, description, out_folder


def register(subparsers) -> None:
    p = subparsers.add_parser("sft", help="supervised fine-tuning on episode files",
                              description=description(__doc__))
    p.add_argument("recipe", type=Path, nargs="?", default=None, help="TOML recipe (recipes/*.toml); optional")
    p.add_argument("--data", type=Path, action="append", default=[], metavar="FILE",
                   help="episode file (repeatable); replaces the recipe's [data] files")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="model folder to fine-tune, or 'scratch' (replaces [model] path)")
    p.add_argument("--out", type=out_folder, default=None,
                   help="run folder (default runs/sft-<recipe name>); a checkpoint there is resumed")
    p.add_argument("--min-reward", type=float, default=None, help="keep episodes with reward >= this")
    p.add_argument("--split", action="append", default=[], metavar="NAME",
                   help="keep episodes of this task split only (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a recipe value (TOML literal), repeatable")
    p.add_argument("--steps", type=count, default=None, help="stop after this many optimizer steps in total")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from dataclasses import replace

    from sandmle.train.sft_config import load_sft_recipe

    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data.files={json.dumps([str(p) for p in args.data])}")
    if args.model is not None:
        overrides.append(f"model.path={json.dumps(args.model)}")
    if args.min_reward is not None:
        overrides.append(f"data.min_reward={args.min_reward!r}")
    if args.split:
        overrides.append(f"data.splits={json.dumps(args.split)}")
    config = load_sft_recipe(args.recipe, overrides)
    out = args.out or Path("runs") / f"sft-{args.recipe.stem if args.recipe else 'run'}"
    say = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    if args.json:
        config = replace(config, log=replace(config.log, live=False))
    from sandmle.train.sft import run_sft

    summary = run_sft(config, out, say=say, steps=args.steps)
    if summary.get("main_process") is False:
        return 0
    if args.json:
        print(json.dumps(summary))
        return 0
    first, last = summary["loss_first"], summary["loss_last"]
    loss = "" if first is None else f": loss {first:.4f} -> {last:.4f}"
    where = f"model {summary['model']}" if summary["model"] else f"stopped before the end ({summary['total_steps']} steps)"
    steps, sequences = summary["steps"], summary["sequences"]
    print(f"trained {steps} step{'s' * (steps != 1)} ({summary['epochs']:.2f} epochs) on {sequences} "
          f"sequence{'s' * (sequences != 1)} "
          f"in {summary['wall_s']:.1f} s{loss}; {where}; metrics {out / 'metrics.jsonl'}")
    return 0
