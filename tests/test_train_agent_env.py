"""The agent environment through the real runner, pool and grader (scripted policy)."""
import pytest

from sandmle.policies.base import Generation
from sandmle.policies.scripted import ScriptedPolicy
from sandmle.rollout.runner import RolloutConfig
from sandmle.sandbox.pool import Pool
from sandmle.task import load_bank
from sandmle.train.agent_env import AgentEnv
from sandmle.train.build import SANDBOX_PRELOAD
from sandmle.sources.sklearn_bank import build_sklearn_bank


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    path = tmp_path_factory.mktemp("bank")
    build_sklearn_bank(path, names=["sk-iris-f1"])
    return load_bank(path)


@pytest.fixture(scope="module")
def tokenizer():
    from sandmle.policies.tiny import build_tokenizer

    return build_tokenizer()


class _Model:
    training = True

    def eval(self):
        self.training = False

    def train(self):
        self.training = True


def test_episodes_become_samples_with_rewards_masks_and_groups(tmp_path, tasks, tokenizer):
    with Pool(num_workers=2, preload=SANDBOX_PRELOAD) as pool:
        env = AgentEnv(ScriptedPolicy("strong"), tokenizer, pool, RolloutConfig(max_turns=6, step_timeout_s=60.0),
                       tmp_path, max_prompt_tokens=8192, max_response_tokens=32768, episodes_dir=tmp_path / "eps")
        model = _Model()
        rollouts = env.collect(model, tasks * 2, group_size=2, seed=7)
    assert model.training                                  # train mode restored after the rollouts
    samples = rollouts.samples
    assert [s.group for s in samples] == [0, 0, 1, 1]
    for s in samples:
        assert s.valid and s.reward >= 0.4 and s.keep and not s.timed_out
        prompt_len = s.info["prompt_len"]
        assert set(s.loss_mask[:prompt_len]) == {0} and 1 in s.loss_mask[prompt_len:]
        assert 0 in s.loss_mask[prompt_len:]               # tool responses stay out of the loss
    assert rollouts.stats["answered_rate"] == 1.0
    assert (tmp_path / "eps" / "episodes-7.json").is_file()


def test_response_budget_cuts_the_sequence_and_long_prompts_leave_the_loss(tmp_path, tasks, tokenizer):
    with Pool(num_workers=1, preload=SANDBOX_PRELOAD) as pool:
        env = AgentEnv(ScriptedPolicy("weak"), tokenizer, pool, RolloutConfig(max_turns=4, step_timeout_s=60.0),
                       tmp_path, max_prompt_tokens=10, max_response_tokens=5)
        samples = env.collect(_Model(), tasks, group_size=2, seed=1).samples
    for s in samples:
        assert len(s.input_ids) == s.info["prompt_len"] + 5
        assert not s.keep                                  # its prompt alone is over budget


class FlakyServer(ScriptedPolicy):
    """The scripted agent behind an endpoint that answers every other first request with a 503."""

    def generate(self, conversations, sampling, prompt_ids=None):
        out = super().generate(conversations, sampling)
        first = all(len(c) == 2 for c in conversations)
        return [Generation.failed("HTTP 503: overloaded (after 4 attempts)") if first and i % 2 else g
                for i, g in enumerate(out)]


def test_infrastructure_failures_leave_the_group_before_its_statistics(tmp_path, tasks, tokenizer):
    import torch

    from sandmle.train.batch import collate
    from sandmle.train.grpo import group_advantages

    with Pool(num_workers=2, preload=SANDBOX_PRELOAD) as pool:
        env = AgentEnv(FlakyServer("strong"), tokenizer, pool, RolloutConfig(max_turns=6, step_timeout_s=60.0),
                       tmp_path, max_prompt_tokens=8192, max_response_tokens=32768)
        rollouts = env.collect(_Model(), tasks * 2, group_size=4, seed=3)
    samples = rollouts.samples
    assert [s.usable for s in samples] == [True, False] * 4
    assert not any(s.keep for s in samples if not s.usable)
    assert rollouts.counts == {"resumes": 0.0, "unusable": 4.0, "unusable_policy_error": 4.0, "unusable_env_error": 0.0,
                               "unusable_nonfinite_reward": 0.0, "unusable_prompt_over_budget": 0.0}
    batch = collate(samples)
    for keep in (batch.keep, batch.usable):        # with timed-out rollouts masked or not
        adv, _ = group_advantages(batch.rewards, batch.groups, keep=keep, episodes=batch.episodes)
        alone, _ = group_advantages(batch.rewards[batch.usable], batch.groups[batch.usable])
        assert torch.allclose(adv[~batch.usable], torch.zeros(4))
        assert torch.allclose(adv[batch.usable], alone)      # as if the failed requests never happened
