"""The step loop: checkpoint/resume reproduces an uninterrupted run; the loss moves the policy."""
import json
import math

import pytest

import torch

from sandmle.train.actions import PROMPT_LEN, SEQ_LEN, ActionPolicy, decode_action, encode_prompt
from sandmle.train.batch import Rollouts, Sample
from sandmle.train.checkpoint import latest_checkpoint, list_checkpoints
from sandmle.train.config import GRPOConfig, LogConfig, ModelConfig, RunConfig, TrainConfig
from sandmle.train.logging import MetricsLogger, read_metrics
from sandmle.train.trainer import TaskSampler, Trainer

GOOD = {"rf": 1.0, "gbm": 0.9, "logreg": 0.7}


class ToyEnv:
    """Samples actions from the policy; the reward depends on the family only."""

    def collect(self, model, tasks, group_size, seed):
        prompts = torch.tensor([encode_prompt("binary", "narrow") for _ in tasks for _ in range(group_size)])
        seqs = model.sample(prompts, generator=torch.Generator().manual_seed(seed)).tolist()
        samples = []
        for i, ids in enumerate(seqs):
            action = decode_action(ids)
            reward = GOOD.get(action.family, 0.1) + (0.05 if action.scale else 0.0)
            samples.append(Sample(tuple(ids), (0,) * PROMPT_LEN + (1,) * (SEQ_LEN - PROMPT_LEN), reward,
                                  i // group_size, f"t{i // group_size}", valid=True,
                                  tier="gold" if reward >= 1 else "none"))
        return Rollouts(tuple(samples), 0.0)


def _config(**grpo):
    return RunConfig(model=ModelConfig(kind="actions", hidden_size=16),
                     grpo=GRPOConfig(group_size=4, tasks_per_step=2, **grpo),
                     train=TrainConfig(steps=4, lr=0.05, save_every=1, keep_last=2, seed=3),
                     log=LogConfig(live=False))


def _trainer(tmp_path, cfg, seed=0):
    torch.manual_seed(seed)
    return Trainer(cfg, tmp_path, tasks=["a", "b", "c"], env=ToyEnv(), model=ActionPolicy(16))


def _params(trainer):
    return {k: v.detach().clone() for k, v in trainer.accelerator.unwrap_model(trainer.model).state_dict().items()}


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    cfg = _config(ppo_epochs=2, mini_batches=2)
    straight = _trainer(tmp_path / "a", cfg)
    straight.train(2)
    expected = _params(straight)

    first = _trainer(tmp_path / "b", cfg)
    first.train(1)
    torch.manual_seed(12345)                 # the resumed process starts from other RNG states
    resumed = _trainer(tmp_path / "b", cfg, seed=99)
    resumed.resume(latest_checkpoint(tmp_path / "b"))
    assert resumed.step == 1
    resumed.train(2)
    got = _params(resumed)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-6, atol=1e-7)
    assert resumed.sampler.state_dict()["pos"] == straight.sampler.state_dict()["pos"]


def test_checkpoints_are_pruned_to_keep_last(tmp_path):
    trainer = _trainer(tmp_path, _config())
    trainer.train(3)
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step-000002", "step-000003"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    state = json.loads((tmp_path / "checkpoints" / "step-000003" / "trainer.json").read_text())
    assert state["step"] == 3 and state["config"]["grpo"]["group_size"] == 4


def test_training_raises_the_toy_reward_and_logs_metrics(tmp_path):
    cfg = RunConfig(model=ModelConfig(kind="actions", hidden_size=16),
                    grpo=GRPOConfig(group_size=8, tasks_per_step=2),
                    train=TrainConfig(steps=25, lr=0.05, save_every=0, seed=1), log=LogConfig(live=False))
    logger = MetricsLogger(tmp_path, live=False, plot_every=10, quiet=True)
    torch.manual_seed(0)
    trainer = Trainer(cfg, tmp_path, tasks=["a", "b"], env=ToyEnv(), model=ActionPolicy(16), logger=logger)
    rows = trainer.train()
    logger.close()
    first = sum(r["reward_mean"] for r in rows[:3]) / 3
    last = sum(r["reward_mean"] for r in rows[-3:]) / 3
    assert last > first + 0.2
    assert rows[-1]["entropy"] < rows[0]["entropy"]
    logged = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in logged] == list(range(1, 26))
    for key in ("reward_std", "valid_rate", "medal_rate", "clip_frac", "tokens_per_s", "rollout_s", "update_s"):
        assert key in logged[0]
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_metrics_file_is_cut_back_on_resume(tmp_path):
    logger = MetricsLogger(tmp_path, live=False)
    for step in (1, 2, 3):
        logger.log({"step": step, "reward_mean": 0.1 * step})
    again = MetricsLogger(tmp_path, live=False, resume_step=2)
    assert [r["step"] for r in read_metrics(again.path)] == [1, 2]


def test_kl_and_entropy_terms_run_with_a_reference_copy(tmp_path):
    trainer = _trainer(tmp_path, _config(kl_coef=0.1, entropy_coef=0.01, loss_agg="token-mean"))
    row = trainer.train_step()
    assert row["kl"] == 0.0                       # first update: policy == reference
    row = trainer.train_step()
    assert row["kl"] > 0.0 and row["entropy"] > 0.0


def test_task_sampler_covers_every_task_each_epoch():
    sampler = TaskSampler(5, seed=0)
    drawn = sampler.next(10)
    assert sorted(drawn[:5]) == list(range(5)) and sorted(drawn[5:]) == list(range(5))


def test_missing_tracker_package_is_a_one_line_error(tmp_path):
    import importlib.util

    import pytest

    from sandmle.errors import UserError

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    with pytest.raises(UserError, match="pip install tensorboard"):
        MetricsLogger(tmp_path, live=False, tensorboard=True)


class BehaviourEnv(ToyEnv):
    """ToyEnv whose rollouts carry behaviour log-probs: the model's own, shifted by `shift`."""

    def __init__(self, shift):
        self.shift = shift

    def collect(self, model, tasks, group_size, seed):
        rollouts = ToyEnv.collect(self, model, tasks, group_size, seed)
        ids = torch.tensor([s.input_ids for s in rollouts.samples])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None])[..., 0]
        samples = [Sample(s.input_ids, s.loss_mask, s.reward, s.group, s.task_id, valid=s.valid, tier=s.tier,
                          logprobs=(float("nan"),) + tuple(float(x) - self.shift for x in row))
                   for s, row in zip(rollouts.samples, logp)]
        return Rollouts(tuple(samples), 0.0)


def test_the_mismatch_with_behaviour_logprobs_is_logged_every_step(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(_config(), tmp_path, tasks=["a", "b"], env=BehaviourEnv(0.25), model=ActionPolicy(16))
    for row in trainer.train(2):
        assert abs(row["logp_mismatch_mean"] - 0.25) < 1e-4 and abs(row["logp_mismatch_max"] - 0.25) < 1e-4
        assert "tis_weight_mean" not in row                    # off by default


def test_truncated_importance_sampling_caps_the_weights_and_changes_the_update(tmp_path):
    rows = {}
    params = {}
    for cap in (0.0, 1.1):
        torch.manual_seed(0)
        trainer = Trainer(_config(tis_cap=cap), tmp_path / str(cap), tasks=["a", "b"], env=BehaviourEnv(0.5),
                          model=ActionPolicy(16))
        rows[cap] = trainer.train_step()
        params[cap] = _params(trainer)
    assert rows[1.1]["tis_clip_frac"] == 1.0 and abs(rows[1.1]["tis_weight_mean"] - 1.1) < 1e-5
    assert any(not torch.allclose(params[0.0][k], params[1.1][k]) for k in params[0.0])


class FailingEnv(ToyEnv):
    """ToyEnv whose every second rollout ended by infrastructure (reward 0) or with a NaN reward."""

    def collect(self, model, tasks, group_size, seed):
        rollouts = ToyEnv.collect(self, model, tasks, group_size, seed)
        samples = [s if i % 2 == 0 else
                   Sample(s.input_ids, s.loss_mask, 0.0 if i % 4 == 1 else float("nan"), s.group, s.task_id,
                          usable=False, keep=False)
                   for i, s in enumerate(rollouts.samples)]
        self.usable_rewards = [s.reward for s in samples if s.usable]
        counts = {"unusable": 4.0, "unusable_policy_error": 2.0, "unusable_nonfinite_reward": 2.0}
        return Rollouts(tuple(samples), 0.0, {"answered_rate": 0.5}, counts)


def test_dropped_rollouts_are_counted_by_reason_and_leave_the_reward_figures(tmp_path):
    torch.manual_seed(0)
    env = FailingEnv()
    trainer = Trainer(_config(), tmp_path, tasks=["a", "b"], env=env, model=ActionPolicy(16))
    row = trainer.train_step()
    assert row["rollout_unusable"] == 4 and row["rollout_unusable_policy_error"] == 2
    assert row["rollout_unusable_nonfinite_reward"] == 2 and row["rollout_answered_rate"] == 0.5
    assert row["episodes"] == 8 and all(math.isfinite(v) for v in row.values() if isinstance(v, float))
    kept = torch.tensor(env.usable_rewards)            # the failures' 0 and NaN are not the agent's
    assert row["reward_mean"] == pytest.approx(float(kept.mean())) and row["reward_max"] == float(kept.max())
    assert row["reward_std"] == pytest.approx(float(kept.std()))
