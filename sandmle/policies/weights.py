"""Trained weights on their way to an inference engine: named tensors, one at a time.

    inference_weights(model, dtype)   (name, tensor) pairs under the base model's parameter
                                      names, streamed: one full tensor exists at a time
    write_weight_shards(...)          the same stream as safetensors shards in a versioned
                                      folder (server mode), written by the main process only
    read_weight_shards(folder)        the shards back, one tensor at a time (engine side)
    SandmleWorkerExtension            vLLM's `--worker-extension-cls`: loads a shard folder

How a tensor is made whole depends on the wrapper the trainer put around the model:

    plain / DDP      the module's own tensors (DDP's `.module` is unwrapped here)
    FSDP2            each DTensor is all-gathered with `full_tensor()` (a collective: every
                     process iterates, in the same order)
    FSDP1            each FSDP unit is summoned on its own (`recurse=False`) and its parameters
                     are yielded while it is whole, after its children's (as TRL does); the root
                     unit must be passed (it owns the embeddings, final norm and lm_head: an
                     inner module alone would yield flat shards), else a RuntimeError says so
    LoRA (peft)      adapters are merged into their base weights for the iteration and
                     unmerged afterwards; names lose peft's prefixes. Not under FSDP1.

Tensors are cast to `dtype` (the engine's, usually bfloat16) one at a time, so a sync never
holds a second full copy of the model in the trainer's float32.
"""
from __future__ import annotations

import shutil
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterable, Iterator

from sandmle.files import staged_folder

SHARD_PREFIX = "model-"
SHARD_BYTES = 1 << 30                      # 1 GiB per safetensors shard
_WRAPPER_PARTS = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")


def inference_weights(model, dtype=None) -> Iterator[tuple[str, Any]]:
    """(name, detached tensor) pairs of a trained model under its base model's names.

    `model` is the module the trainer holds (DDP and FSDP wrappers included); `dtype` casts
    each tensor (None keeps it). Under FSDP every process must consume the whole iterator.
    A consumer may keep the tensors: merged LoRA weights are copies, not views of the
    parameters the adapters are unmerged from afterwards.
    """
    model = _unwrap_ddp(model)
    fsdp1 = _fsdp1_class()
    if fsdp1 is not None and any(isinstance(m, fsdp1) for m in model.modules()):
        if not isinstance(model, fsdp1):
            raise RuntimeError("FSDP1 weights must be gathered from the root FSDP module (accelerate's "
                               "prepared model), not from the module inside it: its embeddings, final norm "
                               "and lm_head would stay sharded")
        if _is_peft(model.module):
            raise RuntimeError("LoRA adapters cannot be merged for sync under FSDP1: use FSDP2 "
                               "(fsdp_version: 2 in the accelerate config) or DDP")
        yield from _fsdp1_weights(model, fsdp1, dtype)
        return
    peft = _is_peft(model)
    with _merged_adapters(model):
        for name, tensor in model.state_dict().items():
            name = _base_name(name, peft)
            if name is None:
                continue
            if hasattr(tensor, "full_tensor"):          # FSDP2: gathered here, on every process
                tensor = tensor.full_tensor()
            out = _cast(tensor.detach(), dtype)
            if peft and out.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr():
                # merged in place and unmerged when the iteration ends: a consumer that keeps
                # the tensor (a shard being filled) must keep the merged values
                out = out.clone()
            yield name, out


def _fsdp1_weights(module, fsdp1, dtype, prefix: str = "", seen: set | None = None):
    """Each unit is summoned on its own, outer before inner (the root's summon runs FSDP's lazy
    initialisation, needed when no forward has run yet, as on resume); a unit's parameters
    are yielded after its children's, while it is whole."""
    seen = set() if seen is None else seen
    unit = isinstance(module, fsdp1)
    with fsdp1.summon_full_params(module, recurse=False, writeback=False) if unit else nullcontext():
        for child_name, child in module.named_children():
            yield from _fsdp1_weights(child, fsdp1, dtype, f"{prefix}{child_name}.", seen)
        if not unit:
            return
        for name, param in module.named_parameters():
            full = _strip_wrappers(prefix + name)
            if full in seen or "_flat_param" in full:      # a nested unit's, yielded before
                continue
            seen.add(full)
            tensor = _cast(param.detach(), dtype)
            # the unsharded storage is freed when the summon ends: a consumer may keep the tensor
            yield full, tensor.clone() if tensor.data_ptr() == param.data_ptr() else tensor


def _cast(tensor, dtype):
    return tensor if dtype is None or tensor.dtype == dtype or not tensor.is_floating_point() else tensor.to(dtype)


def _strip_wrappers(name: str) -> str:
    for part in _WRAPPER_PARTS:
        name = name.replace(part, "")
    return name


def _base_name(name: str, peft: bool) -> str | None:
    """A state-dict key under the base model's naming; None for LoRA's own tensors."""
    name = _strip_wrappers(name)
    if peft:
        if "lora_" in name or ".original_module." in name:
            return None
        name = name.removeprefix("base_model.model.").replace(".base_layer", "")
        name = name.replace(".modules_to_save.default", "")
    return name


def _is_peft(model) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "merge_adapter")


@contextmanager
def _merged_adapters(model):
    if not _is_peft(model):
        yield
        return
    model.merge_adapter()
    try:
        yield
    finally:
        model.unmerge_adapter()


def _unwrap_ddp(model):
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def _fsdp1_class():
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
    except ImportError:
        return None
    return FullyShardedDataParallel


def _distributed() -> tuple[bool, bool]:
    """(several processes, this is the main one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1, dist.get_rank() == 0
    return False, True


def _is_sharded(model) -> bool:
    """Whether gathering the weights is a collective every process must join."""
    model = _unwrap_ddp(model)
    fsdp1 = _fsdp1_class()
    if fsdp1 is not None and any(isinstance(m, fsdp1) for m in model.modules()):
        return True
    return any(hasattr(p, "full_tensor") for p in model.parameters())


def write_weight_shards(model, sync_dir: Path, version: int, dtype=None,
                        shard_bytes: int = SHARD_BYTES) -> Path:
    """Write the inference weights to `sync_dir/v<version>/model-NNNNN.safetensors`.

    Only the main process writes, holding at most one shard (`shard_bytes`) on the CPU;
    other processes join the gathers when the model is sharded and otherwise do nothing.
    The folder appears atomically (written under a temporary name, then renamed); older
    versions are removed. Returns the folder on every process.
    """
    several, main = _distributed()
    final = Path(sync_dir) / f"v{version:06d}"
    if not main:
        if several and _is_sharded(model):
            for _ in inference_weights(model, dtype):
                pass
        return final
    with staged_folder(final) as tmp:
        save_shards(inference_weights(model, dtype), tmp, shard_bytes)
    for old in Path(sync_dir).iterdir():
        if old.is_dir() and old.name.startswith("v") and old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def save_shards(tensors: Iterator[tuple[str, Any]], folder: Path, shard_bytes: int = SHARD_BYTES,
                metadata: dict[str, str] | None = None) -> list[tuple[str, list[str], int]]:
    """Write a stream of (name, tensor) pairs as `folder/model-NNNNN.safetensors` shards of
    about `shard_bytes` each, holding one shard on the CPU at a time; returns (file name,
    tensor names, bytes) per shard. At least one shard is written (empty when the stream is)."""
    from safetensors.torch import save_file

    written: list[tuple[str, list[str], int]] = []
    shard: dict[str, Any] = {}
    size = 0

    def flush() -> None:
        name = f"{SHARD_PREFIX}{len(written) + 1:05d}.safetensors"
        save_file(shard, str(folder / name), metadata=metadata)
        written.append((name, list(shard), size))

    for name, tensor in tensors:
        tensor = tensor.contiguous().cpu()
        if any(t.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr() for t in shard.values()):
            tensor = tensor.clone()          # tied embeddings: safetensors refuses shared storage
        shard[name] = tensor
        size += tensor.numel() * tensor.element_size()
        if size >= shard_bytes:
            flush()
            shard, size = {}, 0
    if shard or not written:
        flush()
    return written


def read_weight_shards(folder: str | Path) -> Iterator[tuple[str, Any]]:
    """The tensors of a shard folder, read one at a time (memory: one tensor)."""
    from safetensors import safe_open

    paths = sorted(Path(folder).glob(f"{SHARD_PREFIX}*.safetensors"))
    if not paths:
        raise FileNotFoundError(f"no {SHARD_PREFIX}*.safetensors weight shards in {folder}")
    for path in paths:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for name in handle.keys():
                yield name, handle.get_tensor(name)


def load_into_runner(model_runner, weights: Iterable[tuple[str, Any]]) -> int:
    """Load checkpoint-format `weights` into a live vLLM model runner; the number of tensors.

    vLLM's CPU backend repacks linear weights into kernel layouts after loading (oneDNN or
    packed GEMM, chosen by the CPU's instruction set) and drops their loaders, so a second
    `model.load_weights` fails on some hosts ("'Parameter' object has no attribute
    'weight_loader'"). `model_runner.reload_weights` (vLLM >= 0.12) restores each layer to
    checkpoint format, loads and re-processes it; older runners take `model.load_weights`.
    """
    count = 0

    def counted():
        nonlocal count
        for item in weights:
            count += 1
            yield item

    if hasattr(model_runner, "reload_weights"):
        model_runner.reload_weights(weights_iterator=counted(), is_checkpoint_format=True)
    else:
        model_runner.model.load_weights(weights=counted())
    return count


class SandmleWorkerExtension:
    """Mixed into each vLLM worker by `--worker-extension-cls`: loads a shard folder.

    Called through the server's `POST /collective_rpc` with the folder's path as the only
    argument (the endpoint passes strings only); answers {"tensors": N} per worker.
    """

    def sandmle_load_weights(self, folder: str) -> dict[str, int]:
        return {"tensors": load_into_runner(self.model_runner, read_weight_shards(folder))}
