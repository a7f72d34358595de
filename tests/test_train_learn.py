"""GRPO learns for real on CPU: the action policy's mean reward rises on sandboxed tasks."""
from pathlib import Path

import pytest

from sandmle.train.build import run
from sandmle.train.config import load_recipe
from sandmle.train.logging import read_metrics
from sandmle.sources.sklearn_bank import build_sklearn_bank

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "learn-cpu.toml"


@pytest.mark.slow
def test_short_learning_run_raises_mean_reward(tmp_path):
    bank = tmp_path / "bank"
    build_sklearn_bank(bank, names=["sk-breast-cancer-accuracy", "sk-wine-logloss", "sk-diabetes-mae",
                                    "sk-digits-accuracy"])
    cfg = load_recipe(RECIPE, [f"bank.path={bank}", "grpo.tasks_per_step=4", "train.steps=8",
                               "train.lr=0.02", "train.save_every=4", "log.live=false"])
    summary = run(cfg, tmp_path / "run", say=lambda _: None)
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert summary["steps"] == 8 and len(rows) == 8
    first = sum(r["reward_mean"] for r in rows[:2]) / 2
    last = sum(r["reward_mean"] for r in rows[-2:]) / 2
    assert last > first + 0.1, [round(r["reward_mean"], 3) for r in rows]
    assert rows[-1]["entropy"] < rows[0]["entropy"]
    assert all(r["episodes"] == 32 for r in rows)
    assert (tmp_path / "run" / "curves.png").is_file()
    assert (tmp_path / "run" / "checkpoints" / "step-000008" / "trainer.json").is_file()
