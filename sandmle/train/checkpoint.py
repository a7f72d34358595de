"""Checkpoints that resume a run exactly: written atomically, the last K kept.

A checkpoint is a folder `RUN/checkpoints/step-NNNNNN/` holding what `Accelerator.save_state`
writes (model weights, optimizer, LR scheduler, each process's RNG states: python, numpy,
torch, CUDA) plus `trainer.json` (the step, the task sampler's order and position, the
metrics history length, the recipe), and for language models `model/`, the policy as a
Hugging Face model folder (`sandmle.train.export`). It is written under a temporary name and renamed into
place by the main process once every process has finished writing, so a killed run leaves
either the previous checkpoint or the new one, never half of one. `latest_checkpoint`
ignores temporary folders.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any, Callable

from sandmle.task import write_json_atomic

STATE_FILE = "trainer.json"
_NAME = re.compile(r"^step-(\d{6,})$")


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(accelerator, run_dir: Path, step: int, state: dict[str, Any], keep_last: int,
                    extra: Callable[[Path], Any] | None = None) -> Path:
    """Save the accelerator's state and `state` as checkpoint `step`; prune to `keep_last`.
    `extra(folder)` runs on every process before the rename and may add to the folder (the
    model folder, `sandmle.train.export`)."""
    root = checkpoint_dir(run_dir)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    # tied embeddings are saved once; accelerate warns about it at every save
    quiet = logging.getLogger("accelerate.utils.other")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        accelerator.save_state(str(tmp))
    finally:
        quiet.setLevel(level)
    if extra is not None:
        extra(tmp)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json_atomic(tmp / STATE_FILE, {"step": step, **state})
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in list_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, path: Path) -> dict[str, Any]:
    """Restore the accelerator's objects and RNG states from `path`; return trainer.json."""
    accelerator.load_state(str(path))
    return json.loads((Path(path) / STATE_FILE).read_text(encoding="utf-8"))


def log_and_save(run, row: dict, target: int, every: int) -> None:
    """After a step of `run` (a GRPO or SFT trainer: .logger, .accelerator, .step, .save()):
    log `row` on the main process, and checkpoint every `every` steps (0: never) and at `target`."""
    if run.logger is not None and run.accelerator.is_main_process:
        run.logger.log(row)
    if (every and run.step % every == 0) or run.step == target:
        run.save()
