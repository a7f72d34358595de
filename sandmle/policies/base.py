"""The policy interface: what every model backend (scripted, openai, hf, vllm) provides.

A policy turns a batch of conversations (OpenAI-style messages: `role`, `content`) into one
`Generation` per conversation. A failed request is data (`finish_reason="error"`), never an
exception, so one bad call cannot stop a rollout. `sync_weights` pushes trained weights into
the generator (a no-op where the backend shares the trained model, an error where it cannot).

Token ids: a caller holding the tokenizer passes `prompt_ids`, the exact ids of each prompt
(chat template applied, generation prompt included); backends that generate from ids (hf,
vllm, a vLLM server's completions endpoint) use them as given and echo them in
`Generation.prompt_ids`, next to the sampled `token_ids` and their behaviour `logprobs`. A
conversation ending with an assistant message asks to continue that message.

Stop strings are kept in `Generation.text` (backends whose engine strips them append them
again) and the one that ended a generation is `Generation.stop_string`, so the rollout can
tell a real end of turn from a stop string met inside code and resume.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]
FINISH_REASONS = ("stop", "length", "error")


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    stop: tuple[str, ...] = ()          # e.g. ("</tool_call>", "</answer>"); kept in the text
    seed: int | None = None
    row_seeds: tuple[int, ...] | None = None   # per conversation of a batch (see seed_for)

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if isinstance(self.stop, str) or any(not s for s in self.stop):
            raise ValueError(f"stop must be a tuple of non-empty strings, got {self.stop!r}")

    def seed_for(self, row: int) -> int | None:
        """The seed of row `row` of a batch: `row_seeds[row]` when given (a rollout runner
        gives each episode its own, so a resumed run samples as the uninterrupted one),
        else `seed + row`, so identical prompts in a batch (a GRPO group) differ."""
        if self.row_seeds is not None:
            return self.row_seeds[row]
        return None if self.seed is None else self.seed + row


@dataclass(frozen=True)
class Generation:
    text: str
    token_ids: tuple[int, ...] | None = None    # sampled completion ids (end-of-turn token included)
    logprobs: tuple[float, ...] | None = None   # behaviour log-prob of each of token_ids
    finish_reason: str = "stop"                 # "stop" | "length" | "error"
    error: str | None = None                    # set when finish_reason == "error"
    prompt_ids: tuple[int, ...] | None = None   # the prompt ids it was generated from
    stop_string: str | None = None              # the stop string that ended it (None: end of turn, length)
    resumes: int = 0                            # times it resumed after a stop string cut the action

    def __post_init__(self) -> None:
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(f"finish_reason must be one of {FINISH_REASONS}, got {self.finish_reason!r}")
        if (self.finish_reason == "error") != (self.error is not None):
            raise ValueError("error must be set exactly when finish_reason is 'error'")
        if self.logprobs is not None and self.token_ids is not None and len(self.logprobs) != len(self.token_ids):
            raise ValueError(f"{len(self.logprobs)} logprobs for {len(self.token_ids)} token ids")

    @classmethod
    def failed(cls, error: str) -> "Generation":
        return cls(text="", finish_reason="error", error=error)

    def then(self, more: "Generation") -> "Generation":
        """This generation continued by `more` (generated from this one's prompt and ids)."""
        both = self.token_ids is not None and more.token_ids is not None
        logprobs = None
        if both and self.logprobs is not None and more.logprobs is not None:
            logprobs = self.logprobs + more.logprobs
        return Generation(text=self.text + more.text, token_ids=self.token_ids + more.token_ids if both else None,
                          logprobs=logprobs, finish_reason=more.finish_reason, prompt_ids=self.prompt_ids,
                          stop_string=more.stop_string, resumes=self.resumes + 1)


@runtime_checkable
class Policy(Protocol):
    name: str

    def generate(self, conversations: list[list[Message]], sampling: SamplingParams,
                 prompt_ids: list[list[int]] | None = None) -> list[Generation]:
        """One Generation per conversation; failures are Generations with finish_reason 'error'.
        `prompt_ids`, when given, are the exact prompt ids of each conversation."""
        ...

    def sync_weights(self, model: Any) -> None:
        """Push trained weights into the generator (no-op where the model is shared)."""
        ...

    def close(self) -> None:
        ...


def probe_policy(policy: Any) -> None:
    """Check, before any episode, that a remote policy can answer: backends with an
    endpoint define `probe()`, which raises a UserError saying what is wrong; local ones
    (scripted, hf, in-process vLLM) failed already when they were built."""
    probe = getattr(policy, "probe", None)
    if probe is not None:
        probe()


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """Cut `text` just after the earliest stop string; return (text, whether one was found)."""
    best = None
    for s in stop:
        i = text.find(s)
        if i >= 0 and (best is None or i + len(s) < best):
            best = i + len(s)
    if best is None:
        return text, False
    return text[:best], True


def make_policy(spec: str, **kw: Any) -> Policy:
    """Build a policy from a spec string; see `sandmle.policies.make_policy`."""
    from sandmle.policies import make_policy as _make

    return _make(spec, **kw)
