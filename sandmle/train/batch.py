"""What a rollout hands the trainer: `Sample`s (one per training sequence), padded into tensors.

A sample is one token sequence of an episode (prompt and later turns; an episode whose
context was cut by the budget has several, sharing `episode`), a 0/1 loss mask aligned with
it (1 on tokens the policy sampled; prompt and tool-response tokens 0), the behaviour
log-probs the rollout engine gave those tokens (NaN where unknown), the episode's scalar
reward, the group (task) it belongs to, whether the episode is usable for training at all
(`usable`: `sandmle.rollout.episode.unusable_reason`) and whether it stays in the loss
(`keep`: usable and not timed out, REFERENCE §5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch


@dataclass(frozen=True)
class Sample:
    input_ids: tuple[int, ...]
    loss_mask: tuple[int, ...]
    reward: float
    group: int
    task_id: str
    keep: bool = True
    valid: bool = False
    tier: str = "none"
    timed_out: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    logprobs: tuple[float, ...] | None = None   # behaviour log-prob of each input id; NaN where unknown
    usable: bool = True              # the episode may train (with timed-out ones when they are not masked)
    episode: int = -1                # episode index in the step; -1: the sample is its own episode
    segment: int = 0                 # which of its episode's sequences this is

    def __post_init__(self) -> None:
        if len(self.input_ids) != len(self.loss_mask):
            raise ValueError(f"input_ids ({len(self.input_ids)}) and loss_mask ({len(self.loss_mask)}) differ in length")
        if self.logprobs is not None and len(self.logprobs) != len(self.input_ids):
            raise ValueError(f"logprobs ({len(self.logprobs)}) and input_ids ({len(self.input_ids)}) differ in length")

    @property
    def response_tokens(self) -> int:
        return int(sum(self.loss_mask))


@dataclass(frozen=True)
class Rollouts:
    samples: tuple[Sample, ...]
    wall_s: float
    stats: dict[str, float] = field(default_factory=dict)    # per-process figures (rates, means, seconds)
    counts: dict[str, float] = field(default_factory=dict)   # counts of rollouts, summed over processes


@dataclass
class Batch:
    """Right-padded tensors; per-token ones are aligned with the targets input_ids[:, 1:]."""

    input_ids: torch.Tensor        # (B, T) long
    attention_mask: torch.Tensor   # (B, T) long
    mask: torch.Tensor             # (B, T-1) float: loss on predicting token t+1
    rewards: torch.Tensor          # (B,) float
    groups: torch.Tensor           # (B,) long
    keep: torch.Tensor             # (B,) bool
    usable: torch.Tensor | None = None          # (B,) bool
    episodes: torch.Tensor | None = None        # (B,) long: rows of one episode share an id
    behaviour_logp: torch.Tensor | None = None  # (B, T-1) float: behaviour log p(token t+1); 0 where unknown
    behaviour_mask: torch.Tensor | None = None  # (B, T-1) float: 1 where behaviour_logp is known

    def _map(self, fn) -> "Batch":
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                value = fn(f.name, value)
            values[f.name] = value
        return Batch(**values)

    def select(self, index: torch.Tensor) -> "Batch":
        return self._map(lambda name, t: t[index])

    def to(self, device) -> "Batch":
        return self._map(lambda name, t: t.to(device))

    def trimmed(self) -> "Batch":
        """Drop padding columns that no row of this (sub-)batch uses."""
        width = int(self.attention_mask.sum(-1).max())
        cols = {"input_ids": width, "attention_mask": width, "mask": width - 1,
                "behaviour_logp": width - 1, "behaviour_mask": width - 1}
        return self._map(lambda name, t: t[:, :cols[name]] if name in cols else t)


def collate(samples: list[Sample] | tuple[Sample, ...], pad_id: int = 0) -> Batch:
    width = max(len(s.input_ids) for s in samples)
    n = len(samples)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    attn = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, max(width - 1, 1)), dtype=torch.float32)
    behaviour = torch.zeros_like(mask)
    known = torch.zeros_like(mask)
    for i, s in enumerate(samples):
        length = len(s.input_ids)
        ids[i, :length] = torch.tensor(s.input_ids, dtype=torch.long)
        attn[i, :length] = 1
        if length > 1:
            mask[i, :length - 1] = torch.tensor(s.loss_mask[1:], dtype=torch.float32)
            if s.logprobs is not None:
                lp = torch.tensor([x if math.isfinite(x) else math.nan for x in s.logprobs[1:]], dtype=torch.float32)
                ok = ~torch.isnan(lp)
                behaviour[i, :length - 1] = torch.where(ok, lp, torch.zeros_like(lp))
                known[i, :length - 1] = ok.to(torch.float32)
    rewards = torch.tensor([s.reward for s in samples], dtype=torch.float32)
    groups = torch.tensor([s.group for s in samples], dtype=torch.long)
    keep = torch.tensor([s.keep for s in samples], dtype=torch.bool)
    usable = torch.tensor([s.usable for s in samples], dtype=torch.bool)
    episodes = torch.tensor([s.episode if s.episode >= 0 else -1 - i for i, s in enumerate(samples)], dtype=torch.long)
    has_behaviour = any(s.logprobs is not None for s in samples)
    return Batch(ids, attn, mask, rewards, groups, keep, usable, episodes,
                 behaviour if has_behaviour else None, known if has_behaviour else None)
