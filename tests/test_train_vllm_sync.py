"""The parts of the vLLM backend testable without vLLM: weight naming and streaming, LoRA merge,
FSDP gathers, server-mode sync over HTTP, engine settings. Real engines: tests/test_vllm_*.py."""
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import torch

from sandmle.errors import UserError
from sandmle.policies import vllm as vllm_backend
from sandmle.policies import weights


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from sandmle.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"), seed=0)


def _load(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


def test_plain_model_weights_keep_their_names(tiny_dir):
    model = _load(tiny_dir)
    names = dict(weights.inference_weights(model))
    assert set(names) == set(model.state_dict())


def test_lora_adapters_are_merged_under_base_names(tiny_dir):
    peft = pytest.importorskip("peft")
    base = _load(tiny_dir)
    reference = {k: v.clone() for k, v in base.state_dict().items()}
    model = peft.get_peft_model(_load(tiny_dir), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"]))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)
    merged = dict(weights.inference_weights(model))
    assert set(merged) == set(reference)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(merged[q], reference[q])
    torch.testing.assert_close(merged["model.layers.0.mlp.up_proj.weight"], reference["model.layers.0.mlp.up_proj.weight"])
    # the adapters are unmerged again afterwards: the base layer holds the original weights
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    torch.testing.assert_close(layer.base_layer.weight, reference[q])


class _Recorder(BaseHTTPRequestHandler):
    calls: list = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        type(self).calls.append((self.path, json.loads(body) if body else None))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        answer = {"results": [{"tensors": 5}]} if self.path == "/collective_rpc" else {"success": True}
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args):
        pass


def test_server_mode_writes_weights_then_calls_the_workers(tmp_path, tiny_dir):
    pytest.importorskip("openai")
    _Recorder.calls = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        policy = vllm_backend.VLLMPolicy(str(tiny_dir), mode="server", server_url=url, sync_dir=str(tmp_path / "sync"))
        model = _load(tiny_dir)
        policy.sync_weights(model)
        policy.sync_weights(model)
    finally:
        server.shutdown()
    paths = [c[0] for c in _Recorder.calls]
    assert paths == ["/collective_rpc", "/reset_prefix_cache"] * 2
    body = _Recorder.calls[2][1]
    assert body["method"] == "sandmle_load_weights"
    saved = dict(weights.read_weight_shards(body["args"][0]))
    assert saved["model.norm.weight"].dtype == torch.bfloat16            # bf16 payload by default
    torch.testing.assert_close(saved["model.norm.weight"].float(), model.state_dict()["model.norm.weight"],
                               atol=1e-2, rtol=1e-2)
    # only the newest version is kept, and no temporary folder is left behind
    assert [p.name for p in (tmp_path / "sync").iterdir()] == ["v000002"]


def test_server_mode_refuses_a_server_that_did_not_load(tmp_path, tiny_dir):
    pytest.importorskip("openai")

    class NoExtension(_Recorder):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"results": ["Method sandmle_load_weights is not implemented."]}')

    server = HTTPServer(("127.0.0.1", 0), NoExtension)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        policy = vllm_backend.VLLMPolicy(str(tiny_dir), mode="server", server_url=f"http://127.0.0.1:{server.server_port}",
                                         sync_dir=str(tmp_path))
        with pytest.raises(RuntimeError, match="worker-extension-cls"):
            policy.sync_weights(_load(tiny_dir))
    finally:
        server.shutdown()


def test_shards_stream_in_pieces_and_read_back(tmp_path, tiny_dir):
    model = _load(tiny_dir)
    folder = weights.write_weight_shards(model, tmp_path, 3, dtype=None, shard_bytes=20_000)
    shards = sorted(folder.glob("model-*.safetensors"))
    assert len(shards) > 2 and folder.name == "v000003"
    back = dict(weights.read_weight_shards(folder))
    state = model.state_dict()
    assert set(back) == set(state)
    for name, tensor in state.items():       # tied embeddings included: written once per shard
        torch.testing.assert_close(back[name], tensor)


def test_weights_are_cast_one_tensor_at_a_time(tiny_dir):
    pairs = list(weights.inference_weights(_load(tiny_dir), torch.bfloat16))
    assert pairs and all(t.dtype == torch.bfloat16 for _, t in pairs)


def test_worker_extension_loads_a_shard_folder(tmp_path, tiny_dir):
    model = _load(tiny_dir)
    path = weights.write_weight_shards(model, tmp_path, 1)
    received = {}

    class Runner:
        class model:
            @staticmethod
            def load_weights(weights):
                received.update(dict(weights))

    worker = vllm_backend.SandmleWorkerExtension()
    worker.model_runner = Runner()
    assert worker.sandmle_load_weights(str(path)) == {"tensors": len(received)}
    assert len(received) == len(model.state_dict())


def test_colocate_without_vllm_is_a_clear_error(tiny_dir):
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed")
    except ImportError:
        pass
    with pytest.raises(UserError, match="pip install 'sandmle\\[vllm\\]'"):
        vllm_backend.VLLMPolicy(str(tiny_dir))


def test_server_mode_needs_a_sync_dir():
    with pytest.raises(UserError, match="sync_dir"):
        vllm_backend.VLLMPolicy("m", mode="server")


def test_colocate_refuses_tensor_parallelism():
    with pytest.raises(UserError, match="tensor_parallel_size=2 is not supported in colocate mode"):
        vllm_backend.VLLMPolicy("m", tensor_parallel_size=2)


def test_a_user_set_multiprocessing_flag_is_forced_off_with_a_message(monkeypatch):
    said = []
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    vllm_backend.in_process_engine(said.append)
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert len(said) == 1 and "overridden to 0" in said[0]
    vllm_backend.in_process_engine(said.append)
    assert len(said) == 1


def test_resume_hands_the_restored_weights_to_the_engine(tmp_path, tiny_dir):
    from sandmle.train.checkpoint import latest_checkpoint
    from sandmle.train.config import GRPOConfig, LogConfig, ModelConfig, RunConfig, TrainConfig
    from sandmle.train.trainer import Trainer

    class RecordingEnv:
        def __init__(self):
            self.synced = []

        def sync(self, model):
            self.synced.append({k: v.clone() for k, v in model.state_dict().items()})

    cfg = RunConfig(model=ModelConfig(path=str(tiny_dir)), grpo=GRPOConfig(group_size=2, tasks_per_step=1),
                    train=TrainConfig(steps=1), log=LogConfig(live=False))
    trained = _load(tiny_dir)
    with torch.no_grad():
        trained.model.norm.weight.add_(1.0)
    Trainer(cfg, tmp_path, tasks=[0], env=RecordingEnv(), model=trained).save()
    env = RecordingEnv()
    resumed = Trainer(cfg, tmp_path, tasks=[0], env=env, model=_load(tiny_dir))
    resumed.resume(latest_checkpoint(tmp_path))
    assert len(env.synced) == 1
    torch.testing.assert_close(env.synced[0]["model.norm.weight"], trained.model.norm.weight.detach())


class _FakeLLM:
    def __init__(self):
        self.calls = []
        self.loaded = {}

    def sleep(self, level):
        self.calls.append(("sleep", level))

    def wake_up(self, tags=None):
        self.calls.append(("wake_up", tuple(tags) if tags else None))

    def reset_prefix_cache(self):
        self.calls.append(("reset_prefix_cache",))

    def collective_rpc(self, method, args=()):
        self.calls.append(("collective_rpc",))
        return [method(self.worker, *args)]


def test_colocate_sync_wakes_weights_only_and_generation_wakes_the_rest(tiny_dir):
    policy = vllm_backend.VLLMPolicy.__new__(vllm_backend.VLLMPolicy)
    policy.mode, policy.enable_sleep_mode, policy.asleep, policy.version = "colocate", True, set(), 0
    policy.llm = _FakeLLM()
    policy.sync_dtype = torch.bfloat16
    loaded = {}

    class Worker:
        class model_runner:
            class model:
                @staticmethod
                def load_weights(weights):
                    loaded.update(dict(weights))

    policy.llm.worker = Worker
    policy.sleep()
    policy.sleep()                                    # already asleep: no second call
    policy.sync_weights(_load(tiny_dir))
    policy.wake_up()
    policy.wake_up()                                  # nothing left asleep
    assert policy.llm.calls == [("sleep", 1), ("wake_up", ("weights",)), ("collective_rpc",), ("reset_prefix_cache",),
                                ("wake_up", ("kv_cache",))]
    assert loaded["model.norm.weight"].dtype == torch.bfloat16 and policy.version == 1


def test_engine_prompts_match_the_training_tokenisation(tiny_dir):
    from transformers import AutoTokenizer

    from sandmle.rollout.tokens import render_prompt_ids

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    conv = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "train a model"}]
    ids = vllm_backend.prompt_token_ids(tok, conv)
    assert all(isinstance(i, int) for i in ids)
    assert ids == render_prompt_ids(tok, conv)


FSDP_SCRIPT = r"""
import functools, sys
import torch, torch.distributed as dist
from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
from transformers import AutoModelForCausalLM
from sandmle.policies.weights import inference_weights

dist.init_process_group("gloo")
path = sys.argv[1]
full = AutoModelForCausalLM.from_pretrained(path).state_dict()
for version in (1, 2):
    model = AutoModelForCausalLM.from_pretrained(path)
    if version == 1:
        policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={type(model.model.layers[0])})
        model = FullyShardedDataParallel(model, auto_wrap_policy=policy, use_orig_params=True,
                                         device_id=torch.device("cpu"))
        try:
            list(inference_weights(model.module))
            raise SystemExit("the inner module of an FSDP1 root was not refused")
        except RuntimeError as exc:
            assert "root FSDP module" in str(exc)
    else:
        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
    got = dict(inference_weights(model))
    assert set(got) == set(full), sorted(set(got) ^ set(full))
    for name, tensor in got.items():
        torch.testing.assert_close(tensor, full[name], msg=f"FSDP{version} {name}")
print("rank", dist.get_rank(), "ok")
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_fsdp_gathers_whole_tensors_on_two_processes(tmp_path):
    """FSDP1 (each unit summoned, root included) and FSDP2 (DTensor gathers) yield the full,
    unsharded weights under their base names on every process (gloo, CPU)."""
    import subprocess
    import sys

    from sandmle.policies.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "m", architecture="qwen3", hidden_size=64, tie_word_embeddings=False)
    script = tmp_path / "fsdp_sync.py"
    script.write_text(FSDP_SCRIPT)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script),
                             str(path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stdout.count("ok") == 2
