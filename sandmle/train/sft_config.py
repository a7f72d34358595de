"""SFT recipes: one frozen dataclass per section, validated once (as `sandmle.train.config`).

    [model]    the network: a transformers folder, or "scratch" (a new model and a
               tokenizer learnt from the data, sized by [scratch]); dtype, LoRA
    [scratch]  the tokenizer and architecture of a model trained from scratch
    [data]     episode files and the filters: minimum reward, splits, timed-out episodes
    [sft]      optimisation: epochs or steps, sequences per step, tokens per forward pass,
               learning rate and schedule, clipping, precision, seed, checkpoints
    [log]      live view and curves

`load_sft_recipe(path, overrides)` reads the TOML file, applies `--set section.key=value`
overrides and returns an `SFTRun`; an error names the value and the fix in one line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandmle.errors import UserError
from sandmle.policies.tiny import CHAT_TEMPLATES
from sandmle.train.config import ModelConfig, _build, _fail, _jsonable, check_optimization, read_recipe


@dataclass(frozen=True)
class ScratchConfig:
    vocab_size: int = 4096            # BPE vocabulary learnt from the data (special and protocol tokens on top)
    merge_words: bool = True          # merges may cross spaces: fixed phrases become a few tokens
    max_token_chars: int = 24         # longest token, in characters
    min_frequency: int = 2            # a pair seen in fewer tasks is not merged (no token of one task's text)
    template: str = "chatml"          # chat template, one of sandmle.policies.tiny.CHAT_TEMPLATES
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 4
    intermediate_size: int = 0        # feed-forward width; 0 = 3 x hidden_size
    max_positions: int = 4096

    def __post_init__(self) -> None:
        if self.template not in CHAT_TEMPLATES:
            _fail("scratch", f"template={self.template!r} is unknown: use one of {', '.join(CHAT_TEMPLATES)}")
        for name in ("vocab_size", "max_token_chars", "hidden_size", "num_layers", "num_heads",
                     "num_kv_heads", "max_positions"):
            if getattr(self, name) < 1:
                _fail("scratch", f"{name}={getattr(self, name)} must be >= 1")
        if self.vocab_size < 300:
            _fail("scratch", f"vocab_size={self.vocab_size} must be >= 300 (256 byte tokens and the specials)")
        if self.min_frequency < 0 or self.intermediate_size < 0:
            _fail("scratch", f"min_frequency={self.min_frequency} and intermediate_size={self.intermediate_size} "
                             f"must be >= 0")
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            _fail("scratch", f"hidden_size={self.hidden_size} must be divisible by num_heads={self.num_heads}, "
                             f"and num_heads by num_kv_heads={self.num_kv_heads}")


@dataclass(frozen=True)
class DataConfig:
    files: tuple[str, ...] = ()       # episode files: sandmle episodes.jsonl or chat JSONL
    min_reward: float = -math.inf     # keep episodes whose reward is >= this (-inf: no filter)
    splits: tuple[str, ...] = ()      # keep episodes of these task splits only (empty: all)
    include_timeouts: bool = False    # keep episodes with > 20% timed-out tool responses
    max_seq_tokens: int = 4096        # longer sequences are cut at the end (their tail leaves the loss)

    def __post_init__(self) -> None:
        if self.max_seq_tokens < 2:
            _fail("data", f"max_seq_tokens={self.max_seq_tokens} must be >= 2")
        if math.isnan(self.min_reward):
            _fail("data", "min_reward is NaN: give a number (or -inf for no filter)")


@dataclass(frozen=True)
class SFTConfig:
    epochs: float = 1.0               # passes over the sequences (ignored when max_steps > 0)
    max_steps: int = 0                # optimizer steps; 0 = as many as `epochs` needs
    batch_size: int = 16              # sequences per optimizer step, all processes together
    micro_batch_tokens: int = 8192    # padded tokens per forward pass (length-bucketed micro-batches)
    lr: float = 1e-5                  # REFERENCE §7: the paper's SFT baseline used 1e-5, 200 steps
    lr_schedule: str = "cosine"       # "constant" | "cosine" | "linear" (after warmup)
    warmup_steps: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0            # max gradient norm; 0 = no clipping
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    mixed_precision: str = "no"       # "no" | "bf16" (accelerate autocast)
    seed: int = 0                     # data order, and a scratch model's initial weights
    save_every: int = 50              # steps between checkpoints; 0 = only at the end
    keep_last: int = 2

    def __post_init__(self) -> None:
        if not (self.epochs > 0 or self.max_steps > 0):
            _fail("sft", f"epochs={self.epochs} and max_steps={self.max_steps}: one must be > 0")
        if self.max_steps < 0 or self.batch_size < 1 or self.micro_batch_tokens < 1:
            _fail("sft", f"max_steps={self.max_steps} must be >= 0, batch_size={self.batch_size} and "
                         f"micro_batch_tokens={self.micro_batch_tokens} >= 1")
        check_optimization("sft", self)


@dataclass(frozen=True)
class SFTLogConfig:
    live: bool = True                 # rich live table on a terminal; false: one line per step
    plot_every: int = 10              # steps between PNG curve refreshes

    def __post_init__(self) -> None:
        if self.plot_every < 1:
            _fail("log", f"plot_every={self.plot_every} must be >= 1")


SFT_SECTIONS: dict[str, type] = {"model": ModelConfig, "scratch": ScratchConfig, "data": DataConfig,
                                 "sft": SFTConfig, "log": SFTLogConfig}


@dataclass(frozen=True)
class SFTRun:
    model: ModelConfig = field(default_factory=lambda: ModelConfig(path="scratch"))
    scratch: ScratchConfig = field(default_factory=ScratchConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    log: SFTLogConfig = field(default_factory=SFTLogConfig)

    def __post_init__(self) -> None:
        if self.model.kind != "hf":
            _fail("model", f"kind={self.model.kind!r}: SFT trains a language model, use kind=\"hf\"")
        if not self.data.files:
            _fail("data", "files is empty: name the episode files (or pass --data FILE)")

    def to_json(self) -> dict[str, Any]:
        import dataclasses

        out = {}
        for name in SFT_SECTIONS:
            values = _jsonable(dataclasses.asdict(getattr(self, name)))
            out[name] = {k: (str(v) if isinstance(v, float) and math.isinf(v) else v) for k, v in values.items()}
        return out


def load_sft_recipe(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> SFTRun:
    """Read a TOML recipe (None: the defaults), apply `--set` overrides, validate."""
    data = read_recipe(path, overrides, SFT_SECTIONS)
    unknown = set(data) - set(SFT_SECTIONS)
    if unknown:
        raise UserError(f"unknown recipe section(s) {sorted(unknown)}: known are {', '.join(SFT_SECTIONS)}")
    built = {}
    for name, kind in SFT_SECTIONS.items():
        values = data.get(name, {})
        if not isinstance(values, dict):
            raise UserError(f"[{name}] must be a table, got {type(values).__name__}")
        if name == "model":
            values = {"path": "scratch", **values}
        built[name] = _build(name, kind, values)
    return SFTRun(**built)
