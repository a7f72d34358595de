"""Reference solutions: a population of >= 20 diverse scripts per task.

`reference_solutions(spec)` returns scripts for the task's modality and metric kind: model
families (constant, linear, polynomial features, k-NN, trees, forests, gradient boosting,
AdaBoost, SVM, MLP, naive Bayes), hyperparameters from heavily regularised to flexible,
feature handling (one-hot categories, one column only, text n-grams of words or
characters, image pixels / colour histograms / edge statistics / a segmented object's
description, audio band energies / spectrogram slices / a description of the loudest call)
and learning-curve entries that fit only a share of the rows. Some are deliberately weak.
Token normalisation (modality "sequence"): copy baselines, lookup tables learnt from
train.csv, regular-expression classes with spoken-form rules for some or all classes, and
three ways to read a year-like number (always a year, never, or by the previous word as
learnt from train.csv). Image-to-image denoising: constants, identity, global linear maps,
thresholds, median/Gaussian filters, background division, and per-pixel regressors (ridge,
forests, extra trees, boosting, k-NN, MLP) on neighbourhood features.

Each solution is a script of `sandmle.synth.solution_scripts` (predict, normalise, denoise)
after its settings line, `CFG = {...}`: it reads ./input/ and writes ./submission.csv in
the sample submission's layout. Calibration runs them to build a leaderboard, and the
scripted agent policy draws from them on any task folder.
"""
from __future__ import annotations

from dataclasses import dataclass

from sandmle.metrics.registry import METRICS
from sandmle.synth.solution_scripts import script_source, with_settings
from sandmle.task import TaskSpec

STRENGTHS = ("weak", "medium", "strong")


@dataclass(frozen=True)
class Solution:
    name: str
    family: str
    strength: str
    code: str
    inputs: str = ""        # which features it reads: calibration runs solutions that share them in one job

    def __post_init__(self) -> None:
        if self.strength not in STRENGTHS:
            raise ValueError(f"strength must be one of {STRENGTHS}, got {self.strength!r}")


# (name, family, strength, model, params, feature overrides)
# Table tasks. Chosen on 60 generated tasks of the 15 tabular seeds, from 47 candidates, for
# verified tasks per second of sandbox time: these 21 entries' scores spread out, so that
# adjacent medal tiers stay apart on the test set. 75% of those tasks passed verification,
# against 62% with the previous 28-entry population, at 42% of its sandbox time. Competitors
# differ in how much signal they extract: besides families and settings, three entries fit
# only a share of the rows (a learning-curve ladder).
_TABULAR = [
    ("constant_prior", "constant", "weak", "constant", {}, {}),
    ("one_feature_linear", "linear", "weak", "linear", {"C": 1.0}, {"tabular": "first_numeric"}),
    ("linear_C0.01", "linear", "weak", "linear", {"C": 0.01}, {}),
    ("linear_C1", "linear", "medium", "linear", {"C": 1.0}, {}),
    ("poly2_numeric", "linear", "medium", "poly2", {"C": 0.1}, {"tabular": "numeric"}),
    ("knn_5", "knn", "medium", "knn", {"k": 5, "weights": "distance"}, {}),
    ("knn_15", "knn", "medium", "knn", {"k": 15, "weights": "distance"}, {}),
    ("knn_25", "knn", "weak", "knn", {"k": 25}, {}),
    ("tree_depth3", "tree", "weak", "tree", {"depth": 3}, {}),
    ("tree_depth5", "tree", "weak", "tree", {"depth": 5}, {}),
    ("tree_full", "tree", "medium", "tree", {"depth": None}, {}),
    ("forest_40", "forest", "strong", "forest", {"n": 40}, {}),
    ("forest_40_rows35", "forest", "weak", "forest", {"n": 40}, {"rows": 0.35}),
    ("gbm_100_d2_lr0.1", "boosting", "strong", "gbm", {"n": 100, "lr": 0.1, "depth": 2, "subsample": 0.8}, {}),
    ("adaboost_30", "boosting", "medium", "adaboost", {"n": 30}, {}),
    ("svm_rbf_C1", "svm", "medium", "svm", {"C": 1.0}, {}),
    ("svm_rbf_C10", "svm", "strong", "svm", {"C": 10.0}, {}),
    ("svm_rbf_C10_rows25", "svm", "weak", "svm", {"C": 10.0}, {"rows": 0.25}),
    ("svm_rbf_C10_rows50", "svm", "medium", "svm", {"C": 10.0}, {"rows": 0.5}),
    ("mlp_32_lbfgs", "mlp", "medium", "mlp", {"units": 32, "alpha": 1e-2, "solver": "lbfgs", "iters": 300}, {}),
    ("naive_bayes", "nb", "medium", "nb", {}, {}),
]

# Image, audio and multimodal tasks. Feature overrides pick what each model reads: colour
# histograms, downsampled pixels or edge statistics of images; band energies, spectrogram
# slices or summary statistics of clips; or a description of the object in the image (its
# colour, size, elongation, texture, spots and background) and of the loudest call in the
# clip (pitch, sweep, loudness, harmonic, number of calls, hum). Models on generic features
# score close together; those on object and call descriptions spread out above them, so
# adjacent medal tiers stay apart; near-duplicates at the top (the same features under
# similar linear models) were left out, and one model fits only 60% of the rows. Chosen
# like `_TABULAR`, on 21 image and 8 audio tasks from 48 candidates; an SVM on object
# descriptions was left out later: without it, 44 instead of 39 of 70 image test sets
# (35 tasks, each scored at 1x and 1.5x the seed's size) separated their tiers.
_OBJECT = {"image": "object", "audio": "calls"}
_MEDIA = [
    ("constant_prior", "constant", "weak", "constant", {}, {}),
    ("one_feature_linear", "linear", "weak", "linear", {"C": 1.0}, {"image": "hist", "audio": "stats"}),
    ("linear_C0.01", "linear", "weak", "linear", {"C": 0.01}, {}),
    ("linear_C1", "linear", "medium", "linear", {"C": 1.0}, {}),
    ("linear_numeric_only", "linear", "weak", "linear", {"C": 1.0}, {"image": "pixels", "audio": "bands"}),
    ("linear_object", "linear", "strong", "linear", {"C": 1.0}, _OBJECT),
    ("linear_object_hist", "linear", "strong", "linear", {"C": 1.0}, {"image": "object+hist", "audio": "calls+bands"}),
    ("linear_object_rows60", "linear", "medium", "linear", {"C": 1.0}, dict(_OBJECT, rows=0.6)),
    ("knn_5", "knn", "medium", "knn", {"k": 5, "weights": "distance"}, {}),
    ("knn_25", "knn", "weak", "knn", {"k": 25}, {}),
    ("knn_15_object", "knn", "medium", "knn", {"k": 15, "weights": "distance"}, _OBJECT),
    ("tree_depth3", "tree", "weak", "tree", {"depth": 3}, {}),
    ("tree_depth3_object", "tree", "weak", "tree", {"depth": 3}, _OBJECT),
    ("forest_depth3_50", "forest", "weak", "forest", {"n": 50, "depth": 3}, {}),
    ("forest_40_object", "forest", "strong", "forest", {"n": 40}, _OBJECT),
    ("forest_40_object_rows35", "forest", "medium", "forest", {"n": 40}, dict(_OBJECT, rows=0.35)),
    ("gbm_100_d2_lr0.1", "boosting", "medium", "gbm", {"n": 100, "lr": 0.1, "depth": 2, "subsample": 0.8}, {}),
    ("svm_rbf_C10_hist", "svm", "medium", "svm", {"C": 10.0}, {"image": "hist", "audio": "bands"}),
    ("svm_C10_object_rows50", "svm", "medium", "svm", {"C": 10.0}, dict(_OBJECT, rows=0.5)),
    ("mlp_32_lbfgs", "mlp", "medium", "mlp", {"units": 32, "alpha": 1e-2, "solver": "lbfgs", "iters": 300}, {}),
    ("naive_bayes", "nb", "weak", "nb", {}, {}),
]

# Text tasks. The two tree ensembles on counts fit 100 trees, not 200: 12 text tasks went from
# 7.09 to 5.81 core-s per verified task with acceptance unchanged (12 of 13 attempts both times,
# `sandmle bench synth --modalities text --modality-tasks 12`, load 1.5-2.2); they were a quarter
# of a text job's fits.
_TEXT = [
    ("constant_prior", "constant", "weak", "constant", {}, {}),
    ("length_linear", "linear", "weak", "linear", {"C": 1.0}, {"text": "length", "tabular": "none"}),
    ("tabular_only_forest", "forest", "weak", "forest", {"n": 100}, {"text": "none"}),
    ("nb_counts", "nb", "medium", "nb", {"alpha": 1.0}, {"text": "count1", "tabular": "none"}),
    ("nb_tfidf_word12", "nb", "medium", "nb", {"alpha": 0.3}, {"text": "word12", "tabular": "none"}),
    ("complement_nb_word1", "nb", "medium", "cnb", {"alpha": 0.5}, {"text": "word1", "tabular": "none"}),
    ("nb_char", "nb", "medium", "nb", {"alpha": 0.3}, {"text": "char", "tabular": "none"}),
    ("logreg_word1_C1", "linear", "medium", "linear", {"C": 1.0}, {"text": "word1"}),
    ("logreg_word1_C10", "linear", "medium", "linear", {"C": 10.0}, {"text": "word1"}),
    ("logreg_word12_C0.1", "linear", "weak", "linear", {"C": 0.1}, {"text": "word12"}),
    ("logreg_word12_C10", "linear", "strong", "linear", {"C": 10.0}, {"text": "word12"}),
    ("logreg_char_C10", "linear", "strong", "linear", {"C": 10.0}, {"text": "char"}),
    ("logreg_counts12_C1", "linear", "medium", "linear", {"C": 1.0}, {"text": "count12"}),
    ("linear_svm_word12", "svm", "strong", "linsvm", {"C": 0.5}, {"text": "word12"}),
    ("linear_svm_char", "svm", "strong", "linsvm", {"C": 0.5}, {"text": "char"}),
    ("ridge_classifier_word12", "linear", "medium", "ridgeclf", {"alpha": 1.0}, {"text": "word12"}),
    ("sgd_huber_word12", "linear", "medium", "sgd", {"alpha": 1e-4}, {"text": "word12"}),
    ("knn_10_word1", "knn", "weak", "knn", {"k": 10}, {"text": "word1"}),
    ("tree_depth5_counts", "tree", "weak", "tree", {"depth": 5}, {"text": "count1"}),
    ("forest_100_counts", "forest", "medium", "forest", {"n": 100}, {"text": "count1"}),
    ("extra_trees_100_counts12", "forest", "medium", "extra", {"n": 100}, {"text": "count12"}),
    ("gbm_100_counts", "boosting", "medium", "gbm", {"n": 100, "lr": 0.1, "depth": 3}, {"text": "count1"}),
    ("mlp_32_word1", "mlp", "medium", "mlp", {"units": 32, "alpha": 1e-3}, {"text": "word1"}),
    ("logreg_word12_C10_rows25", "linear", "weak", "linear", {"C": 10.0}, {"text": "word12", "rows": 0.25}),
    ("logreg_word12_C10_rows50", "linear", "medium", "linear", {"C": 10.0}, {"text": "word12", "rows": 0.5}),
]

# On ordinal targets these regress the grade and round it; the others classify.
_ORDINAL_REGRESS = {"linear_C1", "gbm_100_d2_lr0.1", "svm_rbf_C10", "logreg_word12_C10"}

_FEATURE_DEFAULTS = {"tabular": "onehot", "text": "word12", "image": "all", "audio": "all"}


def _base_cfg(spec: TaskSpec) -> dict:
    kind = METRICS[spec.metric].kind
    cfg = {"id_column": spec.id_column, "kind": kind, "metric": spec.metric, "classes": list(spec.classes),
           "k": int(spec.metric_params.get("k", 5)),
           "log_target": spec.metric in ("rmsle", "mean_column_rmsle")}
    return cfg


def _scaled_params(model: str, params: dict, spec: TaskSpec) -> dict:
    """Fewer boosting rounds where each round fits one tree per class (keeps scripts < ~1 s)."""
    classes = len(spec.classes)
    if model in ("gbm", "adaboost") and classes > 3 and METRICS[spec.metric].kind != "multilabel_proba":
        params = dict(params, n=max(30, params["n"] * 3 // classes))
    return params


def _population(spec: TaskSpec, rows: list) -> list[Solution]:
    base = _base_cfg(spec)
    body = script_source("predict")
    out = []
    for name, family, strength, model, params, overrides in rows:
        cfg = dict(base, **_FEATURE_DEFAULTS, model=model, params=_scaled_params(model, params, spec))
        cfg.update(overrides)
        if spec.metric in ("log_loss", "multiclass_log_loss") and not name.endswith(("C10", "full", "counts")):
            cfg["shrink"] = 0.3
        if cfg["kind"] == "ordinal":
            cfg["ordinal"] = "regress" if name in _ORDINAL_REGRESS else "classify"
        inputs = f"{cfg['image']}/{cfg['audio']}/{cfg['text']}/{cfg.get('rows', 1.0) if cfg['text'] != 'none' else ''}"
        out.append(Solution(name, family, strength, with_settings(cfg, body), inputs))
    return out


# ---- the two tasks with their own layouts ----------------------------------------------------

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


# Forecasting: baselines a forecaster tries first (the median, the last value, drift, the
# last season, seasonal means, exponential smoothing), linear models on calendar features,
# and boosted trees, forests and k-NN on lag features (values at least one horizon back),
# with and without the inputs known in advance and the holidays, and two fitted on the
# recent history only.
_LAGS = ["lags", "calendar", "inputs", "holidays"]
_FORECAST = [
    ("constant_median", "constant", "weak", {"method": "constant"}),
    ("series_mean", "constant", "weak", {"method": "series_mean", "window": None}),
    ("naive_last", "naive", "weak", {"method": "naive"}),
    ("drift", "naive", "weak", {"method": "drift"}),
    ("seasonal_naive", "naive", "medium", {"method": "seasonal_naive"}),
    ("seasonal_mean_2", "naive", "medium", {"method": "seasonal_mean", "seasons": 2}),
    ("seasonal_mean_4", "naive", "medium", {"method": "seasonal_mean", "seasons": 4}),
    ("ses_seasonal_0.3", "smoothing", "medium", {"method": "ses", "alpha": 0.3}),
    ("ses_seasonal_0.7", "smoothing", "medium", {"method": "ses", "alpha": 0.7}),
    ("ridge_calendar", "linear", "medium", {"model": "ridge", "features": ["calendar", "inputs", "holidays"]}),
    ("ridge_calendar_only", "linear", "weak", {"model": "ridge", "features": ["calendar"]}),
    ("ridge_lags", "linear", "medium", {"model": "ridge", "features": _LAGS}),
    ("gbm_lags_d2", "boosting", "strong", {"model": "gbm", "params": {"n": 150, "depth": 2}, "features": _LAGS}),
    ("gbm_lags_d3", "boosting", "strong", {"model": "gbm", "params": {"n": 120, "depth": 3}, "features": _LAGS}),
    ("gbm_lags_d2_lr0.05", "boosting", "strong", {"model": "gbm", "params": {"n": 200, "depth": 2, "lr": 0.05},
                                                  "features": _LAGS}),
    ("gbm_calendar", "boosting", "strong", {"model": "gbm", "params": {"n": 150, "depth": 3},
                                            "features": ["calendar", "inputs", "holidays"]}),
    ("gbm_lags_no_inputs", "boosting", "medium", {"model": "gbm", "params": {"n": 150, "depth": 2},
                                                  "features": ["lags", "calendar"]}),
    ("forest_lags", "forest", "strong", {"model": "forest", "params": {"n": 60}, "features": _LAGS}),
    ("extra_lags", "forest", "medium", {"model": "extra", "params": {"n": 60}, "features": _LAGS}),
    ("knn_lags", "knn", "weak", {"model": "knn", "params": {"k": 10}, "features": _LAGS}),
    ("ridge_lags_recent50", "linear", "weak", {"model": "ridge", "features": _LAGS, "rows": 0.5}),
    ("gbm_lags_recent35", "boosting", "medium", {"model": "gbm", "params": {"n": 150, "depth": 2},
                                                 "features": _LAGS, "rows": 0.35}),
]


def forecasting_solutions(spec: TaskSpec) -> list[Solution]:
    body = script_source("forecast")
    out = []
    for name, family, strength, settings in _FORECAST:
        cfg = {"id_column": spec.id_column, "method": "regression", **settings}
        out.append(Solution(name, family, strength, with_settings(cfg, body)))
    return out


# Graphs. Node tasks: the label prior, degrees, a node's own measures under several models,
# then neighbourhood aggregation (mean measures of the neighbours over one or two hops) and
# label propagation (shares of the labelled neighbours' classes), plus learning-curve
# entries. Link tasks: the classic scores (preferential attachment, common neighbours,
# Jaccard, Adamic-Adar, resource allocation, Katz, a spectral embedding, measure
# similarity) and models fitted on all of them.
_GRAPH_NODE = [
    ("constant_prior", "constant", "weak", {"inputs": "own", "model": "constant"}),
    ("degree_linear", "linear", "weak", {"inputs": "degree", "model": "linear"}),
    ("own_linear_C0.1", "linear", "weak", {"inputs": "own", "model": "linear", "params": {"C": 0.1}}),
    ("own_linear_C1", "linear", "medium", {"inputs": "own", "model": "linear"}),
    ("own_linear_rows35", "linear", "weak", {"inputs": "own", "model": "linear", "rows": 0.35}),
    ("own_knn_15", "knn", "weak", {"inputs": "own", "model": "knn", "params": {"k": 15}}),
    ("own_forest_100", "forest", "medium", {"inputs": "own", "model": "forest", "params": {"n": 100, "leaf": 2}}),
    ("own_gbm_60", "boosting", "medium", {"inputs": "own", "model": "gbm", "params": {"n": 60}}),
    ("own_mlp_32", "mlp", "medium", {"inputs": "own", "model": "mlp", "params": {"units": 32}}),
    ("neighbours_linear", "aggregation", "medium", {"inputs": "neighbours", "model": "linear", "hops": 1}),
    ("neighbours2_linear", "aggregation", "strong", {"inputs": "neighbours", "model": "linear", "hops": 2}),
    ("neighbours_forest", "aggregation", "strong", {"inputs": "neighbours", "model": "forest",
                                                    "params": {"n": 100, "leaf": 2}, "hops": 1}),
    ("neighbours2_gbm", "aggregation", "strong", {"inputs": "neighbours", "model": "gbm", "params": {"n": 60},
                                                  "hops": 2}),
    ("neighbours_knn_15", "aggregation", "medium", {"inputs": "neighbours", "model": "knn", "params": {"k": 15},
                                                    "hops": 1}),
    ("neighbours2_linear_rows50", "aggregation", "medium", {"inputs": "neighbours", "model": "linear", "hops": 2,
                                                            "rows": 0.5}),
    ("propagation_1hop", "propagation", "medium", {"inputs": "propagation", "model": "linear", "hops": 1}),
    ("propagation_3hop", "propagation", "strong", {"inputs": "propagation", "model": "linear", "hops": 3}),
    ("labels_linear", "propagation", "strong", {"inputs": "labels", "model": "linear", "hops": 1}),
    ("labels2_linear", "propagation", "strong", {"inputs": "labels", "model": "linear", "hops": 2}),
    ("labels2_forest", "propagation", "strong", {"inputs": "labels", "model": "forest", "params": {"n": 100, "leaf": 2},
                                                 "hops": 2}),
    ("labels2_linear_rows35", "propagation", "medium", {"inputs": "labels", "model": "linear", "hops": 2,
                                                        "rows": 0.35}),
]
_GRAPH_LINK = [
    ("constant", "constant", "weak", {"score": "constant"}),
    ("preferential_attachment", "heuristic", "weak", {"score": "degree"}),
    ("common_neighbours", "heuristic", "medium", {"score": "common"}),
    ("jaccard", "heuristic", "medium", {"score": "jaccard"}),
    ("adamic_adar", "heuristic", "medium", {"score": "adamic_adar"}),
    ("resource_allocation", "heuristic", "medium", {"score": "resource"}),
    ("katz_3", "heuristic", "medium", {"score": "katz"}),
    ("spectral_4", "embedding", "weak", {"score": "spectral", "dims": 4}),
    ("spectral_8", "embedding", "medium", {"score": "spectral", "dims": 8}),
    ("spectral_16", "embedding", "medium", {"score": "spectral", "dims": 16}),
    ("feature_similarity", "features", "weak", {"score": "features"}),
    ("learned_linear_C0.1", "learned", "medium", {"score": "learned", "model": "linear", "params": {"C": 0.1}}),
    ("learned_linear", "learned", "strong", {"score": "learned", "model": "linear"}),
    ("learned_linear_rows50", "learned", "medium", {"score": "learned", "model": "linear", "rows": 0.5}),
    ("learned_forest_60", "learned", "strong", {"score": "learned", "model": "forest", "params": {"n": 60, "leaf": 3}}),
    ("learned_forest_rows35", "learned", "medium", {"score": "learned", "model": "forest",
                                                    "params": {"n": 60, "leaf": 3}, "rows": 0.35}),
    ("learned_gbm_d2", "learned", "strong", {"score": "learned", "model": "gbm", "params": {"n": 60}}),
    ("learned_gbm_d3", "learned", "strong", {"score": "learned", "model": "gbm", "params": {"n": 60, "depth": 3}}),
    ("learned_knn_25", "learned", "weak", {"score": "learned", "model": "knn", "params": {"k": 25}}),
    ("learned_mlp_16", "learned", "medium", {"score": "learned", "model": "mlp", "params": {"units": 16}}),
]


def graph_solutions(spec: TaskSpec) -> list[Solution]:
    dna = spec.lineage.dna or {}
    task = dna.get("graph", {}).get("task", "node")
    kind = METRICS[spec.metric].kind
    body = script_source("graph")
    rows = _GRAPH_NODE if task == "node" else _GRAPH_LINK
    base = {"id_column": spec.id_column, "kind": kind, "k": int(spec.metric_params.get("k", 5)), "model": "constant"}
    return [Solution(name, family, strength, with_settings({**base, **settings}, body))
            for name, family, strength, settings in rows]


def normalisation_solutions(spec: TaskSpec) -> list[Solution]:
    lang = (spec.lineage.dna or {}).get("language", "en")
    body = script_source("normalise")
    out = []
    for name, family, strength, settings in _NORMALISE:
        cfg = {"lang": lang, "memory": False, "min_count": 1, "lower_key": False, "rules": [],
               "year_mode": "cardinal", "digits": False, "hundred_and": False, "lowercase": False}
        cfg.update(settings)
        out.append(Solution(name, family, strength, with_settings(cfg, body)))
    return out


def denoising_solutions(spec: TaskSpec) -> list[Solution]:
    body = script_source("denoise")
    return [Solution(name, family, strength, with_settings({"method": method, "params": params}, body))
            for name, family, strength, method, params in _DENOISE]


def has_text(spec: TaskSpec) -> bool:
    dna = spec.lineage.dna or {}
    if dna:
        return dna.get("features", {}).get("text", 0) > 0
    return spec.modality == "text"


def reference_solutions(spec: TaskSpec) -> list[Solution]:
    """>= 20 diverse solutions for the task (see module doc)."""
    if spec.modality == "sequence":
        return normalisation_solutions(spec)
    if spec.modality == "image_to_image":
        return denoising_solutions(spec)
    if spec.modality == "time_series":
        return forecasting_solutions(spec)
    if spec.modality == "graph":
        return graph_solutions(spec)
    rows = _TEXT if has_text(spec) else _TABULAR if spec.modality == "tabular" else _MEDIA
    return _population(spec, rows)
