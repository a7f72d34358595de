"""vLLM rollouts for training, in two modes (vllm is a GPU-only optional extra).

colocate  an in-process `vllm.LLM` on the trainer's GPU with `enable_sleep_mode`: the
          engine sleeps (weights offloaded, KV cache dropped) while the trainer updates,
          and wakes before the next generation. `sync_weights(model)` wakes the weights
          only, streams the trained model's parameters (FSDP shards gathered, LoRA adapters
          merged) into the engine's model through its model runner's `load_weights`, and
          resets the prefix cache. Several accelerate processes each own one engine
          (vLLM's `external_launcher` backend), as TRL's colocate mode does.
server    a separate `vllm serve` process reached over its OpenAI API for generation. After
          every update `sync_weights` writes the weights as safetensors into `sync_dir` (a
          folder both processes see, written atomically), then asks every vLLM worker to
          load them through the development endpoint `POST /collective_rpc` and resets the
          prefix cache (`POST /reset_prefix_cache`). The server must be started with both
          the development endpoints and this module's worker extension:

              VLLM_SERVER_DEV_MODE=1 vllm serve MODEL_DIR \\
                  --worker-extension-cls sandmle.policies.vllm.SandmleWorkerExtension

          (the development endpoints accept arbitrary worker calls: bind the server to a
          private interface only).

`vllm` is imported only when a policy is built; without it the error names the install
command. Not covered: pipeline parallelism inside the colocated engine, quantised engines.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Iterator

from sandmle.errors import UserError
from sandmle.policies.base import Generation, Message, SamplingParams, cut_at_stop

WEIGHTS_FILE = "model.safetensors"


def _import_vllm():
    try:
        import vllm
    except ImportError:
        raise UserError("the vllm backend needs vLLM on a CUDA machine: pip install 'sandmle[vllm]'") from None
    return vllm


def inference_weights(model) -> Iterator[tuple[str, Any]]:
    """(name, tensor) pairs of a trained model under its base model's parameter names.

    Unwraps FSDP (gathering full parameters) and merges LoRA adapters into their base
    weights for the duration of the iteration; tensors are detached.
    """
    fsdp = _fsdp_context(model)
    with fsdp:
        peft = hasattr(model, "peft_config") and hasattr(model, "merge_adapter")
        if peft:
            model.merge_adapter()
        try:
            for name, tensor in model.state_dict().items():
                if peft:
                    if "lora_" in name or ".original_module." in name:
                        continue
                    name = name.removeprefix("base_model.model.").replace(".base_layer", "")
                    name = name.replace(".modules_to_save.default", "")
                full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
                yield name, full.detach()
        finally:
            if peft:
                model.unmerge_adapter()


def prompt_token_ids(tokenizer, conversation: list[Message]) -> list[int]:
    """The chat template applied as text, then tokenised without extra special tokens, as
    `sandmle.rollout.tokens` does, so engine prompts and training sequences agree."""
    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _fsdp_context(model):
    from contextlib import nullcontext

    try:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    except ImportError:
        return nullcontext()
    if any(isinstance(m, FSDP) for m in model.modules()):
        return FSDP.summon_full_params(model, recurse=True, writeback=False)
    return nullcontext()


def _is_main() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class SandmleWorkerExtension:
    """Mixed into each vLLM worker by `--worker-extension-cls`: loads weights from a file."""

    def sandmle_load_weights(self, path: str) -> int:
        from safetensors.torch import load_file

        weights = load_file(path, device="cpu")
        self.model_runner.model.load_weights(weights=weights.items())
        return len(weights)


def write_weights(model, sync_dir: Path, version: int) -> Path:
    """Save the inference weights to `sync_dir/v<version>/model.safetensors` atomically."""
    from safetensors.torch import save_file

    weights, seen = {}, set()
    for name, tensor in inference_weights(model):
        tensor = tensor.contiguous().cpu()
        if tensor.data_ptr() in seen:           # tied embeddings: safetensors refuses shared storage
            tensor = tensor.clone()
        seen.add(tensor.data_ptr())
        weights[name] = tensor
    final = Path(sync_dir) / f"v{version:06d}"
    if not _is_main():
        return final / WEIGHTS_FILE
    Path(sync_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=sync_dir, prefix=f".v{version:06d}."))
    try:
        save_file(weights, str(tmp / WEIGHTS_FILE))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in sorted(p for p in Path(sync_dir).iterdir() if p.is_dir() and p.name.startswith("v") and p != final):
        shutil.rmtree(old, ignore_errors=True)
    return final / WEIGHTS_FILE


def _post(url: str, body: dict | None, timeout_s: float) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return response.read()


class VLLMPolicy:
    """The contract's Policy on a vLLM engine: `generate`, `sync_weights`, `close`."""

    def __init__(self, model: str, *, mode: str = "colocate", tokenizer: Any = None,
                 gpu_memory_utilization: float = 0.3, tensor_parallel_size: int = 1,
                 max_model_len: int | None = None, dtype: str = "auto", seed: int = 0,
                 enable_sleep_mode: bool = True, server_url: str = "http://localhost:8000",
                 sync_dir: str | None = None, served_model_name: str | None = None,
                 request_timeout_s: float = 1800.0):
        if mode not in ("colocate", "server"):
            raise UserError(f"vllm mode {mode!r} is unknown: use \"colocate\" or \"server\"")
        self.name = f"vllm:{model}"
        self.mode = mode
        self.model_path = model
        self.version = 0
        self.asleep: set[str] = set()
        self.timeout_s = request_timeout_s
        if mode == "server":
            if not sync_dir:
                raise UserError("vllm server mode needs sync_dir, a folder the trainer and the server both see")
            self.server_url = server_url.rstrip("/")
            self.sync_dir = Path(sync_dir)
            self.served_model_name = served_model_name or model
            self._client = None
            self.llm = None
            return
        vllm = _import_vllm()
        import torch.distributed as dist

        distributed = dist.is_available() and dist.is_initialized()
        if not distributed:
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")   # engine in this process
        kwargs = dict(model=model, gpu_memory_utilization=gpu_memory_utilization,
                      tensor_parallel_size=tensor_parallel_size, dtype=dtype, seed=seed,
                      enable_sleep_mode=enable_sleep_mode, enable_prefix_caching=True)
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if distributed:
            kwargs["distributed_executor_backend"] = "external_launcher"
            kwargs["seed"] = seed + dist.get_rank()
        self.llm = vllm.LLM(**kwargs)
        self.tokenizer = tokenizer or self.llm.get_tokenizer()
        self.enable_sleep_mode = enable_sleep_mode

    # ------------------------------------------------------------- generation
    def generate(self, conversations: list[list[Message]], sampling: SamplingParams) -> list[Generation]:
        if self.mode == "server":
            if self._client is None:
                from sandmle.policies.openai_api import OpenAIPolicy

                self._client = OpenAIPolicy(model=self.served_model_name, base_url=f"{self.server_url}/v1")
            return self._client.generate(conversations, sampling)
        from vllm import SamplingParams as VSampling

        try:
            self.wake_up()
            prompts = [{"prompt_token_ids": prompt_token_ids(self.tokenizer, conv)} for conv in conversations]
            # a seeded batch gives row i seed + i, so repeated rollouts of one task differ
            params = [VSampling(temperature=sampling.temperature, top_p=sampling.top_p,
                                max_tokens=sampling.max_new_tokens, stop=list(sampling.stop) or None,
                                include_stop_str_in_output=True, logprobs=0,
                                seed=None if sampling.seed is None else sampling.seed + i)
                      for i in range(len(prompts))]
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        except Exception as exc:          # an engine failure is data for every conversation
            return [Generation.failed(f"vllm: {type(exc).__name__}: {exc}") for _ in conversations]
        results = []
        for out in outputs:
            best = out.outputs[0]
            text, _ = cut_at_stop(best.text, sampling.stop)
            logprobs = None
            if best.logprobs:
                logprobs = tuple(float(step[tid].logprob) for step, tid in zip(best.logprobs, best.token_ids))
            finish = "length" if best.finish_reason == "length" else "stop"
            results.append(Generation(text=text, token_ids=tuple(best.token_ids), logprobs=logprobs,
                                      finish_reason=finish))
        return results

    # ------------------------------------------------------------- memory
    def sleep(self) -> None:
        """Free the GPU for the update: offload weights, drop the KV cache (colocate only)."""
        if self.mode == "colocate" and self.enable_sleep_mode and not self.asleep:
            self.llm.sleep(level=1)
            self.asleep = {"weights", "kv_cache"}

    def wake_up(self, tags: list[str] | None = None) -> None:
        """Wake the sleeping parts named (all by default); parts already awake are left alone,
        since waking weights twice would copy the stale CPU backup over synced weights."""
        wanted = self.asleep if tags is None else self.asleep & set(tags)
        if wanted:
            self.llm.wake_up(tags=sorted(wanted))
            self.asleep = self.asleep - wanted

    # ------------------------------------------------------------- weights
    def sync_weights(self, model) -> None:
        self.version += 1
        if self.mode == "server":
            path = write_weights(model, self.sync_dir, self.version)
            _barrier()
            if _is_main():
                _post(f"{self.server_url}/collective_rpc",
                      {"method": "sandmle_load_weights", "args": [str(path)]}, self.timeout_s)
                _post(f"{self.server_url}/reset_prefix_cache", None, self.timeout_s)
            _barrier()
            return
        self.wake_up(tags=["weights"])            # the KV cache stays freed until generation
        runner_model = self._runner_model()
        runner_model.load_weights(weights=inference_weights(model))
        self.llm.reset_prefix_cache()

    def _runner_model(self):
        executor = self.llm.llm_engine.model_executor
        worker = executor.driver_worker
        worker = getattr(worker, "worker", worker)
        return worker.model_runner.model

    def close(self) -> None:
        if self.mode == "server":
            if self._client is not None:
                self._client.close()
            return
        if self.llm is not None:
            del self.llm
            self.llm = None
            import gc

            import torch

            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
