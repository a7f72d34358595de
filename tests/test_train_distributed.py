"""Two CPU processes (torchrun + accelerate, gloo) train exactly like one on the whole batch."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = r'''
import sys
from pathlib import Path

import torch

from sandmle.train.actions import PROMPT_LEN, SEQ_LEN, ActionPolicy, decode_action, encode_prompt
from sandmle.train.batch import Rollouts, Sample
from sandmle.train.config import GRPOConfig, LogConfig, ModelConfig, RunConfig, TrainConfig
from sandmle.train.trainer import Trainer

REWARD = {"rf": 1.0, "gbm": 0.8, "logreg": 0.6, "knn": 0.4}


class TaskSeededEnv:
    """Each task's rollouts depend only on the task and the step, not on the process."""

    def __init__(self):
        self.calls = 0

    def collect(self, model, tasks, group_size, seed):
        samples = []
        for g, task in enumerate(tasks):
            prompts = torch.tensor([encode_prompt("binary", "narrow")] * group_size)
            gen = torch.Generator().manual_seed(1000 * task + self.calls)
            for ids in model.sample(prompts, generator=gen).tolist():
                reward = REWARD.get(decode_action(ids).family, 0.1)
                samples.append(Sample(tuple(ids), (0,) * PROMPT_LEN + (1,) * (SEQ_LEN - PROMPT_LEN),
                                      reward, g, str(task), valid=True))
        self.calls += 1
        # a per-process figure (averaged over processes) and a count (summed)
        return Rollouts(tuple(samples), 0.0, {"sandbox_s": 2.0}, {"unusable": 1.0})


out, agg = Path(sys.argv[1]), sys.argv[2]
cfg = RunConfig(model=ModelConfig(kind="actions", hidden_size=8),
                grpo=GRPOConfig(group_size=4, tasks_per_step=4, loss_agg=agg, ppo_epochs=2, micro_batch_size=3,
                                kl_coef=0.05),
                train=TrainConfig(steps=2, lr=0.05, save_every=0, seed=0), log=LogConfig(live=False))
torch.manual_seed(0)
trainer = Trainer(cfg, out, tasks=[0, 1, 2, 3, 4, 5], env=TaskSeededEnv(), model=ActionPolicy(8))
rows = trainer.train(2)
assert trainer.accelerator.num_processes == int(sys.argv[3])
assert rows[-1]["rollout_sandbox_s"] == 2.0 and rows[-1]["rollout_unusable"] == int(sys.argv[3])
if trainer.accelerator.is_main_process:
    state = trainer.accelerator.unwrap_model(trainer.model).state_dict()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, out / "params.pt")
'''


@pytest.mark.slow
@pytest.mark.parametrize("agg", ["seq-mean-token-mean", "token-mean"])
def test_two_processes_match_one(tmp_path, agg):
    script = tmp_path / "train_toy.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")     # accelerate runs MULTI_CPU under it
    for name, cmd in (("one", [sys.executable, str(script)]),
                      ("two", [str(torchrun), "--nproc_per_node", "2", "--master_port", "29517", str(script)])):
        (tmp_path / name).mkdir()
        done = subprocess.run(cmd + [str(tmp_path / name), agg, "1" if name == "one" else "2"], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    one = torch.load(tmp_path / "one" / "params.pt")
    two = torch.load(tmp_path / "two" / "params.pt")
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-5, atol=1e-6)
    assert one["head.weight"].abs().sum() > 0          # training moved the zero-initialised head
