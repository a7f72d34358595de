"""The seed library: shipped task DNA, one JSON file per seed in sandmle/synth/seeds/.

Two suites: the 22 MLE-bench-lite competitions ("mle-bench-lite", REFERENCE §8) and common
archetypes ("archetype") that cover what the lite set lacks: forecasting (time series with
seasons, trends, holidays and inputs known ahead; RMSE, MAE, SMAPE, MAPE), graphs (node
classification, link prediction) and metrics (F1, MCC, MAP@K, Spearman,
R2, MAE, RMSLE). `select_seeds` understands:

    None / "all"          every seed
    "lite"                the 22 MLE-bench-lite seeds
    "archetypes"          the archetype seeds
    "modality:tabular"    seeds of one modality (also "metric:auc", "target:binary")
    "a,b,c"               comma-separated ids or globs ("tabular-*"), in the order given
    "my-seed.json"        a seed file (`sandmle seeds from-csv --out`), also inside a list
    "seeds/"              every *.json seed file of a folder, sorted by name
"""
from __future__ import annotations

import fnmatch
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sandmle.errors import UserError
from sandmle.files import existing_file
from sandmle.synth.dna import TaskDNA

SEEDS_PACKAGE = "sandmle.synth"
SEEDS_DIR = "seeds"


@lru_cache(maxsize=1)
def _load() -> tuple[TaskDNA, ...]:
    folder = resources.files(SEEDS_PACKAGE).joinpath(SEEDS_DIR)
    seeds = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        try:
            dna = TaskDNA.from_json(json.loads(entry.read_text(encoding="utf-8")))
        except ValueError as exc:     # a shipped seed that does not load is a bug
            raise RuntimeError(f"seed file {entry.name} is invalid: {exc}") from exc
        if f"{dna.id}.json" != entry.name:
            raise RuntimeError(f"seed file {entry.name} holds id {dna.id!r}")
        seeds.append(dna)
    return tuple(seeds)


def load_seeds() -> dict[str, TaskDNA]:
    """Every shipped seed by id, sorted by id."""
    return {dna.id: dna for dna in _load()}


def get_seed(seed_id: str) -> TaskDNA:
    seeds = load_seeds()
    if seed_id not in seeds:
        raise UserError(f"unknown seed {seed_id!r} (see `sandmle seeds list`)")
    return seeds[seed_id]


def load_seed_file(path: str | Path) -> TaskDNA:
    """One seed from a JSON file (as `sandmle seeds from-csv --out` writes it); a missing or
    malformed file raises UserError."""
    path = existing_file(path, "seed file")
    try:
        return TaskDNA.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"seed file {path} is not JSON: {exc}") from None
    except ValueError as exc:
        raise UserError(f"seed file {path} is not a valid task DNA: {exc}") from None


def _seed_files(part: str) -> list[TaskDNA] | None:
    """The seeds a selector part names as a path (a .json file or a folder), else None."""
    path = Path(part)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise UserError(f"seed folder {path} holds no *.json seed file")
        return [load_seed_file(f) for f in files]
    if part.endswith(".json") or path.is_file():
        return [load_seed_file(path)]
    return None


_FIELDS = {"modality": "modality", "metric": "metric", "target": "target_kind", "suite": "suite"}


def select_seeds(selector: str | None) -> list[TaskDNA]:
    """Seeds named by `selector` (see the module doc); an unknown name raises UserError."""
    seeds = load_seeds()
    if selector is None or selector.strip() in ("", "all"):
        return list(seeds.values())
    selector = selector.strip()
    if selector == "lite":
        return [d for d in seeds.values() if d.suite == "mle-bench-lite"]
    if selector == "archetypes":
        return [d for d in seeds.values() if d.suite == "archetype"]
    if ":" in selector and "," not in selector:
        key, _, value = selector.partition(":")
        if key not in _FIELDS:
            raise UserError(f"seed selector {selector!r}: unknown field {key!r} (use {', '.join(_FIELDS)})")
        chosen = [d for d in seeds.values() if getattr(d, _FIELDS[key]) == value]
        if not chosen:
            raise UserError(f"seed selector {selector!r} matches no seed")
        return chosen
    chosen: list[TaskDNA] = []
    for part in (p.strip() for p in selector.split(",")):
        if not part:
            continue
        matches = fnmatch.filter(seeds, part) if any(c in part for c in "*?[") else ([part] if part in seeds else [])
        found = [seeds[m] for m in matches] or _seed_files(part)
        if not found:
            raise UserError(f"seed selector {part!r} matches no seed (see `sandmle seeds list`)")
        for dna in found:
            clash = next((d for d in chosen if d.id == dna.id), None)
            if clash is None:
                chosen.append(dna)
            elif clash != dna:
                raise UserError(f"two different seeds share the id {dna.id!r} ({part}); "
                                "give one another id (`sandmle seeds from-csv --id`)")
    if not chosen:
        raise UserError(f"seed selector {selector!r} names no seed")
    return chosen
