"""Scripts that run in the sandbox: the reference solutions and calibration's batch runner.

Each script is a module of this folder, so tests import it and an editor follows its names;
a sandbox job runs its text, read as package data. `script_source(name)` is that text;
`with_settings(settings, source)` puts the settings line before it (`CFG = {...}`).

A script module
- reads its settings as `CFG: dict = globals().get("CFG", {})`: in a job the settings line
  has bound them already; imported as a module, it starts with none (tests set them);
- imports numpy, pandas, scipy, scikit-learn, PIL and the standard library, and sandmle only
  as `from sandmle.<module> import ...` lines, which `script_source` replaces by that
  module's text (once each, its own such lines inlined the same way, before it), so the
  script needs no sandmle installation;
- runs under `if __name__ == "__main__":` (the sandbox runs a job's code as `__main__`).

    predict.py     row-per-id tasks: features.py's blocks, one scikit-learn model, the submission
    features.py    tabular, text, image and audio features (inlined into predict.py)
    cache.py       what the solutions of one job share (inlined into the scripts that use it)
    forecast.py    forecasting: naive and seasonal baselines, smoothing, lag-feature models
    graph.py       graphs: node classification, pair scoring and neighbour ranking
    normalise.py   token normalisation: lookup tables and spoken-form rules
    denoise.py     image denoising: filters and per-pixel regressors
    batch.py       several solutions one after another in one sandbox job (`calibrate.run_batch`)
"""
from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

_IMPORT_LINE = re.compile(r"^from (sandmle(?:\.\w+)+) import [\w, ]+$", re.MULTILINE)
_FUTURE_LINE = re.compile(r"^from __future__ import [\w, ]+\n", re.MULTILINE)


@functools.cache
def script_source(name: str) -> str:
    """The text of `<name>.py` as a sandbox job runs it: its sandmle imports inlined.

    Raises FileNotFoundError for an unknown name."""
    return _inline(_module_text(f"{__name__}.{name}"), set())


def with_settings(settings: dict[str, Any], source: str, name: str = "CFG") -> str:
    """`<name> = {...}` (keys sorted) then `source`. Settings must be plain JSON data, so that
    their repr() reads back as the same Python values (raises TypeError otherwise)."""
    json.dumps(settings)
    return f"{name} = {dict(sorted(settings.items()))!r}\n{source}"


def _module_text(module: str) -> str:
    package, _, leaf = module.rpartition(".")
    return resources.files(package).joinpath(f"{leaf}.py").read_text(encoding="utf-8")


def _inline(text: str, seen: set[str]) -> str:
    def replace(match: re.Match) -> str:
        module = match.group(1)
        if module in seen:
            return ""
        seen.add(module)
        return _inline(_FUTURE_LINE.sub("", _module_text(module)), seen).strip("\n")

    return _IMPORT_LINE.sub(replace, text)
