"""Trajectory-wise GRPO: group advantages and the clipped policy loss (REFERENCE §7).

One sequence per episode, one scalar reward per sequence. Advantages compare the rollouts of
one task: `reward - group mean`, divided by the group's std unless `normalize_std` is off
(Dr. GRPO). The loss is PPO's clipped surrogate with asymmetric bounds (clip_ratio_low /
clip_ratio_high, DAPO's clip-higher), an optional k3 KL penalty to a reference policy and an
optional entropy bonus, reduced over the response tokens with one of three aggregations:

    token-mean               sum over all tokens / number of tokens
    seq-mean-token-mean      mean over sequences of each sequence's token mean (the paper's)
    seq-mean-token-sum-norm  sum over all tokens / (number of sequences x a constant length),
                             Dr. GRPO's length-unbiased form

Denominators can be given explicitly (`LossNorm`), so the loss summed over micro-batches and
processes equals the loss of the whole mini-batch: gradient accumulation and data-parallel
training change nothing in the maths.

Off-policy correction: rollouts record the engine's (behaviour) log-probs; the loss logs
how far the trainer's log-probs are from them every step and, when asked, weights tokens by
the truncated importance ratio (TIS, off by default).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

AGGREGATIONS = ("seq-mean-token-mean", "token-mean", "seq-mean-token-sum-norm")


def group_advantages(rewards: torch.Tensor, groups: torch.Tensor, *, normalize_std: bool = True,
                     eps: float = 1e-6, keep: torch.Tensor | None = None,
                     episodes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages of (n,) rewards whose (n,) `groups` ids name their task.

    Group statistics use only the rollouts in `keep` (unusable and timed-out episodes are
    left out) whose reward is finite (a NaN or infinite reward never enters them); rollouts
    outside get advantage 0. Rows sharing an id in (n,) `episodes` are sequences of one
    episode: it counts once in its group and all of them get its advantage. The std is the
    unbiased one (as TRL and verl); a group with one kept rollout has no spread and gets
    advantage 0. Returns the advantages and a (n,) bool tensor marking rollouts whose kept
    group has zero variance.
    """
    keep = torch.ones_like(rewards, dtype=torch.bool) if keep is None else keep.to(torch.bool)
    keep = keep & torch.isfinite(rewards)
    if episodes is not None:
        ids, inverse = torch.unique(episodes, return_inverse=True)
        first = torch.full((len(ids),), len(episodes), dtype=torch.long)
        first = first.scatter_reduce(0, inverse, torch.arange(len(episodes)), reduce="amin")
        adv, zero_var = group_advantages(rewards[first], groups[first], normalize_std=normalize_std, eps=eps,
                                         keep=keep[first])
        return adv[inverse], zero_var[inverse]
    rewards = torch.where(keep, rewards.to(torch.float64), torch.zeros((), dtype=torch.float64))
    advantages = torch.zeros_like(rewards)
    zero_var = torch.zeros_like(keep)
    for g in torch.unique(groups):
        member = (groups == g) & keep
        count = int(member.sum())
        if count == 0:
            continue
        values = rewards[member]
        if count == 1 or bool((values == values[0]).all()):
            zero_var |= member
            continue
        centred = values - values.mean()
        advantages[member] = centred / (values.std() + eps) if normalize_std else centred
    return advantages.to(torch.float32), zero_var


@dataclass(frozen=True)
class LossNorm:
    """Denominators of the aggregation over a whole mini-batch (all micro-batches, processes)."""

    num_tokens: float                 # response tokens in the loss
    num_seqs: float                   # sequences with at least one loss token
    norm_tokens: float = 1.0          # seq-mean-token-sum-norm's constant length
    num_behaviour_tokens: float = 0.0  # loss tokens with a behaviour log-prob

    @classmethod
    def of(cls, mask: torch.Tensor, norm_tokens: float = 1.0,
           behaviour_mask: torch.Tensor | None = None) -> "LossNorm":
        known = 0.0 if behaviour_mask is None else float((mask * behaviour_mask).sum())
        return cls(float(mask.sum()), float((mask.sum(-1) > 0).sum()), float(norm_tokens), known)


def aggregate(values: torch.Tensor, mask: torch.Tensor, mode: str, norm: LossNorm) -> torch.Tensor:
    """Reduce (B, T) per-token values over the (B, T) 0/1 loss mask."""
    mask = mask.to(values.dtype)
    if mode == "token-mean":
        return (values * mask).sum() / max(norm.num_tokens, 1.0)
    if mode == "seq-mean-token-mean":
        per_seq = (values * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
        return per_seq.sum() / max(norm.num_seqs, 1.0)
    if mode == "seq-mean-token-sum-norm":
        return (values * mask).sum() / (max(norm.num_seqs, 1.0) * norm.norm_tokens)
    raise ValueError(f"unknown loss aggregation {mode!r} (known: {', '.join(AGGREGATIONS)})")


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(pi || ref) per token: exp(d) - d - 1, d = ref - logp."""
    delta = (ref_logp - logp).clamp(-20.0, 20.0)
    return torch.exp(delta) - delta - 1.0


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, *, clip_ratio_low: float = 0.2, clip_ratio_high: float = 0.28,
                loss_agg: str = "seq-mean-token-mean", norm: LossNorm | None = None,
                ref_logp: torch.Tensor | None = None, kl_coef: float = 0.0,
                entropy: torch.Tensor | None = None, entropy_coef: float = 0.0,
                behaviour_logp: torch.Tensor | None = None, behaviour_mask: torch.Tensor | None = None,
                tis_cap: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped GRPO loss of (B, T) token log-probs under (B,) sequence advantages.

    With (B, T) behaviour log-probs (the rollout engine's, known where `behaviour_mask` is
    1), the statistics include the mismatch |old_logp - behaviour_logp| between the trainer's
    log-probs before the update and the engine's (mean over known loss tokens, max), and
    `tis_cap > 0` weights each token's loss by the truncated importance ratio
    min(exp(old_logp - behaviour_logp), tis_cap) (truncated importance sampling, as TRL and
    verl apply it to vLLM rollouts; tokens without a behaviour log-prob keep weight 1).
    Returns the scalar loss and statistics (policy-gradient loss, clip fractions at each
    bound, KL, entropy, mismatch), each aggregated like the loss; `*_max` ones are maxima.
    """
    mask = mask.to(logp.dtype)
    known = None
    if behaviour_logp is not None:
        known = mask * (torch.ones_like(mask) if behaviour_mask is None else behaviour_mask.to(mask.dtype))
    norm = norm or LossNorm.of(mask, behaviour_mask=known)
    adv = advantages.to(logp.dtype).unsqueeze(-1)
    ratio = torch.exp((logp - old_logp).clamp(-20.0, 20.0))
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_ratio_low, 1.0 + clip_ratio_high)
    pg = torch.maximum(unclipped, clipped)
    mismatch: dict[str, float] = {}
    if known is not None:
        with torch.no_grad():
            delta = (old_logp.detach() - behaviour_logp.to(logp.dtype)) * known
            count = max(norm.num_behaviour_tokens, 1.0)
            mismatch = {"logp_mismatch_mean": float(delta.abs().sum()) / count,
                        "logp_mismatch_max": float(delta.abs().max()) if delta.numel() else 0.0}
            if tis_cap > 0:
                weight = torch.where(known > 0, torch.exp(delta.clamp(-20.0, 20.0)), torch.ones_like(delta))
                mismatch["tis_clip_frac"] = float(((weight > tis_cap).to(mask.dtype) * known).sum()) / count
                weight = weight.clamp(max=tis_cap)
                mismatch["tis_weight_mean"] = float((weight * known).sum()) / count
        if tis_cap > 0:
            pg = pg * weight
    loss = aggregate(pg, mask, loss_agg, norm)
    with torch.no_grad():
        active = (clipped > unclipped).to(logp.dtype)
        low = active * (ratio < 1.0 - clip_ratio_low).to(logp.dtype)
        high = active * (ratio > 1.0 + clip_ratio_high).to(logp.dtype)
        stats = {
            "pg_loss": float(loss),
            "clip_frac": float(aggregate(active, mask, "token-mean", norm)),
            "clip_frac_low": float(aggregate(low, mask, "token-mean", norm)),
            "clip_frac_high": float(aggregate(high, mask, "token-mean", norm)),
            **mismatch,
        }
    if ref_logp is not None:
        kl = kl_k3(logp, ref_logp)
        kl_term = aggregate(kl, mask, loss_agg, norm)
        if kl_coef:
            loss = loss + kl_coef * kl_term
        stats["kl"] = float(kl_term.detach())
    if entropy is not None:
        ent_term = aggregate(entropy, mask, loss_agg, norm)
        if entropy_coef:
            loss = loss - entropy_coef * ent_term
        stats["entropy"] = float(ent_term.detach())
    return loss, stats


def accumulate(total: dict[str, float], stats: dict[str, float]) -> dict[str, float]:
    """Add one micro-batch's statistics into `total`: maxima (`*_max`) keep the largest,
    the rest (partial sums over global denominators) add up."""
    for key, value in stats.items():
        if key.endswith("_max"):
            total[key] = max(total.get(key, value), value)
        else:
            total[key] = total.get(key, 0.0) + value
    return total
