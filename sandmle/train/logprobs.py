"""Where a forward pass becomes per-token log-probs and entropies for the GRPO loss.

    sequence_logprobs(model, input_ids, attention_mask, mask, temperature)
        (B, T-1) log p(token t+1 | tokens <= t) and entropy, computed only at the response
        columns (targets some row of `mask` trains on), zero elsewhere
    selective_logprobs(logits, targets, temperature)
        the kernel: (N, V) logits -> (N,) log-probs of `targets` and (N,) entropies

Memory per trained token (measured by `sandmle bench grpo` at Qwen3's vocabulary, 151,936):

- the model computes logits only at the response columns (transformers' `logits_to_keep`
  with an index tensor), never at prompt or tool-output positions;
- log-softmax, the target's log-prob and the entropy come from one pass over row chunks of
  at most `chunk_bytes`, each upcast to float32 only while it is processed; the temperature
  scales that chunk, never a copy of all the logits;
- backward recomputes each chunk's softmax from the logits autograd already holds (in the
  model's dtype): nothing of vocabulary size is saved per token besides the logits.

Models whose forward has no `logits_to_keep` (sandmle's action policy) get the same kernel
on their full logits, indexed at the response columns.
"""
from __future__ import annotations

import inspect

import torch

CHUNK_BYTES = 1 << 26          # float32 work space per chunk buffer: 64 MiB (~110 rows at V=151,936)


class _SelectiveLogSoftmax(torch.autograd.Function):
    """log p(target) and entropy of softmax(logits * inv_temp), row chunk by row chunk."""

    @staticmethod
    def forward(ctx, logits, targets, inv_temp: float, rows: int):
        n = logits.shape[0]
        logp = torch.empty(n, dtype=torch.float32, device=logits.device)
        entropy = torch.empty(n, dtype=torch.float32, device=logits.device)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            x = logits[start:stop].float()
            if inv_temp != 1.0:
                x.mul_(inv_temp)
            x = torch.log_softmax(x, dim=-1)                       # in float32, this chunk only
            logp[start:stop] = x.gather(-1, targets[start:stop, None]).squeeze(-1)
            entropy[start:stop] = x.exp().mul_(x).sum(-1).neg_()
        ctx.save_for_backward(logits, targets)
        ctx.inv_temp, ctx.rows = inv_temp, rows
        ctx.set_materialize_grads(False)
        return logp, entropy

    @staticmethod
    def backward(ctx, grad_logp, grad_entropy):
        logits, targets = ctx.saved_tensors
        inv_temp, rows = ctx.inv_temp, ctx.rows
        grad = torch.empty_like(logits)
        for start in range(0, logits.shape[0], rows):            # at most 3 chunk-sized float32 buffers
            stop = min(logits.shape[0], start + rows)
            y = logits[start:stop].float()
            if inv_temp != 1.0:
                y.mul_(inv_temp)
            y = torch.log_softmax(y, dim=-1)
            p = y.exp()
            if grad_logp is not None:                              # d log p_t / dx = onehot(t) - p
                gl = grad_logp[start:stop, None].float()
                g = p * gl.neg()
                g.scatter_add_(-1, targets[start:stop, None], gl)
            else:
                g = torch.zeros_like(p)
            if grad_entropy is not None:                           # dH/dx = -p (log p + H)
                h = torch.einsum("rv,rv->r", p, y).neg_()[:, None]
                g.sub_(y.add_(h).mul_(p).mul_(grad_entropy[start:stop, None].float()))
            if inv_temp != 1.0:
                g.mul_(inv_temp)
            grad[start:stop] = g
        return grad, None, None, None


def selective_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0,
                       chunk_bytes: int = CHUNK_BYTES) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) float32 log-probs of `targets` under softmax(logits / temperature) and (N,) entropies.

    `logits` (N, V) in any float dtype (kept as it is for backward), `targets` (N,) long.
    Both outputs are differentiable with respect to `logits`.
    """
    rows = max(1, chunk_bytes // (4 * max(1, logits.shape[-1])))
    return _SelectiveLogSoftmax.apply(logits, targets, 1.0 / temperature, rows)


def accepts_logits_to_keep(model) -> bool:
    """Whether the (unwrapped) model's forward takes transformers' `logits_to_keep`."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


def response_columns(mask: torch.Tensor) -> torch.Tensor:
    """(K,) long target positions where any row of the (B, T-1) mask trains (at least one)."""
    cols = torch.nonzero(mask.sum(0) > 0).squeeze(-1)
    if cols.numel() == 0:           # nothing to train on: one column keeps the graph whole
        cols = torch.tensor([mask.shape[1] - 1], device=mask.device)
    return cols


def sequence_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, mask: torch.Tensor,
                      temperature: float = 1.0, keep_logits: bool = True,
                      chunk_bytes: int = CHUNK_BYTES) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T-1) float32 log-probs of input_ids[:, 1:] and entropies, at `mask`'s response columns.

    `mask` (B, T-1) is the loss mask aligned with the targets; columns no row trains on are
    0 in both outputs. `keep_logits`: pass `logits_to_keep` to the model (see
    `accepts_logits_to_keep`).
    """
    cols = response_columns(mask)
    if keep_logits:
        logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=cols).logits
    else:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, cols]
    b, k, v = logits.shape
    targets = input_ids[:, cols + 1]
    logp, entropy = selective_logprobs(logits.reshape(b * k, v), targets.reshape(-1), temperature, chunk_bytes)
    width = input_ids.shape[1] - 1
    full_logp = logp.new_zeros(b, width)
    full_entropy = entropy.new_zeros(b, width)
    full_logp[:, cols] = logp.view(b, k)
    full_entropy[:, cols] = entropy.view(b, k)
    return full_logp, full_entropy
