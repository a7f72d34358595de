"""The turn parser against a grammar of adversarial turns (hypothesis).

Code mentions every protocol tag inside strings (plain, raw, byte, f- and triple-quoted),
comments and regexes, holds markdown fences inside strings, unicode identifiers and text,
and CRLF line endings; thoughts mention action tags. Properties: the canonical text of an
action parses back to it, and a stop string met anywhere before the end of the turn leaves
the turn unfinished (the rollout resumes) and never reads as an action.
"""
from hypothesis import given, settings
from hypothesis import strategies as st

from sandmle.rollout.protocol import STOP_STRINGS, Action, parse_turn, render_turn, unfinished

TAGS = ("<think>", "</think>", "<tool_call>", "</tool_call>", "<code>", "</code>", "<answer>", "</answer>",
        "<tool_response>", "</tool_response>", '{"name": "python"}', "```", "```python", "~~~")
WORDS = ("x", "data", "submission.csv", "données", "数据", "😀", "naïve", "  ", "{", "}", "#", "\\t", "<", ">", "/")


def pieces(extra=()):
    return st.lists(st.sampled_from(TAGS + WORDS + tuple(extra)), max_size=6).map("".join)


quoted = pieces().map(lambda s: s.replace("{", "").replace("}", ""))
LITERALS = st.one_of(
    quoted.map(lambda s: repr(s)),                                    # '...' or "..." as Python writes it
    quoted.map(lambda s: f"r'{s}'" if "'" not in s and not s.endswith("\\") else repr(s)),
    quoted.map(lambda s: repr(s.encode("utf-8"))),
    quoted.map(lambda s: f'f"{{name}}{s}{{name!r}}"' if '"' not in s and "\\" not in s else repr(s)),
    st.lists(quoted, min_size=1, max_size=3).map(lambda ls: '"""' + "\n".join(ls).replace('"', "'") + '"""'),
    st.just('"""```python\nprint(1)\n```"""'),
)
IDENT = st.sampled_from(("x", "données", "π", "数据", "name", "_tmp"))
STATEMENTS = st.one_of(
    st.builds(lambda n, lit: f"{n} = {lit}", IDENT, LITERALS),
    LITERALS.map(lambda lit: f"print({lit})"),
    pieces().map(lambda s: "# " + s),
    st.builds(lambda n, lit, c: f"{n} = {lit}  # {c}", IDENT, LITERALS, pieces()),
    st.just('import re\nclean = re.sub(r"<think>.*?</think>", "", text, flags=re.S)'),
    st.just("pattern = re.compile(r'<tool_call>(.*?)</tool_call>|<answer>(.*?)</answer>')"),
    st.builds(lambda lit: f"if True:\n    out = {lit}\n    print(out)", LITERALS),
    st.just('print(f"{1 + 1}</code></tool_call>")'),
)


@st.composite
def codes(draw):
    lines = draw(st.lists(STATEMENTS, min_size=1, max_size=6))
    eol = draw(st.sampled_from(("\n", "\r\n")))
    code = "\n".join(lines).replace("\n", eol)
    return code.rstrip() + "\n"


thoughts = st.one_of(st.none(), pieces(("Let me look.", "\n", "\r\n")).map(str.strip)
                     .filter(lambda t: "</think>" not in t))
answers = pieces().map(str.strip).filter(lambda a: "<answer>" not in a and "</answer>" not in a
                                         and "<tool_call>" not in a)
actions = st.one_of(
    st.builds(lambda t, c, f: Action(kind="python", think=t, code=c, unfenced=f), thoughts, codes(), st.booleans()),
    st.builds(lambda t: Action(kind="score", think=t), thoughts),
    st.builds(lambda t, a: Action(kind="answer", think=t, answer=a), thoughts, answers),
)


@settings(max_examples=400, deadline=None)
@given(actions)
def test_the_canonical_text_of_an_action_parses_back_to_it(action):
    text = render_turn(action)
    assert parse_turn(text) == action
    assert unfinished(text) is None


@settings(max_examples=400, deadline=None)
@given(actions)
def test_a_stop_string_before_the_end_of_the_turn_never_ends_it(action):
    text = render_turn(action)
    for stop in STOP_STRINGS:
        at = text.find(stop)
        while at >= 0:
            cut = text[:at + len(stop)]
            if cut != text:
                assert unfinished(cut) is not None, cut
                assert parse_turn(cut, stopped_at=stop).kind == "invalid", cut
            at = text.find(stop, at + 1)


@settings(max_examples=200, deadline=None)
@given(actions, st.sampled_from(("\n", "\r\n", "  ", "\n\n")))
def test_whitespace_around_the_turn_changes_nothing(action, pad):
    assert parse_turn(pad + render_turn(action) + pad) == action
