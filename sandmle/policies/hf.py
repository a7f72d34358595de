"""Policy on a transformers causal LM, on CPU or GPU.

`HFPolicy(path_or_model, tokenizer=None, device=None)` loads a local model folder or a LoRA
adapter folder on the base model it names (`sandmle export-model --kind adapter`), or takes
a model object: the trainer passes the model it trains, so `sync_weights` is a no-op for
that same object and copies the state dict from any other). Generation is batched with left
padding over the given prompt ids (or the chat template's rendering, generation prompt
included), stops at the tokenizer's end-of-turn token or at a stop string, and returns the
prompt ids, the sampled completion ids (exactly those sampled: each row's length is recorded
when it stops, so a sampled padding token is never trimmed), their text and their
log-probabilities under the sampling distribution (temperature and top-p applied). A batch
that raises (out of memory, a bad template) becomes error Generations.

Seeding: each chunk of `batch_size` rows samples from one torch stream seeded with its first
row's seed (`SamplingParams.seed_for`), so the rows of a GRPO group split over chunks differ.
Rows of one chunk share that stream: unlike the vllm and openai backends, a row's sample
depends on the batch it was generated in, so a resumed evaluation does not replay it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sandmle.errors import UserError
from sandmle.policies.base import Generation, Message, SamplingParams
from sandmle.rollout.tokens import render_prompt_ids


class HFPolicy:
    def __init__(self, path_or_model: Any, tokenizer: Any = None, device: Any = None,
                 dtype: str | None = None, batch_size: int = 16, name: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(path_or_model, (str, Path)):
            path = Path(path_or_model)
            adapter = (path / "adapter_config.json").is_file()
            if not adapter and not (path / "config.json").is_file():
                raise UserError(f"hf policy: {path} is not a local model folder (no config.json "
                                "or adapter_config.json)")
            torch_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16,
                           "float32": torch.float32, None: "auto"}[dtype]
            if adapter:
                self.model = _load_adapter(path, torch_dtype)
            else:
                self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
            self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
            self.name = name or f"hf:{path}"
        else:
            if tokenizer is None:
                raise UserError("hf policy: a model object needs its tokenizer")
            self.model = path_or_model
            self.tokenizer = tokenizer
            self.name = name or f"hf:{type(path_or_model).__name__}"
        if device is not None:
            self.model.to(device)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size

    def generate(self, conversations: list[list[Message]], sampling: SamplingParams,
                 prompt_ids: list[list[int]] | None = None) -> list[Generation]:
        out: list[Generation] = []
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start:start + self.batch_size]
            try:
                ids = ([list(p) for p in prompt_ids[start:start + self.batch_size]] if prompt_ids is not None
                       else [render_prompt_ids(self.tokenizer, m) for m in batch])
                out.extend(self._generate_batch(ids, sampling, sampling.seed_for(start)))
            except Exception as exc:   # a failed batch is data for each of its episodes
                message = f"{type(exc).__name__}: {exc}".splitlines()[0]
                out.extend(Generation.failed(message) for _ in batch)
        return out

    def _generate_batch(self, prompts: list[list[int]], sampling: SamplingParams,
                        seed: int | None) -> list[Generation]:
        import torch
        from transformers import StoppingCriteriaList

        tok = self.tokenizer
        enc = tok.pad({"input_ids": prompts}, padding=True, padding_side="left", return_tensors="pt")
        device = next(self.model.parameters()).device
        enc = {k: v.to(device) for k, v in enc.items()}
        prompt_len = enc["input_ids"].shape[1]
        if seed is not None:
            torch.manual_seed(seed)
        sample = sampling.temperature > 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=sampling.max_new_tokens, do_sample=sample,
            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
            return_dict_in_generate=True, output_scores=True)
        if sample:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        stops = _StopRecorder(tok, sampling.stop, prompt_len) if sampling.stop else None
        if stops is not None:
            kwargs.update(stopping_criteria=StoppingCriteriaList([stops]))
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                result = self.model.generate(**enc, **kwargs)
        finally:
            if was_training:
                self.model.train()
        completions = result.sequences[:, prompt_len:].tolist()
        scores = self.model.compute_transition_scores(result.sequences, result.scores, normalize_logits=True)
        generations = []
        for row, ids in enumerate(completions):
            stop_at = None if stops is None else stops.at.get(row)
            ids, ended = _trim(ids, tok.eos_token_id, stop_at)
            text = tok.decode(ids, skip_special_tokens=True)
            stop = None if ended or stop_at is None or len(ids) != stop_at else _stop_in(text, sampling.stop)
            logprobs = tuple(float(x) for x in scores[row, :len(ids)].tolist())
            finish = "stop" if ended or stop is not None else "length"
            generations.append(Generation(text=text, token_ids=tuple(ids), logprobs=logprobs, finish_reason=finish,
                                          prompt_ids=tuple(prompts[row]), stop_string=stop))
        return generations

    def sync_weights(self, model: Any) -> None:
        """No-op when `model` is the generating model; otherwise copy its weights in."""
        if model is self.model:
            return
        self.model.load_state_dict(model.state_dict())

    def close(self) -> None:
        """The model stays with its owner; nothing to release."""


def _load_adapter(path: Path, dtype: Any):
    """A LoRA adapter folder (peft's format) on the base model its adapter_config.json names."""
    import json

    try:
        from peft import AutoPeftModelForCausalLM
    except ImportError:
        raise UserError(f"hf policy: {path} is a LoRA adapter, which needs peft: pip install 'sandmle[lora]'") from None
    base = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base or not (Path(base) / "config.json").is_file():
        raise UserError(f"hf policy: the adapter {path} names its base model {base!r}, which is not a local "
                        "model folder")
    return AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype)


class _StopRecorder:
    """transformers' stop-string criterion that also records, per row, how many new tokens
    the row had when a stop string first ended it (later columns are padding)."""

    def __init__(self, tokenizer: Any, stop: tuple[str, ...], prompt_len: int) -> None:
        from transformers import StopStringCriteria

        self.inner = StopStringCriteria(tokenizer, list(stop))
        self.prompt_len = prompt_len
        self.at: dict[int, int] = {}

    def __call__(self, input_ids, scores, **kwargs):
        hit = self.inner(input_ids, scores, **kwargs)
        for row in hit.nonzero().flatten().tolist():
            self.at.setdefault(int(row), input_ids.shape[1] - self.prompt_len)
        return hit


def _stop_in(text: str, stop: tuple[str, ...]) -> str | None:
    """The stop string that ends `text` (the one ending last when a token ran past it)."""
    found = [(text.rfind(s) + len(s), s) for s in stop if s in text]
    return max(found)[1] if found else None


def _trim(ids: list[int], eos_id: int | None, stop_at: int | None) -> tuple[list[int], bool]:
    """The sampled part of a row: up to its first end-of-turn token (True) or the length at
    which a stop string ended it (False); what follows is padding."""
    if eos_id is not None and eos_id in ids[:stop_at]:
        return ids[:ids.index(eos_id) + 1], True
    return (ids if stop_at is None else ids[:stop_at]), False
