"""sandmle's CPU causal-attention kernel: the same outputs and gradients as attention computed
in float64, the same answers whatever the thread count, and a transformers model switched to it
computes what SDPA computes, falling back to SDPA for every call the kernel does not cover."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from sandmle.train.attention import MAX_HEAD_DIM, NAME, causal_attention, select_attention


def _reference(q, k, v, scale):
    """float64 causal attention with grouped-query heads (SDPA's math on doubles)."""
    q, k, v = (x.detach().double().requires_grad_() for x in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=True)
    return out, (q, k, v)


def _relative(a, b):
    return ((a.double() - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


@pytest.mark.parametrize("shape", [
    (2, 4, 2, 37, 8),       # grouped-query heads, a length that is no multiple of the 4-row blocks
    (1, 2, 2, 1, 8),        # one token
    (3, 3, 1, 70, 16),      # three query heads on one key-value head
    (2, 4, 4, 130, 32),
    (1, 2, 1, 19, 5),       # a head size without a specialised copy
])
def test_matches_float64_attention(shape):
    torch.manual_seed(0)
    batch, heads, kv_heads, length, dim = shape
    q = torch.randn(batch, heads, length, dim, requires_grad=True)
    k = torch.randn(batch, kv_heads, length, dim, requires_grad=True)
    v = torch.randn(batch, kv_heads, length, dim, requires_grad=True)
    grad = torch.randn(batch, heads, length, dim)
    scale = dim ** -0.5
    out = causal_attention(q, k, v, scale)
    out.backward(grad)
    ref, leaves = _reference(q, k, v, scale)
    ref.backward(grad.double())
    assert _relative(out, ref) < 2e-6
    for mine, exact in zip((q, k, v), leaves):
        assert _relative(mine.grad, exact.grad) < 5e-6


def test_scores_far_apart_stay_finite():
    # one key dominates each row by far: probabilities round to 0 and 1 without overflow
    torch.manual_seed(1)
    q = torch.randn(1, 2, 40, 8) * 30
    k = torch.randn(1, 2, 40, 8) * 30
    v = torch.randn(1, 2, 40, 8)
    q.requires_grad_(), k.requires_grad_(), v.requires_grad_()
    out = causal_attention(q, k, v, 1.0)
    out.sum().backward()
    ref, leaves = _reference(q, k, v, 1.0)
    ref.sum().backward()
    assert torch.isfinite(out).all() and all(torch.isfinite(x.grad).all() for x in (q, k, v))
    assert _relative(out, ref) < 1e-5
    assert _relative(v.grad, leaves[2].grad) < 1e-5


def test_result_does_not_depend_on_threads():
    torch.manual_seed(2)
    q = torch.randn(3, 4, 50, 8, requires_grad=True)
    k = torch.randn(3, 2, 50, 8, requires_grad=True)
    v = torch.randn(3, 2, 50, 8, requires_grad=True)
    grad = torch.randn(3, 4, 50, 8)
    results = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 4):
            torch.set_num_threads(threads)
            for x in (q, k, v):
                x.grad = None
            out = causal_attention(q, k, v, 0.3)
            out.backward(grad)
            results.append([out.detach().clone()] + [x.grad.clone() for x in (q, k, v)])
    finally:
        torch.set_num_threads(before)
    for one, four in zip(*results):
        assert torch.equal(one, four)


def test_other_dtypes_raise_value_error():
    q = torch.randn(1, 2, 8, 8)
    with pytest.raises(ValueError, match="float32 CPU tensors: k torch.float64 on cpu"):
        causal_attention(q, q.double(), q, 1.0)
    with pytest.raises(ValueError, match="q torch.bfloat16 on cpu"):
        causal_attention(q.bfloat16(), q, q, 1.0)


def test_bad_shapes_raise_value_error():
    q = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="attention shapes"):
        causal_attention(q, torch.randn(1, 2, 8, 8), torch.randn(1, 2, 8, 8), 1.0)   # 3 heads on 2
    with pytest.raises(ValueError, match="attention shapes"):
        causal_attention(q, torch.randn(1, 1, 9, 8), torch.randn(1, 1, 9, 8), 1.0)   # lengths differ
    for value in (torch.randn(1, 1, 8, 4), torch.randn(1, 1, 7, 8), torch.randn(2, 1, 8, 8)):   # v unlike k
        with pytest.raises(ValueError, match="attention shapes"):
            causal_attention(q, torch.randn(1, 1, 8, 8), value, 1.0)


@pytest.mark.parametrize("dim, length, mask, value_dim", [
    (16, 1600, False, 16),      # length x head dim past MAX_LENGTH_X_HEAD_DIM
    (8, 40, True, 8),           # a padding mask
    (8, 1, False, 8),           # one query: decoding
    (24, 40, False, 16),        # value heads narrower than the keys' (DeepSeek-V3's latent attention)
])
def test_calls_the_kernel_does_not_cover_go_to_sdpa(dim, length, mask, value_dim):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from sandmle.train.attention import attention_forward

    module = torch.nn.Module().eval()
    module.is_causal, module.num_key_value_groups = True, 2
    torch.manual_seed(3)
    q, k, v = torch.randn(1, 4, length, dim), torch.randn(1, 2, length, dim), torch.randn(1, 2, length, value_dim)
    attention_mask = torch.ones(1, 1, length, length, dtype=torch.bool).tril() if mask else None
    ours, _ = attention_forward(module, q, k, v, attention_mask)
    sdpa, _ = sdpa_attention_forward(module, q, k, v, attention_mask)
    assert torch.equal(ours, sdpa)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from sandmle.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


def _load(folder, **kwargs):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, **kwargs)


def test_model_switched_to_the_kernel_computes_what_sdpa_computes(tiny_folder, tmp_path):
    sdpa, ours = _load(tiny_folder), _load(tiny_folder)
    assert select_attention(ours, "auto", "cpu") == NAME
    ids = torch.randint(0, 500, (3, 45), generator=torch.Generator().manual_seed(0))
    a, b = sdpa(input_ids=ids).logits, ours(input_ids=ids).logits
    assert (a - b).abs().max().item() < 1e-5
    a.logsumexp(-1).sum().backward()
    b.logsumexp(-1).sum().backward()
    for (name, p), q in zip(sdpa.named_parameters(), ours.parameters()):
        assert _relative(q.grad, p.grad.double()) < 1e-4, name
    # a padding mask, and generation with a KV cache, go to SDPA itself: the same numbers
    mask = torch.ones_like(ids)
    mask[0, :7] = 0
    assert torch.equal(sdpa(input_ids=ids, attention_mask=mask).logits, ours(input_ids=ids, attention_mask=mask).logits)
    assert torch.equal(sdpa.generate(ids[:, :9], max_new_tokens=6, do_sample=False),
                       ours.generate(ids[:, :9], max_new_tokens=6, do_sample=False))
    # a saved model names no sandmle implementation: any transformers loads it
    ours.save_pretrained(tmp_path / "saved")
    assert NAME not in (tmp_path / "saved" / "config.json").read_text()
    assert _load(tmp_path / "saved").config._attn_implementation == "sdpa"


def test_select_attention_keeps_sdpa_where_the_kernel_does_not_apply(tiny_folder, tmp_path):
    from sandmle.policies.tiny import build_tiny_model

    assert select_attention(_load(tiny_folder), "sdpa", "cpu") == "sdpa"
    assert select_attention(_load(tiny_folder), "auto", "cuda") == "sdpa"
    assert select_attention(_load(tiny_folder, dtype=torch.bfloat16), "auto", "cpu") == "sdpa"
    wide = build_tiny_model(tmp_path / "wide", architecture="qwen3", hidden_size=64, num_heads=1, num_kv_heads=1,
                            head_dim=2 * MAX_HEAD_DIM)
    assert json.loads((wide / "config.json").read_text())["head_dim"] > MAX_HEAD_DIM
    assert select_attention(_load(wide), "auto", "cpu") == "sdpa"
    assert select_attention(torch.nn.Linear(2, 2), "auto", "cpu") == ""


def test_model_with_value_heads_unlike_its_keys_trains_as_with_sdpa():
    # DeepSeek-V3's latent attention: keys of 16 + 8 dimensions, values of 8; its config's head_dim (8) gets it switched
    import copy

    from transformers import AutoModelForCausalLM, DeepseekV3Config

    config = DeepseekV3Config(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                              num_attention_heads=4, num_key_value_heads=4, first_k_dense_replace=1, q_lora_rank=None,
                              kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=8)
    torch.manual_seed(0)
    sdpa = AutoModelForCausalLM.from_config(copy.deepcopy(config), attn_implementation="sdpa")
    ours = AutoModelForCausalLM.from_config(copy.deepcopy(config), attn_implementation="sdpa")
    ours.load_state_dict(sdpa.state_dict())
    assert select_attention(ours, "auto", "cpu") == NAME
    ids = torch.randint(0, 100, (2, 30), generator=torch.Generator().manual_seed(0))
    a, b = sdpa(input_ids=ids).logits, ours(input_ids=ids).logits
    assert torch.equal(a, b)
    a.logsumexp(-1).sum().backward()
    b.logsumexp(-1).sum().backward()
    for (name, p), q in zip(sdpa.named_parameters(), ours.parameters()):
        assert torch.equal(p.grad, q.grad), name


def test_kernel_refuses_outputs_or_groups_that_do_not_fit():
    # the C code trusts its arrays: the wrapper checks every shape and the group range first
    import numpy as np

    from sandmle._native import attention as kernel

    q, k = np.zeros((1, 2, 4, 8), np.float32), np.zeros((1, 1, 4, 8), np.float32)
    out, lse = np.zeros_like(q), np.zeros((1, 2, 4), np.float32)
    with pytest.raises(ValueError, match=r"o \(1, 2, 5, 8\)"):
        kernel.attention_forward(q, k, k, np.zeros((1, 2, 5, 8), np.float32), lse, 1.0, 0, 1)
    with pytest.raises(ValueError, match=r"lse \(1, 2, 3\)"):
        kernel.attention_forward(q, k, k, out, np.zeros((1, 2, 3), np.float32), 1.0, 0, 1)
    with pytest.raises(ValueError, match="groups 0..2 outside 0..1"):
        kernel.attention_forward(q, k, k, out, lse, 1.0, 0, 2)
    with pytest.raises(ValueError, match=r"dk \(1, 1, 4, 7\)"):
        kernel.attention_backward(q, k, k, out, lse, q, np.zeros_like(q), np.zeros((1, 1, 4, 7), np.float32),
                                  np.zeros_like(k), 1.0, 0, 1)


@pytest.mark.parametrize("precision, expected", [("no", NAME), ("bf16", "sdpa")])
def test_trainer_switches_the_model_only_without_bf16_autocast(tiny_folder, tmp_path, precision, expected):
    from accelerate.state import AcceleratorState

    from sandmle.train.config import GRPOConfig, LogConfig, ModelConfig, RunConfig, TrainConfig
    from sandmle.train.trainer import Trainer

    AcceleratorState._reset_state(reset_partial_state=True)        # one precision per process state
    try:
        config = RunConfig(model=ModelConfig(path=str(tiny_folder)), grpo=GRPOConfig(group_size=2, tasks_per_step=1),
                           train=TrainConfig(steps=1, mixed_precision=precision), log=LogConfig(live=False))
        trainer = Trainer(config, tmp_path / precision, tasks=[0], env=None, model=_load(tiny_folder))
        assert trainer.attention == expected
        assert trainer.model.config._attn_implementation == expected
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)


def test_the_run_log_names_the_kernel_and_its_length_limit(tiny_folder, tmp_path):
    from sandmle.policies.tiny import build_tiny_model
    from sandmle.train.attention import describe_attention, kernel_max_tokens

    assert kernel_max_tokens(8) is None and kernel_max_tokens(32) == 768 and kernel_max_tokens(16) == 1536
    tiny = _load(tiny_folder)
    assert "head dim 8, any length" in describe_attention(tiny, select_attention(tiny, "auto", "cpu"))
    scratch = _load(build_tiny_model(tmp_path / "h32", architecture="qwen3", hidden_size=64, num_heads=2,
                                     num_kv_heads=2, head_dim=32))
    line = describe_attention(scratch, select_attention(scratch, "auto", "cpu"))
    assert "head dim 32, up to 768 tokens" in line and "past that" in line
    assert describe_attention(_load(tiny_folder), "sdpa") == "attention: sdpa"
