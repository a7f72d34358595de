"""The agent protocol parser: well-formed turns, malformed turns, multiple actions, think."""
from sandmle.rollout.protocol import Action, format_rate, parse_turn

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
