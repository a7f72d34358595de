"""Grader blocks in task.json: validated when a task loads, defaults kept out of the file,
and the rules they impose stated in words for task prompts."""
from __future__ import annotations

import json

import pytest

from sandmle.errors import UserError
from sandmle.grading.profile import (MACHINE_EPS, GraderProfile, describe_rules, mlebench_profile,
                                     profile_problems)
from sandmle.task import load_task


def test_defaults_are_sandmle_rules_and_serialise_to_nothing():
    profile = GraderProfile.from_json({})
    assert profile == GraderProfile() and profile.to_json() == {}
    assert profile.reader == "sandmle" and profile.row_sum is None and profile.clip_eps == 1e-15


def test_mlebench_block_round_trips():
    block = mlebench_profile(rows="id_set", row_sum=[1e-6, 1e-5])
    assert block["clip_eps"] == "machine" and block["reader"] == "pandas" and block["era"] == "mlebench"
    profile = GraderProfile.from_json(block)
    assert profile.clip_eps == MACHINE_EPS and profile.row_sum == (1e-6, 1e-5)
    assert GraderProfile.from_json(profile.to_json()) == profile


@pytest.mark.parametrize("block, fragment", [
    ({"reader": "excel"}, "grader.reader"), ({"rows": "random"}, "grader.rows"),
    ({"columns": 3}, "grader.columns"), ({"colour": "red"}, "unknown key 'colour'"),
    ({"scored_columns": []}, "scored_columns"), ({"scored_columns": ["nope"]}, "not target columns"),
    ({"row_sum": [1e-6]}, "row_sum"), ({"clip_eps": 0.7}, "clip_eps"),
    ({"probability_range": "yes"}, "probability_range"), ({"skip_answer_rows_below": "0"}, "skip_answer"),
])
def test_bad_blocks_are_named(block, fragment):
    problems = profile_problems(block, ["target"])
    assert problems and any(fragment in p for p in problems), problems


def test_a_task_with_a_bad_block_does_not_load(make_task):
    task = make_task("auc")
    data = json.loads((task.root / "task.json").read_text())
    data["grader"] = {"rows": "random"}
    (task.root / "task.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="grader.rows"):
        load_task(task.root)


def test_rules_are_stated_for_the_prompt(make_task):
    task = make_task("multiclass_log_loss")
    strict = GraderProfile.from_json(mlebench_profile(columns="exact", row_sum=[1e-6, 1e-5]))
    rules = " ".join(describe_rules(strict, task.spec))
    assert "sum to 1" in rules and "not renormalised" in rules and "exactly these columns" in rules
    assert "renormalised to sum to 1" in " ".join(describe_rules(GraderProfile(), task.spec))


@pytest.mark.parametrize("rows, fragment", [("file_order", "paired in file order"), ("sorted", "sorted by id")])
def test_a_grade_whose_rules_skip_the_ids_says_so(make_task, rows, fragment):
    from sandmle.grading import grade_submission

    task = make_task("auc")
    data = json.loads((task.root / "task.json").read_text())
    data["grader"] = {"rows": rows}
    (task.root / "task.json").write_text(json.dumps(data))
    grade = grade_submission(load_task(task.root), task.answers_path)
    assert grade.valid and any(n.startswith("ids not compared") and fragment in n for n in grade.notes)
    assert not any("ids not compared" in n for n in grade_submission(make_task("auc", task_id="b"),
                                                                    task.answers_path).notes)
