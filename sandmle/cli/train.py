"""`sandmle train RECIPE [--set section.key=value ...] [--out DIR] [--steps N] [--override-config] [--json]`:
GRPO training from a TOML recipe (see recipes/). A run in --out is continued from its last
checkpoint; one trained with other values is refused (the changes listed) unless
--override-config, and one of another recipe always. Several GPUs on one node:
`accelerate launch --config_file recipes/accelerate/ddp.yaml -m sandmle train RECIPE`
(several CPU processes: `torchrun --nproc_per_node N -m sandmle train RECIPE`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from sandmle.arguments import count, description, out_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="GRPO training from a TOML recipe",
                                   description=description(__doc__))
    parser.add_argument("recipe", type=Path, help="TOML recipe (recipes/*.toml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a recipe value (TOML literal), repeatable")
    parser.add_argument("--out", type=out_folder, default=None,
                        help="run folder (default runs/<recipe name>); a checkpoint there is resumed")
    parser.add_argument("--steps", type=count, default=None, help="stop after this many steps in total")
    parser.add_argument("--override-config", action="store_true",
                        help="continue a run in --out with values that differ from the ones it was trained "
                             "with (without it such a run is refused, listing the changes)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from sandmle.errors import UserError
    from sandmle.train.config import load_recipe

    config = load_recipe(args.recipe, args.overrides)
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps {args.steps} must be >= 1")
    out = args.out or Path("runs") / args.recipe.stem
    say = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    if args.json:
        from dataclasses import replace

        config = replace(config, log=replace(config.log, live=False))
    from sandmle.train.build import run

    summary = run(config, out, say=say, steps=args.steps, recipe=args.recipe.stem,
                  override_config=args.override_config)
    if summary.get("main_process") is False:       # other data-parallel processes stay quiet
        return 0
    if args.json:
        print(json.dumps(summary))
    else:
        first, last = summary["reward_first"], summary["reward_last"]
        steps, tasks = summary["steps"], summary["tasks"]
        print(f"trained {steps} step{'s' * (steps != 1)} on {tasks} task{'s' * (tasks != 1)} in {summary['wall_s']:.1f} s: "
              f"reward {first if first is None else round(first, 4)} -> {last if last is None else round(last, 4)}; "
              f"metrics {out / 'metrics.jsonl'}, curves {out / 'curves.png'}"
              + (f", model {summary['model_dir']}" if summary.get("model_dir") else ""))
    return 0
