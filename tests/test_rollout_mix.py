"""Policy mixtures: shares parsed and honoured exactly, spread over tasks, recorded per episode."""
import json
from collections import Counter

import pytest

from sandmle.cli import main
from sandmle.errors import UserError
from sandmle.rollout.mix import assign_members, is_mix, member_counts, parse_mix


def test_shares_are_normalised_and_specs_keep_their_colons():
    mix = parse_mix("scripted:weak:short=1, openai:m@http://h:8000/v1=3")
    assert mix == (("scripted:weak:short", 0.25), ("openai:m@http://h:8000/v1", 0.75))


@pytest.mark.parametrize("text", ["scripted:weak", "scripted:weak=", "=0.5", "a=0.5,a=0.5", "a=0", "a=-1",
                                  "a=nan", "a=x"])
def test_a_bad_mix_is_one_user_error(text):
    with pytest.raises(UserError):
        parse_mix(text)


def test_a_single_policy_spec_is_not_a_mix():
    assert not is_mix("openai:model@http://host/v1?key=abc")
    assert not is_mix("scripted:strong")
    assert is_mix("scripted:weak=0.5,scripted:strong=0.5")


def test_counts_follow_the_shares_exactly():
    assert member_counts([0.25, 0.25, 0.5], 24) == [6, 6, 12]
    assert sum(member_counts([0.3, 0.3, 0.4], 15)) == 15
    assert member_counts([1 / 3] * 3, 10) == [4, 3, 3]


def test_every_task_holds_the_shares():
    members = assign_members([0.25, 0.25, 0.5], num_tasks=5, episodes_per_task=8)
    assert Counter(members) == {0: 10, 1: 10, 2: 20}
    for t in range(5):
        assert Counter(members[8 * t:8 * (t + 1)]) == {0: 2, 1: 2, 2: 4}
    assert members == assign_members([0.25, 0.25, 0.5], 5, 8)      # a resumed run assigns the same


def test_eval_mix_records_each_episodes_policy_and_split(make_task, tmp_path, capsys):
    bank = tmp_path / "bank"
    for i, metric in enumerate(("auc", "rmse")):
        make_task(metric, task_id=f"t{i}")
    (tmp_path / "tasks").rename(bank)
    out = tmp_path / "run"
    code = main(["eval", "--mix", "scripted:weak:short=1,scripted:strong:short=1", "--bank", str(bank),
                 "--out", str(out), "--num-episodes-per-task", "2", "--max-turns", "4", "--workers", "2",
                 "--split", "train", "--sft-out", str(tmp_path / "sft.jsonl"), "--json"])
    assert code == 0
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert Counter(e["policy"] for e in episodes) == {"scripted:weak:short": 2, "scripted:strong:short": 2}
    assert {e["task_id"] for e in episodes if e["policy"] == "scripted:weak:short"} == {"t0", "t1"}
    assert all(e["split"] == "train" for e in episodes)
    assert all(e["termination"] == "answered" and e["final_grade"]["valid"] for e in episodes)
    records = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert {(r["policy"], r["split"]) for r in records} == {("scripted:weak:short", "train"),
                                                            ("scripted:strong:short", "train")}
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["policy"] == "scripted:weak:short=1,scripted:strong:short=1" and manifest["split"] == "train"


def test_eval_refuses_a_bad_mix_before_any_work(tmp_path, capsys):
    code = main(["eval", "--mix", "scripted:weak=abc", "--bank", str(tmp_path), "--out", str(tmp_path / "r")])
    assert code == 2
    assert "sandmle: error: --mix" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_eval_refuses_short_teachers_on_tasks_they_do_not_cover_before_any_episode(make_task, tmp_path, capsys):
    make_task("auc", task_id="t0")
    make_task("multiclass_log_loss", task_id="t1")
    (tmp_path / "tasks").rename(tmp_path / "bank")
    code = main(["eval", "--mix", "scripted:weak:short=1,scripted:strong=1", "--bank", str(tmp_path / "bank"),
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "scripted:weak:short plays tabular tasks with one target" in err and "1 of 2 tasks are not: t1" in err
    assert not (tmp_path / "run" / "episodes.jsonl").exists()
