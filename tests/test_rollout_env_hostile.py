"""Episodes whose jobs attack the host side of the environment: deep trees, sparse
submissions, floods of files. The episode goes on; each is recorded as data."""
import os

import pytest

from sandmle.rollout.prompts import parse_task_card
from sandmle.rollout.runner import RolloutConfig, run_episodes
from sandmle.sandbox.pool import Pool
from sandmle.sandbox.workdir import remove_tree
from scripted_turns import ANSWER, ScriptedTurns

SCORE = '<think>check</think><tool_call>{"name": "score"}</tool_call>'


def py(code: str) -> str:
    return f'<think>step</think><tool_call>{{"name": "python"}}<code>\n{code}\n</code></tool_call>'


@pytest.fixture(scope="module")
def pool():
    with Pool(num_workers=1, preload=()) as p:
        yield p


def run(texts, task, pool, tmp_path):
    config = RolloutConfig(max_turns=len(texts) + 1, step_timeout_s=60)
    return run_episodes(ScriptedTurns(texts), [task], pool, config, work_root=tmp_path / "work", seed=1)[0]


DEEP = "import os\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\nprint('deep')"


def test_a_3000_level_tree_does_not_end_the_episode_or_the_next_reset(make_task, pool, tmp_path):
    task = make_task("auc", task_id="alpha")
    try:
        first = run([py(DEEP), ANSWER], task, pool, tmp_path)
        assert first.termination == "answered", first.error
        again = run([py("print('fresh')"), ANSWER], task, pool, tmp_path)   # resets the folder
        assert again.termination == "answered" and "fresh" in again.steps[0].observation
        assert not (tmp_path / "work" / again.episode_id / "work" / "d").exists()
    finally:
        remove_tree(tmp_path / "work")


def test_a_sparse_submission_is_refused_before_it_is_copied(make_task, pool, tmp_path):
    task = make_task("auc", task_id="alpha")
    sparse = "with open('submission.csv', 'wb') as fh:\n    fh.truncate(255 * 1024 * 1024)"
    episode = run([py(sparse), SCORE, SCORE, SCORE, SCORE], task, pool, tmp_path)
    assert episode.termination == "answered", episode.error
    assert "far larger than the answers" in episode.steps[1].observation
    graded = tmp_path / "work" / episode.episode_id / "graded"
    assert sum(f.stat().st_blocks * 512 for f in graded.iterdir()) < 1024 * 1024


def test_a_flood_of_files_is_removed_and_the_agent_told(make_task, pool, tmp_path):
    task = make_task("auc", task_id="alpha")
    flood = "import os\nos.mkdir('many')\nfor i in range(12000):\n    open(f'many/{i}', 'w').close()"
    episode = run([py(flood), py("import os\nprint(os.path.exists('many'))")], task, pool, tmp_path)
    assert episode.termination == "answered", episode.error
    assert "work folder limit exceeded" in episode.steps[0].observation
    assert "False" in episode.steps[1].observation
