"""Turn a finished conversation into training ids with a loss mask (REFERENCE §7).

One sequence per episode, rendered with the tokenizer's chat template. The prompt is the
system and first user message plus the first assistant header (mask 0); after it, assistant
content and its end-of-turn token are the policy's tokens (mask 1) and everything else
(tool responses, role headers, the template's newline after the end-of-turn token) has
mask 0. The trainer uses this same function.

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


def _split_turn(piece: str, content: str, eos: str | None) -> list[tuple[str, int]]:
    """Mask 1 on the content and the end-of-turn token; 0 on template text after it."""
    if eos and piece.startswith(content):
        rest = piece[len(content):]
        end = rest.find(eos)
        if end >= 0:
            cut = len(content) + end + len(eos)
            return [(piece[:cut], 1), (piece[cut:], 0)]
    return [(piece, 1)]


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
            for text, mask in _split_turn(_piece(full, with_header, i), message["content"],
                                          getattr(tokenizer, "eos_token", None)):
                add(text, mask)
        else:
            if i > first_user and prompt_len is None:
                prompt_len = len(input_ids)
            full = _render(tokenizer, messages[:i + 1], add_generation_prompt=False)
            add(_piece(full, rendered, i), 0)
        rendered = full
    if prompt_len is None:
        prompt_len = len(input_ids)
    return input_ids, loss_mask, prompt_len
