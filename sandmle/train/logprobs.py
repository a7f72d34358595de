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
- backward recomputes each chunk's probabilities from the logits autograd already holds (in
  the model's dtype) and the saved per-row log-normaliser, in four passes over the chunk, the
  last one writing the gradient: nothing of vocabulary size is saved per token besides the
  logits, and the logits are never scaled in place.

Batches are right-padded (`sandmle.train.batch.collate`): when every row's attention mask is
a run of ones then zeros, the causal mask alone hides the padding from every real token, so
the model gets no attention mask and SDPA runs its causal kernel instead of the masked one:
the same log-probs (bit-identical in `tests/test_train_logprobs.py`), a GRPO update step of the
protocol-tokenizer Qwen2 14% less CPU (57 -> 49 ms, `sandmle bench grpo`'s batch); on a GPU
an explicit mask also keeps SDPA off its flash kernel.

Models whose forward has no `logits_to_keep` (sandmle's action policy) get the same kernel
on their full logits, indexed at the response columns.
"""
from __future__ import annotations

import inspect

import torch

# float32 work space per chunk buffer: 8 MiB (~13 rows at V=151,936). The chunk's buffers then
# stay in cache between passes: 1.5x less CPU than 64 MiB chunks at V=151,936, flat from 2 to 8 MiB
CHUNK_BYTES = 1 << 23


class _SelectiveLogSoftmax(torch.autograd.Function):
    """log p(target) and entropy of softmax(logits * inv_temp), row chunk by row chunk."""

    @staticmethod
    def forward(ctx, logits, targets, inv_temp: float, rows: int):
        n = logits.shape[0]
        logp = torch.empty(n, dtype=torch.float32, device=logits.device)
        entropy = torch.empty(n, dtype=torch.float32, device=logits.device)
        log_z = torch.empty(n, dtype=torch.float32, device=logits.device)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            z = logits[start:stop]
            if inv_temp == 1.0:
                x = z.float()                                       # no copy for float32 logits
            elif z.dtype == torch.float32:
                x = z * inv_temp                                    # never scale the logits in place
            else:
                x = z.float().mul_(inv_temp)
            y = torch.log_softmax(x, dim=-1)                        # float32, this chunk only
            logp[start:stop] = y.gather(-1, targets[start:stop, None]).squeeze(-1)
            log_z[start:stop] = x[:, 0] - y[:, 0]
            entropy[start:stop] = torch.einsum("rv,rv->r", y.exp(), y).neg_()
        ctx.save_for_backward(logits, targets, log_z, entropy)
        ctx.inv_temp, ctx.rows = inv_temp, rows
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(log_z)
        return logp, entropy

    @staticmethod
    def backward(ctx, grad_logp, grad_entropy):
        # d log p_t / dx = onehot(t) - p and dH/dx = -p (log p + H), x = logits * inv_temp:
        # grad = inv_temp * (gl * onehot(t) + p * (a + b * log p)), a = -(gl + ge * H), b = -ge
        logits, targets, log_z, entropy = ctx.saved_tensors
        inv_temp, rows = ctx.inv_temp, ctx.rows
        n = logits.shape[0]
        grad = torch.empty_like(logits)
        direct = logits.dtype == torch.float32
        zeros = torch.zeros(n, dtype=torch.float32, device=logits.device)
        gl = zeros if grad_logp is None else grad_logp.float()
        a = gl.neg()
        if grad_entropy is not None:
            ge = grad_entropy.float()
            a = a.sub_(ge * entropy).mul_(inv_temp)
            b = ge.neg().mul_(inv_temp)
        else:
            a = a.mul_(inv_temp)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            y = torch.add(log_z[start:stop, None].neg(), logits[start:stop], alpha=inv_temp)  # log p, float32
            out = grad[start:stop] if direct else None
            if grad_entropy is None:
                g = torch.mul(y.exp_(), a[start:stop, None], out=out)
            else:
                p = y.exp()
                g = torch.mul(y.mul_(b[start:stop, None]).add_(a[start:stop, None]), p, out=out)
            if grad_logp is not None:
                g.scatter_add_(-1, targets[start:stop, None], (gl[start:stop] * inv_temp)[:, None].to(g.dtype))
            if not direct:
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


def right_padded(attention_mask: torch.Tensor | None) -> bool:
    """Whether each row of the (B, T) mask is ones then zeros (padding only at the end)."""
    if attention_mask is None:
        return True
    return bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())


def sequence_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, mask: torch.Tensor,
                      temperature: float = 1.0, keep_logits: bool = True,
                      chunk_bytes: int = CHUNK_BYTES) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T-1) float32 log-probs of input_ids[:, 1:] and entropies, at `mask`'s response columns.

    `mask` (B, T-1) is the loss mask aligned with the targets; columns no row trains on are
    0 in both outputs. `keep_logits`: pass `logits_to_keep` to the model (see
    `accepts_logits_to_keep`).
    """
    cols = response_columns(mask)
    if right_padded(attention_mask):
        attention_mask = None          # the causal mask hides the padding: see the module docstring
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
