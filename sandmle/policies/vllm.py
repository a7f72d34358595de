"""vLLM rollouts for training, in two modes (vllm is an optional extra; its CPU build runs
the tests, `make test-vllm`).

colocate  an in-process `vllm.LLM` on the trainer's device. On CUDA it uses sleep mode: the
          engine sleeps (weights offloaded, KV cache dropped) while the trainer updates and
          wakes before the next generation (the CUDA cache is emptied first: the sleep
          allocator maps memory outside torch's cache). `sync_weights(model)` wakes the
          weights only, streams the trained parameters (`sandmle.policies.weights`: FSDP
          gathered, LoRA merged, cast to the engine's dtype one tensor at a time) into the
          model runner (`weights.load_into_runner`) through `LLM.collective_rpc`, and resets the prefix
          cache. Several accelerate processes each own one engine (vLLM's
          `external_launcher` backend, one engine per process, as TRL's colocate mode).
          The engine core must run in this process (tensors are handed over by reference):
          `VLLM_ENABLE_V1_MULTIPROCESSING` is forced to 0, with a message when it was set.
          Tensor parallelism inside a colocated engine is refused: every rank of a TP group
          would need the same prompts, and sandmle gives each process its own tasks.
server    a separate vLLM OpenAI server reached over HTTP for generation. After every update
          `sync_weights` streams the weights as safetensors shards into `sync_dir` (a folder
          both sides see, one version folder appearing atomically, written by the main
          process only), asks every vLLM worker to load them through the development
          endpoint `POST /collective_rpc` (checking each worker's answer) and resets the
          prefix cache. Start the server with the development endpoints and this module's
          worker extension:

              VLLM_SERVER_DEV_MODE=1 python -m vllm.entrypoints.openai.api_server \\
                  --model MODEL_DIR --worker-extension-cls sandmle.policies.vllm.SandmleWorkerExtension \\
                  --logprobs-mode processed_logprobs

          (the development endpoints accept arbitrary worker calls: bind the server to a
          private interface only).

`score(sequences)` returns the engine's log-probs of fixed token ids (vLLM prompt
log-probs), in either mode: the check that a sync reached the engine. `vllm` is imported
only when a colocated engine is built; without it the error names the install command.
Not covered: pipeline or tensor parallelism inside a colocated engine, quantised engines.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from sandmle.errors import UserError
from sandmle.policies.base import Generation, Message, SamplingParams, cut_at_stop
from sandmle.policies.weights import SandmleWorkerExtension, inference_weights, load_into_runner, write_weight_shards

__all__ = ["VLLMPolicy", "SandmleWorkerExtension", "prompt_token_ids", "in_process_engine"]

MULTIPROCESSING_FLAG = "VLLM_ENABLE_V1_MULTIPROCESSING"


def _import_vllm():
    try:
        import vllm
    except ImportError:
        raise UserError("the vllm backend needs vLLM: pip install 'sandmle[vllm]' on a CUDA machine "
                        "(or `make install-vllm` for its CPU build)") from None
    return vllm


def in_process_engine(say=None) -> None:
    """Force vLLM's engine core into this process; say so when the user had set it otherwise."""
    value = os.environ.get(MULTIPROCESSING_FLAG)
    if value not in (None, "", "0"):
        message = (f"sandmle: {MULTIPROCESSING_FLAG}={value} overridden to 0: colocated weight sync hands "
                   f"tensors to the engine in this process")
        (say or (lambda m: print(m, file=sys.stderr)))(message)
    os.environ[MULTIPROCESSING_FLAG] = "0"


def prompt_token_ids(tokenizer, conversation: list[Message]) -> list[int]:
    """The prompt ids of a conversation the caller gave no ids for (`sandmle.rollout.tokens`)."""
    from sandmle.rollout.tokens import render_prompt_ids

    return render_prompt_ids(tokenizer, conversation)


def _load_in_worker(worker, weights) -> int:
    """Run on the engine's worker (in this process): stream `weights` into its model."""
    return load_into_runner(worker.model_runner, weights)


def _post(url: str, body: dict | None, timeout_s: float) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _is_main() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class VLLMPolicy:
    """The contract's Policy on a vLLM engine: `generate`, `score`, `sync_weights`, `close`.

    `dtype` is the engine's ("auto": the model folder's); server-mode syncs send bfloat16
    unless `dtype` names another. `enable_sleep_mode` defaults to whether CUDA is present
    (sleep mode is CUDA-only). Colocated behaviour log-probs are vLLM's processed ones (after
    temperature), matching the trainer's log-probs of temperature-scaled logits.
    """

    def __init__(self, model: str, *, mode: str = "colocate", tokenizer: Any = None,
                 gpu_memory_utilization: float = 0.3, tensor_parallel_size: int = 1,
                 max_model_len: int | None = None, dtype: str = "auto", seed: int = 0,
                 enable_sleep_mode: bool | None = None, enforce_eager: bool = False,
                 server_url: str = "http://localhost:8000", sync_dir: str | None = None,
                 served_model_name: str | None = None, request_timeout_s: float = 1800.0):
        if mode not in ("colocate", "server"):
            raise UserError(f"vllm mode {mode!r} is unknown: use \"colocate\" or \"server\"")
        self.name = f"vllm:{model}"
        self.mode = mode
        self.model_path = model
        self.version = 0
        self.asleep: set[str] = set()
        self.timeout_s = request_timeout_s
        self.tokenizer = tokenizer
        self.llm = None
        if mode == "server":
            if not sync_dir:
                raise UserError("vllm server mode needs sync_dir, a folder the trainer and the server both see")
            import torch

            self.server_url = server_url.rstrip("/")
            self.sync_dir = Path(sync_dir).resolve()
            self.served_model_name = served_model_name or model
            self.sync_dtype = getattr(torch, "bfloat16" if dtype == "auto" else dtype)
            self._client = None
            return
        if tensor_parallel_size != 1:
            raise UserError(f"vllm tensor_parallel_size={tensor_parallel_size} is not supported in colocate mode "
                            f"(each process runs its own engine on its own tasks): use 1, or server mode with "
                            f"the server's --tensor-parallel-size")
        vllm = _import_vllm()
        import torch
        import torch.distributed as dist

        in_process_engine()
        if enable_sleep_mode is None:
            enable_sleep_mode = torch.cuda.is_available()
        kwargs = dict(model=model, gpu_memory_utilization=gpu_memory_utilization, dtype=dtype, seed=seed,
                      enable_sleep_mode=enable_sleep_mode, enable_prefix_caching=True, enforce_eager=enforce_eager,
                      logprobs_mode="processed_logprobs")
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            kwargs["distributed_executor_backend"] = "external_launcher"
            kwargs["seed"] = seed + dist.get_rank()
        self.llm = vllm.LLM(**kwargs)
        self.tokenizer = tokenizer or self.llm.get_tokenizer()
        self.enable_sleep_mode = enable_sleep_mode
        self.sync_dtype = self.llm.llm_engine.model_config.dtype

    # ------------------------------------------------------------- generation
    def generate(self, conversations: list[list[Message]], sampling: SamplingParams,
                 prompt_ids: list[list[int]] | None = None) -> list[Generation]:
        if self.mode == "server":
            if self._client is None:
                from sandmle.policies.openai_api import OpenAIPolicy

                self._client = OpenAIPolicy(model=self.served_model_name, base_url=f"{self.server_url}/v1")
            return self._client.generate(conversations, sampling, prompt_ids=prompt_ids)
        from vllm import SamplingParams as VSampling

        try:
            self.wake_up()
            ids = prompt_ids if prompt_ids is not None else [prompt_token_ids(self.tokenizer, c) for c in conversations]
            prompts = [{"prompt_token_ids": list(p)} for p in ids]
            # a seeded batch gives row i seed + i, so repeated rollouts of one task differ
            params = [VSampling(temperature=sampling.temperature, top_p=sampling.top_p,
                                max_tokens=sampling.max_new_tokens, stop=list(sampling.stop) or None,
                                include_stop_str_in_output=True, logprobs=0,
                                seed=sampling.seed_for(i))
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
            stop = best.stop_reason if isinstance(best.stop_reason, str) else None
            results.append(Generation(text=text, token_ids=tuple(best.token_ids), logprobs=logprobs,
                                      finish_reason=finish, prompt_ids=tuple(out.prompt_token_ids), stop_string=stop))
        return results

    def score(self, sequences: list[list[int]]) -> list[list[float]]:
        """The engine's log p(token i | tokens before i) for i >= 1 of each sequence (temperature 1)."""
        if self.mode == "server":
            rows = []
            for ids in sequences:
                answer = _post(f"{self.server_url}/v1/completions",
                               {"model": self.served_model_name, "prompt": list(ids), "max_tokens": 1,
                                "temperature": 1.0, "prompt_logprobs": 0}, self.timeout_s)
                steps = answer["choices"][0]["prompt_logprobs"]
                rows.append([float(step[str(tid)]["logprob"]) for step, tid in zip(steps[1:], ids[1:])])
            return rows
        from vllm import SamplingParams as VSampling

        self.wake_up()
        outputs = self.llm.generate([{"prompt_token_ids": list(ids)} for ids in sequences],
                                    VSampling(max_tokens=1, temperature=1.0, prompt_logprobs=0, detokenize=False),
                                    use_tqdm=False)
        return [[float(step[tid].logprob) for step, tid in zip(out.prompt_logprobs[1:], ids[1:])]
                for out, ids in zip(outputs, sequences)]

    # ------------------------------------------------------------- memory
    def sleep(self) -> None:
        """Free the GPU for the update: offload weights, drop the KV cache (colocate, CUDA only)."""
        if self.mode == "colocate" and self.enable_sleep_mode and not self.asleep:
            self.llm.sleep(level=1)
            self.asleep = {"weights", "kv_cache"}

    def wake_up(self, tags: list[str] | None = None) -> None:
        """Wake the sleeping parts named (all by default); parts already awake are left alone,
        since waking weights twice would copy the stale CPU backup over synced weights."""
        wanted = self.asleep if tags is None else self.asleep & set(tags)
        if wanted:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()      # the sleep allocator maps memory outside torch's cache
            self.llm.wake_up(tags=sorted(wanted))
            self.asleep = self.asleep - wanted

    # ------------------------------------------------------------- weights
    def sync_weights(self, model) -> None:
        """Push `model`'s weights (as the trainer holds it: DDP/FSDP wrappers included) into
        the engine. Under FSDP every process must call it (the gathers are collective)."""
        self.version += 1
        if self.mode == "server":
            self._sync_server(model)
            return
        self.wake_up(tags=["weights"])            # the KV cache stays freed until generation
        loaded = self.llm.collective_rpc(_load_in_worker, args=(inference_weights(model, self.sync_dtype),))
        if not loaded or min(loaded) == 0:
            raise RuntimeError(f"vLLM loaded no weights in sync {self.version} (per worker: {loaded})")
        self.llm.reset_prefix_cache()

    def _sync_server(self, model) -> None:
        folder = write_weight_shards(model, self.sync_dir, self.version, self.sync_dtype)
        _barrier()
        if _is_main():
            answer = _post(f"{self.server_url}/collective_rpc",
                           {"method": "sandmle_load_weights", "args": [str(folder)]}, self.timeout_s)
            results = (answer or {}).get("results")
            if not results or not all(isinstance(r, dict) and r.get("tensors", 0) > 0 for r in results):
                raise RuntimeError(f"vLLM server at {self.server_url} did not load the weights of {folder}: "
                                   f"it answered {answer!r} (is it started with --worker-extension-cls "
                                   f"sandmle.policies.vllm.SandmleWorkerExtension?)")
            reset = _post(f"{self.server_url}/reset_prefix_cache", None, self.timeout_s)
            if reset is not None and reset.get("success") is False:
                raise RuntimeError(f"vLLM server at {self.server_url} could not reset its prefix cache after sync "
                                   f"{self.version}: requests still running")
        _barrier()

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
