"""Supervised fine-tuning on episodes, with GRPO's sequences and loss masks.

    run_sft(config, run_dir)   read and filter the episode files, build a scratch model if
                               asked, tokenise (`sandmle.train.sft_data`), train, write the
                               model folder; resumes from the run folder's latest checkpoint

The loss is the mean negative log-likelihood of the policy's own tokens (loss mask 1: the
completion ids of each turn), over all such tokens of an optimizer step's sequences; prompts,
tool responses and template tokens never count. Log-probs come from the GRPO kernel
(`sandmle.train.logprobs.sequence_logprobs`: logits only at trained columns). Each step
takes `batch_size` sequences of a seeded per-epoch shuffle; a process's share is sorted by
length and cut into micro-batches of at most `micro_batch_tokens` padded tokens (length
bucketing: little padding, and the step's gradient is the whole batch's, as without it).
accelerate spreads the sequences over processes (DDP or FSDP on GPUs; one or several CPU
processes) and handles mixed precision; LoRA comes from [model].

Why not TRL's SFTTrainer: TRL is not a dependency, and its data path re-tokenises
conversations with the chat template (its `assistant_only_loss` needs a template with
`{% generation %}` markers), so it would train on other ids and masks than the rollouts
record; here the sequences are the ones GRPO builds from the same turns.

The run folder holds config.json, data.json (what was kept and left out, and why),
metrics.jsonl and curves.png (loss, learning rate, tokens per second), checkpoints/,
model-init/ (a scratch model before training), model/ (the trained model, LoRA merged, by
`sandmle.train.export`: load it with `train`'s [model] path or `eval --policy hf:RUN/model`)
and summary.json.
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from sandmle.errors import UserError
from sandmle.task import write_json_atomic
from sandmle.train.checkpoint import log_and_save
from sandmle.train.sft_config import SFTRun

MODEL_DIR = "model"
INIT_DIR = "model-init"
SFT_COLUMNS = (("step", "step", "{:d}"), ("epoch", "epoch", "{:.2f}"), ("loss", "loss", "{:.4f}"),
               ("lr", "lr", "{:.2e}"), ("grad norm", "grad_norm", "{:.3f}"), ("tok/s", "tokens_per_s", "{:.0f}"),
               ("step s", "step_s", "{:.1f}"))
SFT_PANELS = (("loss", "loss (policy tokens, nats)"), ("lr", "learning rate"), ("grad_norm", "gradient norm"),
              ("tokens_per_s", "tokens per second"))


def micro_batches(lengths: list[int], rows: list[int], budget_tokens: int) -> list[list[int]]:
    """`rows` sorted by length (longest first) and cut into groups whose padded size
    (rows x longest) stays within `budget_tokens` (a longer row goes alone)."""
    order = sorted(rows, key=lambda r: -lengths[r])
    out: list[list[int]] = []
    for row in order:
        if out and (len(out[-1]) + 1) * lengths[out[-1][0]] <= budget_tokens:
            out[-1].append(row)
        else:
            out.append([row])
    return out


class SFTTrainer:
    """Owns the model, optimizer and data order; `train_step` runs one optimizer step."""

    def __init__(self, config: SFTRun, run_dir: Path, sequences: list, model, *, accelerator, pad_id: int,
                 fingerprint: str):
        import torch

        from sandmle.train.attention import select_attention
        from sandmle.train.logprobs import accepts_logits_to_keep
        from sandmle.train.trainer import lr_lambda

        s = config.sft
        self.config, self.run_dir, self.sequences = config, Path(run_dir), sequences
        self.accelerator, self.pad_id, self.fingerprint = accelerator, pad_id, fingerprint
        self.lengths = [len(seq.input_ids) for seq in sequences]
        self.steps_per_epoch = math.ceil(len(sequences) / s.batch_size)
        self.total_steps = s.max_steps or math.ceil(s.epochs * self.steps_per_epoch)
        self.keep_logits = accepts_logits_to_keep(model)
        self.attention = select_attention(model, config.model.attention, accelerator.device, s.mixed_precision)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=s.lr, betas=(s.adam_beta1, s.adam_beta2), eps=s.adam_eps,
                                      weight_decay=s.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_lambda(s.lr_schedule, s.warmup_steps, self.total_steps))
        self.model, self.optimizer, self.scheduler = accelerator.prepare(model, optimizer, scheduler)
        from accelerate.utils import DistributedType

        self._accumulate_unreduced = (accelerator.num_processes > 1
                                      and accelerator.distributed_type != DistributedType.FSDP)
        self.step = 0
        self.logger = None

    def batch_rows(self, step: int) -> list[int]:
        """The sequences of optimizer step `step` (all processes): a slice of its epoch's
        seeded shuffle. A function of the step alone, so a resumed run draws the same."""
        epoch, index = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.config.sft.seed, epoch]).permutation(len(self.sequences))
        size = self.config.sft.batch_size
        return [int(r) for r in order[index * size:(index + 1) * size]]

    def save(self) -> Path:
        from sandmle.train.checkpoint import save_checkpoint

        state = {"data": self.fingerprint, "total_steps": self.total_steps, "config": self.config.to_json()}
        return save_checkpoint(self.accelerator, self.run_dir, self.step, state, self.config.sft.keep_last)

    def resume(self, path: Path) -> None:
        from sandmle.train.checkpoint import load_checkpoint

        state = load_checkpoint(self.accelerator, path)
        if state.get("data") != self.fingerprint:
            raise UserError(f"{path} was trained on other data (fingerprint {state.get('data')}, now "
                            f"{self.fingerprint}): the episode files, filters or tokenizer changed; "
                            f"start a new run folder")
        self.step = int(state["step"])

    def train_step(self) -> dict[str, Any]:
        import torch

        from sandmle.train.batch import Sample, collate
        from sandmle.train.logprobs import sequence_logprobs

        acc, s = self.accelerator, self.config.sft
        start = time.perf_counter()
        rows = self.batch_rows(self.step)
        local = rows[acc.process_index::acc.num_processes]
        weight = 1.0
        if not local:                    # every process joins the gradient all-reduce
            local, weight = rows[:1], 0.0
        totals = torch.tensor([float(sum(sum(self.sequences[r].loss_mask) for r in local)) * weight,
                               float(sum(self.lengths[r] for r in local)) * weight], device=acc.device)
        if acc.num_processes > 1:
            totals = acc.reduce(totals, reduction="sum")
        loss_tokens = max(float(totals[0]), 1.0)
        scale = acc.num_processes * weight / loss_tokens     # DDP/FSDP average; the loss is a global mean
        groups = micro_batches(self.lengths, local, s.micro_batch_tokens)
        nll_sum = 0.0
        self.model.train()
        for i, group in enumerate(groups):
            seqs = [self.sequences[r] for r in group]
            batch = collate([Sample(seq.input_ids, seq.loss_mask, 0.0, 0, "") for seq in seqs], self.pad_id)
            batch = batch.to(acc.device)
            sync = (acc.no_sync(self.model) if i < len(groups) - 1 and self._accumulate_unreduced
                    else nullcontext())
            with sync:
                with acc.autocast():
                    logp, _ = sequence_logprobs(self.model, batch.input_ids, batch.attention_mask, batch.mask,
                                                1.0, keep_logits=self.keep_logits)
                nll = -(logp * batch.mask).sum()
                acc.backward(nll * scale)
            nll_sum += float(nll.detach()) * weight
        grad_norm = acc.clip_grad_norm_(self.model.parameters(), s.grad_clip or float("inf"))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        nll_total = torch.tensor([nll_sum], device=acc.device)
        if acc.num_processes > 1:
            nll_total = acc.reduce(nll_total, reduction="sum")
        self.step += 1
        step_s = time.perf_counter() - start
        return {"step": self.step, "epoch": self.step / self.steps_per_epoch,
                "loss": float(nll_total[0]) / loss_tokens, "loss_tokens": int(totals[0]),
                "tokens": int(totals[1]), "lr": float(self.scheduler.get_last_lr()[0]),
                "grad_norm": float(grad_norm), "step_s": step_s, "tokens_per_s": float(totals[1]) / step_s,
                "micro_batches": len(groups)}

    def train(self, steps: int | None = None) -> list[dict[str, Any]]:
        """Run to `steps` (default: the recipe's total) optimizer steps; checkpoint and log."""
        target = min(steps, self.total_steps) if steps is not None else self.total_steps
        every = self.config.sft.save_every
        rows = []
        while self.step < target:
            row = self.train_step()
            rows.append(row)
            log_and_save(self, row, target, every)
        return rows


def build_scratch(config: SFTRun, records: list, folder: Path, say=print) -> Path:
    """A new model and a tokenizer learnt from `records`, saved to `folder` (atomically)."""
    import shutil
    import tempfile

    from sandmle.policies.tiny import build_tiny_model, build_tokenizer
    from sandmle.train.sft_data import tokenizer_corpus

    sc = config.scratch
    tokenizer = build_tokenizer(sc.vocab_size, sc.template, corpus=tokenizer_corpus(records),
                                merge_words=sc.merge_words, max_token_chars=sc.max_token_chars,
                                min_frequency=sc.min_frequency)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        # Qwen3, not Qwen2: transformers 5 loads a qwen2 folder's tokenizer as Qwen2Tokenizer,
        # which puts its own word-splitting pre-tokenizer in front of the learnt one
        build_tiny_model(tmp, seed=config.sft.seed, architecture="qwen3", hidden_size=sc.hidden_size,
                         num_layers=sc.num_layers,
                         tokenizer=tokenizer, num_heads=sc.num_heads, num_kv_heads=sc.num_kv_heads,
                         intermediate_size=sc.intermediate_size or 3 * sc.hidden_size,
                         max_positions=sc.max_positions)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"built a scratch model in {folder}: vocabulary {len(tokenizer)} learnt from {len(records)} episodes, "
        f"hidden {sc.hidden_size} x {sc.num_layers} layers")
    return folder


def run_sft(config: SFTRun, run_dir: Path, *, say=print, steps: int | None = None) -> dict[str, Any]:
    """Train `config` into `run_dir` (resuming from its latest checkpoint); return the summary
    (on processes other than the main one: {"main_process": False, "steps": N})."""
    import torch
    from accelerate import Accelerator
    from transformers.utils import logging as hf_logging

    from sandmle.train.attention import describe_attention
    from sandmle.train.build import load_model
    from sandmle.train.checkpoint import latest_checkpoint
    from sandmle.train.export import ModelExport
    from sandmle.train.logging import MetricsLogger
    from sandmle.train.sft_data import DataStats, fingerprint, read_records, select_records, tokenize_records

    hf_logging.disable_progress_bar()
    run_dir = Path(run_dir)
    accelerator = Accelerator(mixed_precision=config.sft.mixed_precision, cpu=not torch.cuda.is_available())
    main = accelerator.is_main_process
    stats = DataStats()
    d = config.data
    records = select_records(read_records(d.files), min_reward=None if d.min_reward == -math.inf else d.min_reward,
                             splits=d.splits, include_timeouts=d.include_timeouts, stats=stats)
    if not records:
        raise UserError(f"no episode of {', '.join(d.files)} passes the filters ({dict(stats.left_out)})")
    path = Path(config.model.path)
    if config.model.path == "scratch":
        path = run_dir / INIT_DIR
        if main and not (path / "config.json").is_file():
            build_scratch(config, records, path, say)
        accelerator.wait_for_everyone()
    elif not (path / "config.json").is_file():
        raise UserError(f"[model] path={config.model.path!r} is not a local model folder (or write \"scratch\")")
    run_dir.mkdir(parents=True, exist_ok=True)        # after the inputs check out: bad input leaves nothing
    torch.manual_seed(config.sft.seed)
    model, tokenizer = load_model(config.model, path)
    sequences = tokenize_records(tokenizer, records, d.max_seq_tokens, stats)
    if not sequences:
        raise UserError(f"no sequence to train on: {dict(stats.left_out)}")
    if main:
        write_json_atomic(run_dir / "config.json", config.to_json())
        write_json_atomic(run_dir / "data.json", stats.to_json())
        say(f"{len(sequences)} sequences from {stats.kept} of {stats.lines} episodes "
            f"({stats.loss_tokens} policy tokens of {stats.tokens}; {stats.recorded_ids} on recorded ids, "
            f"{stats.replayed} replayed from text; left out: {dict(stats.left_out) or 'none'})")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    trainer = SFTTrainer(config, run_dir, sequences, model, accelerator=accelerator, pad_id=pad_id,
                         fingerprint=fingerprint(sequences))
    if main:
        say(describe_attention(model, trainer.attention))
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is not None:
        trainer.resume(checkpoint)
        if main:
            say(f"resumed from {checkpoint} (step {trainer.step} of {trainer.total_steps})")
    logger = MetricsLogger(run_dir, live=config.log.live, plot_every=config.log.plot_every,
                           config=config.to_json(), resume_step=trainer.step, title=f"sft {run_dir.name}",
                           enabled=main, columns=SFT_COLUMNS, panels=SFT_PANELS, step_key="loss",
                           total_steps=trainer.total_steps)
    trainer.logger = logger
    started = time.perf_counter()
    try:
        trainer.train(steps)
    finally:
        logger.close()
    finished = trainer.step >= trainer.total_steps
    model_dir = run_dir / MODEL_DIR
    if finished:       # a collective under FSDP: every process writes its share
        ModelExport(path, tokenizer, "merged", config.model.dtype).write(trainer.model, model_dir)
    if not main:
        return {"main_process": False, "steps": trainer.step}
    rows = logger.rows
    summary = {
        "run_dir": str(run_dir), "steps": trainer.step, "total_steps": trainer.total_steps,
        "epochs": trainer.step / trainer.steps_per_epoch, "sequences": len(sequences),
        "parameters": sum(p.numel() for p in model.parameters()), "vocab_size": len(tokenizer),
        "wall_s": time.perf_counter() - started,
        "loss_first": rows[0]["loss"] if rows else None, "loss_last": rows[-1]["loss"] if rows else None,
        "model": str(model_dir) if finished else None, "data": stats.to_json(),
    }
    write_json_atomic(run_dir / "summary.json", summary)
    return summary
