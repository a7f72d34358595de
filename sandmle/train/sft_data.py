"""SFT data: episode files -> filtered records -> token sequences with GRPO's loss masks.

Two line formats, told apart line by line, in any number of files:

    sandmle episodes   `sandmle eval`'s episodes.jsonl (`Episode.to_json`): every turn, the
                       reward, the termination, the task's split, and token ids when the
                       rollout had a tokenizer
    chat records       {"messages": [...]} with optional "reward", "task_id", "episode_id",
                       "split" (`sandmle eval --sft-out`, or any chat-format JSONL)

Filters (`select_records`): episodes must be usable for training by the rule GRPO uses
(`sandmle.rollout.episode.unusable_reason`: no infrastructure failure, a finite reward, not
timed out unless asked); a reward below `min_reward` leaves an episode out (a chat record
without a reward cannot pass a reward filter: a UserError says so); `splits` keeps the
named task splits only.

Tokenisation (`tokenize_record`), one rule for both formats, so SFT trains on the sequences
and masks a GRPO rollout of the same turns would train on:

- an episode whose turns carry ids recorded with this tokenizer (its first prompt is this
  tokenizer's rendering of the first messages) trains on exactly those ids
  (`sandmle.rollout.tokens.training_sequences`);
- any other turn list (text-only rollouts such as the scripted teachers, chat records, ids
  of another tokenizer) is replayed through `TokenContext` as a rollout with this tokenizer
  records it: the first prompt rendered by the chat template, each later prompt extending
  the one before, each assistant turn encoded as its completion (after the `<think>` a
  template's generation prompt opens, which the turn must open with; else it is left out).

The loss mask is 1 exactly on completion ids; prompts, tool responses and template tokens
are 0. A sequence longer than `max_tokens` is cut at the end (its tail leaves the loss); one
whose prompt alone is longer is left out.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sandmle.errors import UserError
from sandmle.files import existing_file


@dataclass(frozen=True)
class SFTRecord:
    """One conversation to learn from, from either line format."""

    messages: tuple[dict, ...]
    source: str                      # "file:line"
    task_id: str | None = None
    episode_id: str | None = None
    reward: float | None = None
    split: str | None = None
    policy: str | None = None
    episode: Any = None              # the Episode, for sandmle episode lines


@dataclass(frozen=True)
class TokenizedRecord:
    input_ids: tuple[int, ...]
    loss_mask: tuple[int, ...]
    source: str
    recorded_ids: bool               # trained on the ids the rollout recorded
    cut: bool = False                # longer than max_tokens: the tail was cut


@dataclass
class DataStats:
    """What happened to every line read: kept, or left out and why."""

    lines: int = 0
    kept: int = 0
    left_out: Counter = field(default_factory=Counter)
    recorded_ids: int = 0            # sequences on recorded ids
    replayed: int = 0                # sequences tokenised from text
    cut: int = 0
    loss_tokens: int = 0
    tokens: int = 0
    by_policy: Counter = field(default_factory=Counter)
    by_split: Counter = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"lines": self.lines, "kept": self.kept, "left_out": dict(sorted(self.left_out.items())),
                "recorded_ids": self.recorded_ids, "replayed": self.replayed, "cut": self.cut,
                "tokens": self.tokens, "loss_tokens": self.loss_tokens,
                "by_policy": dict(sorted(self.by_policy.items())),
                "by_split": dict(sorted(self.by_split.items()))}


def read_records(paths: Iterable[str | Path]) -> list[SFTRecord]:
    """Every line of the files, as records (UserError naming the file and line for a bad one)."""
    from sandmle.rollout.episode import Episode

    records = []
    for path in map(Path, paths):
        existing_file(path, "SFT data file")
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{where}: not JSON ({exc})") from None
                if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
                    raise UserError(f"{where}: neither a sandmle episode nor a chat record (no \"messages\" list)")
                if "steps" in data:
                    try:
                        ep = Episode.from_json(data)
                    except (TypeError, KeyError, ValueError) as exc:
                        raise UserError(f"{where}: not an episode record ({exc})") from None
                    records.append(SFTRecord(ep.messages, where, ep.task_id, ep.episode_id, ep.reward,
                                             ep.split, ep.policy, ep))
                    continue
                messages = tuple(data["messages"])
                bad = [m for m in messages if not isinstance(m, dict) or not isinstance(m.get("role"), str)
                       or not isinstance(m.get("content"), str)]
                if bad:
                    raise UserError(f"{where}: every message needs a string \"role\" and \"content\"")
                reward = data.get("reward")
                if reward is not None and (isinstance(reward, bool) or not isinstance(reward, (int, float))):
                    raise UserError(f"{where}: \"reward\" must be a number, got {reward!r}")
                records.append(SFTRecord(messages, where, data.get("task_id"), data.get("episode_id"),
                                         None if reward is None else float(reward), data.get("split"),
                                         data.get("policy")))
    return records


def select_records(records: list[SFTRecord], *, min_reward: float | None = None,
                   splits: tuple[str, ...] = (), include_timeouts: bool = False,
                   stats: DataStats | None = None) -> list[SFTRecord]:
    """The records that pass the filters (see the module doc); `stats` counts the others."""
    from sandmle.rollout.episode import unusable_reason

    stats = stats if stats is not None else DataStats()
    kept = []
    for record in records:
        stats.lines += 1
        reason = None
        if record.episode is not None:
            reason = unusable_reason(record.episode, include_timeouts)
        elif record.reward is not None and not math.isfinite(record.reward):
            reason = "nonfinite_reward"
        if reason is None and min_reward is not None:
            if record.reward is None:
                raise UserError(f"{record.source}: a chat record without a \"reward\" cannot pass "
                                f"min_reward={min_reward}; drop the filter or add rewards")
            if record.reward < min_reward:
                reason = "below_min_reward"
        if reason is None and splits and record.split not in splits:
            reason = "other_split"
        if reason is None and not any(m["role"] == "assistant" for m in record.messages):
            reason = "no_assistant_turn"
        if reason is not None:
            stats.left_out[reason] += 1
            continue
        kept.append(record)
    return kept


@dataclass(frozen=True)
class _Turn:
    """A turn's ids, shaped like `episode.Step` for `training_sequences`."""

    index: int
    prompt_ids: tuple[int, ...] | None
    prompt_extends: bool
    completion_ids: tuple[int, ...] | None
    logprobs: tuple[float, ...] | None = None


def _recorded_with(tokenizer: Any, record: SFTRecord) -> bool:
    """Whether the episode's ids were recorded with this tokenizer and chat template."""
    from sandmle.rollout.tokens import render_prompt_ids

    steps = record.episode.steps if record.episode is not None else ()
    if not steps or any(s.prompt_ids is None or s.completion_ids is None for s in steps):
        return False
    if steps[0].prompt_extends:
        return False
    try:
        return list(steps[0].prompt_ids) == render_prompt_ids(tokenizer, list(record.messages[:2]))
    except Exception:
        return False


def replay_turns(tokenizer: Any, messages: list[dict]) -> list[_Turn] | str:
    """Each assistant message as the turn a rollout with `tokenizer` would record; a string
    saying why when the conversation cannot be replayed."""
    from sandmle.policies.base import Generation
    from sandmle.rollout.tokens import TokenContext

    context = TokenContext(tokenizer)
    turns = []
    for at, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        shown = list(messages[:at])
        try:
            prompt = context.prompt(shown)
        except Exception as exc:
            return f"chat_template_error ({type(exc).__name__})"
        content = message["content"]
        opened = prompt.prefill.strip()
        if opened and not content.lstrip().startswith(opened):
            return "prefill_mismatch"
        # the generation prompt opened the think block the turn starts with: train from after it
        completion = content.lstrip()[len(opened):].lstrip("\n") if opened else content
        ids = context.record(prompt, shown + [message], Generation(text=completion))
        turns.append(_Turn(len(turns), ids.prompt_ids, ids.prompt_extends, ids.completion_ids))
    return turns


def tokenize_record(tokenizer: Any, record: SFTRecord, max_tokens: int) -> list[TokenizedRecord] | str:
    """The record's training sequences (see the module doc), or why it has none."""
    from sandmle.rollout.tokens import training_sequences

    recorded = _recorded_with(tokenizer, record)
    turns = record.episode.steps if recorded else replay_turns(tokenizer, list(record.messages))
    if isinstance(turns, str):
        return turns
    out = []
    for seq in training_sequences(turns):
        if seq.prompt_len >= max_tokens:
            return "prompt_over_budget"
        cut = len(seq.input_ids) > max_tokens
        out.append(TokenizedRecord(seq.input_ids[:max_tokens], seq.loss_mask[:max_tokens], record.source,
                                   recorded, cut))
    return out if out else "no_tokens"


def tokenize_records(tokenizer: Any, records: list[SFTRecord], max_tokens: int,
                     stats: DataStats | None = None) -> list[TokenizedRecord]:
    """Every record's sequences, in order; `stats` counts them and the records left out."""
    stats = stats if stats is not None else DataStats()
    out = []
    for record in records:
        result = tokenize_record(tokenizer, record, max_tokens)
        if isinstance(result, str):
            stats.left_out[result] += 1
            continue
        stats.kept += 1
        stats.by_policy[record.policy or "unknown"] += 1
        stats.by_split[record.split or "none"] += 1
        for seq in result:
            out.append(seq)
            stats.recorded_ids += seq.recorded_ids
            stats.replayed += not seq.recorded_ids
            stats.cut += seq.cut
            stats.tokens += len(seq.input_ids)
            stats.loss_tokens += sum(seq.loss_mask)
    return out


def fingerprint(sequences: list[TokenizedRecord]) -> str:
    """A hash of the sequences' ids and masks: a resumed run must train on the same data."""
    digest = hashlib.sha256()
    for seq in sequences:
        digest.update(json.dumps([seq.input_ids, seq.loss_mask]).encode())
    return digest.hexdigest()[:16]


def tokenizer_corpus(records: list[SFTRecord], max_repeats: int = 64) -> list[str]:
    """Texts to train a tokenizer on: each distinct message once per task it appears in (at
    most `max_repeats` times). Text every task shares (the system prompt, the protocol, a
    solution's fixed lines) counts for many; one task's own text (its description) counts
    once, however many episodes of it the data holds, so the vocabulary is not spent on
    whole training prompts that a held-out task never shows."""
    tasks: dict[str, set[str]] = {}
    for i, record in enumerate(records):
        task = record.task_id or f"#{i}"
        for message in record.messages:
            tasks.setdefault(message["content"], set()).add(task)
    return [text for text, where in tasks.items() for _ in range(min(len(where), max_repeats))]
