"""recipes/sft-grpo-cpu.sh, shortened: teacher data -> SFT from scratch -> GRPO -> evaluations.

What connects is asserted (the SFT model is what GRPO starts from, the exported models load
into eval, the stages are reported); whether it learns is the recipe's claim, measured at
full size (see its header)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_pipeline_connects(tmp_path):
    from conftest import build_task

    run = tmp_path / "run"
    for bank, seed in (("train", 0), ("heldout", 1)):           # banks the script uses as they are
        for metric in ("auc", "rmse"):
            build_task(run / "banks" / bank, metric, task_id=f"{bank}-{metric}", seed=seed, n_train=40, n_test=20)
    env = {**os.environ, "SANDMLE": str(Path(sys.executable).with_name("sandmle")),
           "TEACHER_EPISODES": "2", "HELDOUT_EPISODES": "1", "MAX_NEW_TOKENS": "24",
           "SFT_SET": "sft.max_steps=3 sft.batch_size=2 scratch.vocab_size=600 scratch.hidden_size=32 "
                      "scratch.num_layers=1 scratch.num_heads=2 scratch.num_kv_heads=1",
           "GRPO_SET": "train.steps=1 grpo.tasks_per_step=1 grpo.group_size=2 rollout.max_new_tokens=24"}
    done = subprocess.run(["bash", str(ROOT / "recipes" / "sft-grpo-cpu.sh"), str(run)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])

    teacher = [json.loads(line) for line in (run / "teacher" / "episodes.jsonl").read_text().splitlines()]
    assert len(teacher) == 4 and {e["split"] for e in teacher} == {"train"}
    sft = json.loads((run / "sft" / "summary.json").read_text())
    assert sft["steps"] == 3 and Path(sft["model"]) == run / "sft" / "model"
    grpo_config = json.loads((run / "grpo" / "config.json").read_text())
    assert Path(grpo_config["model"]["path"]) == run / "sft" / "model"          # SFT model -> GRPO
    # one budget, stated in every task message: the policy is evaluated on the prompt it trained on
    budget = "At most 3 turns, 300 s in all, 60 s per Python run."
    assert all(budget in e["messages"][1]["content"] for e in teacher)
    rollout = grpo_config["rollout"]
    assert (rollout["max_turns"], rollout["episode_timeout_s"], rollout["step_timeout_s"]) == (3, 300.0, 60.0)
    assert (run / "grpo" / "model" / "config.json").is_file()
    for stage, model in (("before-sft", run / "sft" / "model-init"), ("after-sft", run / "sft" / "model"),
                         ("after-grpo", run / "grpo" / "model")):
        manifest = json.loads((run / "eval" / stage / "run.json").read_text())
        assert manifest["policy"] == f"hf:{model}" and manifest["split"] == "heldout"
        episodes = [json.loads(line) for line in (run / "eval" / stage / "episodes.jsonl").read_text().splitlines()]
        assert len(episodes) == 2 and all(budget in e["messages"][1]["content"] for e in episodes)
        assert all(s["completion_ids"] for e in episodes for s in e["steps"])     # the model's own ids
    for name in ("teacher.json", "eval/before-sft.json", "eval/after-sft.json", "eval/after-grpo.json"):
        assert json.loads((run / name).read_text())["total_runs"] > 0         # the eval reports, nothing else
    stages = json.loads((run / "stages.json").read_text())["stages"]
    assert [s["label"] for s in stages] == ["before SFT", "after SFT", "after GRPO"]
    assert (run / "stages.png").stat().st_size > 0 and (run / "grpo" / "curves.png").stat().st_size > 0
    timing = (run / "timing.txt").read_text()
    for stage in ("teacher", "sft", "eval-before-sft", "eval-after-sft", "grpo", "eval-after-grpo"):
        assert f"\n{stage} " in "\n" + timing and "load average" in timing
