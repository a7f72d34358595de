"""Policy on a transformers causal LM, on CPU or GPU.

`HFPolicy(path_or_model, tokenizer=None, device=None)` loads a local model folder (or takes
a model object: the trainer passes the model it trains, so `sync_weights` is a no-op for
that same object and copies the state dict from any other). Generation is batched with left
padding over the chat template's rendering (`add_generation_prompt=True`), stops at the
tokenizer's end-of-turn token or at a stop string (`stop_strings`, kept in the text), and
returns the completion's token ids and their log-probabilities under the sampling
distribution. A batch that raises (out of memory, a bad template) becomes error
Generations.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sandmle.errors import UserError
from sandmle.policies.base import Generation, Message, SamplingParams, cut_at_stop


class HFPolicy:
    def __init__(self, path_or_model: Any, tokenizer: Any = None, device: Any = None,
                 dtype: str | None = None, batch_size: int = 16, name: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(path_or_model, (str, Path)):
            path = Path(path_or_model)
            if not (path / "config.json").is_file():
                raise UserError(f"hf policy: {path} is not a local model folder (no config.json)")
            torch_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16,
                           "float32": torch.float32, None: "auto"}[dtype]
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

    def generate(self, conversations: list[list[Message]], sampling: SamplingParams) -> list[Generation]:
        out: list[Generation] = []
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start:start + self.batch_size]
            try:
                out.extend(self._generate_batch(batch, sampling))
            except Exception as exc:   # a failed batch is data for each of its episodes
                message = f"{type(exc).__name__}: {exc}".splitlines()[0]
                out.extend(Generation.failed(message) for _ in batch)
        return out

    def _generate_batch(self, batch: list[list[Message]], sampling: SamplingParams) -> list[Generation]:
        import torch

        tok = self.tokenizer
        prompts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in batch]
        enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        device = next(self.model.parameters()).device
        enc = {k: v.to(device) for k, v in enc.items()}
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        sample = sampling.temperature > 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=sampling.max_new_tokens, do_sample=sample,
            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
            return_dict_in_generate=True, output_scores=True)
        if sample:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        if sampling.stop:
            kwargs.update(stop_strings=list(sampling.stop), tokenizer=tok)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                result = self.model.generate(**enc, **kwargs)
        finally:
            if was_training:
                self.model.train()
        prompt_len = enc["input_ids"].shape[1]
        completions = result.sequences[:, prompt_len:].tolist()
        scores = self.model.compute_transition_scores(result.sequences, result.scores, normalize_logits=True)
        generations = []
        for row, ids in enumerate(completions):
            ids, ended = _trim(ids, tok.eos_token_id, tok.pad_token_id)
            text = tok.decode(ids, skip_special_tokens=True)
            text, stopped = cut_at_stop(text, sampling.stop)
            logprobs = tuple(float(x) for x in scores[row, :len(ids)].tolist())
            finish = "stop" if ended or stopped else "length"
            generations.append(Generation(text=text, token_ids=tuple(ids), logprobs=logprobs,
                                          finish_reason=finish))
        return generations

    def sync_weights(self, model: Any) -> None:
        """No-op when `model` is the generating model; otherwise copy its weights in."""
        if model is self.model:
            return
        self.model.load_state_dict(model.state_dict())

    def close(self) -> None:
        """The model stays with its owner; nothing to release."""


def _trim(ids: list[int], eos_id: int | None, pad_id: int | None) -> tuple[list[int], bool]:
    """Cut a completion after its first end-of-turn token and drop the padding after it."""
    if eos_id is not None and eos_id in ids:
        return ids[:ids.index(eos_id) + 1], True
    while ids and pad_id is not None and ids[-1] == pad_id:
        ids = ids[:-1]
    return ids, False
