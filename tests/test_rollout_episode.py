"""The episode record: grade choice, timeout rule, JSONL files, SFT filtering."""
import pytest

from sandmle.errors import UserError
from sandmle.rollout.episode import (Episode, Step, choose_grade, is_timeout_episode, load_episodes,
                                     save_episodes, to_sft, unusable_reason)


def g(score, valid=True, lower=False):
    return {"valid": valid, "score": score if valid else None, "is_lower_better": lower}


def step(i, timed_out=None, observation="out"):
    job = None if timed_out is None else {"timed_out": timed_out}
    return Step(index=i, text="t", finish_reason="stop", action={"kind": "python"}, observation=observation,
                job=job, grade=None, failed=bool(timed_out), generate_s=0.0, sandbox_s=0.0, context_tokens=0)


def episode(eid, reward=0.5, termination="answered", timed_out=False):
    return Episode(task_id="t", episode_id=eid, policy="p",
                   messages=({"role": "system", "content": "s"}, {"role": "user", "content": "u"}),
                   steps=(step(0),), termination=termination, terminated=termination == "answered",
                   truncated=termination in ("turn_budget", "time_budget", "context_overflow"),
                   final_grade=None, reward=reward, reward_scheme="paper", format_rate=1.0, timed_out=timed_out,
                   wall_s=1.0, sandbox_s=0.5, num_turns=1)


def test_last_and_best_grade():
    grades = [g(0.8), g(0.9), g(None, valid=False)]
    assert choose_grade(grades, "last") == grades[2]
    assert choose_grade(grades, "best") == grades[1]
    lower = [g(0.5, lower=True), g(0.2, lower=True), g(0.3, lower=True)]
    assert choose_grade(lower, "best") == lower[1]
    assert choose_grade([], "best") is None
    with pytest.raises(ValueError):
        choose_grade(grades, "first")


def test_timeout_rule_is_more_than_a_fifth_of_tool_responses():
    five = [step(0, True)] + [step(i, False) for i in range(1, 5)]
    assert not is_timeout_episode(five)                       # exactly 20%
    assert is_timeout_episode(five[:4])                       # 25%
    assert not is_timeout_episode([step(0, True, observation=None)])   # an answer is no response
    assert not is_timeout_episode([])


def test_jsonl_round_trip_is_atomic(tmp_path):
    eps = [episode("a"), episode("b", termination="turn_budget")]
    path = save_episodes(tmp_path / "e.jsonl", eps)
    assert load_episodes(path) == eps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl"]


def test_a_corrupt_file_is_a_user_error(tmp_path):
    path = tmp_path / "e.jsonl"
    save_episodes(path, [episode("a")])
    with open(path, "a") as fh:
        fh.write('{"task_id": "x"}\n')
    with pytest.raises(UserError, match=":2:"):
        load_episodes(path)
    with pytest.raises(UserError):
        load_episodes(tmp_path / "missing.jsonl")


def test_unknown_termination_is_refused():
    with pytest.raises(ValueError):
        episode("a", termination="gave_up")


def test_records_written_before_per_step_ids_still_load(tmp_path):
    import json

    data = episode("a").to_json()
    data.update(input_ids=[1, 2, 3], loss_mask=[0, 1, 1], prompt_len=1)
    (tmp_path / "old.jsonl").write_text(json.dumps(data) + "\n")
    assert load_episodes(tmp_path / "old.jsonl") == [episode("a")]


def test_step_ids_survive_the_json_round_trip(tmp_path):
    ids = Step.from_json({**step(0).to_json(), "prompt_ids": [5, 6], "completion_ids": [7, 8], "logprobs": [-0.5, -1.0]})
    ep = episode("a")
    ep = Episode.from_json({**ep.to_json(), "steps": [ids.to_json()]})
    assert load_episodes(save_episodes(tmp_path / "e.jsonl", [ep]))[0].steps[0] == ids
    assert ids.completion_ids == (7, 8) and ids.logprobs == (-0.5, -1.0)


def test_one_usable_rule_for_grpo_and_sft():
    assert unusable_reason(episode("ok")) is None
    assert unusable_reason(episode("e", termination="policy_error")) == "policy_error"
    assert unusable_reason(episode("e", termination="env_error")) == "env_error"
    assert unusable_reason(episode("n", reward=float("nan"))) == "nonfinite_reward"
    assert unusable_reason(episode("i", reward=float("inf"))) == "nonfinite_reward"
    assert unusable_reason(episode("t", timed_out=True)) == "timed_out"
    assert unusable_reason(episode("t", timed_out=True), include_timeouts=True) is None
    nan = episode("nan", float("nan"))
    assert to_sft([nan], min_reward=-1.0) == []


def test_sft_filters_reward_errors_and_timeouts():
    eps = [episode("keep", 0.9), episode("low", 0.1), episode("err", 0.9, termination="policy_error"),
           episode("slow", 0.9, timed_out=True)]
    assert [r["episode_id"] for r in to_sft(eps, min_reward=0.5)] == ["keep"]
    assert [r["episode_id"] for r in to_sft(eps, min_reward=0.5, include_timeouts=True)] == ["keep", "slow"]
