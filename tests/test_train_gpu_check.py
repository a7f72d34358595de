"""gpu_check: every stage that does not need CUDA runs on the CPU here, with transformers
rollouts (main suite) and with vLLM's CPU build (`make test-vllm`); the CUDA run is a `gpu` test."""
import json

import pytest
import torch

from sandmle.train.gpu_check import main

STAGES = ["model", "logprobs", "learn", "resume"]


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_without_a_gpu_it_stops_with_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs a CUDA GPU" in err and "--allow-cpu" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_stages_run_on_cpu_with_transformers_rollouts(tmp_path, capsys):
    assert main(["--allow-cpu", "--no-vllm", "--steps", "6", "--out", str(tmp_path)]) == 0
    lines = _lines(capsys.readouterr().out)
    assert [line["stage"] for line in lines] == STAGES and all(line["ok"] for line in lines)
    learn = lines[2]
    assert learn["reward_per_step"][-1] > learn["reward_per_step"][0]


@pytest.mark.vllm
def test_stages_run_on_cpu_with_a_vllm_engine(tmp_path, capsys):
    pytest.importorskip("vllm", reason="vLLM is not installed (make test-vllm installs its CPU build)")
    code = main(["--allow-cpu", "--steps", "8", "--out", str(tmp_path), "--gpu-memory-utilization", "0.1"])
    lines = _lines(capsys.readouterr().out)
    print(*lines, sep="\n")
    assert code == 0
    assert [line["stage"] for line in lines] == STAGES + ["vllm"] and all(line["ok"] for line in lines)
    assert lines[1]["generator"] == "vllm" and lines[-1]["sleep"] == "CUDA only: not exercised"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_check_passes_on_a_gpu(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    lines = _lines(capsys.readouterr().out)
    assert all(line.get("ok", True) for line in lines)
