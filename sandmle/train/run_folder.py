"""Whether a training command may write into a run folder, and the run's metadata.

    check_continuation(cfg, run_dir, recipe, override_config)
        before anything is built: a folder holding another recipe's run, or a checkpoint of
        another model, is refused; a run of this recipe whose stored config differs from the
        new one (`--set`, an edited recipe) is refused unless `override_config`, and the
        refusal lists every changed value. Returns the changes that will apply.
    write_run_metadata(run_dir, recipe, changes)
        RUN/run.json: the recipe, the sandmle version and when the run started, and each
        continuation with the values it changed

The stored config is RUN/config.json (what the last command trained with), else the latest
checkpoint's. Settings that change how a run is shown or how fast it goes, not what it
learns ([log], worker counts, the attention implementation), may change freely.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sandmle.errors import UserError

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
FREE_SECTIONS = ("log",)
FREE_KEYS = ("rollout.workers", "bank.workers", "model.attention")
# A checkpoint of another network cannot be loaded, whatever --override-config says.
MODEL_KEYS = ("model.kind", "model.path", "model.hidden_size", "model.lora_rank", "model.lora_alpha",
              "model.lora_target_modules")


def stored_config(run_dir: Path) -> dict[str, Any] | None:
    """The config the run folder was last trained with; None for a folder with no run."""
    from sandmle.train.checkpoint import STATE_FILE, latest_checkpoint

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        checkpoint = latest_checkpoint(run_dir)
        if checkpoint is None:
            return None
        path = checkpoint / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} cannot be read ({exc}): it is not a run sandmle can continue") from None
    return data.get("config", data) if path.name != CONFIG_FILE else data


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(section.key, old value, new value) for every value that differs."""
    changes = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section) or {}, new.get(section) or {}
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                changes.append((f"{section}.{key}", a.get(key), b.get(key)))
    return changes


def describe(changes: list[tuple[str, Any, Any]]) -> str:
    return "; ".join(f"{name} {json.dumps(a)} -> {json.dumps(b)}" for name, a, b in changes)


def check_continuation(cfg, run_dir: Path, recipe: str | None, override_config: bool
                       ) -> list[tuple[str, Any, Any]]:
    """Refuse what may not continue in `run_dir` (see the module docstring); the changed
    values that will apply (empty for a new run or an unchanged one)."""
    run_dir = Path(run_dir)
    meta = read_run_metadata(run_dir)
    if recipe is not None and meta.get("recipe") not in (None, recipe):
        raise UserError(f"{run_dir} holds a run of recipe {meta['recipe']!r}, not {recipe!r}: choose another --out")
    old = stored_config(run_dir)
    if old is None:
        return []
    old = _with_defaults(old)
    changes = [c for c in config_changes(old, cfg.to_json())
               if c[0].split(".")[0] not in FREE_SECTIONS and c[0] not in FREE_KEYS]
    model = [c for c in changes if c[0] in MODEL_KEYS]
    if model:
        raise UserError(f"{run_dir} holds a run of another model ({describe(model)}): its checkpoints cannot "
                        "be loaded; choose another --out")
    if changes and not override_config:
        raise UserError(f"{run_dir} was trained with other values: {describe(changes)}. Pass --override-config "
                        "to continue it with the new ones, or choose another --out")
    return changes


def _with_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored config with the defaults of keys and sections added since it was written."""
    from sandmle.train.config import RunConfig

    try:
        return RunConfig.from_dict(stored).to_json()
    except (UserError, TypeError, ValueError):     # a key since removed: compare as stored
        return stored


def read_run_metadata(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from None


def write_run_metadata(run_dir: Path, recipe: str | None, changes: list[tuple[str, Any, Any]],
                       step: int = 0) -> dict[str, Any]:
    """Write RUN/run.json (see the module docstring); returns what it holds."""
    from sandmle import __version__
    from sandmle.task import write_json_atomic

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta = read_run_metadata(run_dir)
    if not meta:
        meta = {"recipe": recipe, "sandmle_version": __version__, "created_at": now, "continued": []}
    elif step or changes:
        meta.setdefault("continued", []).append({
            "at": now, "from_step": step, "sandmle_version": __version__,
            "changed": {name: {"old": a, "new": b} for name, a, b in changes}})
    write_json_atomic(Path(run_dir) / RUN_FILE, meta)
    return meta
