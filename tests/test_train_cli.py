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


def test_resume_with_changed_values_is_refused_listing_them(tmp_path, bank, capsys):
    run = tmp_path / "run"
    assert _train(bank, run, capsys, "--steps", "1")[0] == 0
    stored = (run / "config.json").read_text()
    code, _, err = _train(bank, run, capsys, "--steps", "2", "--set", "train.lr=5e-3", "--set", "grpo.kl_coef=0.1")
    assert code == 2 and err.count("\n") == 1 and err.startswith("sandmle: error: ")
    assert "grpo.kl_coef 0.0 -> 0.1; train.lr 0.01 -> 0.005" in err and "--override-config" in err
    assert (run / "config.json").read_text() == stored
    assert not (run / "checkpoints" / "step-000002").exists()


def test_override_config_continues_with_the_new_values(tmp_path, bank, capsys):
    from sandmle import __version__

    run = tmp_path / "run"
    assert _train(bank, run, capsys, "--steps", "1")[0] == 0
    code, _, err = _train(bank, run, capsys, "--steps", "2", "--set", "train.lr=5e-3", "--override-config")
    assert code == 0 and "with changed values: train.lr 0.01 -> 0.005" in err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["lr"] for row in rows] == [0.01, 0.005]           # the new rate, not the checkpoint's
    assert json.loads((run / "config.json").read_text())["train"]["lr"] == 0.005
    meta = json.loads((run / "run.json").read_text())
    assert meta["recipe"] == "learn-cpu" and meta["sandmle_version"] == __version__
    assert meta["continued"][-1]["from_step"] == 1
    assert meta["continued"][-1]["changed"] == {"train.lr": {"old": 0.01, "new": 0.005}}


def test_out_of_another_recipe_or_model_is_refused(tmp_path, bank, capsys):
    run = tmp_path / "run"
    assert _train(bank, run, capsys, "--steps", "1")[0] == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    other = tmp_path / "other-recipe.toml"
    other.write_text(RECIPE.read_text())
    code = main(["train", str(other), "--set", f"bank.path={bank}", "--out", str(run), "--override-config"])
    err = capsys.readouterr().err
    assert code == 2 and "holds a run of recipe 'learn-cpu', not 'other-recipe'" in err and err.count("\n") == 1
    code, _, err = _train(bank, run, capsys, "--set", "model.hidden_size=16", "--override-config")
    assert code == 2 and "another model (model.hidden_size 64 -> 16)" in err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_display_settings_may_change_on_resume(tmp_path, bank, capsys):
    run = tmp_path / "run"
    assert _train(bank, run, capsys, "--steps", "1")[0] == 0
    code, _, err = _train(bank, run, capsys, "--steps", "2", "--set", "log.plot_every=3", "--set", "rollout.workers=1")
    assert code == 0 and "changed values" not in err


def test_held_out_bank_is_evaluated_and_plotted_with_the_zero_variance_share(tmp_path, bank, capsys):
    from sandmle.train.logging.metrics import panel_series

    held_out = tmp_path / "held-out"
    build_sklearn_bank(held_out, names=["sk-wine-accuracy"])
    run = tmp_path / "run"
    code, out, _ = _train(bank, run, capsys, "--steps", "3", "--set", f"eval.bank={held_out}",
                          "--set", "eval.every=2", "--set", "eval.episodes_per_task=2")
    assert code == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert [("eval_reward_mean" in r) for r in rows] == [True, False, True, True]   # start, every 2, last
    assert all(r["eval_episodes"] == 2 for r in rows if "eval_episodes" in r)
    assert "reward_mean" not in rows[0] and all(0 <= r["zero_variance_frac"] <= 1 for r in rows[1:])
    summary = json.loads(out)
    assert summary["heldout_tasks"] == 1 and [s for s, _ in summary["heldout_reward_per_step"]] == [0, 2, 3]
    assert summary["reward_per_step"] == [round(r["reward_mean"], 4) for r in rows[1:]]
    panels = {key: (pts, held) for key, _, pts, held in panel_series(rows)}
    assert [s for s, _ in panels["reward_mean"][1]] == [0, 2, 3] and len(panels["reward_mean"][0]) == 3
    assert len(panels["zero_variance_frac"][0]) == 3
    assert (run / "curves.png").stat().st_size > 0


def test_tasks_are_the_same_by_id_and_lineage(tmp_path):
    """Banks synthesised with different seeds reuse task ids for tasks with other data: a
    held-out bank of those is not refused; a copy of a training task is."""
    import shutil

    from conftest import build_task

    from sandmle.task import load_task
    from sandmle.train.build import task_identity

    trained = build_task(tmp_path / "train", "auc", task_id="tabular-auc-retail-0", seed=11)
    other = build_task(tmp_path / "heldout", "auc", task_id="tabular-auc-retail-0", seed=12)
    shutil.copytree(tmp_path / "train" / "tabular-auc-retail-0", tmp_path / "copy" / "tabular-auc-retail-0")
    copied = load_task(tmp_path / "copy" / "tabular-auc-retail-0")
    assert trained.id == other.id and task_identity(trained) != task_identity(other)
    assert task_identity(copied) == task_identity(trained)


def test_a_held_out_bank_sharing_tasks_with_training_is_refused(tmp_path, bank, capsys):
    copy = tmp_path / "copy"
    build_sklearn_bank(copy, names=["sk-iris-f1"])
    code, _, err = _train(bank, tmp_path / "run", capsys, "--set", f"eval.bank={copy}", "--set", "eval.every=1")
    assert code == 2 and "shares 1 tasks with the training bank" in err
    code, _, err = _train(bank, tmp_path / "run2", capsys, "--set", f"eval.bank={bank}", "--set", "eval.every=1")
    assert code == 2 and "is the training bank" in err
