"""The schedule of a synthesis run: N accepted tasks spread evenly, attempts capped, shortfalls moved on."""
from __future__ import annotations

import pytest

from sandmle.errors import UserError
from sandmle.synth.schedule import Schedule, derive_seed


def run(schedule: Schedule, accepts, in_flight: int = 1, order: str = "fifo"):
    """Drive a schedule to its end; `accepts(seed_id, index)` decides each outcome.
    `order` picks which in-flight attempt finishes first ("fifo" or "lifo")."""
    made, pending = [], []
    while True:
        while len(pending) < in_flight and (planned := schedule.next_attempt()) is not None:
            pending.append(planned)
        if not pending:
            return made
        planned = pending.pop(0 if order == "fifo" else -1)
        ok = accepts(planned.seed_id, planned.index)
        schedule.record(planned, ok)
        made.append((planned.seed_id, planned.index, ok))


def test_shares_are_even_and_first_attempts_round_robin():
    schedule = Schedule(["a", "b", "c"], num_tasks=7, run_seed=0)
    made = run(schedule, lambda s, k: True)
    assert [(s, k) for s, k, _ in made] == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1), ("a", 2)]
    summary = schedule.summary()
    assert (summary.requested, summary.accepted, summary.attempts, summary.short_seeds) == (7, 7, 7, {})


def test_random_seeds_follow_the_run_seed_and_seed_key():
    schedule = Schedule(["a"], 2, run_seed=5, seed_key=lambda s: f"llm:{s}")
    first = schedule.next_attempt()
    assert first.random_seed == derive_seed(5, "llm:a", 0) and 0 <= first.random_seed < 2**31
    assert Schedule(["a"], 2, run_seed=6).next_attempt().random_seed != Schedule(["a"], 2, run_seed=5).next_attempt().random_seed


def test_rejected_attempts_are_retried_until_the_share_is_filled():
    fails = {("a", 0), ("b", 0), ("b", 1)}
    schedule = Schedule(["a", "b"], num_tasks=4, run_seed=0)
    made = run(schedule, lambda s, k: (s, k) not in fails)
    assert sum(ok for _, _, ok in made) == 4
    assert sorted((s, k) for s, k, ok in made if ok) == [("a", 1), ("a", 2), ("b", 2), ("b", 3)]
    assert schedule.summary().attempts == 7


def test_a_seed_that_cannot_fill_its_share_falls_short_and_others_take_it():
    schedule = Schedule(["bad", "b", "c", "d"], num_tasks=3, run_seed=0)       # d has no share at first
    made = run(schedule, lambda s, k: s != "bad")
    accepted = [(s, k) for s, k, ok in made if ok]
    assert len(accepted) == 3 and ("d", 0) in accepted                        # the fewest tasks first
    assert sum(1 for s, _, _ in made if s == "bad") == 3                      # its 3 attempts per task
    assert schedule.summary().short_seeds == {"bad": {"accepted": 0, "wanted": 1, "attempts": 3}}


def test_the_attempt_cap_stops_a_run_that_cannot_finish():
    schedule = Schedule(["a", "b"], num_tasks=4, run_seed=0, max_attempts=6)
    made = run(schedule, lambda s, k: s == "a" and k == 0)
    summary = schedule.summary()
    assert len(made) <= 6 and summary.accepted == 1 and summary.attempts == len(made)
    assert set(summary.short_seeds) == {"a", "b"}
    assert "accepted 1" in summary.line() and "b 0/2" in summary.line()


@pytest.mark.parametrize("in_flight, order", [(1, "fifo"), (3, "fifo"), (3, "lifo"), (8, "lifo")])
def test_overlapping_attempts_make_the_same_bank_as_one_at_a_time(in_flight, order):
    fails = {("a", 0), ("a", 1), ("a", 2), ("b", 1), ("c", 0), ("c", 2), ("c", 3)}

    def accepts(s, k):
        return (s, k) not in fails

    serial = run(Schedule(["a", "b", "c"], 5, 0), accepts)
    schedule = Schedule(["a", "b", "c"], 5, 0)
    overlapped = run(schedule, accepts, in_flight, order)
    assert sorted(serial) == sorted(overlapped)
    assert schedule.summary().accepted == 5                   # never more than asked for


def test_bad_requests_are_user_errors():
    with pytest.raises(UserError):
        Schedule([], 3, 0)
    with pytest.raises(UserError):
        Schedule(["a"], -1, 0)
    with pytest.raises(UserError, match="--max-attempts"):
        Schedule(["a"], 4, 0, max_attempts=3)
    assert Schedule(["a"], 0, 0).next_attempt() is None
