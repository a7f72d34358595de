"""Token-exact episodes: the prompt ids the policy sees and the sequences it is trained on.

An episode's context is kept as token ids, never rebuilt from text:

- the first prompt is the chat template's rendering of the shown messages, generation
  prompt included, tokenised once (`render_prompt_ids`);
- each later prompt extends the one before: previous prompt + the completion ids the policy
  sampled + the ids of what the template writes after an assistant turn (its end-of-turn
  token when the policy did not sample it, the tool response, the next generation prompt;
  `continuation_ids`). Sampled ids are never decoded and encoded again, so the template may
  rewrite old turns (Qwen3 drops or reformats earlier think blocks) and the tokenizer need
  not round-trip: the ids trained on are the ids sampled.
- when the shown messages change otherwise (the context budget dropped turns), the prompt
  is rendered afresh.

`training_sequences(steps)` turns an episode's recorded turns into training sequences: a
turn whose prompt extends the previous turn's continues its sequence, any other starts a new
one (what the policy did not see is never in front of what it wrote). The loss mask is 1
exactly on the completion ids; behaviour log-probs sit at the same positions (NaN where
the backend returned none). One sequence per episode in the usual case (REFERENCE §7).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

Message = dict[str, str]
_MARK = "sandmle-turn-end-7e1f"          # stands in for an assistant turn's content


def render_prompt_ids(tokenizer: Any, messages: list[Message]) -> list[int]:
    """The chat template applied to `messages` with the generation prompt, as ids.

    A conversation that ends with an assistant message is continued instead (its content is
    the start of the turn being generated).
    """
    resume = bool(messages) and messages[-1]["role"] == "assistant"
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=not resume,
                                         continue_final_message=resume)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def continuation_ids(tokenizer: Any, head: list[Message], context: list[int],
                     messages: list[Message]) -> list[int] | None:
    """Ids the template writes after an assistant turn, for the `messages` that follow it and
    the next generation prompt; `context` is the prompt and completion ids so far.

    `head` is the conversation's first messages (system, task), rendered before a stand-in
    assistant turn so the template sees a conversation of the real shape. The end-of-turn
    token is left out when the policy sampled it (the context ends with it). None when the
    template does not render the stand-in turn's content verbatim.
    """
    turn = [{"role": "assistant", "content": _MARK}]
    text = tokenizer.apply_chat_template(head + turn + messages, tokenize=False, add_generation_prompt=True)
    at = text.rfind(_MARK)
    if at < 0:
        return None
    ids = list(tokenizer(text[at + len(_MARK):], add_special_tokens=False)["input_ids"])
    if context and ids and context[-1] == ids[0]:
        ids = ids[1:]
    return ids


def opened_think(tokenizer: Any, prompt_ids: list[int]) -> str:
    """The `<think>` the prompt's generation prefix leaves open ("" when none): the
    completion begins inside that think block."""
    tail = tokenizer.decode(prompt_ids[-16:], skip_special_tokens=False)
    at = tail.rfind("<think>")
    if at < 0 or tail[at:].strip() != "<think>":
        return ""
    return tail[at:]


@dataclass(frozen=True)
class TurnPrompt:
    """The ids shown to the policy for one turn."""

    ids: list[int]                      # the whole prompt
    new_ids: list[int]                  # all of it, or only what follows the previous turn
    extends: bool                       # ids = previous prompt + completion + new_ids
    prefill: str = ""                   # an open "<think>" the generation prompt ends with


@dataclass(frozen=True)
class TurnIds:
    """What one turn's record keeps (the fields of `episode.Step` of the same names)."""

    prompt_ids: tuple[int, ...] | None = None
    prompt_extends: bool = False
    completion_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    tokenised: bool = False


class TokenContext:
    """The token ids one episode has shown its policy, turn after turn (see the module doc).

    Without a tokenizer it only records the ids a backend reports."""

    def __init__(self, tokenizer: Any = None) -> None:
        self.tokenizer = tokenizer
        self.shown: list[Message] | None = None     # the messages behind `ids`
        self.ids: list[int] | None = None           # the last prompt and its completion

    def prompt(self, messages: list[Message]) -> TurnPrompt | None:
        """The prompt ids for `messages`: the previous context extended when `messages`
        continue what was shown, a fresh rendering otherwise."""
        tok = self.tokenizer
        if tok is None:
            return None
        if self.ids is not None and self.shown is not None:
            n = len(self.shown)
            if len(messages) > n and messages[:n] == self.shown:
                new = continuation_ids(tok, messages[:2], self.ids, messages[n:])
                if new is not None:
                    ids = self.ids + new
                    return TurnPrompt(ids, new, True, opened_think(tok, ids))
        ids = render_prompt_ids(tok, messages)
        return TurnPrompt(ids, ids, False, opened_think(tok, ids))

    def record(self, prompt: TurnPrompt | None, messages: list[Message], generation: Any) -> TurnIds:
        """Keep the turn's ids: the backend's prompt and sampled ids when it reports them (a
        backend that generated from other ids than offered is recorded as a fresh prompt),
        else the offered prompt and the text's encoding (`tokenised`)."""
        seen = generation.prompt_ids
        if seen is not None and (prompt is None or list(seen) != prompt.ids):
            prompt = TurnPrompt(list(seen), list(seen), False)
        if prompt is None:          # no tokenizer and no ids from the backend: text only
            self.ids = self.shown = None
            return TurnIds()
        if generation.token_ids is not None:
            completion, tokenised = list(generation.token_ids), False
            logprobs = generation.logprobs
            if logprobs is not None and not all(math.isfinite(x) for x in logprobs):
                logprobs = None
        elif self.tokenizer is not None:
            completion = list(self.tokenizer(generation.text, add_special_tokens=False)["input_ids"])
            tokenised, logprobs = True, None
        else:
            self.ids = self.shown = None
            return TurnIds()
        self.ids = prompt.ids + completion
        self.shown = list(messages)
        return TurnIds(tuple(prompt.new_ids), prompt.extends, tuple(completion),
                       None if logprobs is None else tuple(float(x) for x in logprobs), tokenised)


@dataclass(frozen=True)
class TokenSequence:
    """One training sequence: ids, a 0/1 loss mask and behaviour log-probs, aligned."""

    input_ids: tuple[int, ...]
    loss_mask: tuple[int, ...]          # 1 on completion ids
    logprobs: tuple[float, ...]         # behaviour log-prob of each id; NaN where unknown
    prompt_len: int                     # ids before the first completion
    turns: tuple[int, ...]              # indices of the steps it holds


def training_sequences(steps: Iterable[Any]) -> list[TokenSequence]:
    """Cut recorded turns (`Step`s with prompt and completion ids) into training sequences.

    Turns without ids (a text-only rollout) are skipped. A turn that says it extends the
    previous turn's prompt when that turn has no ids is a broken record: ValueError.
    """
    out: list[TokenSequence] = []
    ids: list[int] = []
    mask: list[int] = []
    logps: list[float] = []
    turns: list[int] = []
    prompt_len = 0
    previous = None
    for step in steps:
        if step.prompt_ids is None or step.completion_ids is None:
            previous = None
            continue
        if step.prompt_extends:
            if previous is None:
                raise ValueError(f"step {step.index} extends a previous prompt that has no ids")
        else:
            if turns:
                out.append(TokenSequence(tuple(ids), tuple(mask), tuple(logps), prompt_len, tuple(turns)))
            ids, mask, logps, turns = [], [], [], []
            prompt_len = len(step.prompt_ids)
        ids.extend(step.prompt_ids)
        mask.extend([0] * len(step.prompt_ids))
        logps.extend([math.nan] * len(step.prompt_ids))
        completion = list(step.completion_ids)
        ids.extend(completion)
        mask.extend([1] * len(completion))
        behaviour = step.logprobs if step.logprobs is not None else [math.nan] * len(completion)
        logps.extend(float(x) for x in behaviour)
        turns.append(step.index)
        previous = step.index
    if turns:
        out.append(TokenSequence(tuple(ids), tuple(mask), tuple(logps), prompt_len, tuple(turns)))
    return out
