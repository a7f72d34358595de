"""Reference solutions for the two tasks with their own layouts.

Token normalisation (modality "sequence"): copy baselines, lookup tables learnt from
train.csv, regular-expression classes with spoken-form rules for some or all classes, and
three ways to read a year-like number (always a year, never, or by the previous word as
learnt from train.csv). Image-to-image denoising: constants, identity, global linear maps,
thresholds, median/Gaussian filters, background division, and per-pixel regressors (ridge,
forests, extra trees, boosting, k-NN, MLP) on neighbourhood features.
"""
from __future__ import annotations

from importlib import resources

from sandmle.synth import scripts
from sandmle.synth.solutions import Solution, _script
from sandmle.task import TaskSpec

_ALL_RULES = ["CARDINAL", "ORDINAL", "DATE", "TIME", "MONEY", "MEASURE", "LETTERS"]

# (name, family, strength, settings)
_NORMALISE = [
    ("copy_before", "constant", "weak", {}),
    ("copy_lowercase", "constant", "weak", {"lowercase": True}),
    ("lookup_exact", "lookup", "medium", {"memory": True}),
    ("lookup_min2", "lookup", "medium", {"memory": True, "min_count": 2}),
    ("lookup_lowercase_key", "lookup", "medium", {"memory": True, "lower_key": True}),
    ("rules_cardinal_only", "rules", "weak", {"rules": ["CARDINAL"]}),
    ("lookup_cardinal", "rules", "medium", {"memory": True, "rules": ["CARDINAL"]}),
    ("lookup_cardinal_ordinal", "rules", "medium", {"memory": True, "rules": ["CARDINAL", "ORDINAL"]}),
    ("lookup_cardinal_money", "rules", "medium", {"memory": True, "rules": ["CARDINAL", "MONEY"]}),
    ("lookup_cardinal_measure", "rules", "medium", {"memory": True, "rules": ["CARDINAL", "MEASURE"]}),
    ("lookup_numbers_time", "rules", "medium", {"memory": True, "rules": ["CARDINAL", "ORDINAL", "TIME"]}),
    ("lookup_numbers_date", "rules", "medium", {"memory": True, "rules": ["CARDINAL", "ORDINAL", "DATE"]}),
    ("rules_all_year_cardinal", "rules", "strong", {"memory": True, "rules": _ALL_RULES, "year_mode": "cardinal"}),
    ("rules_all_year_date", "rules", "strong", {"memory": True, "rules": _ALL_RULES, "year_mode": "date"}),
    ("rules_all_year_context", "rules", "strong", {"memory": True, "rules": _ALL_RULES, "year_mode": "context"}),
    ("rules_all_no_lookup", "rules", "strong", {"rules": _ALL_RULES, "year_mode": "context"}),
    ("rules_no_letters", "rules", "strong", {"memory": True, "rules": _ALL_RULES[:-1], "year_mode": "context"}),
    ("rules_no_money_measure", "rules", "medium",
     {"memory": True, "rules": ["CARDINAL", "ORDINAL", "DATE", "TIME", "LETTERS"], "year_mode": "context"}),
    ("rules_digit_by_digit", "rules", "weak", {"memory": True, "rules": _ALL_RULES, "digits": True}),
    ("rules_hundred_and", "rules", "medium", {"memory": True, "rules": _ALL_RULES, "year_mode": "context",
                                              "hundred_and": True}),
    ("lookup_letters", "rules", "medium", {"memory": True, "rules": ["LETTERS"]}),
    ("rules_all_lowercase_lookup", "rules", "strong", {"memory": True, "lower_key": True, "rules": _ALL_RULES,
                                                       "year_mode": "date"}),
]

_DENOISE = [
    ("constant_mean", "constant", "weak", "constant", {}),
    ("identity", "constant", "weak", "identity", {}),
    ("linear_global", "linear", "weak", "linear_global", {}),
    ("threshold_0.5", "rules", "medium", "threshold", {"t": 0.5}),
    ("threshold_0.35_ink", "rules", "medium", "threshold", {"t": 0.35, "ink": 0.6}),
    ("median_3", "filter", "weak", "median", {"size": 3}),
    ("median_5", "filter", "weak", "median", {"size": 5}),
    ("gaussian_0.7", "filter", "weak", "gauss", {"sigma": 0.7}),
    ("background_ratio_7", "rules", "medium", "background", {"size": 7, "t": 0.75}),
    ("background_ratio_11", "rules", "medium", "background", {"size": 11, "t": 0.7, "ink": 0.4}),
    ("ridge_r1", "linear", "medium", "ridge", {"radius": 1}),
    ("ridge_r2", "linear", "medium", "ridge", {"radius": 2}),
    ("knn_15_r1", "knn", "medium", "knn", {"radius": 1, "k": 15, "max_pixels": 3000}),
    ("forest_30_r1", "forest", "strong", "forest", {"radius": 1, "n": 30, "max_pixels": 3000}),
    ("forest_40_r2", "forest", "strong", "forest", {"radius": 2, "n": 40, "max_pixels": 2500}),
    ("extra_40_r1", "forest", "strong", "extra", {"radius": 1, "n": 40, "max_pixels": 3000}),
    ("extra_30_r2_leaf1", "forest", "strong", "extra", {"radius": 2, "n": 30, "leaf": 1, "max_pixels": 2500}),
    ("hgb_60_r1", "boosting", "strong", "hgb", {"radius": 1, "n": 60, "max_pixels": 4000}),
    ("hgb_100_r2", "boosting", "strong", "hgb", {"radius": 2, "n": 100, "lr": 0.08, "max_pixels": 4000}),
    ("mlp_32_r1", "mlp", "medium", "mlp", {"radius": 1, "units": 32, "max_pixels": 3000}),
    ("forest_10_r0", "forest", "weak", "forest", {"radius": 0, "n": 10, "max_pixels": 2000}),
    ("ridge_r0", "linear", "weak", "ridge", {"radius": 0}),
]


def _numbers_source() -> str:
    text = resources.files("sandmle.synth.generators").joinpath("numbers.py").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith("from __future__"))


def normalisation_solutions(spec: TaskSpec) -> list[Solution]:
    lang = (spec.lineage.dna or {}).get("language", "en")
    body = _numbers_source() + "\n" + scripts.NORMALISE_BODY
    out = []
    for name, family, strength, settings in _NORMALISE:
        cfg = {"lang": lang, "memory": False, "min_count": 1, "lower_key": False, "rules": [],
               "year_mode": "cardinal", "digits": False, "hundred_and": False, "lowercase": False}
        cfg.update(settings)
        out.append(Solution(name, family, strength, _script(cfg, body)))
    return out


def denoising_solutions(spec: TaskSpec) -> list[Solution]:
    return [Solution(name, family, strength, _script({"method": method, "params": params}, scripts.DENOISE))
            for name, family, strength, method, params in _DENOISE]
