"""The GRPO step loop, on one process or several (accelerate: DDP or FSDP on one node).

    rollouts   the environment turns the step's tasks x group_size into Samples
    advantages group-normalised per task (sandmle.train.grpo.group_advantages)
    update     ppo_epochs x mini_batches optimizer steps over the batch, each accumulated
               over micro-batches with the mini-batch's global loss denominators
    sync       the rollout backend receives the new weights (vLLM; a no-op for hf)
    log        one metrics row per step; a checkpoint every save_every steps

With several processes every process takes an equal share of the step's tasks (whole
groups), rolls them out with its own generator, and the loss is scaled so that the averaged
gradient equals the gradient of the whole batch's loss. On one CPU process the same code
runs unchanged. `sandmle.train.build.run` assembles a Trainer from a recipe.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sandmle.errors import UserError
from sandmle.train.attention import select_attention
from sandmle.train.batch import Batch, Rollouts, collate
from sandmle.train.checkpoint import load_checkpoint, log_and_save, save_checkpoint
from sandmle.train.config import RunConfig
from sandmle.train.grpo import LossNorm, accumulate, group_advantages, policy_loss
from sandmle.train.logprobs import accepts_logits_to_keep, sequence_logprobs

MEDAL_TIERS = ("gold", "silver", "bronze")


class TaskSampler:
    """Epoch-shuffled task order; its state (order, position, RNG) is part of a checkpoint."""

    def __init__(self, num_tasks: int, seed: int):
        self.num_tasks = num_tasks
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(num_tasks).tolist()
        self.pos = 0
        self.epoch = 0

    def next(self, count: int) -> list[int]:
        out = []
        while len(out) < count:
            if self.pos == len(self.order):
                self.order = self.rng.permutation(self.num_tasks).tolist()
                self.pos = 0
                self.epoch += 1
            out.append(self.order[self.pos])
            self.pos += 1
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order, "pos": self.pos, "epoch": self.epoch, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order, self.pos, self.epoch = list(state["order"]), int(state["pos"]), int(state["epoch"])
        self.rng.bit_generator.state = state["rng"]


def lr_lambda(schedule: str, warmup: int, total: int):
    def factor(i: int) -> float:
        if warmup and i < warmup:
            return (i + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (i - warmup) / max(1, total - warmup))
        if schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


class Trainer:
    """Owns the model, optimizer and schedule; `train_step` runs one GRPO step."""

    def __init__(self, config: RunConfig, run_dir: Path, tasks: list, env, model, *, accelerator=None,
                 pad_id: int = 0, logger=None, model_export=None, eval_tasks: list | None = None):
        from accelerate import Accelerator

        self.config = config
        self.run_dir = Path(run_dir)
        self.tasks = tasks
        self.env = env
        self.pad_id = pad_id
        self.logger = logger
        acc = accelerator or Accelerator(mixed_precision=config.train.mixed_precision, cpu=not torch.cuda.is_available())
        self.accelerator = acc
        if config.grpo.tasks_per_step % acc.num_processes:
            raise UserError(f"[grpo] tasks_per_step={config.grpo.tasks_per_step} must be divisible by the "
                            f"number of processes ({acc.num_processes})")
        local = config.grpo.batch_size // acc.num_processes
        if local % config.grpo.mini_batches:
            raise UserError(f"[grpo] each of the {acc.num_processes} processes trains on {local} rollouts a step, "
                            f"which mini_batches={config.grpo.mini_batches} must divide")
        g, t = config.grpo, config.train
        self.attention = select_attention(model, config.model.attention, acc.device, t.mixed_precision)
        self.ref_model = None
        if g.kl_coef > 0 and not _is_peft(model):
            self.ref_model = copy.deepcopy(model).eval().requires_grad_(False).to(acc.device)
        self.keep_logits = accepts_logits_to_keep(model)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=t.lr, betas=(t.adam_beta1, t.adam_beta2), eps=t.adam_eps,
                                      weight_decay=t.weight_decay)
        total = t.steps * g.ppo_epochs * g.mini_batches
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(t.lr_schedule, t.warmup_steps, total))
        self.model, self.optimizer, self.scheduler = acc.prepare(model, optimizer, scheduler)
        self.model_export = model_export        # sandmle.train.export.ModelExport: a model folder per checkpoint
        self.eval_tasks = list(eval_tasks or [])  # the held-out bank ([eval]), never trained on
        if model_export is not None:
            model_export.check(self.model)
        self.sampler = TaskSampler(len(tasks), t.seed)
        from accelerate.utils import DistributedType

        # DDP skips the all-reduce between micro-batches; FSDP does not: its no_sync would
        # accumulate unsharded gradients (a full fp32 copy of the model per process)
        self._accumulate_unreduced = acc.num_processes > 1 and acc.distributed_type != DistributedType.FSDP
        self.step = 0

    # ----------------------------------------------------------------- state
    def trainer_state(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict(), "config": self.config.to_json()}

    def save(self) -> Path:
        from sandmle.train.export import MODEL_DIR

        export = self.model_export
        extra = None if export is None else (lambda folder: export.write(self.model, folder / MODEL_DIR))
        return save_checkpoint(self.accelerator, self.run_dir, self.step, self.trainer_state(),
                               self.config.train.keep_last, extra=extra)

    def resume(self, path: Path) -> None:
        """Restore a checkpoint, then hand the restored weights to the rollout engine (built from
        the base model) so the next rollout samples from the trained policy."""
        state = load_checkpoint(self.accelerator, path)
        self.step = int(state["step"])
        self.sampler.load_state_dict(state["sampler"])
        self._apply_optimizer_config()
        self.sync_rollout_weights()

    def _apply_optimizer_config(self) -> None:
        """The recipe's learning rate and AdamW settings over the restored ones: a checkpoint
        brings back its own, and a run continued with new values (`--override-config`) must
        train with them. Unchanged values are left exactly as restored."""
        t = self.config.train
        wanted = {"weight_decay": t.weight_decay, "betas": (t.adam_beta1, t.adam_beta2), "eps": t.adam_eps}
        for group in self.optimizer.param_groups:
            for key, value in wanted.items():
                current = tuple(group[key]) if key == "betas" else group[key]
                if current != value:
                    group[key] = value
        scheduler = self.scheduler.scheduler if hasattr(self.scheduler, "scheduler") else self.scheduler
        if any(base != t.lr for base in scheduler.base_lrs):
            scheduler.base_lrs = [t.lr] * len(scheduler.base_lrs)
            for group, factor in zip(self.optimizer.param_groups, (f(scheduler.last_epoch) for f in scheduler.lr_lambdas)):
                group["initial_lr"] = t.lr
                group["lr"] = t.lr * factor
            scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def sync_rollout_weights(self) -> None:
        """Push the current weights to the environment's generator (every process: under
        FSDP the gathers are collective). FSDP models go as prepared: their root unit owns
        the embeddings, final norm and lm_head."""
        if not hasattr(self.env, "sync"):
            return
        from accelerate.utils import DistributedType

        fsdp = self.accelerator.distributed_type == DistributedType.FSDP
        self.env.sync(self.model if fsdp else self.accelerator.unwrap_model(self.model))

    # ----------------------------------------------------------------- maths
    def _logp(self, model, mb: Batch, entropy_grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Token log-probs and entropies at the micro-batch's response columns, one pass."""
        logp, entropy = sequence_logprobs(model, mb.input_ids, mb.attention_mask, mb.mask,
                                          self.config.rollout.temperature, keep_logits=self.keep_logits)
        return logp, (entropy if entropy_grad else entropy.detach())

    @torch.no_grad()
    def _score(self, model, batch: Batch, index: torch.Tensor) -> torch.Tensor:
        """Token log-probs of the selected rows under `model`, padded to the batch width."""
        out = torch.zeros(len(index), batch.mask.shape[1], device=self.accelerator.device)
        mbs = self.config.grpo.micro_batch_size
        for start in range(0, len(index), mbs):
            rows = index[start:start + mbs]
            mb = batch.select(rows).trimmed()
            with self.accelerator.autocast():      # the same precision as the training forward
                logp, _ = sequence_logprobs(model, mb.input_ids, mb.attention_mask, mb.mask,
                                            self.config.rollout.temperature, keep_logits=self.keep_logits)
            out[start:start + len(rows), :logp.shape[1]] = logp
        return out

    def _reference_logp(self, batch: Batch, index: torch.Tensor) -> torch.Tensor:
        if self.ref_model is not None:
            return self._score(self.ref_model, batch, index)
        with self.accelerator.unwrap_model(self.model).disable_adapter():
            return self._score(self.model, batch, index)

    # ----------------------------------------------------------------- step
    def train_step(self) -> dict[str, Any]:
        acc, g = self.accelerator, self.config.grpo
        start = time.perf_counter()
        picked = self.sampler.next(g.tasks_per_step)
        local = [self.tasks[i] for i in picked[acc.process_index::acc.num_processes]]
        seed = self.config.train.seed * 1_000_003 + self.step * 1_009 + acc.process_index
        unwrapped = acc.unwrap_model(self.model)
        rollouts: Rollouts = self.env.collect(unwrapped, local, g.group_size, seed)
        rollout_s = time.perf_counter() - start
        samples = list(rollouts.samples)
        batch = collate(samples, self.pad_id).to(acc.device)
        # unusable rollouts (infrastructure failures, non-finite rewards) never enter a group
        keep = batch.keep if g.mask_timed_out else batch.usable
        adv, zero_var = group_advantages(batch.rewards.cpu(), batch.groups.cpu(), normalize_std=g.normalize_std,
                                         eps=g.std_eps, keep=keep.cpu(), episodes=batch.episodes.cpu())
        adv = adv.to(acc.device)
        in_loss = keep & ~(zero_var.to(acc.device) if g.skip_zero_variance else torch.zeros_like(keep))
        if not g.mask_tool_outputs:
            batch.mask = _response_region(samples, batch.mask.shape[1]).to(acc.device)
        batch.mask = batch.mask * in_loss.unsqueeze(-1).to(batch.mask.dtype)

        update_start = time.perf_counter()
        stats = self._update(batch, adv, seed)
        update_s = time.perf_counter() - update_start
        sync_start = time.perf_counter()
        self.sync_rollout_weights()
        sync_s = time.perf_counter() - sync_start
        self.step += 1
        return self._metrics(samples, batch, zero_var, in_loss, rollouts, stats,
                             rollout_s, update_s, sync_s, time.perf_counter() - start)

    def _update(self, batch: Batch, adv: torch.Tensor, seed: int) -> dict[str, float]:
        acc, g = self.accelerator, self.config.grpo
        n = batch.input_ids.shape[0]
        reuse = g.ppo_epochs * g.mini_batches > 1
        all_rows = torch.arange(n, device=acc.device)
        self.model.eval()
        old_logp = self._score(self.model, batch, all_rows) if reuse else None
        ref_logp = self._reference_logp(batch, all_rows) if g.kl_coef > 0 else None
        self.model.train()
        shuffle = torch.Generator().manual_seed(seed)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        mb_size = n // g.mini_batches
        for _ in range(g.ppo_epochs):
            order = torch.randperm(n, generator=shuffle).to(acc.device) if g.mini_batches > 1 else all_rows
            for m in range(g.mini_batches):
                rows = order[m * mb_size:(m + 1) * mb_size]
                stats = self._mini_batch(batch, adv, rows, old_logp, ref_logp)
                for k, v in stats.items():
                    sums[k] = max(sums.get(k, v), v) if k.endswith("_max") else sums.get(k, 0.0) + v
                    counts[k] = 1 if k.endswith("_max") else counts.get(k, 0) + 1
        return {k: sums[k] / counts[k] for k in sums}

    def _mini_batch(self, batch: Batch, adv: torch.Tensor, rows: torch.Tensor,
                    old_logp: torch.Tensor | None, ref_logp: torch.Tensor | None) -> dict[str, float]:
        acc, g = self.accelerator, self.config.grpo
        mask = batch.mask[rows]
        known = mask * batch.behaviour_mask[rows] if batch.behaviour_mask is not None else torch.zeros_like(mask)
        totals = torch.tensor([float(mask.sum()), float((mask.sum(-1) > 0).sum()), float(known.sum())],
                              device=acc.device)
        totals = acc.reduce(totals, reduction="sum") if acc.num_processes > 1 else totals
        norm = LossNorm(float(totals[0]), float(totals[1]), float(self.config.norm_tokens), float(totals[2]))
        scale = float(acc.num_processes)      # DDP/FSDP average gradients; the loss is a global sum
        pieces = list(range(0, len(rows), g.micro_batch_size))
        stats_sum: dict[str, float] = {}
        for i, start in enumerate(pieces):
            idx = rows[start:start + g.micro_batch_size]
            mb = batch.select(idx).trimmed()
            width = mb.mask.shape[1]
            sync = acc.no_sync(self.model) if i < len(pieces) - 1 and self._accumulate_unreduced else nullcontext()
            with sync:
                with acc.autocast():
                    logp, entropy = self._logp(self.model, mb, entropy_grad=g.entropy_coef > 0)
                old = old_logp[idx, :width] if old_logp is not None else logp.detach()
                ref = ref_logp[idx, :width] if ref_logp is not None else None
                loss, stats = policy_loss(
                    logp, old, adv[idx], mb.mask, clip_ratio_low=g.clip_ratio_low, clip_ratio_high=g.clip_ratio_high,
                    loss_agg=g.loss_agg, norm=norm, ref_logp=ref, kl_coef=g.kl_coef, entropy=entropy,
                    entropy_coef=g.entropy_coef, behaviour_logp=mb.behaviour_logp,
                    behaviour_mask=mb.behaviour_mask, tis_cap=g.tis_cap)
                acc.backward(loss * scale)
            accumulate(stats_sum, stats)   # partial sums over the global denominators; maxima
        max_norm = self.config.train.grad_clip or float("inf")
        # all parameters (frozen ones have no gradient): accelerate matches them to an FSDP
        # model and uses its sharded norm
        grad_norm = acc.clip_grad_norm_(self.model.parameters(), max_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if acc.num_processes > 1:
            keys = sorted(stats_sum)
            values = torch.tensor([stats_sum[k] for k in keys], device=acc.device)
            summed, gathered = acc.reduce(values, reduction="sum"), acc.gather(values.unsqueeze(0)).amax(0)
            stats_sum = {k: float(gathered[i] if k.endswith("_max") else summed[i]) for i, k in enumerate(keys)}
        stats_sum["grad_norm"] = float(grad_norm)
        return stats_sum

    def _metrics(self, samples, batch: Batch, zero_var, in_loss, rollouts: Rollouts, stats, rollout_s,
                 update_s, sync_s, step_s) -> dict[str, Any]:
        acc = self.accelerator
        # one row per episode (an episode cut by the context budget has several sequences)
        sizes: dict[int, list[float]] = {}
        for i, s in enumerate(samples):
            size = sizes.setdefault(s.episode if s.episode >= 0 else -1 - i, [0.0, 0.0])
            size[0] += s.response_tokens
            size[1] += len(s.input_ids)
        local = torch.tensor([[s.reward, float(s.valid), float(s.tier in MEDAL_TIERS),
                               float(s.tier != "none"), float(s.timed_out),
                               *sizes[s.episode if s.episode >= 0 else -1 - i], float(s.usable)]
                              for i, s in enumerate(samples) if s.segment == 0], device=acc.device)
        extra = torch.tensor([float(zero_var.sum()), float(in_loss.sum())], device=acc.device)
        # the env's figures: per-process ones averaged over processes (equal shares), counts summed
        keys = sorted(rollouts.stats) + sorted(rollouts.counts)
        figures = {**rollouts.stats, **rollouts.counts}
        backend = torch.tensor([float(figures[k]) for k in keys], device=acc.device, dtype=torch.float64)
        if acc.num_processes > 1:
            local = acc.gather(local)
            extra = acc.reduce(extra, reduction="sum")
            backend = acc.reduce(backend, reduction="sum") if keys else backend
        rollout_stats = {f"rollout_{k}": float(backend[j]) / (1 if k in rollouts.counts else acc.num_processes)
                         for j, k in enumerate(keys)}
        tokens = float(local[:, 6].sum())
        # the agent's reward and grades over the rollouts usable for training: one that an
        # HTTP 503 or a broken sandbox ended says nothing about the policy (rollout_unusable_*)
        usable = local[local[:, 7] > 0]
        rewards = usable[:, 0]
        nan = float("nan")
        row = {
            "step": self.step,
            "reward_mean": float(rewards.mean()) if len(rewards) else nan,
            "reward_std": float(rewards.std()) if len(rewards) > 1 else 0.0,
            "reward_max": float(rewards.max()) if len(rewards) else nan,
            "valid_rate": float(usable[:, 1].mean()) if len(rewards) else nan,
            "medal_rate": float(usable[:, 2].mean()) if len(rewards) else nan,
            "above_median_rate": float(usable[:, 3].mean()) if len(rewards) else nan,
            "timed_out_rate": float(local[:, 4].mean()),
            "response_len_mean": float(local[:, 5].mean()),
            "episodes": int(local.shape[0]),
            "zero_variance_frac": float(extra[0]) / local.shape[0],
            "in_loss_frac": float(extra[1]) / local.shape[0],
            "lr": float(self.scheduler.get_last_lr()[0]),
            "rollout_s": rollout_s,
            "update_s": update_s,
            "sync_s": sync_s,
            "step_s": step_s,
            "tokens_per_s": tokens / max(step_s, 1e-9),
            **{k: float(v) for k, v in stats.items()},
            **rollout_stats,
        }
        return row

    def evaluate(self) -> dict[str, Any]:
        """The held-out bank's episodes under the current policy (`[eval]`): eval_* metrics.
        Every evaluation draws with the same seeds, so the curve moves with the policy only."""
        acc, e = self.accelerator, self.config.eval
        start = time.perf_counter()
        local = self.eval_tasks[acc.process_index::acc.num_processes]
        seed = self.config.train.seed * 1_000_003 + 999_983 + acc.process_index * 7_919
        rollouts = self.env.evaluate(acc.unwrap_model(self.model), local, e.episodes_per_task, seed,
                                     e.score_tool) if local else None
        # one per episode (an episode whose context budget changed its prompt has several)
        samples = [s for s in rollouts.samples if s.segment == 0] if rollouts is not None else []
        sums = torch.tensor([sum(s.reward for s in samples), sum(s.valid for s in samples),
                             sum(s.tier in MEDAL_TIERS for s in samples), sum(s.tier != "none" for s in samples),
                             len(samples)], dtype=torch.float64, device=acc.device)
        if acc.num_processes > 1:
            sums = acc.reduce(sums, reduction="sum")
        n = max(float(sums[4]), 1.0)
        return {"eval_reward_mean": float(sums[0]) / n, "eval_valid_rate": float(sums[1]) / n,
                "eval_medal_rate": float(sums[2]) / n, "eval_above_median_rate": float(sums[3]) / n,
                "eval_episodes": int(sums[4]), "eval_s": time.perf_counter() - start}

    def _evaluates(self, target: int) -> bool:
        every = self.config.eval.every
        return bool(self.eval_tasks) and (self.step % every == 0 or self.step == target)

    def train(self, steps: int | None = None) -> list[dict[str, Any]]:
        """Run until `steps` (default: the recipe's) steps are done; checkpoint and log. With
        a held-out bank, it is evaluated before the first step (a row of step 0), every
        `[eval] every` steps and after the last."""
        target = steps if steps is not None else self.config.train.steps
        rows = []
        every = self.config.train.save_every
        if self.step == 0 and self.eval_tasks and target > 0:
            row = {"step": 0, **self.evaluate()}
            rows.append(row)
            if self.logger is not None and self.accelerator.is_main_process:
                self.logger.log(row)
        while self.step < target:
            row = self.train_step()
            if self._evaluates(target):
                row.update(self.evaluate())
            rows.append(row)
            log_and_save(self, row, target, every)
        return rows


def _is_peft(model) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def _response_region(samples, width: int) -> torch.Tensor:
    """(B, width) mask of every token after the prompt, tool responses included."""
    mask = torch.zeros(len(samples), width)
    for i, s in enumerate(samples):
        prompt_len = int(s.info.get("prompt_len", 0))
        mask[i, max(prompt_len - 1, 0):len(s.input_ids) - 1] = 1.0
    return mask
