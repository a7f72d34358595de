"""The score tool's four modes through real episodes: what the agent is told, what it sees,
and what the episode is graded on."""
from __future__ import annotations

import csv
import re

import pytest

from sandmle.grading import grade_submission, score_submission
from sandmle.rollout.episode import replay
from sandmle.rollout.prompts import parse_task_card, system_prompt
from sandmle.rollout.runner import RolloutConfig, run_episodes
from sandmle.rollout.score_tool import make_validation_view
from sandmle.sandbox.pool import Pool
from scripted_turns import ANSWER, ScriptedTurns

SCORE = '<think>check</think><tool_call>{"name": "score"}</tool_call>'
# Predicts 0.9 where x > 0.5 for every row of test.csv (the view's test.csv in validation mode).
PREDICT = ("import pandas as pd; t = pd.read_csv('input/test.csv'); "
           "pd.DataFrame({'id': t['id'], 'target': (t['x'] > 0.5) * 0.8 + 0.1}).to_csv('submission.csv', index=False)")


def py(code: str) -> str:
    return f'<think>step</think><tool_call>{{"name": "python"}}<code>\n{code}\n</code></tool_call>'


@pytest.fixture(scope="module")
def pool():
    with Pool(num_workers=1, preload=("pandas",)) as p:
        yield p


def _run(mode, task, pool, tmp_path, texts=(py(PREDICT), SCORE, ANSWER)):
    policy = ScriptedTurns(list(texts))
    config = RolloutConfig(max_turns=len(texts) + 1, step_timeout_s=60, score_tool=mode)
    episode, = run_episodes(policy, [task], pool, config, work_root=tmp_path / mode, seed=0)
    assert episode.termination == "answered", episode.error
    return episode, policy


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_test_mode_shows_the_test_score_and_tier(make_task, pool, tmp_path):
    task = make_task("auc", n_train=60)
    episode, _ = _run("test", task, pool, tmp_path)
    assert episode.steps[1].grade is not None
    assert f"score {episode.steps[1].grade['score']}" in episode.steps[1].observation
    assert "thresholds:" in episode.steps[1].observation and episode.final_grade == episode.steps[1].grade


def test_format_mode_says_valid_or_why_not_and_never_a_score(make_task, pool, tmp_path):
    task = make_task("auc")
    bad = py("open('submission.csv', 'w').write('id,target\\n1000,0.5\\n')")
    episode, policy = _run("format", task, pool, tmp_path, [py(PREDICT), SCORE, bad, SCORE, py(PREDICT), ANSWER])
    assert "Check that ./submission.csv is a valid submission" in policy.seen[0][0]["content"]
    assert "against the hidden test answers" not in policy.seen[0][0]["content"]
    valid, invalid = episode.steps[1].observation, episode.steps[3].observation
    assert valid.startswith("valid submission") and not re.search(r"\d\.\d", valid)
    assert invalid.startswith("invalid submission") and "missing" in invalid
    assert "threshold" not in valid + invalid and "tier" not in valid + invalid
    assert all(step.grade is None for step in episode.steps)
    # The episode is graded on the submission it ends with, as MLE-bench grades a run.
    assert episode.final_grade["valid"] and episode.final_grade["submission_path"].endswith("step6.csv")
    assert replay(episode).consistent


def test_off_mode_offers_no_score_tool(make_task, pool, tmp_path):
    task = make_task("auc")
    episode, policy = _run("off", task, pool, tmp_path)
    assert policy.seen[0][0]["content"] == system_prompt(20, "off")
    assert "Score" not in policy.seen[0][0]["content"] and "Check that" not in policy.seen[0][0]["content"]
    assert episode.steps[1].failed and "score tool is off" in episode.steps[1].observation
    assert episode.final_grade["valid"]


def test_validation_view_holds_out_a_fifth_of_train_stratified(make_task, tmp_path):
    task = make_task("auc", n_train=60, n_test=30)
    view = make_validation_view(task, tmp_path / "view")
    train = _rows(view.task.public_dir / "train.csv")
    test = _rows(view.task.public_dir / "test.csv")
    sample = _rows(view.task.public_dir / "sample_submission.csv")
    held = view.validation_ids
    assert len(held) == 12 and len(train) == 48 and len(test) == 42 and len(sample) == 42
    assert not held & {r["id"] for r in train} and held <= {r["id"] for r in test} <= {r["id"] for r in sample}
    assert set(test[0]) == {"id", "x"}                       # no label column reaches test.csv
    answers = _rows(view.answers_path)
    original = {r["id"]: r["target"] for r in _rows(task.public_dir / "train.csv")}
    assert {r["id"]: r["target"] for r in answers} == {i: original[i] for i in held}
    assert {r["target"] for r in answers} == {"0", "1"}     # both classes: the metric is defined
    assert not (view.task.root / "private").exists()
    assert make_validation_view(task, tmp_path / "again").validation_ids == held   # the same split
    described = (view.task.public_dir / "description.md").read_text()
    assert described.startswith((task.public_dir / "description.md").read_text())
    assert "12 of the 60 labelled rows are held out" in described and "train.csv has the other 48" in described
    assert "test.csv (42 rows" in described


def test_validation_mode_scores_the_held_out_rows_and_grades_the_test_rows(make_task, pool, tmp_path):
    task = make_task("auc", n_train=60)
    episode, policy = _run("validation", task, pool, tmp_path)
    card = parse_task_card(policy.seen[0][1]["content"])
    assert card["train_rows"] == 48 and card["test_rows"] == 42
    answer = episode.steps[1].observation
    folder = tmp_path / "validation" / episode.episode_id
    expected = score_submission(task.spec, folder / "view" / "validation_answers.csv",
                                folder / "graded" / "step1.validation.csv")
    assert answer.startswith(f"validation score {expected} (auc, higher is better) on the 12 rows")
    assert episode.steps[1].grade is None and "threshold" not in answer
    final = episode.final_grade
    assert final["valid"] and final["submission_path"].endswith("step3.test.csv")
    assert len(_rows(final["submission_path"])) == 30
    assert final["score"] == grade_submission(task, final["submission_path"]).score
    assert replay(episode).consistent


def test_validation_mode_multiclass_labels_become_one_hot_answers(make_task, tmp_path):
    """A multi-class probability task whose train.csv holds one label column."""
    import shutil

    task = make_task("multiclass_log_loss", n_train=40)
    train = task.public_dir / "train.csv"
    rows = _rows(train)
    labels = [max(("cat", "dog", "fox"), key=lambda c: float(r[c])) for r in rows]
    copy = tmp_path / "task"
    shutil.copytree(task.root, copy)
    with open(copy / "public" / "train.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "x", "animal"])
        writer.writerows([[r["id"], r["x"], label] for r, label in zip(rows, labels)])
    from sandmle.task import load_task

    view = make_validation_view(load_task(copy), tmp_path / "view")
    answers = _rows(view.answers_path)
    assert len(answers) == 8 and all(sorted(r[c] for c in ("cat", "dog", "fox")) == ["0", "0", "1"] for r in answers)


def test_validation_mode_without_inline_data_says_so_and_checks_the_format(make_task, pool, tmp_path):
    import json

    task = make_task("auc")
    spec = json.loads((task.root / "task.json").read_text())
    spec["modality"] = "image"
    (task.root / "task.json").write_text(json.dumps(spec))
    from sandmle.task import load_task

    episode, _ = _run("validation", load_task(task.root), pool, tmp_path)
    answer = episode.steps[1].observation
    assert answer.startswith("validation scoring is not available for this task (its data is not inline")
    assert "valid submission" in answer and episode.final_grade["valid"]
