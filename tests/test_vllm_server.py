"""Server mode against a real vLLM OpenAI server on loopback (its CPU build, `make test-vllm`).

The server runs as users start it (`python -m vllm.entrypoints.openai.api_server` with the
development endpoints and sandmle's worker extension); weights reach it as safetensors shards
through `POST /collective_rpc`, and its prompt log-probs prove the sync (~100 s to start).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import torch

pytest.importorskip("vllm", reason="vLLM is not installed (make test-vllm installs its CPU build)")
pytestmark = pytest.mark.vllm

from test_vllm_engine import (BF16_TOL, FIXED_IDS, MOVED, build, first_new_piece, gap, load, perturb,  # noqa: E402
                              trainer_logprobs)

START_TIMEOUT_S = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model_dir = build(tmp_path_factory, "served", tie_word_embeddings=True, dtype="bfloat16")
    port = _free_port()
    log = tmp_path_factory.mktemp("server-log") / "server.log"
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1"}
    env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)            # the engine core in its own process, as served
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--host", "127.0.0.1", "--port", str(port), "--gpu-memory-utilization", "0.1",
               "--max-model-len", "512", "--enforce-eager", "--logprobs-mode", "processed_logprobs",
               "--worker-extension-cls", "sandmle.policies.vllm.SandmleWorkerExtension"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                pytest.fail(f"vLLM server did not start (exit {process.poll()}):\n{tail}")
            time.sleep(2)
        yield url, model_dir
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_server_sync_streams_shards_through_collective_rpc(server, tmp_path):
    from sandmle.policies.base import SamplingParams
    from sandmle.policies.vllm import VLLMPolicy, _post

    url, model_dir = server
    policy = VLLMPolicy(str(model_dir), mode="server", server_url=url, sync_dir=str(tmp_path / "sync"))
    model = load(model_dir)
    before = policy.score(FIXED_IDS)
    perturb(model, seed=3)
    policy.sync_weights(model)                 # raises unless every worker answers with its tensor count
    after = policy.score(FIXED_IDS)
    expected = trainer_logprobs(model, FIXED_IDS)
    print(f"[server bf16] max |engine - trainer| after sync {gap(after, expected):.5f}; "
          f"before sync {gap(before, expected):.3f}")
    assert gap(after, expected) < BF16_TOL and gap(before, expected) > MOVED
    versions = sorted(p.name for p in (tmp_path / "sync").iterdir())
    assert versions == ["v000001"]
    shards = sorted((tmp_path / "sync" / "v000001").iterdir())
    assert [p.name for p in shards] == ["model-00001.safetensors"]
    from safetensors import safe_open

    with safe_open(str(shards[0]), framework="pt") as handle:
        names = list(handle.keys())
        assert handle.get_tensor("model.norm.weight").dtype == torch.bfloat16      # bf16 payload
    answer = _post(f"{url}/collective_rpc", {"method": "sandmle_load_weights", "args": [str(shards[0].parent)]}, 120)
    assert answer == {"results": [{"tensors": len(names)}]}
    generation = policy.generate([[{"role": "user", "content": "hello"}]], SamplingParams(max_new_tokens=8))[0]
    assert generation.finish_reason in ("stop", "length") and generation.error is None
    policy.close()


def test_token_prompts_get_the_servers_ids_logprobs_and_stop_string(server, tmp_path):
    from transformers import AutoTokenizer

    from sandmle.policies.base import SamplingParams
    from sandmle.policies.vllm import VLLMPolicy
    from sandmle.rollout.tokens import render_prompt_ids

    url, model_dir = server
    policy = VLLMPolicy(str(model_dir), mode="server", server_url=url, sync_dir=str(tmp_path / "sync"))
    model = load(model_dir)
    policy.sync_weights(model)                 # the server holds the trainer's weights, whatever ran before
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    conversation = [{"role": "user", "content": "train a model"}]
    ids = render_prompt_ids(tokenizer, conversation)
    [free] = policy.generate([conversation], SamplingParams(temperature=0.7, max_new_tokens=12, seed=3),
                             prompt_ids=[ids])
    assert free.error is None and free.prompt_ids == tuple(ids)
    assert len(free.token_ids) == len(free.logprobs) == 12
    # the server's log-probs are the sampling distribution's at these very ids
    expected = trainer_logprobs(model, [ids + list(free.token_ids)], temperature=0.7)[0][len(ids) - 1:]
    assert gap([free.logprobs], [expected]) < BF16_TOL
    k = first_new_piece(tokenizer, list(free.token_ids))
    stop = tokenizer.decode([free.token_ids[k]])
    [cut] = policy.generate([conversation], SamplingParams(temperature=0.7, max_new_tokens=12, seed=3, stop=(stop,)),
                            prompt_ids=[ids])
    assert cut.finish_reason == "stop" and cut.stop_string == stop and cut.text.endswith(stop)
    assert cut.token_ids == free.token_ids[:len(cut.token_ids)] and len(cut.token_ids) <= k + 1
    policy.close()
