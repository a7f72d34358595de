"""`sandmle export-model`: write a training run's checkpoint as a Hugging Face model folder.

    sandmle export-model RUN [--step N] --out DIR [--kind merged|adapter] [--json]

Runs write one into every checkpoint and RUN/model already; this command serves older runs,
another checkpoint (`--step`, default the latest) or the other kind (`--kind`, default the
run's `[train] save_model`), through `sandmle.train.export`. DIR must be new or empty. Load the result with `sandmle eval
--policy hf:DIR`, `AutoModelForCausalLM.from_pretrained(DIR)` or `vllm serve DIR`.
"""
from __future__ import annotations

from pathlib import Path

from sandmle.arguments import count, description, out_folder
from sandmle.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("export-model", help="write a training run's checkpoint as a Hugging Face model folder",
                              description=description(__doc__))
    p.add_argument("run", type=Path, metavar="RUN", help="a `sandmle train` run folder")
    p.add_argument("--out", required=True, type=out_folder, metavar="DIR", help="model folder to write (new or empty)")
    p.add_argument("--step", type=count, default=None, metavar="N", help="checkpoint step (default: the latest)")
    p.add_argument("--kind", choices=("merged", "adapter"), default=None,
                   help="merged: full weights, LoRA merged in; adapter: the LoRA adapter on its base "
                        "(default: the run's [train] save_model)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from sandmle.console import escape, make_console, print_json
    from sandmle.train.export import export_checkpoint

    if args.out.is_dir() and any(args.out.iterdir()):
        raise UserError(f"{args.out} is not empty: name a new folder for the model")
    out, step, kind, how = export_checkpoint(args.run, args.out, step=args.step, kind=args.kind)
    if args.json:
        print_json({"out": str(out), "run": str(args.run), "step": step, "kind": kind, "how": how})
        return 0
    make_console().print(escape(f"wrote {out}: step {step} of {args.run}, {kind} ({how}); load it with "
                                f"sandmle eval --policy hf:{out}, from_pretrained or vllm serve"))
    return 0
