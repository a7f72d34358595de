"""The agent protocol: read one assistant turn as an action (REFERENCE §5).

A turn is a `<think>...</think>` block followed by exactly one of

    <tool_call>{"name": "python"}<code>
    ...a Python script, run with ./input/ holding the task's public files...
    </code></tool_call>

    <tool_call>{"name": "score"}</tool_call>

    <answer>submission.csv</answer>

The turn is read by its structure, never by patterns run over the whole text:

- think: the block opened by a `<think>` that comes before any action tag; a completion
  that begins inside the think block (the chat template prefilled `<think>`) has a lone
  `</think>` before its action. Tags inside the think block are reasoning. Past its first
  `</think>`, the block runs to the last `</think>` before the action.
- action: the first `<tool_call>` or `<answer>` after the think block. It ends at the last
  matching close tag of the turn. The code runs from `<code>` to the last `</code>` of the
  tool call and is opaque: tags inside Python strings and comments are code and are never
  rewritten. A tag outside them that closes the code (`</code><code>`, `</code></tool_call>`)
  is structure: a second block or a second action is a format error.
- fences: one markdown fence enclosing the whole code (```python ... ```) is removed; the
  action records it (`unfenced`) and the tool response says so.
- stops: generation stops at `</tool_call>` and `</answer>`, which code may also contain.
  `unfinished(text)` says why a turn cut at such a stop string is not over (an open think
  block or `<code>`, a Python string or comment the stop fell in); the rollout then resumes
  generation, and a turn it could not resume is a format error saying so, never an answer.

A turn that breaks the format is an `Action` of kind "invalid" whose `error` says what is
wrong in one line; the environment answers it with that message (a failed turn). A missing
or empty `<think>` is not an error but lowers the episode's format rate.
"""
from __future__ import annotations

import io
import json
import re
import tokenize
from dataclasses import asdict, dataclass
from typing import Any

TOOLS = ("python", "score")
STOP_STRINGS = ("</tool_call>", "</answer>")   # generation may stop right after an action

THINK, END_THINK = "<think>", "</think>"
CALL, END_CALL = "<tool_call>", "</tool_call>"
ANSWER, END_ANSWER = "<answer>", "</answer>"
CODE, END_CODE = "<code>", "</code>"

FORMAT_HINT = ('write <think>...</think> then exactly one of <tool_call>{"name": "python"}'
               '<code>...</code></tool_call>, <tool_call>{"name": "score"}</tool_call> or '
               '<answer>submission.csv</answer>')
UNFENCED_NOTE = ("[note: the markdown fence around your code was removed before it ran; "
                 "write plain Python inside <code>]")

_FENCE_OPEN = re.compile(r"(`{3,}|~{3,})[ \t]*[^`\s]*[ \t]*")


@dataclass(frozen=True)
class Action:
    kind: str                    # "python" | "score" | "answer" | "invalid"
    think: str | None            # the think block's text (stripped), None when absent
    code: str | None = None      # for "python": the script, ending with one newline
    answer: str | None = None    # for "answer"
    error: str | None = None     # for "invalid": what is wrong, one line
    unfenced: bool = False       # for "python": a markdown fence around the code was removed

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


def _next_action(text: str, start: int) -> int:
    """Index of the first `<tool_call>` or `<answer>` at or after `start`; -1 when none."""
    found = [i for i in (text.find(CALL, start), text.find(ANSWER, start)) if i >= 0]
    return min(found) if found else -1


@dataclass(frozen=True)
class _Split:
    think: str | None            # None: the turn has no think block
    body: int                    # where the text after the think block starts
    open: bool = False           # a think block was opened and never closed


def _split_think(text: str) -> _Split:
    first_action = _next_action(text, 0)
    limit = len(text) if first_action < 0 else first_action
    opened = text.find(THINK, 0, limit)
    lone = text.find(END_THINK, 0, limit)
    if opened >= 0 and (lone < 0 or opened < lone):
        close = text.find(END_THINK, opened + len(THINK))
        if close < 0:
            return _Split(text[opened + len(THINK):].strip(), len(text), open=True)
        start = opened + len(THINK)
    elif lone >= 0:              # the completion began inside a prefilled think block
        close, start = lone, 0
    else:
        return _Split(None, 0)
    action = _next_action(text, close)
    end = text.rfind(END_THINK, close, len(text) if action < 0 else action)
    return _Split(text[start:end].strip(), end + len(END_THINK))


def _count(calls: int, answers: int) -> str:
    return (f"found {calls} tool call{'s' * (calls != 1)} and {answers} answer{'s' * (answers != 1)}, "
            "one action per turn")


def parse_turn(text: str, stopped_at: str | None = None) -> Action:
    """Read one assistant message as an Action (never raises).

    `stopped_at` is the stop string that ended the generation, when one did: a turn it cut
    inside an unfinished span (see `unfinished`) is invalid, with the reason.
    """
    split = _split_think(text)
    think = split.think
    if split.open:
        return _invalid(think, _cut("<think> is not closed with </think>", stopped_at))
    if stopped_at is not None:
        reason = unfinished(text)
        if reason is not None:
            return _invalid(think, f"generation stopped at {stopped_at} {reason}, and could not resume "
                                   f"(write such tags inside code as '<' + '{stopped_at[1:]}')")
    start = _next_action(text, split.body)
    if start < 0:
        return _invalid(think, "no <tool_call> or <answer> found")
    if text.startswith(ANSWER, start):
        return _parse_answer(text, start, think)
    return _parse_call(text, start, think)


def _cut(why: str, stopped_at: str | None) -> str:
    return why if stopped_at is None else f"{why} (generation stopped at {stopped_at})"


def _parse_answer(text: str, start: int, think: str | None) -> Action:
    inner = start + len(ANSWER)
    end = text.rfind(END_ANSWER, inner)
    if end < 0:
        return _invalid(think, "<answer> is not closed with </answer>")
    span, rest = text[inner:end], text[end + len(END_ANSWER):]
    calls = span.count(CALL) + rest.count(CALL)
    answers = 1 + span.count(ANSWER) + rest.count(ANSWER)
    if calls + answers > 1:
        return _invalid(think, _count(calls, answers))
    return Action(kind="answer", think=think, answer=span.strip())


def _parse_call(text: str, start: int, think: str | None) -> Action:
    inner = start + len(CALL)
    end = text.rfind(END_CALL, inner)
    if end < 0:
        opened = text.find(CODE, inner)
        if opened >= 0 and text.find(END_CODE, opened) < 0:
            return _invalid(think, "<code> is not closed with </code>")
        return _invalid(think, "<tool_call> is not closed with </tool_call>")
    span, rest = text[inner:end], text[end + len(END_CALL):]
    opened = span.find(CODE)
    header, code, outside = span, None, rest
    if opened >= 0:
        header = span[:opened]
        close = span.rfind(END_CODE, opened + len(CODE))
        if close < 0:
            return _invalid(think, "<code> is not closed with </code>")
        code, after = span[opened + len(CODE):close], span[close + len(END_CODE):]
        outside = header + after + rest
        found = _structural_close(code)
        if found is not None:
            outside += code[found:]
            if code[found:].startswith(END_CODE) and code[found + len(END_CODE):].lstrip().startswith(CODE):
                return _invalid(think, "one <code> block per tool call")
        calls, answers = 1 + outside.count(CALL), outside.count(ANSWER)
        if calls + answers > 1:
            return _invalid(think, _count(calls, answers))
        if CODE in after:
            return _invalid(think, "one <code> block per tool call")
        if found is not None:
            tag = END_CODE if code.startswith(END_CODE, found) else END_CALL
            return _invalid(think, f"{tag} outside a Python string closes the code early, at "
                                   f"{code[found:][:40]!r}")
        if after.strip():
            return _invalid(think, f"text {after.strip()[:40]!r} after </code> inside the tool call")
    else:
        outside = span + rest
    calls, answers = 1 + outside.count(CALL), outside.count(ANSWER)
    if calls + answers > 1:
        return _invalid(think, _count(calls, answers))
    return _tool(header, code, think)


def _tool(header: str, code: str | None, think: str | None) -> Action:
    try:
        call, used = json.JSONDecoder().raw_decode(header.strip())
    except json.JSONDecodeError:
        return _invalid(think, f"the tool call header {header.strip()[:80]!r} is not JSON like {{\"name\": \"python\"}}")
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return _invalid(think, "the tool call header needs a \"name\"")
    name = call["name"]
    if name not in TOOLS:
        return _invalid(think, f"unknown tool {name!r} (tools: {', '.join(TOOLS)})")
    trailing = header.strip()[used:].strip()
    if name == "score":
        if code is not None:
            return _invalid(think, "the score tool takes no <code>")
        if trailing:
            return _invalid(think, f"text {trailing[:40]!r} after the tool call header")
        return Action(kind="score", think=think)
    if code is None or not code.strip():
        where = " (not in JSON arguments)" if "arguments" in call else ""
        return _invalid(think, f"the python tool needs a non-empty <code>...</code> block{where}")
    if trailing:
        return _invalid(think, f"text {trailing[:40]!r} between the tool call header and <code>")
    script, unfenced = _unfence(_trim_code(code))
    if not script.strip():
        return _invalid(think, "the python tool needs a non-empty <code>...</code> block")
    return Action(kind="python", think=think, code=script, unfenced=unfenced)


def _trim_code(code: str) -> str:
    """Drop blank lines before the code and whitespace after it; end with one newline."""
    lines = code.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines) + "\n"


def _unfence(code: str) -> tuple[str, bool]:
    """Remove one markdown fence enclosing all of `code` (```python ... ```, ~~~ ... ~~~)."""
    lines = code.rstrip().split("\n")
    if len(lines) < 2:
        return code, False
    opening = _FENCE_OPEN.fullmatch(lines[0].strip())
    closing = lines[-1].strip()
    if opening is None:
        return code, False
    mark = opening.group(1)
    if not (len(closing) >= len(mark) and set(closing) == {mark[0]}):
        return code, False
    return _trim_code("\n".join(lines[1:-1])), True


# -- where Python literals are ----------------------------------------------------------------
_LITERAL_TOKENS = {tokenize.STRING, tokenize.COMMENT}
for _name in ("FSTRING_MIDDLE", "TSTRING_MIDDLE"):
    if hasattr(tokenize, _name):
        _LITERAL_TOKENS.add(getattr(tokenize, _name))


def _literal_spans(code: str) -> list[tuple[int, int]]:
    """Character ranges of `code` inside Python string literals and comments.

    An unterminated string runs to the end of its line (or of the code for a triple-quoted
    one); code the tokenizer cannot read past counts as code from there on.
    """
    lines = list(io.StringIO(code))
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        row, col = pos
        return starts[min(row - 1, len(lines))] + col if row >= 1 else 0

    spans: list[tuple[int, int]] = []
    last = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            a, b = offset(tok.start), offset(tok.end)
            if tok.type in _LITERAL_TOKENS:
                spans.append((a, b))
            elif tok.type == tokenize.ERRORTOKEN and tok.string[:1] in "'\"":
                line_end = code.find("\n", a)
                spans.append((a, len(code) if line_end < 0 else line_end))
            last = max(last, b)
    except tokenize.TokenError as exc:
        if "string" in str(exc.args[0]):
            spans.append((last, len(code)))
    except SyntaxError:          # inconsistent indentation: the rest reads as code
        pass
    return spans


def _inside(spans: list[tuple[int, int]], i: int) -> bool:
    return any(a <= i < b for a, b in spans)


def _structural_close(region: str) -> int | None:
    """Index of a `</code>` or `</tool_call>` in the code region that is not inside a Python
    string or comment: the model closed its code there (a second block or action follows)."""
    spans: list[tuple[int, int]] | None = None
    for tag in (END_CODE, END_CALL):
        i = region.find(tag)
        while i >= 0:
            if spans is None:
                spans = _literal_spans(region)
            if not _inside(spans, i):
                return i
            i = region.find(tag, i + 1)
    return None


def unfinished(text: str) -> str | None:
    """Why a turn that a stop string ended is not over yet; None when it is.

    Not over: the think block is open, no action has begun, the action's close tag is not
    the end of the text, `<code>` is open, or the `</code>` before the final `</tool_call>`
    sits inside a Python string or comment of the code (the stop string was code).
    """
    split = _split_think(text)
    if split.open:
        return "inside the open think block"
    start = _next_action(text, split.body)
    if start < 0:
        return "before any action began"
    end = text.rstrip()
    if text.startswith(ANSWER, start):
        return None if end.endswith(END_ANSWER) else "inside the open <answer>"
    if not end.endswith(END_CALL):
        return "inside the open <tool_call>"
    span = end[start + len(CALL):len(end) - len(END_CALL)]
    opened = span.find(CODE)
    if opened < 0:
        return None
    close = span.rfind(END_CODE, opened + len(CODE))
    if close < 0 or span[close + len(END_CODE):].strip():
        return "inside the open <code> block"
    region = span[opened + len(CODE):close]
    if _inside(_literal_spans(region + END_CODE), len(region)):
        return "inside a Python string or comment of the code"
    return None


def render_turn(action: Action) -> str:
    """The canonical text of a valid action; `parse_turn(render_turn(a)) == a`."""
    think = "" if action.think is None else f"{THINK}{action.think}{END_THINK}\n"
    if action.kind == "answer":
        return f"{think}{ANSWER}{action.answer}{END_ANSWER}"
    if action.kind == "score":
        return f'{think}{CALL}{{"name": "score"}}{END_CALL}'
    if action.kind == "python":
        code = f"```python\n{action.code}```\n" if action.unfenced else action.code
        return f'{think}{CALL}{{"name": "python"}}{CODE}\n{code}{END_CODE}{END_CALL}'
    raise ValueError(f"an {action.kind!r} action has no text form")


def format_rate(actions: list[Action]) -> float:
    """Share of assistant turns with a non-empty <think> (the paper's format term)."""
    if not actions:
        return 0.0
    return sum(a.has_think for a in actions) / len(actions)
