"""Compiled Cython kernels (built from csrc/ by `make build`). Only the Python wrappers in
sandmle.metrics and sandmle.reward import from here.

A checkout whose csrc/ changed after the last build (a pull or a rebase without `make
build`) is refused here with the command to run: a kernel added since would otherwise show
up as a missing attribute in the middle of a grade, and a changed one would silently run
the old code. The build records the sha256 of every csrc/ source (`sources.json`, written
by setup.py's build_ext); the check costs well under a millisecond. Installed copies
without csrc/ next to the package (a wheel) are not checked.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sandmle.errors import NativeBuildError

SOURCES_FILE = "sources.json"
_CSRC = Path(__file__).resolve().parents[2] / "csrc"


def source_digests(csrc: Path) -> dict[str, str]:
    """{file name: sha256 hex} of the kernel sources in `csrc` (*.pyx, *.pxd)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(csrc.iterdir()) if p.suffix in (".pyx", ".pxd")}


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


_stale = stale_sources(Path(__file__).resolve().parent, _CSRC)
if _stale:
    raise NativeBuildError(f"sandmle's compiled kernels were built from other sources than csrc/ holds now "
                           f"({', '.join(_stale)}): run `make build` in {_CSRC.parent}")
