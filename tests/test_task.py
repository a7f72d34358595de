"""Task format v1: spec round trip, one UserError listing every problem, atomic writes, banks."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from sandmle.errors import UserError
from sandmle.task import (Lineage, Task, TaskSpec, Thresholds, iter_bank, load_bank, load_task,
                          write_json_atomic, write_task)


def spec_for(**changes) -> TaskSpec:
    spec = TaskSpec(id="t1", title="T", modality="tabular", metric="auc", is_lower_better=False,
                    id_column="id", target_columns=("target",), thresholds=Thresholds(0.6, 0.7, 0.8, 0.9),
                    train_rows=4, test_rows=2,
                    lineage=Lineage(seed="s", generator="procedural", generator_version="1", random_seed=0))
    return replace(spec, **changes)


def fill_ok(public: Path, private: Path) -> None:
    (public / "train.csv").write_text("id,x,target\n1,0.1,0\n2,0.2,1\n3,0.3,0\n4,0.4,1\n")
    (public / "test.csv").write_text("id,x\n5,0.5\n6,0.6\n")
    (public / "sample_submission.csv").write_text("id,target\n5,0.5\n6,0.5\n")
    (public / "description.md").write_text("# T\n")
    (private / "answers.csv").write_text("id,target\n5,0\n6,1\n")


@pytest.fixture
def task_dir(tmp_path) -> Path:
    return write_task(tmp_path / "t1", spec_for(), fill_ok).root


def edit_spec(root: Path, **changes) -> None:
    data = json.loads((root / "task.json").read_text())
    for key, value in changes.items():
        if value is KeyError:
            data.pop(key)
        else:
            data[key] = value
    (root / "task.json").write_text(json.dumps(data))


def problems_of(root: Path) -> str:
    with pytest.raises(UserError) as info:
        load_task(root)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_spec_json_round_trip():
    spec = spec_for(metric="map_at_k", metric_params={"k": 3}, classes=("a", "b"), domain="retail")
    assert TaskSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_write_then_load(task_dir):
    task = load_task(task_dir)
    assert isinstance(task, Task) and task.id == "t1"
    assert task.answers_path == task_dir / "private" / "answers.csv"
    assert task.sample_submission_path == task_dir / "public" / "sample_submission.csv"
    assert task.spec == spec_for()


def test_missing_folder_and_missing_spec(tmp_path):
    assert "does not exist" in problems_of(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    assert "task.json is missing" in problems_of(tmp_path / "empty")


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"), ("[1, 2]", "must hold a JSON object"), ("\xff", "not valid JSON"),
])
def test_unreadable_spec(task_dir, text, fragment):
    (task_dir / "task.json").write_bytes(text.encode("latin-1"))
    assert fragment in problems_of(task_dir)


@pytest.mark.parametrize("changes, fragment", [
    ({"metric": KeyError}, "missing key 'metric'"),
    ({"train_rows": "4"}, "'train_rows' must be int"),
    ({"train_rows": True}, "'train_rows' must be int"),
    ({"is_lower_better": 0}, "'is_lower_better' must be bool"),
    ({"modality": "hologram"}, "modality 'hologram' is not one of"),
    ({"target_columns": []}, "target_columns is empty"),
    ({"target_columns": ["a", "a"]}, "repeated names"),
    ({"target_columns": ["id"]}, "also a target column"),
    ({"target_columns": [1]}, "non-empty strings"),
    ({"classes": "abc"}, "'classes' must be list"),
    ({"classes": [0, 1]}, "non-empty strings"),
    ({"metric_params": [3]}, "'metric_params' must be dict"),
    ({"train_file": "../../secret.csv"}, "inside public/"),
    ({"thresholds": {"median": 0.6, "bronze": 0.7, "silver": 0.8}}, "thresholds.gold must be a finite number"),
    ({"thresholds": {"median": math.nan, "bronze": 0.7, "silver": 0.8, "gold": 0.9}}, "thresholds.median"),
    ({"thresholds": {"median": 0.6, "bronze": 0.7, "silver": 0.8, "gold": 0.9, "platinum": 1}}, "unknown keys"),
    ({"thresholds": {"median": 0.6, "bronze": 0.9, "silver": 0.8, "gold": 0.7}}, "must be rising"),
    ({"lineage": {"seed": "s"}}, "lineage is missing 'generator'"),
    ({"lineage": {"seed": "s", "generator": "g", "generator_version": "1", "random_seed": 0, "x": 1}}, "task.json:"),
    ({"metric": "nope"}, "metric 'nope' is unknown"),
    ({"is_lower_better": True}, "contradicts metric 'auc'"),
    ({"format_version": 2}, "format_version 2 is not supported"),
    ({"surprise": 1}, "task.json:"),
])
def test_each_spec_problem_is_named(task_dir, changes, fragment):
    edit_spec(task_dir, **changes)
    assert fragment in problems_of(task_dir)


def test_lower_is_better_thresholds_must_fall(tmp_path):
    spec = spec_for(metric="rmse", is_lower_better=True, thresholds=Thresholds(1.0, 0.8, 0.6, 0.4))
    root = write_task(tmp_path / "r", spec, fill_ok).root
    edit_spec(root, thresholds={"median": 0.4, "bronze": 0.6, "silver": 0.8, "gold": 1.0})
    assert "must be falling" in problems_of(root)


def test_tied_thresholds_load(tmp_path):
    write_task(tmp_path / "tied", spec_for(thresholds=Thresholds(0.7, 0.7, 0.7, 0.7)), fill_ok)


def test_every_problem_in_one_error(task_dir):
    edit_spec(task_dir, modality="hologram", metric="nope")
    (task_dir / "public" / "test.csv").unlink()
    message = problems_of(task_dir)
    for fragment in ("modality 'hologram'", "metric 'nope'"):
        assert fragment in message


def test_missing_files_are_listed(task_dir):
    for name in ("public/test.csv", "public/description.md", "private/answers.csv"):
        (task_dir / name).unlink()
    message = problems_of(task_dir)
    for fragment in ("public/test.csv is missing", "public/description.md is missing",
                     "private/answers.csv is missing"):
        assert fragment in message


def test_answers_in_public_are_refused(task_dir):
    (task_dir / "public" / "answers.csv").write_text("id,target\n5,0\n")
    assert "answers must live only in private/" in problems_of(task_dir)


def test_write_task_refuses_an_existing_folder_unless_overwrite(task_dir):
    with pytest.raises(UserError, match="already exists"):
        write_task(task_dir, spec_for(), fill_ok)
    task = write_task(task_dir, spec_for(title="New"), fill_ok, overwrite=True)
    assert task.spec.title == "New"


def test_a_failing_fill_leaves_nothing_behind(tmp_path):
    def fill(public, private):
        fill_ok(public, private)
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_task(tmp_path / "t", spec_for(), fill)
    assert list(tmp_path.iterdir()) == []


def test_an_invalid_task_never_reaches_its_destination(tmp_path):
    def fill(public, private):
        fill_ok(public, private)
        (public / "description.md").unlink()

    with pytest.raises(UserError, match="description.md is missing") as info:
        write_task(tmp_path / "t", spec_for(), fill)
    assert str(tmp_path / "t") in str(info.value) and ".partial" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_write_json_atomic_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "sub" / "x.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_banks(tmp_path):
    bank = tmp_path / "bank"
    for name in ("b", "a"):
        write_task(bank / name, spec_for(id=name), fill_ok)
    (bank / "not-a-task").mkdir()
    (bank / "notes.txt").write_text("x")
    assert [p.name for p in iter_bank(bank)] == ["a", "b"]
    assert [t.id for t in load_bank(bank)] == ["a", "b"]
    with pytest.raises(UserError, match="holds no task folders"):
        load_bank(bank / "not-a-task")
    with pytest.raises(UserError, match="does not exist"):
        iter_bank(tmp_path / "none")


def test_a_file_given_as_a_task_folder_is_named_as_a_file(tmp_path):
    from sandmle.errors import UserError
    from sandmle.task import load_task

    path = tmp_path / "task.csv"
    path.write_text("id\n1\n")
    with pytest.raises(UserError, match="is a file, not a folder"):
        load_task(path)
    with pytest.raises(UserError, match="does not exist"):
        load_task(tmp_path / "absent")
