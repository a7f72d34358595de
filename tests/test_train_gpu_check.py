"""gpu_check: its recipe validates on CPU; the real run needs CUDA and vLLM."""
import pytest
import torch

from sandmle.train.gpu_check import check_config, main


def test_check_config_is_a_valid_vllm_colocate_recipe(tmp_path):
    cfg = check_config(tmp_path / "m", tmp_path / "b", steps=2)
    assert cfg.rollout.backend == "vllm" and cfg.rollout.vllm_mode == "colocate"
    assert cfg.train.mixed_precision == "bf16" and cfg.train.steps == 2
    assert cfg.grpo.clip_ratio_high == 0.28


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_without_a_gpu_it_stops_with_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_check_runs_two_steps(tmp_path, capsys):
    pytest.importorskip("vllm")
    assert main(["--out", str(tmp_path), "--steps", "2", "--json"]) == 0
    assert '"steps": 2' in capsys.readouterr().out
