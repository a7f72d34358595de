"""The agent protocol parser: well-formed turns, malformed turns, multiple actions, think."""
from sandmle.rollout.protocol import Action, format_rate, parse_turn, render_turn, unfinished

PY = '<think>look</think>\n<tool_call>{"name": "python"}<code>\nprint(1)\n</code></tool_call>'


def test_python_call():
    a = parse_turn(PY)
    assert (a.kind, a.think, a.code, a.error) == ("python", "look", "print(1)\n", None)


def test_score_call_and_answer():
    assert parse_turn('<think>t</think><tool_call>{"name": "score"}</tool_call>').kind == "score"
    a = parse_turn("<think>done</think><answer> submission.csv </answer>")
    assert (a.kind, a.answer) == ("answer", "submission.csv")


def test_missing_think_is_not_an_error_but_counts_against_format():
    a = parse_turn('<tool_call>{"name": "score"}</tool_call>')
    assert a.kind == "score" and a.think is None and not a.has_think
    empty = parse_turn('<think>  </think><tool_call>{"name": "score"}</tool_call>')
    assert not empty.has_think
    assert format_rate([a, empty, parse_turn(PY), parse_turn(PY)]) == 0.5
    assert format_rate([]) == 0.0


def test_multiple_tool_calls_are_invalid():
    a = parse_turn(PY + '<tool_call>{"name": "score"}</tool_call>')
    assert a.kind == "invalid" and "2 tool calls" in a.error


def test_tool_call_and_answer_together_are_invalid():
    a = parse_turn(PY + "<answer>submission.csv</answer>")
    assert a.kind == "invalid" and "one action per turn" in a.error


def test_tags_inside_think_are_not_actions():
    a = parse_turn('<think>I could <answer>x</answer> now</think><tool_call>{"name": "score"}</tool_call>')
    assert a.kind == "score"


def test_malformed_turns_explain_the_problem():
    cases = {
        "just prose": "no <tool_call> or <answer>",
        '<think>a</think><tool_call>{"name": "python"}<code>x': "not closed",
        "<think>a</think><answer>x": "<answer> is not closed",
        "<think>a": "<think> is not closed",
        '<tool_call>{"name": python}<code>x</code></tool_call>': "not JSON",
        '<tool_call>{"tool": "python"}<code>x</code></tool_call>': 'needs a "name"',
        '<tool_call>{"name": "bash"}<code>ls</code></tool_call>': "unknown tool 'bash'",
        '<tool_call>{"name": "python"}<code>  \n</code></tool_call>': "non-empty <code>",
        '<tool_call>{"name": "python"}</tool_call>': "non-empty <code>",
        '<tool_call>{"name": "score"}<code>x</code></tool_call>': "takes no <code>",
        '<tool_call>{"name": "python"}<code>a</code><code>b</code></tool_call>': "one <code> block",
    }
    for text, expected in cases.items():
        a = parse_turn(text)
        assert a.kind == "invalid", text
        assert expected in a.error, (text, a.error)
        assert "\n" not in a.error and a.error.startswith("format error:")


def test_action_json_round_trip():
    for text in (PY, "nothing", "<answer>s</answer>"):
        a = parse_turn(text)
        assert Action.from_json(a.to_json()) == a


# -- turns real models write -----------------------------------------------------------------
def call(code: str, think: str | None = "t") -> str:
    head = "" if think is None else f"<think>{think}</think>\n"
    return f'{head}<tool_call>{{"name": "python"}}<code>\n{code}</code></tool_call>'


def test_think_tags_in_code_are_code_and_never_rewritten():
    code = 'import re\nclean = re.sub(r"<think>.*?</think>", "", text)\nprint("<think>", "</think>")\n'
    a = parse_turn(call(code))
    assert a.kind == "python" and a.code == code and a.think == "t"


def test_a_turn_without_think_gets_no_think_from_string_literals():
    code = 'a = "<think>"\nb = "a thought</think>"\n'
    a = parse_turn(call(code, think=None))
    assert a.kind == "python" and a.code == code
    assert a.think is None and not a.has_think


def test_closing_tags_in_string_literals_keep_the_action_valid():
    for tag in ("</code>", "</tool_call>", "</answer>", "<answer>submission.csv</answer>", "</code></tool_call>"):
        code = f'print("{tag}")\ns = f"{{1}}{tag}"  # {tag}\n'
        a = parse_turn(call(code))
        assert (a.kind, a.code) == ("python", code), (tag, a.error)


def test_code_cut_at_a_stop_string_is_never_an_answer():
    cut = call('x = "<answer>{}</answer>').split("</answer>")[0] + "</answer>"
    assert cut.endswith('x = "<answer>{}</answer>')
    assert unfinished(cut) == "inside the open <tool_call>"
    a = parse_turn(cut, stopped_at="</answer>")
    assert a.kind == "invalid" and "stopped at </answer>" in a.error and "could not resume" in a.error


def test_a_stop_string_inside_a_string_or_comment_before_close_tags_is_not_the_end():
    for code in ('print("</code></tool_call>', "print(1)  # ends with </code></tool_call>",
                 's = """\n</code></tool_call>', "s = f'{x}</code></tool_call>"):
        cut = f'<think>t</think><tool_call>{{"name": "python"}}<code>\n{code}'
        assert unfinished(cut) == "inside a Python string or comment of the code", code
    assert unfinished(call("print(1)\n")) is None


def test_stops_inside_the_think_block_or_before_an_action_are_not_the_end():
    assert unfinished("<think>I could write <answer>submission.csv</answer>") == "inside the open think block"
    assert unfinished("I will close with </tool_call>") == "before any action began"
    assert unfinished("<think>t</think><answer>submission.csv</answer>") is None


def test_a_completion_begun_inside_a_prefilled_think_block_has_one():
    a = parse_turn('The data has 3 columns.\nI will score it.\n</think>\n\n<tool_call>{"name": "score"}</tool_call>')
    assert a.kind == "score" and a.think == "The data has 3 columns.\nI will score it."
    assert format_rate([a]) == 1.0
    # A lone </think> after the first action tag is code, not the end of a think block.
    b = parse_turn(call('s = "</think>"\n', think=None))
    assert b.kind == "python" and b.think is None


def test_one_enclosing_markdown_fence_is_removed_and_recorded():
    a = parse_turn(call("```python\nimport pandas as pd\nprint(pd.__version__)\n```\n"))
    assert (a.kind, a.code, a.unfenced) == ("python", "import pandas as pd\nprint(pd.__version__)\n", True)
    tilde = parse_turn(call("~~~\nprint(1)\n~~~\n"))
    assert (tilde.code, tilde.unfenced) == ("print(1)\n", True)
    # Fences inside the code (a markdown string) stay, and only the outer one goes.
    inner = 'doc = """\n```python\nprint(1)\n```\n"""\n'
    assert parse_turn(call(inner)).code == inner and not parse_turn(call(inner)).unfenced
    nested = parse_turn(call(f"````python\n{inner}````\n"))
    assert (nested.code, nested.unfenced) == (inner, True)


def test_crlf_and_unicode_turns():
    text = ('<think>\r\nRegarder les données 😀\r\n</think>\r\n<tool_call>{"name": "python"}<code>\r\n'
            'données = "数据</code>"\r\nprint(données)\r\n</code></tool_call>\r\n')
    a = parse_turn(text)
    assert a.kind == "python" and a.think == "Regarder les données 😀"
    assert a.code == 'données = "数据</code>"\r\nprint(données)\n'


def test_a_second_block_or_action_outside_strings_is_an_error():
    two_blocks = '<think>t</think><tool_call>{"name": "python"}<code>a = 1</code>\n<code>b = 2</code></tool_call>'
    assert "one <code> block" in parse_turn(two_blocks).error
    two_calls = ('<tool_call>{"name": "python"}<code>a = 1</code></tool_call>\n'
                 '<tool_call>{"name": "python"}<code>b = 2</code></tool_call>')
    assert "2 tool calls" in parse_turn(two_calls).error


def test_render_turn_round_trips_and_refuses_invalid_actions():
    import pytest

    for text in (PY, '<tool_call>{"name": "score"}</tool_call>', "<think>d</think>\n<answer>submission.csv</answer>"):
        a = parse_turn(text)
        assert parse_turn(render_turn(a)) == a
    with pytest.raises(ValueError):
        render_turn(parse_turn("nothing"))
