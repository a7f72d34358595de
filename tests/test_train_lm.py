"""The language-model path of the trainer: token samples, LoRA (with the adapter-off reference
for KL), gradient checkpointing, bf16 autocast, on the tiny random Qwen2 model."""
import random

import pytest
import torch

from sandmle.train.batch import Rollouts, Sample
from sandmle.train.build import build_model
from sandmle.train.config import GRPOConfig, LogConfig, ModelConfig, RunConfig, TrainConfig
from sandmle.train.trainer import Trainer


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """One process holds one accelerate state; these tests switch mixed precision."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


class TokenEnv:
    """Fixed random token sequences: a prompt (mask 0), a reply (1), a tool output (0), a reply (1)."""

    def __init__(self, vocab):
        self.vocab = vocab

    def collect(self, model, tasks, group_size, seed):
        rng = random.Random(seed)
        samples = []
        for g, _ in enumerate(tasks):
            for _ in range(group_size):
                parts = [(rng.randint(5, 9), 0), (rng.randint(3, 6), 1), (rng.randint(2, 5), 0), (rng.randint(3, 6), 1)]
                ids, mask = [], []
                for length, m in parts:
                    ids += [rng.randrange(self.vocab) for _ in range(length)]
                    mask += [m] * length
                samples.append(Sample(tuple(ids), tuple(mask), rng.random(), g, f"t{g}", info={"prompt_len": parts[0][0]}))
        return Rollouts(tuple(samples), 0.0)


def _cfg(tmp_path, **model):
    return RunConfig(model=ModelConfig(kind="hf", path="tiny", **model),
                     grpo=GRPOConfig(group_size=3, tasks_per_step=2, micro_batch_size=2, kl_coef=0.1, ppo_epochs=2),
                     train=TrainConfig(steps=2, lr=1e-2, save_every=0, mixed_precision="bf16"),
                     log=LogConfig(live=False))


def test_lora_trains_adapters_only_and_kl_uses_the_adapter_off_model(tmp_path):
    pytest.importorskip("peft")
    cfg = _cfg(tmp_path, lora_rank=4, lora_target_modules=("q_proj", "v_proj"), gradient_checkpointing=True)
    model, tokenizer, _ = build_model(cfg, tmp_path)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    trainer = Trainer(cfg, tmp_path, ["a", "b"], TokenEnv(len(tokenizer)), model, pad_id=tokenizer.pad_token_id)
    assert trainer.ref_model is None                   # the reference is the model with adapters off
    rows = trainer.train(2)
    after = trainer.accelerator.unwrap_model(trainer.model).state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("lora_" in k for k in changed)
    assert rows[-1]["kl"] > 0 and rows[-1]["grad_norm"] > 0


def test_full_finetune_with_tool_outputs_in_the_loss(tmp_path):
    cfg = _cfg(tmp_path)
    cfg = RunConfig(model=cfg.model, grpo=GRPOConfig(group_size=3, tasks_per_step=2, mask_tool_outputs=False,
                                                    loss_agg="seq-mean-token-sum-norm", norm_tokens=32),
                    train=TrainConfig(steps=1, lr=1e-3, save_every=0), log=cfg.log)
    model, tokenizer, _ = build_model(cfg, tmp_path)
    trainer = Trainer(cfg, tmp_path, ["a", "b"], TokenEnv(len(tokenizer)), model, pad_id=tokenizer.pad_token_id)
    row = trainer.train_step()
    assert row["grad_norm"] > 0 and row["in_loss_frac"] == 1.0
