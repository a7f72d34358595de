"""Assemble a training run from a recipe: bank, sandbox pool, model, environment, trainer.

    run(config, run_dir)    synthesise the bank if absent, build everything, resume from the
                            run folder's latest checkpoint if any, train, write curves and
                            `summary.json`; returns the summary

The run folder holds `run.json` (the recipe, sandmle's version, each continuation: see
`sandmle.train.run_folder`), `config.json` (the resolved recipe), `metrics.jsonl`, `curves.png`,
`checkpoints/`, `summary.json` and, for language models, `model/` (the last checkpoint's
policy as a Hugging Face model folder, `[train] save_model`, `sandmle.train.export`) and
`model-init/` when the recipe asks for the tiny random model.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sandmle.errors import UserError
from sandmle.task import load_bank, write_json_atomic
from sandmle.train.config import BankConfig, RunConfig

SANDBOX_PRELOAD = ("numpy", "pandas", "scipy", "sklearn.linear_model", "sklearn.ensemble", "sklearn.tree",
                   "sklearn.neighbors", "sklearn.naive_bayes", "sklearn.dummy", "sklearn.preprocessing",
                   "sklearn.impute", "sklearn.pipeline", "sklearn.metrics")


def prepare_bank(cfg: BankConfig, say=print) -> list:
    """The bank's tasks; synthesised first (`sandmle.synth`) when the folder holds none."""
    path = Path(cfg.path)
    has_tasks = path.is_dir() and any((p / "task.json").is_file() for p in path.iterdir())
    if not has_tasks and cfg.source == "sklearn":
        from sandmle.sources.sklearn_bank import TASKS, build_sklearn_bank

        names = [t[0] for t in TASKS][:cfg.limit or len(TASKS)]
        say(f"bank {path} is empty: building {len(names)} tasks from scikit-learn's bundled datasets (seed {cfg.seed})")
        build_sklearn_bank(path, cfg.seed, names=names)
    elif not has_tasks:
        from sandmle.synth.pipeline import synthesize

        say(f"bank {path} is empty: synthesising {cfg.num_tasks} tasks from {cfg.selector!r} (seed {cfg.seed})")
        synthesize(cfg.selector, cfg.num_tasks, path, cfg.workers or os.cpu_count() or 1, cfg.seed)
        if not any((p / "task.json").is_file() for p in path.iterdir()):
            raise UserError(f"synthesis accepted no task into {path}: see {path / '_rejected.jsonl'}")
    tasks = load_bank(path)
    return tasks[:cfg.limit] if cfg.limit else tasks


def task_identity(task) -> tuple[str, str]:
    """What makes two task folders the same task: the id and the lineage (seed task,
    generator and its random seed). Banks synthesised with different --seed reuse ids
    (seed task, domain, index) for tasks with other data: those are different tasks."""
    import json
    from dataclasses import asdict

    return task.id, json.dumps(asdict(task.spec.lineage), sort_keys=True, default=str)


def build_model(cfg: RunConfig, run_dir: Path):
    """(model, tokenizer or None, model folder or None) for the recipe's [model]."""
    import torch

    m = cfg.model
    if m.kind == "actions":
        from sandmle.train.actions import ActionPolicy

        torch.manual_seed(cfg.train.seed)
        return ActionPolicy(m.hidden_size), None, None
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()          # the run prints one line per step instead
    path = Path(m.path)
    if m.path == "tiny":
        from sandmle.policies.tiny import build_tiny_model

        path = run_dir / "model-init"
        if not (path / "config.json").is_file():
            build_tiny_model(path, seed=cfg.train.seed)
    elif not path.is_dir():
        raise UserError(f"[model] path={m.path!r} is not a local model folder (or write \"tiny\")")
    model, tokenizer = load_model(m, path)
    return model, tokenizer, path


def load_model(m, path: Path):
    """(model, tokenizer) of a transformers folder, as [model] asks: dtype, gradient
    checkpointing, LoRA adapters (peft) around the loaded weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if m.dtype == "bfloat16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if m.gradient_checkpointing:
        # transformers 5 renames gradient_checkpointing_enable to activation_checkpointing_enable
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
        model.config.use_cache = False
    if m.lora_rank:
        try:
            import peft
        except ImportError:
            raise UserError("[model] lora_rank > 0 needs peft: pip install 'sandmle[lora]'") from None
        if m.gradient_checkpointing:
            model.enable_input_require_grads()      # checkpointed blocks need a grad-carrying input
        model = peft.get_peft_model(model, peft.LoraConfig(
            r=m.lora_rank, lora_alpha=m.lora_alpha, lora_dropout=m.lora_dropout,
            target_modules=list(m.lora_target_modules), task_type="CAUSAL_LM"))
    return model, tokenizer


def report_memory(cfg: RunConfig, model, accelerator, say=print) -> None:
    """Print the per-process memory estimate (`sandmle.train.memory`); on a GPU, refuse a run
    that cannot fit with a UserError naming the knob."""
    import torch
    from accelerate.utils import DistributedType

    from sandmle.train.memory import Architecture, check_memory, estimate_memory

    device = accelerator.device
    device_bytes = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
    estimate = estimate_memory(cfg, Architecture.of(model), accelerator.num_processes,
                               accelerator.distributed_type == DistributedType.FSDP, device_bytes)
    if accelerator.is_main_process:
        say(estimate.summary(device_bytes) + ("" if device_bytes else " (no GPU: not checked)"))
    if device_bytes:
        check_memory(cfg, estimate, device_bytes)


def build_env(cfg: RunConfig, model, tokenizer, model_dir: Path | None, pool, run_dir: Path, accelerator):
    r = cfg.rollout
    if cfg.model.kind == "actions":
        from sandmle.train.action_env import ActionEnv

        return ActionEnv(pool, run_dir / "work", reward_scheme=r.reward_scheme, timeout_s=r.step_timeout_s,
                         concurrency=pool.num_workers, temperature=r.temperature)
    from sandmle.policies.base import SamplingParams
    from sandmle.rollout.protocol import STOP_STRINGS
    from sandmle.rollout.runner import RolloutConfig
    from sandmle.train.agent_env import AgentEnv

    rollout_config = RolloutConfig(
        max_turns=r.max_turns, episode_timeout_s=r.episode_timeout_s, step_timeout_s=r.step_timeout_s,
        max_context_tokens=r.max_prompt_tokens + r.max_response_tokens, tool_output_lines=r.tool_output_lines,
        reward_scheme=r.reward_scheme, reward_from=r.reward_from, score_tool=r.score_tool,
        sampling=SamplingParams(temperature=r.temperature, top_p=r.top_p, max_new_tokens=r.max_new_tokens,
                                stop=STOP_STRINGS))
    if r.backend == "vllm":
        from sandmle.policies.vllm import VLLMPolicy

        policy = VLLMPolicy(str(model_dir), mode=r.vllm_mode, tokenizer=tokenizer,
                            gpu_memory_utilization=r.vllm_gpu_memory_utilization,
                            tensor_parallel_size=r.vllm_tensor_parallel_size,
                            max_model_len=r.max_prompt_tokens + r.max_response_tokens,
                            dtype="auto", seed=cfg.train.seed, server_url=r.vllm_url,
                            sync_dir=r.vllm_sync_dir or None)
    else:
        from sandmle.policies.hf import HFPolicy

        policy = HFPolicy(model, tokenizer=tokenizer, device=accelerator.device)
    episodes_dir = run_dir / "episodes" if cfg.log.save_episodes else None
    return AgentEnv(policy, tokenizer, pool, rollout_config, run_dir / "work",
                    max_prompt_tokens=r.max_prompt_tokens, max_response_tokens=r.max_response_tokens,
                    episodes_dir=episodes_dir)


def pool_workers(cfg: RunConfig) -> int:
    """Sandbox workers on this node, all processes together."""
    return cfg.rollout.workers or os.cpu_count() or 1


def run(cfg: RunConfig, run_dir: Path, *, say=print, steps: int | None = None, recipe: str | None = None,
        override_config: bool = False) -> dict[str, Any]:
    """Train a recipe into `run_dir` (resuming if it holds a checkpoint); return the summary
    (on processes other than the main one: only {"main_process": False, "steps": N}).
    `recipe` names the recipe (a folder holding another recipe's run is refused); a run
    whose stored config differs from `cfg` is refused unless `override_config`
    (`sandmle.train.run_folder`)."""
    import torch
    from accelerate import Accelerator

    from sandmle.sandbox.backend import open_pool, parse_sandbox
    from sandmle.train.attention import describe_attention
    from sandmle.train.checkpoint import latest_checkpoint
    from sandmle.train.logging import MetricsLogger
    from sandmle.train.trainer import Trainer

    from sandmle.train.run_folder import check_continuation, describe, write_run_metadata

    run_dir = Path(run_dir)
    changes = check_continuation(cfg, run_dir, recipe, override_config)
    run_dir.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(mixed_precision=cfg.train.mixed_precision, cpu=not torch.cuda.is_available())
    main = accelerator.is_main_process
    tasks = prepare_bank(cfg.bank, say) if main else None
    eval_tasks = prepare_bank(cfg.eval.bank_config(), say) if main and cfg.eval.every else None
    accelerator.wait_for_everyone()
    if tasks is None:
        tasks = prepare_bank(cfg.bank, say)
    if eval_tasks is None and cfg.eval.every:
        eval_tasks = prepare_bank(cfg.eval.bank_config(), say)
    training = {task_identity(t) for t in tasks}
    shared = {t.id for t in eval_tasks or () if task_identity(t) in training}
    if shared:
        raise UserError(f"[eval] bank {cfg.eval.bank} shares {len(shared)} tasks with the training bank "
                        f"(e.g. {sorted(shared)[0]}): a held-out bank holds other tasks")
    if cfg.model.kind == "actions":
        from sandmle.train.action_env import supports

        usable = [t for t in tasks if supports(t)]
        if len(usable) < len(tasks) and main:
            say(f"the action policy leaves out {len(tasks) - len(usable)} of {len(tasks)} tasks "
                f"(not tabular, or a metric kind it cannot submit)")
        if not usable:
            raise UserError(f"bank {cfg.bank.path} has no task the action policy can solve (tabular tasks only)")
        tasks = usable
        if eval_tasks is not None:
            eval_tasks = [t for t in eval_tasks if supports(t)]
            if not eval_tasks:
                raise UserError(f"[eval] bank {cfg.eval.bank} has no task the action policy can solve")
    if main:
        write_json_atomic(run_dir / "config.json", cfg.to_json())
    model, tokenizer, model_dir = build_model(cfg, run_dir)
    if cfg.model.kind == "hf":
        report_memory(cfg, model, accelerator, say)
    pad_id = tokenizer.pad_token_id if tokenizer is not None and tokenizer.pad_token_id is not None else 0
    started = time.perf_counter()
    # the node's sandbox workers are shared out between the training processes (on Ray,
    # each Ray node's workers: `node_share`)
    sandbox = parse_sandbox(cfg.rollout.sandbox)
    workers = max(1, pool_workers(cfg) // accelerator.num_processes)
    if sandbox.kind == "ray":
        workers = max(1, cfg.rollout.workers // accelerator.num_processes) if cfg.rollout.workers else None
    with open_pool(sandbox, num_workers=workers, preload=SANDBOX_PRELOAD,
                   node_share=accelerator.num_processes) as pool:
        env = build_env(cfg, model, tokenizer, model_dir, pool, run_dir, accelerator)
        try:
            export = None
            if cfg.model.kind == "hf" and cfg.train.save_model != "off":
                from sandmle.train.export import ModelExport

                export = ModelExport(model_dir, tokenizer, cfg.train.save_model, cfg.model.dtype)
            trainer = Trainer(cfg, run_dir, tasks, env, model, accelerator=accelerator, pad_id=pad_id,
                              model_export=export, eval_tasks=eval_tasks)
            if main and cfg.model.kind == "hf":
                say(describe_attention(model, trainer.attention))
            checkpoint = latest_checkpoint(run_dir)
            if checkpoint is not None:
                trainer.resume(checkpoint)          # also syncs the restored weights to the engine
                if main:
                    say(f"resumed from {checkpoint} (step {trainer.step})"
                        + (f" with changed values: {describe(changes)}" if changes else ""))
            if main:
                write_run_metadata(run_dir, recipe, changes, trainer.step)
            logger = MetricsLogger(run_dir, live=cfg.log.live, plot_every=cfg.log.plot_every,
                                   tensorboard=cfg.log.tensorboard, wandb_project=cfg.log.wandb_project,
                                   config=cfg.to_json(), resume_step=trainer.step, title=run_dir.name,
                                   enabled=main, total_steps=steps if steps is not None else cfg.train.steps)
            trainer.logger = logger
            try:
                trainer.train(steps)
            finally:
                logger.close()
        finally:
            if hasattr(env, "close"):
                env.close()
    rows = logger.rows
    if not main:
        return {"main_process": False, "steps": trainer.step}
    model_out = None
    if trainer.model_export is not None:
        from sandmle.train.export import publish_model

        model_out = publish_model(latest_checkpoint(run_dir), run_dir)
    heldout = [r for r in rows if "eval_reward_mean" in r]
    rows = [r for r in rows if "reward_mean" in r]          # training steps (step 0 is held-out only)
    summary = {
        "run_dir": str(run_dir), "steps": trainer.step, "tasks": len(tasks), "wall_s": time.perf_counter() - started,
        "reward_first": rows[0]["reward_mean"] if rows else None,
        "reward_last": rows[-1]["reward_mean"] if rows else None,
        "reward_per_step": [round(r["reward_mean"], 4) for r in rows],
        "valid_rate_last": rows[-1]["valid_rate"] if rows else None,
        "medal_rate_last": rows[-1]["medal_rate"] if rows else None,
        "heldout_tasks": len(eval_tasks or ()),
        "heldout_reward_per_step": [[r["step"], round(r["eval_reward_mean"], 4)] for r in heldout],
        "model_dir": None if model_out is None else str(model_out),
    }
    write_json_atomic(run_dir / "summary.json", summary)
    return summary
