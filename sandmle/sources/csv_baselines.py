"""The from-csv leaderboard: ten scikit-learn baselines fit in-process and scored by the grader.

`run_baselines` fits every baseline of `classifiers()` or `regressors()` (constant prior,
linear models, nearest neighbours, trees, forests) on the plan's features (median-imputed,
standardised numbers; one-hot text columns), writes each one's submission in the task's
layout and scores it with `sandmle.grading.score_submission`; a baseline the metric cannot
score is an invalid entry with its reason. `ramp_submission` is the placeholder sample
where a constant is undefined (spearman).
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sandmle.errors import InvalidSubmission
from sandmle.leaderboard import Entry
from sandmle.sources.csv_plan import CLASSIFICATION_KINDS, Plan, normal_label, write_table
from sandmle.task import TaskSpec

MAX_CATEGORIES = 20          # one-hot levels per text column in the baselines' features


@dataclass(frozen=True)
class Baseline:
    """One leaderboard entry: a named scikit-learn model factory."""

    name: str
    family: str
    strength: str                          # "weak", "medium" or "strong"
    make: Callable[[int], Any]             # seed -> unfitted estimator


def classifiers() -> tuple[Baseline, ...]:
    """Ten classification baselines: N=10 gives gold, silver and bronze distinct ranks 1, 2, 4."""
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    return (
        Baseline("constant-prior", "constant", "weak", lambda s: DummyClassifier(strategy="prior")),
        Baseline("logistic-c0.01", "linear", "weak", lambda s: LogisticRegression(C=0.01, max_iter=2000)),
        Baseline("logistic-c0.1", "linear", "medium", lambda s: LogisticRegression(C=0.1, max_iter=2000)),
        Baseline("logistic-c1", "linear", "medium", lambda s: LogisticRegression(C=1.0, max_iter=2000)),
        Baseline("knn-15", "neighbours", "weak", lambda s: KNeighborsClassifier(n_neighbors=15)),
        Baseline("knn-5", "neighbours", "medium", lambda s: KNeighborsClassifier(n_neighbors=5)),
        Baseline("tree-depth3", "tree", "weak",
                 lambda s: DecisionTreeClassifier(max_depth=3, min_samples_leaf=5, random_state=s)),
        Baseline("forest-depth5", "forest", "medium",
                 lambda s: RandomForestClassifier(n_estimators=60, max_depth=5, random_state=s, n_jobs=1)),
        Baseline("forest-100", "forest", "strong",
                 lambda s: RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=s, n_jobs=1)),
        Baseline("extra-trees-100", "forest", "strong",
                 lambda s: ExtraTreesClassifier(n_estimators=100, min_samples_leaf=2, random_state=s, n_jobs=1)),
    )


def regressors() -> tuple[Baseline, ...]:
    """Ten regression baselines (multi-output capable)."""
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
    from sklearn.linear_model import Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.tree import DecisionTreeRegressor

    return (
        Baseline("constant-mean", "constant", "weak", lambda s: DummyRegressor(strategy="mean")),
        Baseline("constant-median", "constant", "weak", lambda s: DummyRegressor(strategy="median")),
        Baseline("ridge-10", "linear", "medium", lambda s: Ridge(alpha=10.0)),
        Baseline("ridge-1", "linear", "medium", lambda s: Ridge(alpha=1.0)),
        Baseline("knn-15", "neighbours", "weak", lambda s: KNeighborsRegressor(n_neighbors=15)),
        Baseline("knn-5", "neighbours", "medium", lambda s: KNeighborsRegressor(n_neighbors=5)),
        Baseline("tree-depth3", "tree", "weak",
                 lambda s: DecisionTreeRegressor(max_depth=3, min_samples_leaf=5, random_state=s)),
        Baseline("forest-depth5", "forest", "medium",
                 lambda s: RandomForestRegressor(n_estimators=60, max_depth=5, random_state=s, n_jobs=1)),
        Baseline("forest-100", "forest", "strong",
                 lambda s: RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=s, n_jobs=1)),
        Baseline("extra-trees-100", "forest", "strong",
                 lambda s: ExtraTreesRegressor(n_estimators=100, min_samples_leaf=2, random_state=s, n_jobs=1)),
    )



def _preprocessor(train, features: tuple[str, ...]):
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in features
               if pd.api.types.is_numeric_dtype(train[c]) and not pd.api.types.is_bool_dtype(train[c])]
    other = [c for c in features if c not in numeric]
    parts = []
    if numeric:
        parts.append(("numeric", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                               StandardScaler()), numeric))
    if other:
        parts.append(("categorical", make_pipeline(
            SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True),
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES,
                          sparse_output=False)), other))
    return ColumnTransformer(parts), numeric, other


def _features(frame, numeric: list[str], other: list[str]):
    out = frame[numeric + other].copy()
    for c in numeric:
        out[c] = out[c].astype(float).replace([np.inf, -np.inf], np.nan)
    for c in other:
        out[c] = out[c].map(lambda v: "missing" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return out


def run_baselines(spec: TaskSpec, plan: Plan, train, test, answers_path: Path, scratch: Path, seed: int):
    """Fit every baseline, score its submission with the grader; (entries, submissions by name)."""
    from sklearn.base import clone
    from sklearn.multioutput import MultiOutputClassifier
    from sklearn.pipeline import make_pipeline

    from sandmle.grading import score_submission

    pre, numeric, other = _preprocessor(train, plan.features)
    x_train, x_test = _features(train, numeric, other), _features(test, numeric, other)
    classify = plan.kind in CLASSIFICATION_KINDS
    y_train = _targets(train, plan)
    entries, submissions = [], {}
    for baseline in (classifiers() if classify else regressors()):
        start = time.perf_counter()
        model = baseline.make(seed)
        if plan.kind == "multilabel_proba":
            model = MultiOutputClassifier(model)
        pipeline = make_pipeline(clone(pre), model)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipeline.fit(x_train, y_train)
                table = _predict(pipeline, x_test, test, plan, spec, y_train)
            path = scratch / f"{baseline.name}.csv"
            write_table(path, table)
            score = score_submission(spec, answers_path, path)
            entry = Entry(baseline.name, baseline.family, baseline.strength, score, True,
                          time.perf_counter() - start)
            submissions[baseline.name] = table
        except (InvalidSubmission, ValueError, np.linalg.LinAlgError) as exc:
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            entry = Entry(baseline.name, baseline.family, baseline.strength, None, False,
                          time.perf_counter() - start, reason)
        entries.append(entry)
    return entries, submissions


def _targets(frame, plan: Plan):
    if plan.kind == "multilabel_proba":
        return np.array([[int(normal_label(v) == pos) for v in frame[t]]
                         for t, pos in zip(plan.targets, plan.positive)]).T
    if plan.kind == "binary_proba":
        return np.array([int(normal_label(v) == plan.positive[0]) for v in frame[plan.targets[0]]])
    if plan.kind in CLASSIFICATION_KINDS:
        return np.array([normal_label(v) for v in frame[plan.targets[0]]], dtype=object)
    values = frame[list(plan.targets)].to_numpy(dtype=float)
    return values[:, 0] if len(plan.targets) == 1 else values


def _predict(pipeline, x_test, test, plan: Plan, spec: TaskSpec, y_train) -> tuple[list[str], list[list[str]]]:
    """A baseline's submission table on the test rows."""
    ids = [str(v) for v in test[plan.id_column]]
    header = [plan.id_column, *plan.submission_columns]
    if plan.kind == "binary_proba":
        proba = _positive_proba(pipeline.predict_proba(x_test), list(pipeline.classes_))
        return header, [[i, repr(float(p))] for i, p in zip(ids, proba)]
    if plan.kind == "multilabel_proba":
        model = pipeline[-1]
        columns = [_positive_proba(p, list(est.classes_))
                   for p, est in zip(pipeline.predict_proba(x_test), model.estimators_)]
        return header, [[i, *[repr(float(c[r])) for c in columns]] for r, i in enumerate(ids)]
    if plan.kind in ("multiclass_proba", "ranking"):
        proba = pipeline.predict_proba(x_test)
        known = {label: j for j, label in enumerate(pipeline.classes_)}
        full = np.zeros((len(ids), len(plan.classes)))
        for j, label in enumerate(plan.classes):
            if label in known:
                full[:, j] = proba[:, known[label]]
        if plan.kind == "multiclass_proba":
            return header, [[i, *[repr(float(v)) for v in row]] for i, row in zip(ids, full)]
        k = int(spec.metric_params.get("k", 5))
        order = np.argsort(-full, axis=1, kind="stable")[:, :k]
        return header, [[i, " ".join(plan.classes[j] for j in row)] for i, row in zip(ids, order)]
    if plan.kind in ("label", "ordinal"):
        return header, [[i, str(label)] for i, label in zip(ids, pipeline.predict(x_test))]
    pred = np.asarray(pipeline.predict(x_test), dtype=float).reshape(len(ids), -1)
    low, high = np.min(y_train, axis=0), np.max(y_train, axis=0)    # keeps RMSLE inputs >= 0
    pred = np.clip(pred, low, high)
    return header, [[i, *[repr(float(v)) for v in row]] for i, row in zip(ids, pred)]


def _positive_proba(proba: np.ndarray, classes: list) -> np.ndarray:
    if 1 in classes:
        return proba[:, classes.index(1)]
    return np.zeros(proba.shape[0])


def ramp_submission(test, plan: Plan) -> tuple[list[str], list[list[str]]]:
    """Row position as the prediction: a valid placeholder where a constant is undefined."""
    ids = [str(v) for v in test[plan.id_column]]
    header = [plan.id_column, *plan.submission_columns]
    return header, [[i, *[str(float(r))] * len(plan.submission_columns)] for r, i in enumerate(ids)]

