"""tokenize_episode: ids match the chat template, the mask covers exactly the policy's text."""
import pytest

pytest.importorskip("transformers")

from sandmle.policies.tiny import build_tokenizer
from sandmle.rollout.tokens import tokenize_episode


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


MSGS = [
    {"role": "system", "content": "You are an engineer."},
    {"role": "user", "content": "Task: predict target."},
    {"role": "assistant", "content": '<think>look</think><tool_call>{"name": "score"}</tool_call>'},
    {"role": "user", "content": "<tool_response>\nscore 0.5\n</tool_response>"},
    {"role": "assistant", "content": "<think>done</think><answer>submission.csv</answer>"},
]


def test_ids_are_the_rendered_conversation(tok):
    ids, mask, prompt_len = tokenize_episode(MSGS, tok)
    assert tok.decode(ids) == tok.apply_chat_template(MSGS, tokenize=False)
    assert len(ids) == len(mask)


def test_prompt_is_system_first_user_and_the_assistant_header(tok):
    ids, mask, prompt_len = tokenize_episode(MSGS, tok)
    prompt = tok.apply_chat_template(MSGS[:2], tokenize=False, add_generation_prompt=True)
    assert tok.decode(ids[:prompt_len]) == prompt
    assert set(mask[:prompt_len]) == {0}


def test_mask_covers_assistant_content_only(tok):
    ids, mask, _ = tokenize_episode(MSGS, tok)
    trained = "".join(tok.decode([i]) for i, m in zip(ids, mask) if m)
    # Each assistant turn's content and its end-of-turn token, not the template's newline.
    expected = "".join(m["content"] + "<|im_end|>" for m in MSGS if m["role"] == "assistant")
    assert trained == expected
    assert "tool_response" not in trained and "Task" not in trained


def test_unstable_template_is_refused(tok):
    import copy

    bad = copy.deepcopy(tok)
    # Drops the content of every assistant message but the last, as some reasoning templates do.
    bad.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'assistant' and not loop.last %}"
        "{{ '<|im_start|>assistant\n<|im_end|>\n' }}{% else %}"
        "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    with pytest.raises(ValueError, match="prefix-stable"):
        tokenize_episode(MSGS, bad)


def test_conversation_without_user_is_refused(tok):
    with pytest.raises(ValueError):
        tokenize_episode([{"role": "system", "content": "s"}], tok)
