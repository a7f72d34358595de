"""Episodes through the real sandbox pool and grader: every termination reason, rewards,
persistence of the work folder, failures recorded as data."""
import pytest

from sandmle.grading import Grade
from sandmle.policies.base import Generation, SamplingParams
from sandmle.reward import reward_for_grade
from sandmle.rollout.prompts import parse_task_card
from sandmle.rollout.episode import load_episodes, replay, save_episodes, to_sft
from sandmle.rollout.runner import RolloutConfig, run_episodes
from sandmle.sandbox.pool import Pool


def py(code: str, think: str = "step") -> str:
    return f'<think>{think}</think><tool_call>{{"name": "python"}}<code>\n{code}\n</code></tool_call>'


SCORE = '<think>check</think><tool_call>{"name": "score"}</tool_call>'
ANSWER = "<think>done</think><answer>submission.csv</answer>"
# Copies the answer-free sample submission (below the median) and a perfect one is impossible
# without private/, so the "strong" submission predicts the prior of train.csv's target.
WRITE_SAMPLE = "import shutil; shutil.copy('input/sample_submission.csv', 'submission.csv'); print('ok')"


class Script:
    """A fixed policy: conversation i gets texts[i][turn] (or `default` past the end)."""

    name = "script"

    def __init__(self, texts_by_task: dict[str, list[str]], default: str | None = None):
        self.texts = texts_by_task
        self.default = default
        self.calls: list[int] = []

    def generate(self, conversations, sampling):
        self.calls.append(len(conversations))
        out = []
        for conv in conversations:
            texts = self.texts.get(parse_task_card(conv[1]["content"])["id"], [])
            turn = sum(m["role"] == "assistant" for m in conv)
            if turn < len(texts):
                text = texts[turn]
            else:
                text = self.default
            out.append(Generation.failed("script ran out") if text is None else Generation(text=text))
        return out

    def sync_weights(self, model):
        pass

    def close(self):
        pass


@pytest.fixture(scope="module")
def pool():
    with Pool(num_workers=2, preload=("numpy", "pandas")) as p:
        yield p


@pytest.fixture
def tasks(make_task):
    return [make_task("auc", task_id="alpha"), make_task("rmse", task_id="beta")]


def run(policy, tasks, pool, tmp_path, **cfg):
    config = RolloutConfig(**{"max_turns": 6, "step_timeout_s": 30, **cfg})
    return run_episodes(policy, tasks, pool, config, work_root=tmp_path / "work", seed=1)


def test_answered_episode_files_persist_and_reward_is_the_graders(pool, tasks, tmp_path):
    script = [py("open('note.txt', 'w').write('hello')"),
              py("print(open('note.txt').read()); " + WRITE_SAMPLE),
              SCORE, ANSWER]
    policy = Script({"alpha": script, "beta": script})
    episodes = run(policy, tasks, pool, tmp_path)
    assert policy.calls == [2, 2, 2, 2]            # one batched call per turn
    for ep, task in zip(episodes, tasks):
        assert ep.task_id == task.id and ep.termination == "answered"
        assert ep.terminated and not ep.truncated and ep.num_turns == 4
        assert "hello" in ep.steps[1].observation and "[exit code 0" in ep.steps[1].observation
        assert ep.steps[1].job["exit_code"] == 0 and ep.sandbox_s > 0
        grade = ep.steps[2].grade
        assert grade["valid"] and ep.final_grade == grade
        assert f"score {grade['score']}" in ep.steps[2].observation
        assert ep.format_rate == 1.0
        assert ep.reward == reward_for_grade(Grade.from_json(grade), 1.0, "paper")
        assert [m["role"] for m in ep.messages] == ["system", "user"] + ["assistant", "user"] * 3 + ["assistant"]
        assert ep.messages[3]["content"].startswith("<tool_response>")
        assert replay(ep).consistent and replay(ep).regraded


def test_turn_budget_is_truncation(pool, tasks, tmp_path):
    policy = Script({"alpha": [], "beta": []}, default=py("print(1)"))
    episodes = run(policy, tasks, pool, tmp_path, max_turns=3)
    for ep in episodes:
        assert (ep.termination, ep.terminated, ep.truncated, ep.num_turns) == ("turn_budget", False, True, 3)
        assert ep.final_grade is None and ep.reward == reward_for_grade(None, 1.0, "paper")


def test_time_budget_and_timeout_episode(pool, tasks, tmp_path):
    policy = Script({"alpha": [py("import time; time.sleep(30)")], "beta": [ANSWER]})
    alpha, beta = run(policy, tasks, pool, tmp_path, episode_timeout_s=3.0)
    assert alpha.termination == "time_budget" and alpha.truncated and not alpha.terminated
    assert alpha.steps[0].job["timed_out"] and "[timed out" in alpha.steps[0].observation
    assert alpha.timed_out and alpha.steps[0].failed
    assert beta.termination == "answered" and not beta.timed_out


def test_context_overflow(pool, tasks, tmp_path):
    big = py("print('x' * 400)\nfor i in range(30): print('line', i, 'y' * 300)")
    policy = Script({"alpha": [big], "beta": [big]}, default=py("print(2)"))
    config = {"max_context_tokens": 3000, "sampling": SamplingParams(max_new_tokens=100)}
    episodes = run(policy, tasks, pool, tmp_path, tool_output_lines=5, **config)
    # Five lines of output keep the conversation under budget until the turn budget.
    for ep in episodes:
        assert "26 earlier lines omitted" in ep.steps[0].observation
        assert ep.termination == "turn_budget"
    # Twenty lines of ~300 characters do not fit beside the prompt in 600 tokens.
    tiny = run(policy, tasks, pool, tmp_path, max_context_tokens=700,
               sampling=SamplingParams(max_new_tokens=100), tool_output_lines=20)
    for ep in tiny:
        assert ep.termination == "context_overflow" and ep.truncated and ep.num_turns == 1


def test_policy_errors_and_malformed_turns_are_data(pool, tasks, tmp_path):
    policy = Script({"alpha": ["no action here", None], "beta": ["<think></think>oops", ANSWER]})
    alpha, beta = run(policy, tasks, pool, tmp_path)
    assert alpha.termination == "policy_error" and alpha.error == "script ran out"
    assert not alpha.terminated and not alpha.truncated
    assert alpha.steps[0].failed and "format error" in alpha.steps[0].observation
    assert alpha.messages[3]["content"].startswith("<tool_response>\nformat error")
    assert beta.termination == "answered" and beta.format_rate == 0.5


def test_policy_exception_ends_every_episode_as_policy_error(pool, tasks, tmp_path):
    class Broken(Script):
        def generate(self, conversations, sampling):
            raise RuntimeError("engine died")

    episodes = run(Broken({}), tasks, pool, tmp_path)
    assert [ep.termination for ep in episodes] == ["policy_error"] * 2
    assert episodes[0].error == "RuntimeError: engine died"


def test_sandbox_failure_is_env_error_and_others_continue(tasks, tmp_path, pool):
    class FlakyPool:
        num_workers = 2

        def run(self, job):
            if "boom" in job.code:
                raise OSError("worker lost")
            return pool.run(job)

    policy = Script({"alpha": [py("print('boom')")], "beta": [py(WRITE_SAMPLE), ANSWER]})
    alpha, beta = run_episodes(policy, tasks, FlakyPool(), RolloutConfig(max_turns=4), work_root=tmp_path)
    assert alpha.termination == "env_error" and "worker lost" in alpha.error and alpha.num_turns == 0
    assert beta.termination == "answered" and beta.final_grade["valid"]


def test_unscored_submission_is_graded_at_the_end(pool, tasks, tmp_path):
    policy = Script({"alpha": [py(WRITE_SAMPLE), ANSWER], "beta": [ANSWER]})
    alpha, beta = run(policy, tasks, pool, tmp_path)
    assert alpha.final_grade["valid"] and alpha.final_grade["submission_path"].endswith("step2.csv")
    assert beta.final_grade is None and beta.reward == reward_for_grade(None, 1.0, "paper")


def test_best_versus_last_graded_score(pool, make_task, tmp_path):
    task = make_task("auc", task_id="gamma")
    good = ("import pandas as pd; s = pd.read_csv('input/sample_submission.csv'); "
            "s['target'] = 0.5; s.loc[0, 'target'] = 0.9; s.to_csv('submission.csv', index=False)")
    bad = "open('submission.csv', 'w').write('id,target\\n')"
    script = [py(good), SCORE, py(bad), SCORE, ANSWER]
    last, = run(Script({"gamma": script}), [task], pool, tmp_path / "a", reward_from="last")
    best, = run(Script({"gamma": script}), [task], pool, tmp_path / "b", reward_from="best")
    assert not last.final_grade["valid"] and best.final_grade["valid"]
    assert best.reward > last.reward
    assert replay(last).consistent and replay(best).consistent


def test_jsonl_round_trip_replay_and_sft(pool, tasks, tmp_path):
    policy = Script({"alpha": [py(WRITE_SAMPLE), SCORE, ANSWER], "beta": ["nothing", ANSWER]})
    episodes = run(policy, tasks, pool, tmp_path)
    path = save_episodes(tmp_path / "eps.jsonl", episodes)
    loaded = load_episodes(path)
    assert loaded == episodes
    assert all(replay(ep).consistent for ep in loaded)
    tampered = loaded[0].__class__.from_json({**loaded[0].to_json(), "reward": 0.99})
    assert any("reward" in p for p in replay(tampered).problems)
    records = to_sft(loaded, min_reward=episodes[0].reward)
    assert [r["episode_id"] for r in records] == [episodes[0].episode_id]
    assert records[0]["messages"] == list(episodes[0].messages)
    assert len(to_sft(loaded, min_reward=0.0)) == 2


def test_a_fixed_seed_moves_on_each_turn_and_stop_strings_are_added(pool, tasks, tmp_path):
    from sandmle.rollout.runner import TURN_SEED_STRIDE

    seen = []

    class Recording(Script):
        def generate(self, conversations, sampling):
            seen.append((sampling.seed, sampling.stop))
            return super().generate(conversations, sampling)

    policy = Recording({"alpha": [py("print(1)"), ANSWER], "beta": [py("print(1)"), ANSWER]})
    run(policy, tasks, pool, tmp_path, sampling=SamplingParams(seed=5, stop=("END",)))
    assert [s for s, _ in seen] == [5, 5 + TURN_SEED_STRIDE]
    assert all(stop == ("END", "</tool_call>", "</answer>") for _, stop in seen)


def test_submission_linked_to_the_hidden_answers_earns_no_valid_grade(pool, tasks, tmp_path):
    # The link dangles inside the sandbox but would resolve on the host, where grading runs.
    plant = py(f"import os; os.symlink({str(tasks[0].answers_path)!r}, 'submission.csv')")
    policy = Script({"alpha": [plant, SCORE, ANSWER], "beta": [ANSWER]})
    alpha, _ = run(policy, tasks, pool, tmp_path)
    assert alpha.final_grade is not None and not alpha.final_grade["valid"]
    assert "symbolic link" in alpha.final_grade["reason"]
    assert alpha.reward == reward_for_grade(Grade.from_json(alpha.final_grade), 1.0, "paper")


def test_a_submission_that_is_not_a_file_is_invalid_not_an_error(pool, tasks, tmp_path):
    fifo = "import os; os.mkfifo('submission.csv')"
    folder = "import os; os.mkdir('submission.csv')"
    policy = Script({"alpha": [py(fifo), SCORE, ANSWER], "beta": [py(folder), SCORE, ANSWER]})
    for ep in run(policy, tasks, pool, tmp_path):
        assert ep.termination == "answered", ep.error
        assert ep.final_grade["valid"] is False and "not a regular file" in ep.final_grade["reason"]
        assert "invalid submission" in ep.steps[1].observation


def test_code_runs_as_written_fenced_or_holding_protocol_tags(pool, tasks, tmp_path):
    fenced = py("```python\nprint('fenced ok')\n```")
    tagged = py('import re\nprint(re.sub(r"<think>.*?</think>", "", "a<think>b</think>c"), "</code>", "<answer>")')
    policy = Script({"alpha": [fenced, ANSWER], "beta": [tagged, ANSWER]})
    alpha, beta = run(policy, tasks, pool, tmp_path)
    assert alpha.steps[0].job["exit_code"] == 0 and "fenced ok" in alpha.steps[0].observation
    assert alpha.steps[0].observation.startswith("[note: the markdown fence")
    assert beta.steps[0].job["exit_code"] == 0 and "ac </code> <answer>" in beta.steps[0].observation
    assert replay(alpha).consistent and replay(beta).consistent
