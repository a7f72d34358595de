"""Real vLLM (its CPU build, `make test-vllm`): generation, and weight sync proven by log-probs.

Every sync test perturbs the trainer's weights, syncs, and asks the engine for its log-probs
of fixed token ids (vLLM prompt log-probs): they must now match the trainer's own within the
engine dtype's tolerance, and no longer match the engine's log-probs from before the sync.
One engine per model is shared by the module's tests (an engine takes ~40 s to start here).
"""
from __future__ import annotations

import copy

import pytest
import torch

pytest.importorskip("vllm", reason="vLLM is not installed (make test-vllm installs its CPU build)")
pytestmark = pytest.mark.vllm

from sandmle.policies.base import SamplingParams  # noqa: E402
from sandmle.policies.vllm import VLLMPolicy  # noqa: E402

BF16_TOL = 0.1          # max |engine - trainer| log-prob for a bfloat16 engine (measured 0.005-0.03)
MOVED = 0.5             # a sync must move the engine's log-probs by at least this much
FIXED_IDS = [[5, 17, 42, 99, 7, 230, 12, 401, 66, 8, 301, 77, 150, 3, 260, 19, 88, 512, 33, 70]]
# 2048: an agent episode's first prompt is ~1050 tiny-tokenizer ids
ENGINE = dict(gpu_memory_utilization=0.1, max_model_len=2048, enforce_eager=True)


def build(tmp_path_factory, name: str, **kw):
    from sandmle.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp(name), seed=0, hidden_size=128, architecture="qwen3", **kw)


def load(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


@torch.no_grad()
def trainer_logprobs(model, sequences, temperature: float = 1.0) -> list[list[float]]:
    rows = []
    for ids in sequences:
        ids_t = torch.tensor([ids])
        logits = model(input_ids=ids_t).logits[0, :-1].float() / temperature
        rows.append(torch.log_softmax(logits, -1).gather(-1, ids_t[0, 1:, None]).squeeze(-1).tolist())
    return rows


def gap(a, b) -> float:
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


@torch.no_grad()
def perturb(model, seed: int, scale: float = 0.05) -> None:
    gen = torch.Generator().manual_seed(seed)
    for param in model.parameters():
        param.add_(torch.randn(param.shape, generator=gen) * scale)


def assert_synced(policy, model, tol: float, label: str, seed: int) -> None:
    """Perturb `model`, sync it, and check the engine follows (figures printed for the record)."""
    before = policy.score(FIXED_IDS)
    perturb(model, seed=seed)
    policy.sync_weights(model)
    after = policy.score(FIXED_IDS)
    expected = trainer_logprobs(model, FIXED_IDS)
    print(f"[{label}] max |engine - trainer| after sync {gap(after, expected):.5f}; "
          f"before sync {gap(before, expected):.3f}")
    assert gap(after, expected) < tol
    assert gap(before, expected) > MOVED


@pytest.fixture(scope="module")
def tied_dir(tmp_path_factory):
    return build(tmp_path_factory, "tied", tie_word_embeddings=True, dtype="bfloat16")


@pytest.fixture(scope="module")
def tied_engine(tied_dir):
    policy = VLLMPolicy(str(tied_dir), **ENGINE)
    yield policy
    policy.close()


def test_generation_returns_token_ids_and_behaviour_logprobs(tied_engine, tied_dir):
    from transformers import AutoTokenizer

    from sandmle.policies.vllm import prompt_token_ids

    model = load(tied_dir)
    tied_engine.sync_weights(model)          # the engine and the trainer hold the same weights
    conversations = [[{"role": "user", "content": "train a model"}], [{"role": "user", "content": "look at the data"}]]
    sampling = SamplingParams(temperature=0.7, max_new_tokens=12, seed=3)
    generations = tied_engine.generate(conversations, sampling)
    tokenizer = AutoTokenizer.from_pretrained(tied_dir)
    for conv, gen in zip(conversations, generations):
        assert gen.finish_reason in ("stop", "length") and gen.token_ids and len(gen.logprobs) == len(gen.token_ids)
        prompt = prompt_token_ids(tokenizer, conv)
        expected = trainer_logprobs(model, [prompt + list(gen.token_ids)], temperature=0.7)[0][len(prompt) - 1:]
        # the behaviour log-probs are the sampling distribution's (temperature applied)
        assert gap([gen.logprobs], [expected]) < BF16_TOL


def first_new_piece(tokenizer, ids) -> int:
    """Index of the first sampled token whose text is new (a stop string that ends there)."""
    return next(k for k in range(1, len(ids)) if tokenizer.decode([ids[k]]).strip()
                and tokenizer.decode([ids[k]]) not in tokenizer.decode(ids[:k]))


def test_token_prompts_are_echoed_with_the_sampled_ids_and_the_stop_string(tied_engine, tied_dir):
    from transformers import AutoTokenizer

    from sandmle.rollout.tokens import render_prompt_ids

    tokenizer = AutoTokenizer.from_pretrained(tied_dir)
    conversation = [{"role": "user", "content": "train a model"}]
    ids = render_prompt_ids(tokenizer, conversation)
    sampling = SamplingParams(temperature=1.0, max_new_tokens=16, seed=5)
    [free] = tied_engine.generate([conversation], sampling, prompt_ids=[ids])
    assert free.prompt_ids == tuple(ids) and len(free.logprobs) == len(free.token_ids) == 16
    k = first_new_piece(tokenizer, list(free.token_ids))
    stop = tokenizer.decode([free.token_ids[k]])
    [cut] = tied_engine.generate([conversation], SamplingParams(temperature=1.0, max_new_tokens=16, seed=5,
                                                               stop=(stop,)), prompt_ids=[ids])
    assert cut.finish_reason == "stop" and cut.stop_string == stop and cut.text.endswith(stop)
    assert cut.token_ids == free.token_ids[:len(cut.token_ids)] and len(cut.token_ids) <= k + 1
    assert cut.logprobs == pytest.approx(free.logprobs[:len(cut.token_ids)], abs=1e-5)


def test_rollouts_on_the_engine_train_on_exactly_the_ids_it_sampled(tied_engine, tied_dir, make_task, tmp_path):
    from test_rollout_tokens import assert_exact, record_calls
    from transformers import AutoTokenizer

    from sandmle.rollout.runner import RolloutConfig, run_episodes
    from sandmle.sandbox.pool import Pool

    calls = record_calls(tied_engine)
    config = RolloutConfig(max_turns=2, step_timeout_s=30, max_context_tokens=2048,
                           sampling=SamplingParams(max_new_tokens=24, seed=0))
    try:
        with Pool(num_workers=1) as pool:
            episodes = run_episodes(tied_engine, [make_task("auc")] * 2, pool, config,
                                    tokenizer=AutoTokenizer.from_pretrained(tied_dir), work_root=tmp_path, seed=0)
    finally:
        del tied_engine.generate
    for episode in episodes:
        assert episode.steps and all(s.prompt_extends for s in episode.steps[1:])
        assert all(s.completion_ids and len(s.logprobs) == len(s.completion_ids) and not s.tokenised
                   for s in episode.steps)
        assert_exact(episode, calls)


def test_sync_reaches_a_tied_bfloat16_engine(tied_engine, tied_dir):
    assert_synced(tied_engine, load(tied_dir), BF16_TOL, "colocate tied bf16", seed=1)


def test_lora_sync_merges_the_adapters(tied_engine, tied_dir):
    peft = pytest.importorskip("peft")
    model = peft.get_peft_model(load(tied_dir), peft.LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    before = tied_engine.score(FIXED_IDS)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    tied_engine.sync_weights(model)
    after = tied_engine.score(FIXED_IDS)
    expected = trainer_logprobs(model, FIXED_IDS)
    print(f"[colocate LoRA merged bf16] max |engine - trainer| after sync {gap(after, expected):.5f}; "
          f"before sync {gap(before, expected):.3f}")
    assert gap(after, expected) < BF16_TOL and gap(before, expected) > MOVED
    assert not any(getattr(m, "merged", False) for m in model.modules())     # unmerged again


def test_resume_then_rollout_samples_the_trained_weights(tied_engine, tied_dir, tmp_path):
    from sandmle.train.checkpoint import latest_checkpoint
    from sandmle.train.config import GRPOConfig, LogConfig, ModelConfig, RolloutSection, RunConfig, TrainConfig
    from sandmle.train.trainer import Trainer

    class EngineEnv:          # the trainer's boundary to its rollout backend
        def __init__(self, policy):
            self.policy = policy

        def sync(self, model):
            self.policy.sync_weights(model)

    cfg = RunConfig(model=ModelConfig(path=str(tied_dir)), rollout=RolloutSection(backend="vllm"),
                    grpo=GRPOConfig(group_size=2, tasks_per_step=1), train=TrainConfig(steps=1, save_every=1),
                    log=LogConfig(live=False))
    trained = load(tied_dir)
    perturb(trained, seed=11)
    Trainer(cfg, tmp_path, tasks=[0], env=EngineEnv(tied_engine), model=copy.deepcopy(trained)).save()
    tied_engine.sync_weights(load(tied_dir))                  # a fresh process: the engine holds the base model
    resumed = Trainer(cfg, tmp_path, tasks=[0], env=EngineEnv(tied_engine), model=load(tied_dir))
    resumed.resume(latest_checkpoint(tmp_path))
    gen = tied_engine.generate([[{"role": "user", "content": "go"}]], SamplingParams(max_new_tokens=8, seed=1))[0]
    from transformers import AutoTokenizer

    from sandmle.policies.vllm import prompt_token_ids

    prompt = prompt_token_ids(AutoTokenizer.from_pretrained(tied_dir), [{"role": "user", "content": "go"}])
    sequence = [prompt + list(gen.token_ids)]
    expected = trainer_logprobs(trained, sequence)[0][len(prompt) - 1:]
    stale = trainer_logprobs(load(tied_dir), sequence)[0][len(prompt) - 1:]
    assert gap([gen.logprobs], [expected]) < BF16_TOL
    assert gap([gen.logprobs], [stale]) > MOVED


def test_sync_reaches_an_untied_engine(tmp_path_factory, tied_engine):
    # bfloat16: vLLM's CPU build repacks float32 linear weights after loading and cannot
    # load into them again (a float32 engine on CUDA can)
    tied_engine.close()                       # one engine at a time in this process
    path = build(tmp_path_factory, "untied", tie_word_embeddings=False, dtype="bfloat16")
    policy = VLLMPolicy(str(path), **ENGINE)
    try:
        assert policy.sync_dtype == torch.bfloat16
        assert_synced(policy, load(path), BF16_TOL, "colocate untied bf16", seed=2)
    finally:
        policy.close()
