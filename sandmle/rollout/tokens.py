"""Turn a finished conversation into training ids with a loss mask (REFERENCE §7).

One sequence per episode, rendered with the tokenizer's chat template. The prompt is the
system and first user message plus the first assistant header (mask 0); after it, assistant
content and its end-of-turn marker are the policy's tokens (mask 1) and everything else
(tool responses, role headers) has mask 0. The trainer uses this same function.

The template must be prefix-stable: rendering the first k messages must be a prefix of
rendering k+1. Templates that rewrite earlier turns (Qwen3's default drops old think blocks)
are refused with a ValueError naming the message, since the ids would not match what the
policy saw being trained on.
"""
from __future__ import annotations

from typing import Any

Message = dict[str, str]


def _render(tokenizer: Any, messages: list[Message], add_generation_prompt: bool) -> str:
    if not messages:
        return ""
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def _piece(longer: str, shorter: str, index: int) -> str:
    if not longer.startswith(shorter):
        raise ValueError(f"chat template is not prefix-stable at message {index}: rendering "
                         f"more messages changed the text of earlier ones")
    return longer[len(shorter):]


def tokenize_episode(messages: list[Message], tokenizer: Any) -> tuple[list[int], list[int], int]:
    """(input_ids, loss_mask, prompt_len) for a whole conversation."""
    if not messages:
        raise ValueError("tokenize_episode needs at least one message")
    first_user = next((i for i, m in enumerate(messages) if m["role"] == "user"), None)
    if first_user is None:
        raise ValueError("the conversation has no user message")
    input_ids: list[int] = []
    loss_mask: list[int] = []
    prompt_len = None

    def add(text: str, mask: int) -> None:
        if text:
            ids = tokenizer.encode(text, add_special_tokens=False)
            input_ids.extend(ids)
            loss_mask.extend([mask] * len(ids))

    rendered = ""
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            with_header = _render(tokenizer, messages[:i], add_generation_prompt=True)
            add(_piece(with_header, rendered, i), 0)
            if i > first_user and prompt_len is None:
                prompt_len = len(input_ids)
            full = _render(tokenizer, messages[:i + 1], add_generation_prompt=False)
            add(_piece(full, with_header, i), 1)
        else:
            if i > first_user and prompt_len is None:
                prompt_len = len(input_ids)
            full = _render(tokenizer, messages[:i + 1], add_generation_prompt=False)
            add(_piece(full, rendered, i), 0)
        rendered = full
    if prompt_len is None:
        prompt_len = len(input_ids)
    return input_ids, loss_mask, prompt_len
