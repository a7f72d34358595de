"""The scripted baselines: the protocol turns, strengths, honesty, fallbacks."""
import pytest

from sandmle.errors import UserError
from sandmle.policies import SamplingParams, make_policy
from sandmle.policies.scripted import ScriptedPolicy, spec_from_card
from sandmle.rollout.prompts import parse_task_card, system_prompt, task_card, task_message
from sandmle.rollout.protocol import parse_turn
from sandmle.rollout.runner import RolloutConfig, run_episodes
from sandmle.sandbox.pool import Pool
from sandmle.synth.solutions import reference_solutions

SAMPLING = SamplingParams(seed=0)


def start(task):
    return [{"role": "system", "content": system_prompt(20)},
            {"role": "user", "content": task_message(task, 8, 600, 60)}]


def turn(policy, conversation):
    [g] = policy.generate([conversation], SAMPLING)
    assert g.finish_reason == "stop", g.error
    return g.text


def test_turn_sequence_without_a_sandbox(make_task):
    task = make_task("auc", task_id="seq")
    policy = ScriptedPolicy("medium")
    convo = start(task)
    texts = []
    responses = ["<tool_response>\n[exit code 0, 0.1 s]\ntext columns: []\n</tool_response>",
                 "<tool_response>\n[exit code 0, 0.5 s]\n</tool_response>",
                 "<tool_response>\nscore 0.7\n</tool_response>"]
    for response in responses + [None]:
        text = turn(policy, convo)
        texts.append(text)
        convo = convo + [{"role": "assistant", "content": text}]
        if response:
            convo.append({"role": "user", "content": response})
    kinds = [parse_turn(t).kind for t in texts]
    assert kinds == ["python", "python", "score", "answer"]
    assert all(parse_turn(t).has_think for t in texts)
    inspect = parse_turn(texts[0]).code
    assert "input/train.csv" in inspect
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # teacher data: code a model may learn from
        compile(inspect, "inspect", "exec")
    code = parse_turn(texts[1]).code
    medium = {s.code for s in reference_solutions(spec_from_card(task_card(task), 0)) if s.strength == "medium"}
    assert code.split("\n", 1)[1] in medium


def test_each_strength_draws_from_its_own_solutions(make_task):
    task = make_task("rmse", task_id="str")
    spec = spec_from_card(task_card(task), 0)
    after_inspect = start(task) + [
        {"role": "assistant", "content": turn(ScriptedPolicy("weak"), start(task))},
        {"role": "user", "content": "<tool_response>\ntext columns: []\n</tool_response>"}]
    for strength in ("weak", "medium", "strong"):
        code = parse_turn(turn(ScriptedPolicy(strength), after_inspect)).code.split("\n", 1)[1]
        names = {s.strength for s in reference_solutions(spec) if s.code == code}
        assert names == {strength}


def test_failed_solution_falls_back_to_the_sample_submission(make_task):
    task = make_task("auc", task_id="fb")
    policy = ScriptedPolicy("strong")
    convo = start(task)
    for response in ("text columns: []", "[exit code 1, 0.2 s]\nTraceback ..."):
        convo = convo + [{"role": "assistant", "content": turn(policy, convo)},
                         {"role": "user", "content": f"<tool_response>\n{response}\n</tool_response>"}]
    code = parse_turn(turn(policy, convo)).code
    assert "input/sample_submission.csv" in code and "submission.csv" in code


def test_card_holds_no_private_facts(make_task):
    task = make_task("auc", task_id="card")
    card = parse_task_card(task_message(task, 8, 600, 60))
    assert card == task_card(task)
    assert "thresholds" not in card and "lineage" not in card


def test_strong_baseline_through_the_sandbox(make_task, tmp_path):
    """The sandbox shows only ./input/ (the public folder): the policy needs nothing else."""
    tasks = [make_task("auc", task_id="p-auc"), make_task("accuracy", task_id="p-acc")]
    with Pool(num_workers=2) as pool:
        episodes = run_episodes(make_policy("scripted:strong"), tasks, pool, RolloutConfig(max_turns=6),
                                work_root=tmp_path / "w", seed=0)
    for ep in episodes:
        assert ep.termination == "answered" and ep.num_turns == 4, ep.error
        assert ep.final_grade["valid"] and ep.format_rate == 1.0
        assert "train shape: (60," in ep.steps[0].observation


def test_unreadable_conversation_is_an_error_generation():
    [g] = ScriptedPolicy().generate([[{"role": "user", "content": "no card here"}]], SAMPLING)
    assert g.finish_reason == "error" and "task-card" in g.error


def test_bad_strength_and_no_weights():
    with pytest.raises(UserError):
        make_policy("scripted:heroic")
    with pytest.raises(UserError):
        ScriptedPolicy().sync_weights(None)
    assert make_policy("scripted").name == "scripted:strong"


def test_text_columns_switch_to_text_solutions(make_task):
    task = make_task("auc", task_id="txt")
    policy = ScriptedPolicy("strong")
    convo = start(task) + [
        {"role": "assistant", "content": turn(policy, start(task))},
        {"role": "user", "content": "<tool_response>\ntext columns: [\"it's a comment\"]\n</tool_response>"}]
    code = parse_turn(turn(policy, convo)).code.split("\n", 1)[1]
    text_codes = {s.code for s in reference_solutions(spec_from_card(task_card(task), 1))}
    general_codes = {s.code for s in reference_solutions(spec_from_card(task_card(task), 0))}
    assert code in text_codes and code not in general_codes


# -- the short style: the teacher of small models ------------------------------------------
def test_short_style_plays_solution_score_answer(make_task):
    from sandmle.policies.short_scripts import short_solutions

    task = make_task("auc", task_id="short")
    policy = make_policy("scripted:medium:short")
    assert policy.name == "scripted:medium:short"
    convo, texts = start(task), []
    for response in ("[exit code 0, 0.5 s]\n(30, 2)", "score 0.7", None):
        texts.append(turn(policy, convo))
        convo = convo + [{"role": "assistant", "content": texts[-1]}]
        if response:
            convo.append({"role": "user", "content": f"<tool_response>\n{response}\n</tool_response>"})
    actions = [parse_turn(t) for t in texts]
    assert [a.kind for a in actions] == ["python", "score", "answer"]
    assert all(a.has_think for a in actions)
    medium = {s.code for s in short_solutions(task_card(task)) if s.strength == "medium"}
    assert actions[0].code.split("\n", 1)[1] in medium


def test_short_solutions_of_a_task_differ_in_the_estimator_line_only(make_task):
    from sandmle.policies.short_scripts import short_solutions

    solutions = short_solutions(task_card(make_task("accuracy", task_id="one-line")))
    assert {s.strength for s in solutions} == {"weak", "medium", "strong"}
    lines = [s.code.splitlines() for s in solutions]
    differing = [i for i in range(len(lines[0])) if len({tuple([ls[i]]) for ls in lines}) > 1]
    assert len(differing) == 1 and lines[0][differing[0]].startswith("model = ")
    assert len({s.think for s in solutions}) == 1


@pytest.mark.parametrize("metric", ["auc", "accuracy", "rmse"])
def test_every_short_solution_submits_a_valid_file(make_task, tmp_path, metric):
    """binary_proba, label and value tasks: each estimator runs in the sandbox and grades valid."""
    from sandmle.grading import grade_submission
    from sandmle.policies.short_scripts import short_solutions
    from sandmle.sandbox.job import Job, Limits

    task = make_task(metric, task_id=f"s-{metric}")
    with Pool(num_workers=2) as pool:
        for i, solution in enumerate(short_solutions(task_card(task))):
            work = tmp_path / f"w{i}"
            result = pool.run(Job(work_dir=str(work), public_dir=str(task.public_dir), code=solution.code,
                                  limits=Limits(timeout_s=60), name=solution.name))
            assert result.ok, (solution.name, result.stderr_tail)
            assert grade_submission(task, work / "submission.csv").valid, solution.name


def test_short_style_refuses_a_task_it_does_not_cover(make_task, tmp_path):
    task = make_task("multiclass_log_loss", task_id="multi")
    [g] = make_policy("scripted:strong:short").generate([start(task)], SAMPLING)
    assert g.finish_reason == "error" and "short solutions cover tabular tasks" in g.error
    with Pool(num_workers=1) as pool:
        [ep] = run_episodes(make_policy("scripted:strong:short"), [task], pool, RolloutConfig(max_turns=4),
                            work_root=tmp_path / "w", seed=0)
    assert ep.termination == "policy_error" and "multiclass_log_loss" in ep.error


def test_bad_style_is_a_user_error():
    with pytest.raises(UserError, match="style"):
        make_policy("scripted:weak:tiny")
