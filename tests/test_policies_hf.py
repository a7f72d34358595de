"""The hf backend with a tiny random model and a tokenizer trained offline in the test."""
import pytest

torch = pytest.importorskip("torch")

from sandmle.errors import UserError
from sandmle.policies import Generation, SamplingParams, make_policy
from sandmle.policies.hf import HFPolicy, _trim
from sandmle.policies.tiny import PROTOCOL_TOKENS, build_tiny_model

STOP = ("</tool_call>", "</answer>")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), seed=0)


@pytest.fixture(scope="module")
def policy(model_dir):
    return make_policy(f"hf:{model_dir}")


def convo(text):
    return [{"role": "system", "content": "sys"}, {"role": "user", "content": text}]


def test_protocol_tags_are_single_tokens(policy):
    tok = policy.tokenizer
    for tag in PROTOCOL_TOKENS:
        ids = tok.encode(tag, add_special_tokens=False)
        assert len(ids) == 1 and tok.decode(ids) == tag


def test_batched_left_padded_generation_matches_one_by_one(policy):
    batch = [convo("a"), convo("a much longer prompt about submission.csv and auc")]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=12)
    together = policy.generate(batch, greedy)
    alone = [policy.generate([c], greedy)[0] for c in batch]
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]
    for g in together:
        assert isinstance(g, Generation) and g.error is None
        assert len(g.token_ids) == len(g.logprobs) <= 12
        assert g.text == policy.tokenizer.decode(g.token_ids, skip_special_tokens=True)
        assert all(lp <= 0 for lp in g.logprobs)
        if len(g.token_ids) == 12:
            assert g.finish_reason == "length"


def test_seeded_sampling_is_reproducible(policy):
    sampling = SamplingParams(temperature=1.0, max_new_tokens=10, seed=7)
    first = policy.generate([convo("x"), convo("y")], sampling)
    second = policy.generate([convo("x"), convo("y")], sampling)
    assert [g.token_ids for g in first] == [g.token_ids for g in second]


def test_a_group_split_over_batches_does_not_repeat_its_samples(model_dir):
    # Four rollouts of one prompt, two per generate batch: each batch draws from its first
    # row's seed, so the second pair is not a copy of the first.
    policy = HFPolicy(model_dir, batch_size=2)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=16, seed=7)
    rows = [g.token_ids for g in policy.generate([convo("x")] * 4, sampling)]
    assert rows[2:] != rows[:2]
    assert rows == [g.token_ids for g in policy.generate([convo("x")] * 4, sampling)]
    # per-episode seeds (a rollout runner's row_seeds) pick each batch's stream
    moved = SamplingParams(temperature=1.0, max_new_tokens=16, seed=7, row_seeds=(7, 8, 100, 101))
    assert [g.token_ids for g in policy.generate([convo("x")] * 4, moved)][:2] == rows[:2]


def test_stop_strings_end_generation_and_stay_in_the_text(policy):
    tok = policy.tokenizer
    sampled = SamplingParams(temperature=1.0, max_new_tokens=12, seed=3)
    [free] = policy.generate([convo("x")], sampled)
    ids = list(free.token_ids)
    # Stop at the first generated token whose text has not appeared before it.
    k = next(k for k in range(1, len(ids)) if tok.decode([ids[k]]).strip()
             and tok.decode([ids[k]]) not in tok.decode(ids[:k]))
    stop = tok.decode([ids[k]])
    [g] = policy.generate([convo("x")], SamplingParams(temperature=1.0, max_new_tokens=12, seed=3, stop=(stop,)))
    assert g.finish_reason == "stop"
    assert g.text.endswith(stop) and g.text.count(stop) == 1
    assert free.text.startswith(g.text)
    assert list(g.token_ids) == ids[:len(g.token_ids)] and len(g.token_ids) <= k + 1


def test_trim_keeps_exactly_the_sampled_tokens():
    assert _trim([5, 6, 2, 0, 0], eos_id=2, stop_at=None) == ([5, 6, 2], True)
    # A row that sampled the padding id is not shortened: its length is what it sampled.
    assert _trim([5, 6, 0, 0], eos_id=2, stop_at=None) == ([5, 6, 0, 0], False)
    assert _trim([5, 6, 0, 7, 0, 0], eos_id=2, stop_at=4) == ([5, 6, 0, 7], False)


def test_given_prompt_ids_are_used_as_is_and_echoed(policy):
    tok = policy.tokenizer
    ids = tok("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    odd = [i for c in "submission" for i in tok(c, add_special_tokens=False)["input_ids"]]   # not how it encodes
    greedy = SamplingParams(temperature=0.0, max_new_tokens=6)
    [g] = policy.generate([convo("ignored")], greedy, prompt_ids=[ids + odd])
    assert g.prompt_ids == tuple(ids + odd)
    [again] = policy.generate([convo("ignored")], greedy, prompt_ids=[ids + odd])
    assert again.token_ids == g.token_ids


def test_shared_model_sync_is_a_no_op_and_other_models_are_copied(model_dir, policy):
    from transformers import AutoModelForCausalLM

    shared = HFPolicy(policy.model, tokenizer=policy.tokenizer)
    shared.sync_weights(policy.model)
    other = AutoModelForCausalLM.from_pretrained(model_dir)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    fresh = HFPolicy(model_dir)
    fresh.sync_weights(other)
    a = dict(fresh.model.named_parameters())
    for name, p in other.named_parameters():
        assert torch.equal(a[name], p)


def test_failed_batch_is_error_generations(policy):
    gens = policy.generate([[{"role": "user"}]] * 2, SamplingParams(max_new_tokens=4))
    assert all(g.finish_reason == "error" and g.error for g in gens)


def test_bad_paths(tmp_path):
    with pytest.raises(UserError):
        make_policy(f"hf:{tmp_path}")
    with pytest.raises(UserError):
        make_policy("hf:")


def test_episodes_through_the_runner_record_what_was_sampled(policy, make_task, tmp_path):
    from sandmle.rollout.runner import RolloutConfig, run_episodes
    from sandmle.rollout.tokens import training_sequences
    from sandmle.sandbox.pool import Pool

    task = make_task("auc", task_id="hf-task")
    config = RolloutConfig(max_turns=2, max_context_tokens=4000,
                           sampling=SamplingParams(max_new_tokens=16, seed=0))
    with Pool(num_workers=1, preload=("numpy",)) as pool:
        episodes = run_episodes(policy, [task, task], pool, config, tokenizer=policy.tokenizer,
                                work_root=tmp_path, seed=0)
    for ep in episodes:
        # Random weights write noise: every turn is a format error, the turn budget ends it.
        assert ep.termination == "turn_budget" and ep.num_turns == 2
        assert all(s.failed and "format error" in s.observation for s in ep.steps)
        assert all(len(s.completion_ids) == len(s.logprobs) and not s.tokenised for s in ep.steps)
        [seq] = training_sequences(ep.steps)
        trained = [i for i, m in zip(seq.input_ids, seq.loss_mask) if m]
        assert trained == [i for s in ep.steps for i in s.completion_ids]
        assert set(seq.loss_mask[:seq.prompt_len]) == {0}
