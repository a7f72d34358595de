"""Which csrc/ sources the compiled kernels were built from: setup.py's build_ext writes the
record (`write_record`), sandmle._native compares it at import (`stale_sources`).
Standard library only: setup.py loads this file by path, before the package it builds exists."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

SOURCES_FILE = "sources.json"


def source_digests(csrc: Path) -> dict[str, str]:
    """{file name: sha256 hex} of the kernel sources in `csrc` (*.pyx, *.pxd)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(csrc.iterdir()) if p.suffix in (".pyx", ".pxd")}


def write_record(native_dir: Path, csrc: Path) -> None:
    """Record `csrc`'s digests next to the kernels built from it (temp file, then rename)."""
    native_dir.mkdir(parents=True, exist_ok=True)
    tmp = native_dir / (SOURCES_FILE + ".tmp")
    tmp.write_text(json.dumps(source_digests(csrc), indent=1, sort_keys=True) + "\n")
    tmp.replace(native_dir / SOURCES_FILE)


def stale_sources(native_dir: Path, csrc: Path) -> list[str]:
    """The csrc/ files that differ from the ones the kernels in `native_dir` were built from
    ("(no build record)" when the build left none); [] when csrc/ is absent."""
    if not csrc.is_dir():
        return []
    try:
        built = json.loads((native_dir / SOURCES_FILE).read_text())
    except (OSError, ValueError):
        return ["(no build record)"]
    now = source_digests(csrc)
    return sorted(name for name in set(now) | set(built) if now.get(name) != built.get(name))
