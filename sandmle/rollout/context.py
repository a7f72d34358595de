"""Keep what the policy sees under a token budget (REFERENCE §5: 32,768 tokens).

The conversation is system, first user (the task), then turns of (assistant, tool
response). When it does not fit, failed turns (format errors, failed code runs) are dropped
first, oldest first; if it still does not fit, everything but system, first user and the
last two messages goes. If even that does not fit, the episode ends as "context_overflow".

Tokens are counted with the tokenizer when one is given (content tokens plus
`MESSAGE_OVERHEAD_TOKENS` for the chat template's role markers); otherwise with the estimate
of one token per `CHARS_PER_TOKEN` characters (about right for English and code with BPE
vocabularies), plus the same overhead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4     # "<|im_start|>role\n" ... "<|im_end|>\n" in ChatML-like templates

Message = dict[str, str]
TokenCounter = Callable[[str], int]


def make_token_counter(tokenizer: Any | None = None) -> TokenCounter:
    """Count the tokens of one message's content: the tokenizer's, else chars/4 rounded up."""
    if tokenizer is None:
        return lambda text: math.ceil(len(text) / CHARS_PER_TOKEN)
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


def count_tokens(messages: list[Message], counter: TokenCounter) -> int:
    return sum(counter(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)


@dataclass(frozen=True)
class ContextView:
    messages: list[Message]      # what the policy is shown
    num_tokens: int
    fits: bool                   # False: even the minimal view exceeds the budget
    dropped: int                 # messages left out


def fit_context(messages: list[Message], failed_turns: list[bool], max_tokens: int,
                counter: TokenCounter) -> ContextView:
    """Choose the messages to show so that they fit in `max_tokens`.

    `messages` = [system, user, (assistant, tool response) * n, ...] (a trailing assistant
    message without a response is allowed); `failed_turns[i]` marks turn i as failed.
    """
    head = 2 if messages and messages[0]["role"] == "system" else 1
    turns = [messages[i:i + 2] for i in range(head, len(messages), 2)]
    if len(failed_turns) < len(turns):
        raise ValueError(f"failed_turns has {len(failed_turns)} flags for {len(turns)} turns")
    sizes = [count_tokens(t, counter) for t in turns]
    total = count_tokens(messages[:head], counter) + sum(sizes)
    keep = [True] * len(turns)
    if total > max_tokens:
        # Failed turns go first, oldest first; the last two messages always stay.
        protected = _protected_turns(turns)
        for i, failed in enumerate(failed_turns[:len(turns)]):
            if total <= max_tokens:
                break
            if failed and i not in protected:
                keep[i] = False
                total -= sizes[i]
    if total > max_tokens:
        # Everything but system, first user and the last two messages goes.
        shown = list(messages[:head]) + list(messages[head:][-2:])
        total = count_tokens(shown, counter)
        return ContextView(shown, total, total <= max_tokens, len(messages) - len(shown))
    shown = list(messages[:head])
    for turn, kept in zip(turns, keep):
        if kept:
            shown.extend(turn)
    return ContextView(shown, total, total <= max_tokens, len(messages) - len(shown))


def _protected_turns(turns: list[list[Message]]) -> set[int]:
    """Turns holding one of the last two messages."""
    if not turns:
        return set()
    if len(turns[-1]) == 2 or len(turns) == 1:
        return {len(turns) - 1}
    return {len(turns) - 1, len(turns) - 2}
