"""The agent protocol: parse one assistant turn into an action (REFERENCE §5).

A turn is a `<think>...</think>` block followed by exactly one of

    <tool_call>{"name": "python"}<code>
    ...a Python script, run with ./input/ holding the task's public files...
    </code></tool_call>

    <tool_call>{"name": "score"}</tool_call>

    <answer>submission.csv</answer>

A turn that breaks the format is an `Action` of kind "invalid" whose `error` says what is
wrong in one line; the environment answers it with that message (a failed turn). A missing
or empty `<think>` is not an error but lowers the episode's format rate.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

TOOLS = ("python", "score")
STOP_STRINGS = ("</tool_call>", "</answer>")   # generation may stop right after an action

_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
_CODE = re.compile(r"<code>(.*?)</code>", re.S)

FORMAT_HINT = ('write <think>...</think> then exactly one of <tool_call>{"name": "python"}'
               '<code>...</code></tool_call>, <tool_call>{"name": "score"}</tool_call> or '
               '<answer>submission.csv</answer>')


@dataclass(frozen=True)
class Action:
    kind: str                    # "python" | "score" | "answer" | "invalid"
    think: str | None            # the think block's text (stripped), None when absent
    code: str | None = None      # for "python"
    answer: str | None = None    # for "answer"
    error: str | None = None     # for "invalid": what is wrong, one line

    @property
    def has_think(self) -> bool:
        return bool(self.think)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Action":
        return cls(**data)


def _invalid(think: str | None, why: str) -> Action:
    return Action(kind="invalid", think=think, error=f"format error: {why}; {FORMAT_HINT}")


def parse_turn(text: str) -> Action:
    """Parse one assistant message into an Action (never raises)."""
    thinks = _THINK.findall(text)
    think = thinks[0].strip() if thinks else None
    # Tags inside the think block are reasoning, not actions.
    body = _THINK.sub("", text)
    if "<think>" in body:
        return _invalid(think, "<think> is not closed with </think>")
    calls = _TOOL_CALL.findall(body)
    answers = _ANSWER.findall(body)
    if len(calls) + len(answers) > 1:
        return _invalid(think, f"found {len(calls)} tool calls and {len(answers)} answers, "
                               "one action per turn")
    if not calls and not answers:
        if "<tool_call>" in body:
            return _invalid(think, "<tool_call> is not closed with </tool_call>")
        if "<answer>" in body:
            return _invalid(think, "<answer> is not closed with </answer>")
        return _invalid(think, "no <tool_call> or <answer> found")
    if answers:
        return Action(kind="answer", think=think, answer=answers[0].strip())
    return _parse_call(calls[0], think)


def _parse_call(inner: str, think: str | None) -> Action:
    codes = _CODE.findall(inner)
    if len(codes) > 1:
        return _invalid(think, "one <code> block per tool call")
    header = _CODE.sub("", inner).strip()
    if "<code>" in header:
        return _invalid(think, "<code> is not closed with </code>")
    try:
        call = json.loads(header)
    except json.JSONDecodeError:
        return _invalid(think, f"the tool call header {header[:80]!r} is not JSON like {{\"name\": \"python\"}}")
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return _invalid(think, "the tool call header needs a \"name\"")
    name = call["name"]
    if name not in TOOLS:
        return _invalid(think, f"unknown tool {name!r} (tools: {', '.join(TOOLS)})")
    if name == "score":
        if codes:
            return _invalid(think, "the score tool takes no <code>")
        return Action(kind="score", think=think)
    code = codes[0] if codes else None
    if code is None or not code.strip():
        return _invalid(think, "the python tool needs a non-empty <code>...</code> block")
    return Action(kind="python", think=think, code=code.strip("\n") + "\n")


def format_rate(actions: list[Action]) -> float:
    """Share of assistant turns with a non-empty <think> (the paper's format term)."""
    if not actions:
        return 0.0
    return sum(a.has_think for a in actions) / len(actions)
