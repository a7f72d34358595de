"""`sandmle bench grpo`: which baseline it measures, and that TRL's update step is the same
update as sandmle's (same model, batch and loss), so the ratio compares like with like."""
import pytest
import torch

from sandmle.bench import grpo
from sandmle.cli import main


def test_without_trl_the_baseline_is_the_previous_path_and_asking_for_trl_is_one_error_line(monkeypatch, capsys):
    monkeypatch.setattr(grpo, "trl_installed", lambda: False)
    assert grpo.resolve_baseline("auto") == "previous"
    assert grpo.resolve_baseline("previous") == "previous"
    assert main(["bench", "grpo", "--baseline", "trl"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sandmle: error:") and "pip install -e .[bench]" in err[0]


def test_with_trl_installed_auto_measures_trl(monkeypatch):
    monkeypatch.setattr(grpo, "trl_installed", lambda: True)
    assert grpo.resolve_baseline("auto") == "trl"


def test_trl_update_moves_the_weights_as_sandmle_update_does(tmp_path):
    """One AdamW step moves each weight by about lr * sign(gradient): the two steps agree on
    (nearly) every weight only if they differentiate the same loss of the same sequences."""
    pytest.importorskip("trl")
    from sandmle.policies.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path / "tiny", seed=0)
    before = {k: v.clone() for k, v in grpo.update_step("today", folder, folder, tmp_path)[1].state_dict().items()}
    moved = {}
    for method in ("today", "trl"):
        step, model = grpo.update_step(method, folder, folder, tmp_path / method)
        step()
        moved[method] = {k: v - before[k] for k, v in model.state_dict().items()}
    agree = total = 0
    for name, delta in moved["today"].items():
        changed = delta.abs() > 1e-7
        agree += int((torch.sign(delta) == torch.sign(moved["trl"][name]))[changed].sum())
        total += int(changed.sum())
    assert total > 1000
    assert agree / total > 0.98


def test_attention_choice_reaches_sandmle_step_and_the_previous_path_runs_sdpa(tmp_path):
    from sandmle.policies.tiny import build_tiny_model
    from sandmle.train.attention import NAME

    folder = build_tiny_model(tmp_path / "tiny", seed=0)
    runs = {(method, attention): grpo.update_step(method, folder, folder, tmp_path / f"{method}-{attention}",
                                                  attention)[1].config._attn_implementation
            for method, attention in (("today", "auto"), ("today", "sdpa"), ("previous", "auto"))}
    assert runs == {("today", "auto"): NAME, ("today", "sdpa"): "sdpa", ("previous", "auto"): "sdpa"}
