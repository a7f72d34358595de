"""A few real GRPO steps on a GPU with vLLM colocate; prints tokens per second and step time.

    python -m sandmle.train.gpu_check [--model DIR] [--bank DIR] [--steps 3] [--out DIR] [--json]

`--model` names a local model folder (nothing is downloaded). Without it, a small random
model of a real architecture (Qwen2: 4 layers, hidden size 256, head dim 64, 4096
positions, the tiny protocol tokenizer) is built into OUT/model, which is enough to exercise vLLM's engine,
sleep mode, weight sync and the training step. Without `--bank` a 4-task tabular bank is
synthesised into OUT/bank. Needs CUDA and the `vllm` extra; anywhere else it stops with a
one-line error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sandmle.errors import UserError
from sandmle.train.config import (BankConfig, GRPOConfig, LogConfig, ModelConfig, RolloutSection, RunConfig,
                                  TrainConfig)


def check_config(model_dir: Path, bank_dir: Path, steps: int, group_size: int = 4, tasks_per_step: int = 4,
                 gpu_memory_utilization: float = 0.3) -> RunConfig:
    """The recipe the check runs: the paper's algorithm at a small batch, short budgets."""
    return RunConfig(
        model=ModelConfig(kind="hf", path=str(model_dir), dtype="float32", gradient_checkpointing=True),
        rollout=RolloutSection(backend="vllm", vllm_mode="colocate", vllm_gpu_memory_utilization=gpu_memory_utilization,
                               max_turns=3, max_new_tokens=256, max_prompt_tokens=3072, max_response_tokens=1024,
                               step_timeout_s=60.0, episode_timeout_s=300.0, workers=8),
        grpo=GRPOConfig(group_size=group_size, tasks_per_step=tasks_per_step, micro_batch_size=2),
        train=TrainConfig(steps=steps, lr=1e-6, mixed_precision="bf16", save_every=0, keep_last=1),
        bank=BankConfig(path=str(bank_dir), selector="modality:tabular", num_tasks=tasks_per_step, seed=0),
        log=LogConfig(live=False, plot_every=1))


def _require_gpu() -> None:
    import torch

    if not torch.cuda.is_available():
        raise UserError("gpu_check needs a CUDA GPU (none is visible)")
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise UserError("gpu_check needs vLLM: pip install 'sandmle[vllm]'") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandmle.train.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="local model folder (default: build a random Qwen2)")
    parser.add_argument("--bank", type=Path, default=None, help="task bank (default: synthesise 4 tabular tasks)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"))
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        _require_gpu()
        model_dir = args.model
        if model_dir is None:
            from sandmle.policies.tiny import build_tiny_model

            model_dir = args.out / "model"
            if not (model_dir / "config.json").is_file():
                build_tiny_model(model_dir, seed=0, hidden_size=256, num_layers=4)
        elif not model_dir.is_dir():
            raise UserError(f"--model {model_dir} is not a local folder")
        config = check_config(model_dir, args.bank or args.out / "bank", args.steps,
                              gpu_memory_utilization=args.gpu_memory_utilization)
        from sandmle.train.build import run
        from sandmle.train.logging import read_metrics

        summary = run(config, args.out / "run", say=lambda m: print(m, file=sys.stderr))
    except UserError as exc:
        print(f"gpu_check: error: {exc}", file=sys.stderr)
        return 2
    rows = read_metrics(args.out / "run" / "metrics.jsonl")
    report = {
        "model": str(model_dir), "steps": summary["steps"],
        "tokens_per_s": [round(r["tokens_per_s"], 1) for r in rows],
        "step_s": [round(r["step_s"], 2) for r in rows],
        "rollout_s": [round(r["rollout_s"], 2) for r in rows],
        "update_s": [round(r["update_s"], 2) for r in rows],
        "sync_s": [round(r["sync_s"], 2) for r in rows],
        "reward_mean": [round(r["reward_mean"], 4) for r in rows],
    }
    if args.json:
        print(json.dumps(report))
    else:
        for i, r in enumerate(rows):
            print(f"step {r['step']}: {r['tokens_per_s']:.0f} tok/s, step {r['step_s']:.1f} s "
                  f"(rollout {r['rollout_s']:.1f} s, update {r['update_s']:.1f} s, sync {r['sync_s']:.2f} s), "
                  f"reward {r['reward_mean']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
