"""Compiled Cython kernels (built from csrc/ by `make build`). Only the Python wrappers in
sandmle.metrics, sandmle.reward, sandmle.grading.plain and sandmle.train.attention import from here.

A checkout whose csrc/ changed after the last build (a pull or a rebase without `make
build`) is refused here with the command to run: a kernel added since would otherwise show
up as a missing attribute in the middle of a grade, and a changed one would silently run
the old code. The build records the sha256 of every csrc/ source (`sources.json`, written
by setup.py's build_ext through sandmle._native.sources); the check costs well under a millisecond. Installed copies
without csrc/ next to the package (a wheel) are not checked.
"""
from __future__ import annotations

from pathlib import Path

from sandmle._native.sources import SOURCES_FILE, source_digests, stale_sources
from sandmle.errors import NativeBuildError

__all__ = ["SOURCES_FILE", "source_digests", "stale_sources"]
_CSRC = Path(__file__).resolve().parents[2] / "csrc"

_stale = stale_sources(Path(__file__).resolve().parent, _CSRC)
if _stale:
    raise NativeBuildError(f"sandmle's compiled kernels were built from other sources than csrc/ holds now "
                           f"({', '.join(_stale)}): run `make build` in {_CSRC.parent}")
