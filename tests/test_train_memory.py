"""The memory estimate printed at training start: the recipes fit the GPUs their headers name,
and a run that cannot fit is refused with the knob to turn."""
import re
from pathlib import Path

import pytest
import torch

from sandmle.errors import UserError
from sandmle.train.config import load_recipe
from sandmle.train.memory import GIB, Architecture, check_memory, estimate_memory

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
# Qwen3's published configs (config.json of Qwen/Qwen3-8B and Qwen/Qwen3-0.6B)
QWEN3_8B = dict(hidden_size=4096, num_hidden_layers=36, intermediate_size=12288, num_attention_heads=32,
                num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=False)
QWEN3_06B = dict(hidden_size=1024, num_hidden_layers=28, intermediate_size=3072, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True)
H100_BYTES = 79.1 * GIB      # what torch reports for an 80 GB card
GPU_24GB_BYTES = 23.6 * GIB


def arch(**shape) -> Architecture:
    from transformers import AutoModelForCausalLM, Qwen3Config

    with torch.device("meta"):
        return Architecture.of(AutoModelForCausalLM.from_config(Qwen3Config(**shape)))


def test_architecture_counts_qwen3_8b():
    a = arch(**QWEN3_8B)
    assert 8.1e9 < a.num_params < 8.3e9 and a.kv_width == 1024 and a.vocab_size == 151936


def test_the_8b_recipe_fits_eight_80gb_gpus():
    cfg = load_recipe(RECIPES / "qwen3-8b-grpo.toml")
    estimate = estimate_memory(cfg, arch(**QWEN3_8B), processes=8, fsdp=True, device_bytes=H100_BYTES)
    check_memory(cfg, estimate, H100_BYTES)
    assert estimate.update_bytes < H100_BYTES


def test_the_06b_recipe_fits_one_24gb_gpu():
    cfg = load_recipe(RECIPES / "qwen3-0.6b-grpo.toml")
    estimate = estimate_memory(cfg, arch(**QWEN3_06B), device_bytes=GPU_24GB_BYTES)
    check_memory(cfg, estimate, GPU_24GB_BYTES)


def test_a_run_that_cannot_fit_is_refused_naming_the_knob():
    cfg = load_recipe(RECIPES / "qwen3-0.6b-grpo.toml", ["rollout.max_response_tokens=32768"])
    estimate = estimate_memory(cfg, arch(**QWEN3_06B), device_bytes=GPU_24GB_BYTES)
    with pytest.raises(UserError, match=r"lower \[rollout\] max_response_tokens \(now 32768; about \d+ would fit\)"):
        check_memory(cfg, estimate, GPU_24GB_BYTES)
    message = str(pytest.raises(UserError, check_memory, cfg, estimate, GPU_24GB_BYTES).value)
    fits = int(re.search(r"about (\d+) would fit", message).group(1))
    smaller = load_recipe(RECIPES / "qwen3-0.6b-grpo.toml", [f"rollout.max_response_tokens={fits}"])
    check_memory(smaller, estimate_memory(smaller, arch(**QWEN3_06B), device_bytes=GPU_24GB_BYTES), GPU_24GB_BYTES)


def test_an_engine_share_too_large_for_rollouts_is_refused():
    cfg = load_recipe(RECIPES / "qwen3-0.6b-grpo.toml", ["rollout.vllm_gpu_memory_utilization=0.9"])
    estimate = estimate_memory(cfg, arch(**QWEN3_06B), device_bytes=GPU_24GB_BYTES)
    with pytest.raises(UserError, match="during rollouts.*vllm_gpu_memory_utilization"):
        check_memory(cfg, estimate, GPU_24GB_BYTES)


def test_fsdp_shards_the_static_memory():
    cfg = load_recipe(RECIPES / "qwen3-8b-grpo.toml")
    one = estimate_memory(cfg, arch(**QWEN3_8B), processes=1, device_bytes=H100_BYTES)
    eight = estimate_memory(cfg, arch(**QWEN3_8B), processes=8, fsdp=True, device_bytes=H100_BYTES)
    assert eight.optimizer == pytest.approx(one.optimizer / 8)
    assert eight.activations == one.activations and eight.logits == one.logits
