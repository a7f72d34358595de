"""Token-exact episodes: what the policy saw and sampled is what the training sequence holds.

Episodes run through the real runner, sandbox pool and grader, with the tiny tokenizer under
three chat templates (ChatML, Qwen3-style thinking, prefilled <think>). `TokenScript` is a
policy over token ids: it answers each prompt with fixed turns written one character per
token (never how the tokenizer would encode them), applies stop strings as an engine does
(the output ends right after the first stop string) and continues a turn when the prompt
ends with part of it; the hf backend with a tiny model checks the same on sampled noise.
"""
import math

import pytest

pytest.importorskip("transformers")

from sandmle.policies.base import Generation, SamplingParams
from sandmle.policies.tiny import CHAT_TEMPLATES, PROTOCOL_TOKENS, build_tokenizer
from sandmle.rollout.prompts import parse_task_card
from sandmle.rollout.runner import RolloutConfig, run_episodes
from sandmle.rollout.tokens import render_prompt_ids, training_sequences
from sandmle.sandbox.pool import Pool

ANSWER = "<think>done</think>\n<answer>submission.csv</answer>"
SINGLE = PROTOCOL_TOKENS + ("<|endoftext|>",)          # written as one id each


def py(code: str, think: str = "run") -> str:
    return f'<think>{think}</think>\n<tool_call>{{"name": "python"}}<code>\n{code}\n</code></tool_call>'


class TokenScript:
    """Turn t of task T is texts[T][t], as one id per character; records every call."""

    name = "token-script"

    def __init__(self, tokenizer, texts: dict[str, list[str]]):
        self.tok = tokenizer
        self.texts = texts
        self.calls: list[tuple[tuple[int, ...], Generation]] = []
        self.turns: dict[str, int] = {}

    def ids(self, text: str) -> list[int]:
        out = []
        for tag in SINGLE:
            text = text.replace(tag, f"\0{tag}\0")
        for part in text.split("\0"):
            if part in SINGLE:
                out.append(self.tok.convert_tokens_to_ids(part))
            else:
                out.extend(i for c in part for i in self.tok(c, add_special_tokens=False)["input_ids"])
        return out

    def generate(self, conversations, sampling, prompt_ids=None):
        out = []
        for conv, prompt in zip(conversations, prompt_ids):
            task = parse_task_card(conv[1]["content"])["id"]
            turn = self.turns.get(task, 0)
            if conv[-1]["role"] == "assistant":         # continue the current turn
                turn -= 1
            else:
                self.turns[task] = turn + 1
            full = self.ids(self.texts[task][turn]) + [self.tok.eos_token_id]
            done = next(k for k in range(len(full), -1, -1) if k == 0 or list(prompt[-k:]) == full[:k])
            ids, stop = full[done:done + sampling.max_new_tokens], None
            for k in range(1, len(ids) + 1):
                stop = next((s for s in sampling.stop if self.tok.decode(ids[:k]).endswith(s)), None)
                if stop:
                    ids = ids[:k]
                    break
            ended = stop is not None or ids[-1:] == [self.tok.eos_token_id]
            gen = Generation(text=self.tok.decode(ids, skip_special_tokens=True), token_ids=tuple(ids),
                             logprobs=tuple(-0.01 * (i + 1) for i in range(len(ids))),
                             finish_reason="stop" if ended else "length", prompt_ids=tuple(prompt), stop_string=stop)
            self.calls.append((tuple(prompt), gen))
            out.append(gen)
        return out

    def sync_weights(self, model):
        pass

    def close(self):
        pass


@pytest.fixture(scope="module")
def pool():
    with Pool(num_workers=2, preload=("numpy", "pandas")) as p:
        yield p


@pytest.fixture(params=sorted(CHAT_TEMPLATES))
def tok(request):
    return build_tokenizer(template=request.param)


def run(policy, tasks, pool, tmp_path, tok, **cfg):
    config = RolloutConfig(**{"max_turns": 6, "step_timeout_s": 30, **cfg})
    return run_episodes(policy, tasks, pool, config, tokenizer=tok, work_root=tmp_path / "work", seed=1)


def record_calls(policy) -> list[tuple[tuple[int, ...], Generation]]:
    """Wrap `policy.generate` (an instance attribute; `del policy.generate` undoes it) so that
    every generation is recorded with the prompt ids it came from; returns the record."""
    calls = []
    generate = policy.generate

    def recording(conversations, sampling, prompt_ids=None):
        out = generate(conversations, sampling, prompt_ids=prompt_ids)
        calls.extend((g.prompt_ids, g) for g in out)
        return out

    policy.generate = recording
    return calls


def assert_exact(ep, calls):
    """Each turn's completion ids are trained once, behind exactly the prompt the policy saw."""
    sequences = training_sequences(ep.steps)
    seen: dict[tuple, list[Generation]] = {}
    for prompt, gen in calls:
        seen.setdefault(tuple(prompt), []).append(gen)
    covered = []
    for seq in sequences:
        pos = seq.prompt_len
        for index in seq.turns:
            step = ep.steps[index]
            if step.prompt_extends:
                pos += len(step.prompt_ids)
            prompt = seq.input_ids[:pos]
            # the policy sampled exactly these ids behind exactly this prompt (the first piece
            # of a resumed turn; the rest behind that prompt and the piece)
            assert any(step.completion_ids[:len(g.token_ids)] == g.token_ids for g in seen[prompt])
            end = pos + len(step.completion_ids)
            assert seq.input_ids[pos:end] == step.completion_ids
            assert set(seq.loss_mask[pos:end]) == {1} and seq.logprobs[pos:end] == step.logprobs
            covered.extend(range(pos, end))
            pos = end
        trained = [i for i, m in enumerate(seq.loss_mask) if m]
        assert trained == [i for i in covered if i < len(seq.input_ids)]
        assert all(math.isnan(x) for x, m in zip(seq.logprobs, seq.loss_mask) if not m)
        covered = []
    return sequences


def test_replayed_episodes_reproduce_the_sampled_ids_under_every_template(pool, make_task, tmp_path, tok):
    tasks = [make_task("auc", task_id="alpha")]
    texts = {"alpha": [py("print('données 😀')"), py("raise SystemExit(3)"), ANSWER]}
    policy = TokenScript(tok, texts)
    [ep] = run(policy, tasks, pool, tmp_path, tok)
    assert ep.termination == "answered" and ep.num_turns == 3 and ep.format_rate == 1.0
    assert "données 😀" in ep.steps[0].observation
    [seq] = assert_exact(ep, policy.calls)       # one sequence: every prompt extends the last
    # The ids were written one per character: re-encoding the text gives other ids.
    for step in ep.steps:
        assert tok(step.text, add_special_tokens=False)["input_ids"] != list(step.completion_ids)
    first_prompt = render_prompt_ids(tok, list(ep.messages[:2]))
    assert list(seq.input_ids[:seq.prompt_len]) == first_prompt


def test_special_tokens_the_policy_sampled_stay_in_the_trained_ids(pool, make_task, tmp_path):
    tok = build_tokenizer()
    tasks = [make_task("auc", task_id="alpha")]
    policy = TokenScript(tok, {"alpha": [py("print(1)", think="a<|endoftext|>b"), ANSWER]})
    [ep] = run(policy, tasks, pool, tmp_path, tok)
    assert ep.steps[0].text.startswith("<think>ab</think>")            # the text cannot show it
    assert tok.pad_token_id in ep.steps[0].completion_ids
    [seq] = assert_exact(ep, policy.calls)
    assert any(i == tok.pad_token_id and m for i, m in zip(seq.input_ids, seq.loss_mask))


def test_stop_ending_turns_train_no_end_of_turn_token_they_did_not_sample(pool, make_task, tmp_path):
    tok = build_tokenizer()
    tasks = [make_task("auc", task_id="alpha")]
    policy = TokenScript(tok, {"alpha": [py("print(1)"), ANSWER]})
    [ep] = run(policy, tasks, pool, tmp_path, tok)
    [seq] = training_sequences(ep.steps)
    eos = tok.eos_token_id
    assert ep.steps[0].stop_string == "</tool_call>" and eos not in ep.steps[0].completion_ids
    turn_end = seq.prompt_len + len(ep.steps[0].completion_ids)
    assert seq.input_ids[turn_end] == eos and seq.loss_mask[turn_end] == 0    # the template's, not sampled
    assert ep.steps[1].completion_ids[-1] != eos or seq.loss_mask[-1] == 1


@pytest.mark.parametrize("code", [
    'x = "<answer>{}</answer>".format("submission.csv")\nprint(x)',
    'print("</tool_call>")',
    'print("</code></tool_call>")  # a comment with </tool_call>',
])
def test_a_stop_string_inside_code_resumes_the_turn_and_the_code_runs(pool, make_task, tmp_path, code):
    tok = build_tokenizer()
    tasks = [make_task("auc", task_id="alpha")]
    policy = TokenScript(tok, {"alpha": [py(code), ANSWER]})
    [ep] = run(policy, tasks, pool, tmp_path, tok)
    first = ep.steps[0]
    assert first.resumes >= 1 and first.action["kind"] == "python", first.action
    assert first.action["code"] == code + "\n" and first.job["exit_code"] == 0
    assert ep.termination == "answered" and ep.num_turns == 2
    assert_exact(ep, policy.calls)


def test_a_cut_turn_that_cannot_resume_is_a_format_error_saying_why(pool, make_task, tmp_path):
    tok = build_tokenizer()
    tasks = [make_task("auc", task_id="alpha")]
    cut = py('x = "<answer>{}</answer>"\n' + "y = 1\n" * 40)
    policy = TokenScript(tok, {"alpha": [cut, ANSWER]})
    # 60 tokens: the first stop string comes early, the budget ends the resumed turn.
    [ep] = run(policy, tasks, pool, tmp_path, tok, sampling=SamplingParams(max_new_tokens=60))
    first = ep.steps[0]
    assert first.action["kind"] == "invalid" and first.finish_reason == "length"
    assert "not closed" in first.action["error"]
    assert ep.termination == "answered"


def test_a_truncated_think_block_under_qwen3s_template_is_recorded_not_raised(pool, make_task, tmp_path):
    tok = build_tokenizer(template="qwen3")
    tasks = [make_task("auc", task_id="alpha")]
    policy = TokenScript(tok, {"alpha": ["<think>" + "thinking " * 30, py("print(2)"), ANSWER]})
    [ep] = run(policy, tasks, pool, tmp_path, tok, sampling=SamplingParams(max_new_tokens=120))
    assert ep.termination == "answered" and ep.steps[0].finish_reason == "length"
    assert "<think> is not closed" in ep.steps[0].observation
    assert_exact(ep, policy.calls)


def test_a_template_that_raises_ends_its_episode_as_env_error_and_the_others_go_on(pool, make_task, tmp_path):
    from sandmle.policies.tiny import CHAT_TEMPLATE

    tok = build_tokenizer()
    # Templates refuse conversations they do not expect (Mistral's and Llama's "roles must
    # alternate"); here the one of task beta, once it has an assistant turn.
    tok.chat_template = ("{% if messages|length > 2 and '\"id\": \"beta\"' in messages[1]['content'] %}"
                         "{{ raise_exception('Conversation roles must alternate') }}{% endif %}" + CHAT_TEMPLATE)
    tasks = [make_task("auc", task_id="alpha"), make_task("auc", task_id="beta")]
    texts = [py("print(1)"), ANSWER]
    policy = TokenScript(tok, {"alpha": texts, "beta": texts})
    alpha, beta = run(policy, tasks, pool, tmp_path, tok)
    assert alpha.termination == "answered" and alpha.num_turns == 2
    assert beta.termination == "env_error" and "Conversation roles must alternate" in beta.error
    assert_exact(alpha, policy.calls)


def test_a_prefilled_think_block_gets_format_credit(pool, make_task, tmp_path):
    tok = build_tokenizer(template="think-prefill")
    tasks = [make_task("auc", task_id="alpha")]
    # The generation prompt ends with "<think>\n": completions close it with a lone </think>,
    # and may mention action tags while thinking.
    turns = ['Maybe <answer>submission.csv</answer> now? No: run it first.\n</think>\n'
             '<tool_call>{"name": "python"}<code>\nprint(3)\n</code></tool_call>',
             "Scored.</think>\n<answer>submission.csv</answer>"]
    policy = TokenScript(tok, {"alpha": turns})
    [ep] = run(policy, tasks, pool, tmp_path, tok)
    assert ep.format_rate == 1.0 and ep.num_turns == 2 and ep.termination == "answered"
    assert ep.steps[0].action["kind"] == "python" and ep.steps[0].resumes == 1
    assert ep.steps[0].text.startswith("<think>\n") and ep.messages[2]["content"] == ep.steps[0].text
    assert_exact(ep, policy.calls)


def test_context_the_policy_did_not_see_is_not_trained_on(pool, make_task, tmp_path):
    tok = build_tokenizer()
    tasks = [make_task("auc", task_id="alpha")]
    noisy = py("import sys\nfor i in range(30): print('x' * 200, i)\nsys.exit(1)")
    policy = TokenScript(tok, {"alpha": [noisy, noisy, py("print('after')"), ANSWER]})
    [ep] = run(policy, tasks, pool, tmp_path, tok, max_context_tokens=3400, tool_output_lines=8,
               sampling=SamplingParams(max_new_tokens=300))
    assert ep.termination == "answered"
    sequences = assert_exact(ep, policy.calls)
    assert len(sequences) >= 2                          # a turn was dropped from view: new sequence
    last = sequences[-1]
    dropped = tuple(ep.steps[0].completion_ids)
    window = len(dropped)
    assert all(last.input_ids[i:i + window] != dropped for i in range(len(last.input_ids) - window + 1))


def test_hf_samples_that_do_not_round_trip_are_trained_as_sampled(make_task, tmp_path, pool):
    from sandmle.policies.hf import HFPolicy
    from sandmle.policies.tiny import build_tiny_model

    for template in sorted(CHAT_TEMPLATES):
        path = build_tiny_model(tmp_path / template, seed=0, template=template)
        policy = HFPolicy(path)
        calls = record_calls(policy)
        tasks = [make_task("auc", task_id=f"t-{template}")] * 2
        episodes = run(policy, tasks, pool, tmp_path / template, policy.tokenizer, max_turns=2,
                       sampling=SamplingParams(max_new_tokens=24, seed=0))
        mismatched = 0
        for ep in episodes:
            assert_exact(ep, calls)
            for step in ep.steps:
                text = policy.tokenizer.decode(step.completion_ids, skip_special_tokens=True)
                mismatched += policy.tokenizer(text, add_special_tokens=False)["input_ids"] != list(step.completion_ids)
        assert mismatched > 0, template       # decode/encode does not round-trip on these samples
