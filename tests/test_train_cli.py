"""`sandmle train`: one JSON summary, resume from the run folder, one-line errors."""
import json
from pathlib import Path

import pytest
import torch

from sandmle.cli import main
from sandmle.sources.sklearn_bank import build_sklearn_bank

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "learn-cpu.toml"


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    path = tmp_path_factory.mktemp("bank")
    build_sklearn_bank(path, names=["sk-iris-f1"])
    return path


def _train(bank, out, capsys, *extra):
    code = main(["train", str(RECIPE), "--set", f"bank.path={bank}", "--set", "grpo.tasks_per_step=1",
                 "--set", "grpo.group_size=4", "--set", "grpo.mini_batches=1", "--set", "train.save_every=1",
                 "--out", str(out), "--json", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_prints_one_json_summary_and_resumes(tmp_path, bank, capsys):
    code, out, _ = _train(bank, tmp_path / "run", capsys, "--steps", "1")
    assert code == 0
    summary = json.loads(out)
    assert summary["steps"] == 1 and summary["tasks"] == 1 and len(summary["reward_per_step"]) == 1
    code, out, err = _train(bank, tmp_path / "run", capsys, "--steps", "2")
    assert code == 0 and "resumed from" in err
    summary = json.loads(out)
    assert summary["steps"] == 2 and len(summary["reward_per_step"]) == 2
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["grpo"]["group_size"] == 4


def test_resumed_cli_run_reproduces_the_uninterrupted_one(tmp_path, bank, capsys):
    """Real sandbox rollouts: 2 steps straight == 1 step, a new run() resuming, 1 more step."""
    from safetensors.torch import load_file

    assert _train(bank, tmp_path / "straight", capsys, "--steps", "2")[0] == 0
    assert _train(bank, tmp_path / "split", capsys, "--steps", "1")[0] == 0
    assert _train(bank, tmp_path / "split", capsys, "--steps", "2")[0] == 0
    a = load_file(tmp_path / "straight" / "checkpoints" / "step-000002" / "model.safetensors")
    b = load_file(tmp_path / "split" / "checkpoints" / "step-000002" / "model.safetensors")
    assert set(a) == set(b)
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-6, atol=1e-7), key
    rewards = [json.loads(l)["reward_mean"] for l in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    straight = [json.loads(l)["reward_mean"] for l in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert rewards == straight


def test_bad_override_is_one_line_exit_2(tmp_path, capsys):
    code = main(["train", str(RECIPE), "--set", "grpo.loss_agg=sum", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "loss_agg='sum' is unknown" in err
