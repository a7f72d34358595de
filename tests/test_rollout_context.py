"""The context budget: failed turns go first, then all but system, first user, last two."""
import math

from sandmle.rollout.context import (CHARS_PER_TOKEN, MESSAGE_OVERHEAD_TOKENS, count_tokens,
                                     fit_context, make_token_counter)

COUNT = make_token_counter()


def convo(num_turns: int, size: int = 40) -> list[dict]:
    msgs = [{"role": "system", "content": "S" * size}, {"role": "user", "content": "U" * size}]
    for i in range(num_turns):
        msgs.append({"role": "assistant", "content": f"a{i}".ljust(size, ".")})
        msgs.append({"role": "user", "content": f"r{i}".ljust(size, ".")})
    return msgs


def tokens(n_messages: int, size: int = 40) -> int:
    return n_messages * (math.ceil(size / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS)


def test_chars_per_token_estimate():
    assert COUNT("") == 0 and COUNT("abcd") == 1 and COUNT("abcde") == 2
    assert count_tokens([{"role": "user", "content": "abcd"}], COUNT) == 1 + MESSAGE_OVERHEAD_TOKENS


def test_everything_kept_when_it_fits():
    msgs = convo(3)
    view = fit_context(msgs, [False] * 3, tokens(8), COUNT)
    assert view.messages == msgs and view.fits and view.dropped == 0 and view.num_tokens == tokens(8)


def test_failed_turns_dropped_first_oldest_first():
    msgs = convo(4)
    view = fit_context(msgs, [True, False, True, False], tokens(8), COUNT)
    # Dropping turn 0 (failed, oldest) is enough; turn 2 stays.
    assert [m["content"][:2] for m in view.messages[2:]] == ["a1", "r1", "a2", "r2", "a3", "r3"]
    assert view.fits and view.dropped == 2


def test_the_last_turn_is_kept_even_when_failed():
    msgs = convo(3)
    view = fit_context(msgs, [False, False, True], tokens(6), COUNT)
    # The failed last turn is protected, so the fallback keeps system, user and the last two.
    assert [m["content"][:2] for m in view.messages] == ["SS", "UU", "a2", "r2"]
    assert view.fits


def test_fallback_keeps_system_first_user_and_last_two():
    msgs = convo(5)
    view = fit_context(msgs, [False] * 5, tokens(5), COUNT)
    assert view.messages == msgs[:2] + msgs[-2:]
    assert view.fits and view.dropped == 8


def test_overflow_when_even_the_minimum_does_not_fit():
    msgs = convo(2)
    view = fit_context(msgs, [False, False], tokens(3), COUNT)
    assert not view.fits and view.messages == msgs[:2] + msgs[-2:]


def test_tokenizer_counter_uses_the_tokenizer():
    class Tok:
        def encode(self, text, add_special_tokens=False):
            return text.split()

    counter = make_token_counter(Tok())
    assert counter("a b c") == 3
