"""A trained policy as a Hugging Face model folder: what `from_pretrained`, `sandmle eval
--policy hf:DIR` and `vllm serve DIR` load.

    ModelExport(base_dir, tokenizer, kind, dtype).write(model, out)
        the model the trainer holds (DDP, FSDP1 / FSDP2 and LoRA wrappers included) written
        to `out`: a collective under FSDP (every process calls it, the tensors are gathered
        one at a time by `sandmle.policies.weights`), written by the main process into a
        staging folder renamed into place, so a killed run never leaves half a model
    publish_model(checkpoint, run_dir)     RUN/model <- a checkpoint's model folder
    export_checkpoint(run_dir, out, ...)   `sandmle export-model`: a checkpoint's model folder
        copied, or rebuilt from its saved training state (runs from before model folders, or
        the other kind): `model.safetensors` / `pytorch_model.bin`, or FSDP's sharded state
        merged with accelerate's `merge_fsdp_weights`

Training writes one into every checkpoint (`RUN/checkpoints/step-N/model/`) and the last one
to `RUN/model/`, as `[train] save_model` says.

Kinds of folder:
    merged    config.json (the base model's, its dtype set), generation_config.json, the
              weights as safetensors (model.safetensors; above 5 GB model-0000i-of-0000n
              shards with model.safetensors.index.json, as `save_pretrained` names them;
              a tied output embedding is left out, as `save_pretrained` leaves it), LoRA
              adapters merged into their base weights, the tokenizer and chat template
    adapter   peft's adapter folder (adapter_config.json naming the base model folder by its
              absolute path, adapter_model.safetensors) and the tokenizer: `hf:DIR` and
              `from_pretrained` (with peft) load it on its base; `vllm serve BASE
              --enable-lora --lora-modules NAME=DIR` serves it. LoRA runs only.
Not covered: LoRA under FSDP1 (its adapters cannot be merged shard by shard; the trainer
refuses the combination at start: use FSDP2 or DDP).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sandmle.errors import UserError
from sandmle.files import staged_folder, write_json_atomic

EXPORT_KINDS = ("merged", "adapter")
MODEL_DIR = "model"
SHARD_BYTES = 5 * 1000 ** 3          # save_pretrained's default largest shard before transformers 5
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_METADATA = {"format": "pt"}         # what transformers checks in a safetensors header


@dataclass(frozen=True)
class ModelExport:
    """How a run writes its model folders (`[train] save_model`, `[model] dtype`)."""

    base_dir: Path                   # the base model folder (the run's model-init for "tiny")
    tokenizer: Any
    kind: str = "merged"             # "merged" | "adapter"
    dtype: str = "float32"           # the exported weights' dtype: "float32" | "bfloat16"

    def __post_init__(self) -> None:
        if self.kind not in EXPORT_KINDS:
            raise ValueError(f"kind must be one of {EXPORT_KINDS}, got {self.kind!r}")

    def check(self, model) -> None:
        """Refuse, before training starts, a model this export cannot write."""
        from sandmle.policies.weights import _fsdp1_class, _is_peft, _unwrap_ddp

        inner = _unwrap_ddp(model)
        fsdp1 = _fsdp1_class()
        peft = any(_is_peft(m) for m in inner.modules())
        if self.kind == "adapter" and not peft:
            raise UserError("[train] save_model=\"adapter\" needs LoRA ([model] lora_rank > 0)")
        if peft and fsdp1 is not None and isinstance(inner, fsdp1):
            raise UserError("LoRA under FSDP1 cannot be exported (its adapters are not merged shard by "
                            "shard): use FSDP2 (fsdp_version: 2 in the accelerate config) or DDP, or "
                            "[train] save_model=\"off\"")

    def write(self, model, out: Path) -> Path:
        """Write `model` as a model folder at `out` (replaced if it exists); every process
        calls it; returns `out`."""
        import torch

        from sandmle.policies.weights import _distributed, _is_sharded, inference_weights

        dtype = getattr(torch, self.dtype)
        tensors = (_adapter_weights(model, dtype) if self.kind == "adapter"
                   else _untied(inference_weights(model, dtype), model))
        several, main = _distributed()
        if not main:
            if several and _is_sharded(model):
                for _ in tensors:                  # join the gathers
                    pass
            return out
        with staged_folder(out) as staging:
            if self.kind == "adapter":
                _write_adapter(model, dict(tensors), staging, self.base_dir)
            else:
                _write_merged(tensors, staging, self.base_dir, dtype)
            self.tokenizer.save_pretrained(staging)
        return out


def _hf_model(model):
    """The transformers model inside the trainer's wrappers (DDP, FSDP, peft)."""
    from transformers import PreTrainedModel

    for module in model.modules():
        if isinstance(module, PreTrainedModel):
            return module
    raise TypeError(f"{type(model).__name__} holds no transformers model")


def _untied(tensors: Iterator[tuple[str, Any]], model) -> Iterator[tuple[str, Any]]:
    """The stream without the tensors tied to another (the output embedding of a model with
    tie_word_embeddings), as save_pretrained writes it."""
    hf = _hf_model(model)
    tied: set[str] = set()
    if getattr(hf.config.get_text_config(), "tie_word_embeddings", False):
        keys = getattr(hf, "_tied_weights_keys", None) or ()
        tied = set(keys)                       # a dict (transformers 5) or a list of names
    for name, tensor in tensors:
        if name not in tied:
            yield name, tensor


def _write_merged(tensors, folder: Path, base_dir: Path, dtype) -> None:
    from transformers import AutoConfig, GenerationConfig

    from sandmle.policies.weights import save_shards

    shards = save_shards(tensors, folder, SHARD_BYTES, metadata=_METADATA)
    if len(shards) == 1:
        os.replace(folder / shards[0][0], folder / "model.safetensors")
    else:
        weight_map = {}
        for i, (name, names, _) in enumerate(shards, 1):
            final = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            os.replace(folder / name, folder / final)
            weight_map.update({n: final for n in names})
        write_json_atomic(folder / "model.safetensors.index.json", {
            "metadata": {"total_size": sum(size for *_, size in shards)}, "weight_map": weight_map})
    config = AutoConfig.from_pretrained(base_dir)
    config.dtype = dtype
    config.save_pretrained(folder)
    try:
        GenerationConfig.from_pretrained(base_dir).save_pretrained(folder)
    except OSError:                            # the base model has none
        pass


def _adapter_weights(model, dtype) -> Iterator[tuple[str, Any]]:
    """The LoRA tensors under peft's saved names (adapter name removed), gathered whole."""
    from peft import get_peft_model_state_dict

    from sandmle.policies.weights import _cast, _strip_wrappers, _unwrap_ddp

    peft_model = _unwrap_ddp(model)
    state = {}
    for name, tensor in peft_model.state_dict().items():
        if "lora_" not in name and "modules_to_save" not in name:
            continue
        if hasattr(tensor, "full_tensor"):      # FSDP2: gathered on every process
            tensor = tensor.full_tensor()
        state[_strip_wrappers(name)] = _cast(tensor.detach(), dtype)
    yield from get_peft_model_state_dict(peft_model, state_dict=state).items()


def _write_adapter(model, tensors: dict, folder: Path, base_dir: Path) -> None:
    import copy

    from safetensors.torch import save_file

    from sandmle.policies.weights import _unwrap_ddp

    peft_model = _unwrap_ddp(model)
    config = copy.deepcopy(peft_model.peft_config["default"])
    config.base_model_name_or_path = str(Path(base_dir).resolve())
    config.inference_mode = True
    config.save_pretrained(str(folder))
    save_file({k: v.contiguous().cpu() for k, v in tensors.items()}, str(folder / ADAPTER_WEIGHTS),
              metadata=_METADATA)


def folder_kind(folder: Path) -> str | None:
    """"merged", "adapter" or None (not a model folder)."""
    if (folder / "adapter_config.json").is_file():
        return "adapter"
    if (folder / "config.json").is_file():
        return "merged"
    return None


def copy_folder(src: Path, out: Path) -> Path:
    """Copy a model folder to `out` (hard links where the file system allows), atomically."""
    with staged_folder(out) as staging:
        shutil.copytree(src, staging, copy_function=_link_or_copy, dirs_exist_ok=True)
    return out


def _link_or_copy(src: str, dest: str) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def publish_model(checkpoint: Path, run_dir: Path) -> Path | None:
    """RUN/model <- the checkpoint's model folder; None when the checkpoint has none."""
    src = Path(checkpoint) / MODEL_DIR
    if folder_kind(src) is None:
        return None
    return copy_folder(src, Path(run_dir) / MODEL_DIR)


# -- sandmle export-model -------------------------------------------------------------------
def export_checkpoint(run_dir: Path, out: Path, step: int | None = None, kind: str | None = None,
                      ) -> tuple[Path, int, str, str]:
    """Write checkpoint `step` (default: the latest) of a training run as a model folder at
    `out`; returns (out, step, kind, how: "copied" | "rebuilt"). `kind` defaults to the run's
    `[train] save_model` ("merged" when it was "off")."""
    from sandmle.train.checkpoint import list_checkpoints
    from sandmle.train.config import RunConfig

    run_dir = Path(run_dir)
    try:
        cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UserError(f"{run_dir} is not a training run (no config.json): pass a `sandmle train` --out folder") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{run_dir / 'config.json'} is not valid JSON ({exc})") from None
    if cfg.model.kind != "hf":
        raise UserError(f"{run_dir} trained the compact action policy ([model] kind={cfg.model.kind!r}), "
                        "not a language model: there is no model folder to export")
    checkpoints = {int(p.name.split("-")[1]): p for p in list_checkpoints(run_dir)}
    if not checkpoints:
        raise UserError(f"{run_dir} has no checkpoint yet (checkpoints/step-N)")
    if step is None:
        step = max(checkpoints)
    if step not in checkpoints:
        raise UserError(f"{run_dir} has no checkpoint of step {step}: it keeps steps "
                        f"{', '.join(map(str, sorted(checkpoints)))}")
    kind = kind or (cfg.train.save_model if cfg.train.save_model in EXPORT_KINDS else "merged")
    if kind == "adapter" and not cfg.model.lora_rank:
        raise UserError(f"{run_dir} trained every weight (no LoRA): there is no adapter; export it merged")
    checkpoint = checkpoints[step]
    if folder_kind(checkpoint / MODEL_DIR) == kind:
        return copy_folder(checkpoint / MODEL_DIR, out), step, kind, "copied"
    from sandmle.train.build import build_model

    model, tokenizer, base_dir = build_model(cfg, run_dir)
    load_training_weights(model, checkpoint)
    ModelExport(base_dir, tokenizer, kind, cfg.model.dtype).write(model, out)
    return out, step, kind, "rebuilt"


def load_training_weights(model, checkpoint: Path) -> None:
    """Load the model weights `Accelerator.save_state` wrote into `checkpoint` into `model`
    (the run's model as `build_model` makes it, LoRA wrapper included)."""
    import tempfile

    import torch

    from sandmle.policies.weights import _strip_wrappers

    checkpoint = Path(checkpoint)
    if (checkpoint / "model.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(str(checkpoint / "model.safetensors"))
    elif (checkpoint / "pytorch_model_fsdp_0").is_dir():        # FSDP SHARDED_STATE_DICT
        from accelerate.utils import merge_fsdp_weights
        from safetensors.torch import load_file

        with tempfile.TemporaryDirectory(dir=checkpoint.parent, prefix=".merge-") as tmp:
            merge_fsdp_weights(str(checkpoint / "pytorch_model_fsdp_0"), tmp, safe_serialization=True)
            state = load_file(str(Path(tmp) / "model.safetensors"))
    else:
        found = [p for p in ("pytorch_model.bin", "pytorch_model_fsdp_0.bin") if (checkpoint / p).is_file()]
        if not found:
            raise UserError(f"{checkpoint} holds no model weights (model.safetensors, pytorch_model.bin, "
                            "pytorch_model_fsdp_0/)")
        state = torch.load(checkpoint / found[0], map_location="cpu", weights_only=True)
    state = {_strip_wrappers(k): v for k, v in state.items()}
    expected = model.state_dict()
    unexpected = sorted(set(state) - set(expected))
    loaded_ptrs = {expected[k].data_ptr() for k in state if k in expected}
    missing = sorted(k for k in set(expected) - set(state) if expected[k].data_ptr() not in loaded_ptrs)
    if unexpected or missing:
        raise UserError(f"{checkpoint} does not hold this run's model ({len(missing)} tensors missing, e.g. "
                        f"{missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]})")
    model.load_state_dict(state, strict=False)
