"""What a rollout hands the trainer: one `Sample` per episode, padded into tensors.

A sample is the episode's whole token sequence (prompt and every later turn), a 0/1 loss mask
aligned with it (1 on tokens the policy wrote and is trained on; prompt and tool-response
tokens 0), the scalar reward, the group (task) it belongs to and whether it stays in the
loss (`keep`: timed-out episodes do not, REFERENCE §5).
"""
from __future__ import annotations

from dataclasses import dataclass, field
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

    def __post_init__(self) -> None:
        if len(self.input_ids) != len(self.loss_mask):
            raise ValueError(f"input_ids ({len(self.input_ids)}) and loss_mask ({len(self.loss_mask)}) differ in length")

    @property
    def response_tokens(self) -> int:
        return int(sum(self.loss_mask))


@dataclass(frozen=True)
class Rollouts:
    samples: tuple[Sample, ...]
    wall_s: float
    stats: dict[str, float] = field(default_factory=dict)   # backend-specific extras


@dataclass
class Batch:
    """Right-padded tensors; `mask` is aligned with the targets input_ids[:, 1:]."""

    input_ids: torch.Tensor        # (B, T) long
    attention_mask: torch.Tensor   # (B, T) long
    mask: torch.Tensor             # (B, T-1) float: loss on predicting token t+1
    rewards: torch.Tensor          # (B,) float
    groups: torch.Tensor           # (B,) long
    keep: torch.Tensor             # (B,) bool

    def select(self, index: torch.Tensor) -> "Batch":
        return Batch(*(t[index] for t in (self.input_ids, self.attention_mask, self.mask,
                                          self.rewards, self.groups, self.keep)))

    def trimmed(self) -> "Batch":
        """Drop padding columns that no row of this (sub-)batch uses."""
        width = int(self.attention_mask.sum(-1).max())
        return Batch(self.input_ids[:, :width], self.attention_mask[:, :width],
                     self.mask[:, :width - 1], self.rewards, self.groups, self.keep)


def collate(samples: list[Sample] | tuple[Sample, ...], pad_id: int = 0) -> Batch:
    width = max(len(s.input_ids) for s in samples)
    n = len(samples)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    attn = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, max(width - 1, 1)), dtype=torch.float32)
    for i, s in enumerate(samples):
        length = len(s.input_ids)
        ids[i, :length] = torch.tensor(s.input_ids, dtype=torch.long)
        attn[i, :length] = 1
        if length > 1:
            mask[i, :length - 1] = torch.tensor(s.loss_mask[1:], dtype=torch.float32)
    rewards = torch.tensor([s.reward for s in samples], dtype=torch.float32)
    groups = torch.tensor([s.group for s in samples], dtype=torch.long)
    keep = torch.tensor([s.keep for s in samples], dtype=torch.bool)
    return Batch(ids, attn, mask, rewards, groups, keep)
