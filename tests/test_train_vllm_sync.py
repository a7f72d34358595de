"""The CPU-testable parts of the vLLM backend: weight naming, LoRA merge, server-mode sync."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import torch

from sandmle.errors import UserError
from sandmle.policies import vllm as vllm_backend


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from sandmle.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"), seed=0)


def _load(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


def test_plain_model_weights_keep_their_names(tiny_dir):
    model = _load(tiny_dir)
    names = dict(vllm_backend.inference_weights(model))
    assert set(names) == set(model.state_dict())


def test_lora_adapters_are_merged_under_base_names(tiny_dir):
    peft = pytest.importorskip("peft")
    base = _load(tiny_dir)
    reference = {k: v.clone() for k, v in base.state_dict().items()}
    model = peft.get_peft_model(_load(tiny_dir), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"]))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)
    merged = dict(vllm_backend.inference_weights(model))
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
        self.wfile.write(b'{"results": [1]}')

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
    from safetensors.torch import load_file

    saved = load_file(body["args"][0])
    torch.testing.assert_close(saved["model.norm.weight"], model.state_dict()["model.norm.weight"])
    # only the newest version is kept, and no temporary folder is left behind
    assert [p.name for p in (tmp_path / "sync").iterdir()] == ["v000002"]


def test_worker_extension_loads_a_weights_file(tmp_path, tiny_dir):
    model = _load(tiny_dir)
    path = vllm_backend.write_weights(model, tmp_path, 1)
    received = {}

    class Runner:
        class model:
            @staticmethod
            def load_weights(weights):
                received.update(dict(weights))

    worker = vllm_backend.SandmleWorkerExtension()
    worker.model_runner = Runner()
    assert worker.sandmle_load_weights(str(path)) == len(received) > 0


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


def test_colocate_sync_wakes_weights_only_and_generation_wakes_the_rest(tiny_dir):
    policy = vllm_backend.VLLMPolicy.__new__(vllm_backend.VLLMPolicy)
    policy.mode, policy.enable_sleep_mode, policy.asleep, policy.version = "colocate", True, set(), 0
    policy.llm = _FakeLLM()
    loaded = {}

    class RunnerModel:
        @staticmethod
        def load_weights(weights):
            loaded.update(dict(weights))

    policy._runner_model = lambda: RunnerModel
    policy.sleep()
    policy.sleep()                                    # already asleep: no second call
    policy.sync_weights(_load(tiny_dir))
    policy.wake_up()
    policy.wake_up()                                  # nothing left asleep
    assert policy.llm.calls == [("sleep", 1), ("wake_up", ("weights",)), ("reset_prefix_cache",),
                                ("wake_up", ("kv_cache",))]
    assert "model.norm.weight" in loaded and policy.version == 1


def test_engine_prompts_match_the_training_tokenisation(tiny_dir):
    from transformers import AutoTokenizer

    from sandmle.rollout.tokens import tokenize_episode

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    conv = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "train a model"}]
    ids = vllm_backend.prompt_token_ids(tok, conv)
    assert all(isinstance(i, int) for i in ids)
    full, _, prompt_len = tokenize_episode(conv + [{"role": "assistant", "content": "<answer>x</answer>"}], tok)
    assert full[:len(ids)] == ids and prompt_len <= len(ids)
