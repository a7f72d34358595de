"""Causal self-attention for training on the CPU with small heads: sandmle's kernel
(csrc/attention.pyx) as a transformers attention implementation.

    select_attention(model, choice, device, mixed_precision) -> str
        the implementation a trainer runs ([model] attention = "auto" | "sdpa"): "auto" on the
        CPU switches a float32 model whose heads have at most `MAX_HEAD_DIM` dimensions to
        `NAME`; anything else keeps the model's own (transformers' SDPA)
    describe_attention(model, implementation) -> str
        the line a run logs: which attention its training forwards run, up to which length
    causal_attention(q, k, v, scale) -> (B, H, T, D)
        the kernel with autograd, for q (B, H, T, D) and k, v (B, KV, T, D), H a multiple of KV

`NAME` runs sandmle's kernel for what a training forward asks (query length = key length >
1, no attention mask: right-padded batches, see `sandmle.train.logprobs`; no dropout, no
sliding window, float32 on the CPU; value heads of the keys' size; sequences short enough,
below) and hands every other call (generation with a KV cache, left-padded prompts, GPU
tensors, long sequences, DeepSeek-V3's latent attention: value heads of another size) to
transformers' `sdpa_attention_forward` unchanged.

Why: PyTorch's CPU flash-attention kernel is built for large heads; at the head sizes of the
CPU recipes it spends most of a training step. Forward + backward of one layer on one thread
(2 shared cores, load 0.8-1.3), SDPA vs this kernel:
    head dim 8, batch 8 x 256 tokens (`sandmle bench grpo`'s tiny models)   14.9 vs 7.0 ms
    head dim 8, 1 x 1024 / 2048 / 4096 tokens                                 26.8 vs 11.9, 79.5 vs 48.4, 268 vs 178 ms
    head dim 16, batch 16 x 128 / 1 x 1024 / 1 x 2048 tokens                  6.2 vs 4.4, 15.3 vs 14.2, 49.8 vs 54.2 ms
    head dim 32, batch 8 x 434 (recipes/sft-cpu.toml's model), 1 x 768, 1 x 1024
                                                                              45.9 vs 35.0, 13.4 vs 12.2, 22.2 vs 23.0 ms
    head dim 64 and 128 (2 x 512, 1 x 512 tokens)                             level, and flash ahead at 128
hence `MAX_HEAD_DIM` and, above 8 dimensions, `MAX_LENGTH_X_HEAD_DIM`. A whole training step
gains what attention was of it: the GRPO update of the tiny model 1.67x -> 2.44x TRL's
(`sandmle bench grpo`); a forward + backward of recipes/sft-cpu.toml's model on 4 x 434 tokens
232 -> 220 ms (its matrix products are 45% of it). With two threads the two are level (head
dim 8: 9.7 vs 8.5 ms; head dim 32, 8 x 434: 26.3 vs 27.3 ms). Outputs and gradients agree with
float64 attention as closely as SDPA's (relative 1e-6; tests/test_train_attention.py).

With more than one torch thread, the (batch, key-value head) groups are split over that
many threads (the kernel releases the GIL); each group is computed by one thread, so the
result does not depend on the thread count. Only this module imports the compiled kernel.
"""
from __future__ import annotations

import threading

import torch
from torch.autograd.function import once_differentiable

NAME = "sandmle_cpu_causal"
MAX_HEAD_DIM = 32
# heads of more than 8 dimensions run the kernel while length x head dim stays within this: past
# it SDPA's key tiling keeps its working set in cache and wins (see the module docstring)
MAX_LENGTH_X_HEAD_DIM = 24_576
# keyword arguments of a transformers attention call that change what attention computes
_UNSUPPORTED = ("sliding_window", "softcap", "s_aux", "sinks", "position_bias")


def _run_groups(fn, groups: int, *args) -> None:
    """fn(*args, g0, g1) over the groups 0..groups-1, split over torch's thread count: the
    caller computes the first share, one short-lived thread each of the others (~0.1 ms to
    start, against milliseconds of work)."""
    threads = min(torch.get_num_threads(), groups)
    if threads < 1:
        return
    bounds = [groups * i // threads for i in range(threads + 1)]
    errors: list[BaseException] = []

    def share(g0: int, g1: int) -> None:
        try:
            fn(*args, g0, g1)
        except BaseException as exc:       # re-raised in the caller below
            errors.append(exc)

    workers = [threading.Thread(target=share, args=(a, b)) for a, b in zip(bounds[1:-1], bounds[2:])]
    for worker in workers:
        worker.start()
    share(bounds[0], bounds[1])
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


class _CausalAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, scale: float):
        from sandmle._native import attention as kernel

        q, k, v = q.detach().contiguous(), k.detach().contiguous(), v.detach().contiguous()
        batch, heads, length, _ = q.shape
        out = torch.empty_like(q)
        lse = torch.empty(batch, heads, length, dtype=torch.float32)
        _run_groups(kernel.attention_forward, batch * k.shape[1], q.numpy(), k.numpy(), v.numpy(), out.numpy(),
                    lse.numpy(), scale)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        from sandmle._native import attention as kernel

        q, k, v, out, lse = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        _run_groups(kernel.attention_backward, q.shape[0] * k.shape[1], q.numpy(), k.numpy(), v.numpy(),
                    out.numpy(), lse.numpy(), grad_out.numpy(), dq.numpy(), dk.numpy(), dv.numpy(), ctx.scale)
        return dq, dk, dv, None


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """softmax(q k^T * scale, causal) v: (B, H, T, D) float32 CPU tensors q and (B, KV, T, D)
    k, v (grouped-query heads: H a multiple of KV, D <= 256); differentiable in q, k and v.
    Raises ValueError on other shapes, dtypes or devices."""
    bad = [f"{name} {x.dtype} on {x.device}" for name, x in (("q", q), ("k", k), ("v", v))
           if x.dtype != torch.float32 or x.device.type != "cpu"]
    if bad:
        raise ValueError(f"causal_attention takes float32 CPU tensors: {', '.join(bad)}")
    return _CausalAttention.apply(q, k, v, scale)


def _kernel_applies(module, query, key, value, attention_mask, dropout: float, is_causal, kwargs) -> bool:
    return (attention_mask is None and query.shape[2] == key.shape[2] > 1
            and value.shape == key.shape            # not so in DeepSeek-V3's latent attention
            and query.device.type == "cpu"
            and query.dtype == key.dtype == value.dtype == torch.float32
            and query.shape[-1] <= MAX_HEAD_DIM and _short_enough(query.shape[2], query.shape[-1])
            and query.shape[1] % key.shape[1] == 0
            and (dropout == 0.0 or not module.training)
            and is_causal is not False and getattr(module, "is_causal", True)
            and not kwargs.get("output_attentions")
            and all(kwargs.get(name) is None for name in _UNSUPPORTED))


def attention_forward(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
                      is_causal=None, **kwargs):
    """transformers' attention interface: (B, T, H, D) output and no weights."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not _kernel_applies(module, query, key, value, attention_mask, dropout, is_causal, kwargs):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return causal_attention(query, key, value, scale).transpose(1, 2).contiguous(), None


def _register() -> bool:
    """Register `NAME` with transformers (its attention and mask interfaces); False when this
    transformers has no attention interface to register with."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    AttentionInterface.register(NAME, attention_forward)
    AttentionMaskInterface.register(NAME, sdpa_mask)        # the masks SDPA gets: None when causal suffices
    return True


def _head_dim(config) -> int | None:
    heads = getattr(config, "num_attention_heads", None)
    return getattr(config, "head_dim", None) or (config.hidden_size // heads if heads else None)


def kernel_max_tokens(head_dim: int) -> int | None:
    """The longest sequence (tokens) the kernel takes at this head size (None: any length);
    longer ones go to SDPA. Source: the crossover measured in the module docstring."""
    return None if head_dim <= 8 else MAX_LENGTH_X_HEAD_DIM // head_dim


def _short_enough(length: int, head_dim: int) -> bool:
    limit = kernel_max_tokens(head_dim)
    return limit is None or length <= limit


def describe_attention(model, implementation: str) -> str:
    """One line for a run's log: the attention its training forwards run (`implementation`
    as `select_attention` returned it)."""
    if implementation != NAME:
        return "attention: " + (implementation or "the model's own")
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head_dim = _head_dim(base.config)
    limit = kernel_max_tokens(head_dim)
    if limit is None:
        scope, rest = f"head dim {head_dim}, any length", "in generation and with padding masks"
    else:
        scope, rest = f"head dim {head_dim}, up to {limit} tokens", "in generation, with padding masks and past that"
    return (f"attention: sandmle's CPU kernel in training forwards ({scope}); SDPA {rest} "
            f"([model] attention = \"sdpa\" turns it off)")


def select_attention(model, choice: str, device, mixed_precision: str = "no") -> str:
    """Switch `model` (a transformers model, or a peft wrapper of one) to `NAME` when `choice`
    is "auto", `device` is the CPU, its weights are float32 and it trains without bf16
    autocast (`mixed_precision` "no": autocast hands attention bf16 tensors, which go to SDPA),
    its config uses SDPA, its heads have at most `MAX_HEAD_DIM` dimensions and its attention
    calls transformers' attention interface; return the implementation it runs ("sdpa", `NAME`, or whatever the model had).
    Models without a transformers config are left as they are ("")."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    current = getattr(config, "_attn_implementation", None)
    if current is None:
        return ""
    if choice != "auto" or torch.device(device).type != "cpu" or mixed_precision != "no" or current != "sdpa":
        return current
    head_dim = _head_dim(config)
    if (head_dim is None or head_dim > MAX_HEAD_DIM or next(base.parameters()).dtype != torch.float32
            or not getattr(base, "_supports_attention_backend", False) or not _register()):
        return current
    base.set_attn_implementation(NAME)
    return NAME
