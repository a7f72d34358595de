"""Fit the data model of a data-conditioned seed from a real table (`sandmle seeds from-csv`).

    model = fit_data_model(frame, features, roles, target, target_kind)   # a DataModel, no rows

Marginals: continuous columns keep 65 quantiles, columns of <= 20 distinct values and
categorical columns their values and frequencies (at most `MAX_LEVELS` levels; rarer levels
merge into "other"). Dependence: a Gaussian copula on the columns' normal scores (ranks for
continuous columns, a randomised probability transform for discrete ones), its correlation
taken pairwise over observed cells and projected onto the nearest correlation matrix.
Missingness: the joint patterns seen in at least `MIN_PATTERN_ROWS` rows.

Label relationship: a teacher chosen by 3-fold cross-validation on the real rows among a
regularised linear model, gradient-boosted trees (depth 3, >= 10 rows per leaf, so no leaf
holds one row's label) and their blend; fitted on up to `FIT_ROWS` rows. Its noise is then
calibrated: twin rows drawn from the copula are labelled at a temperature (classes) or
noise scale (grades, values), and the same teacher kind refitted on them by cross-validation
must reach the real data's cross-validated score (log loss, or R^2 of normal scores) --
the real signal strength. Class shares are held at the real shares by per-class offsets.

Why not the `copulas`/`rdt`/`sdv` libraries: `copulas` offers only parametric marginals or a
KDE that stores every real value (a seed must hold no rows), draws from numpy's global random
state (tasks are generated in threads, each from its own Generator), has no categorical or
missing-value handling without `rdt` (which pulls Faker), and pulls plotly (64 MB); `sdv`
adds torch-based models, boto3 and graphviz. The Gaussian copula itself is a few lines of
scipy (`ndtr`/`ndtri`) over numpy.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.special import ndtri

from sandmle.synth.twin.model import (QUANTILE_POINTS, ColumnModel, DataModel, LabelHead, Teacher, Trees,
                                      encode)
from sandmle.synth.twin.privacy import distance_check
from sandmle.synth.twin.sample import PROBS, bias_for_shares, class_probs, draw_labels, sample_cells

MAX_LEVELS = 8
MAX_DISCRETE = 20
MIN_PATTERN_ROWS = 5
MAX_PATTERNS = 24
FIT_ROWS = 4000
CV_ROWS = 800
CV_FOLDS = 3
PROBE_ROWS = 2000
TREE_SETTINGS = dict(n_estimators=100, max_depth=3, learning_rate=0.1, subsample=0.8, min_samples_leaf=10)


# ---- columns ---------------------------------------------------------------------------------

def _decimals(values: np.ndarray) -> int:
    for d in range(7):
        if np.allclose(values, np.round(values, d), rtol=0, atol=1e-9 * max(1.0, float(np.abs(values).max()))):
            return d
    return 6


def column_model(name: str, role: str, series) -> tuple[ColumnModel, np.ndarray | list]:
    """The column's model and its cells in the model's terms (floats with NaN, or levels/None)."""
    import pandas as pd

    missing_rate = float(series.isna().mean())
    if role == "categorical":
        text = series.map(lambda v: None if pd.isna(v) else str(v))
        counts = text.value_counts()
        if len(counts) > MAX_LEVELS:
            keep = list(counts.index[:MAX_LEVELS - 1])
            text = text.map(lambda v: v if v is None or v in keep else "other")
            counts = text.value_counts()
        levels = tuple(str(v) for v in counts.index)
        probs = tuple(float(v) for v in counts.to_numpy() / counts.sum())
        return ColumnModel(name, "categorical", values=levels, probs=probs, missing_rate=missing_rate), \
            np.array(text.tolist(), dtype=object)
    if role == "datetime":
        stamps = pd.to_datetime(series, errors="coerce")
        stamps = stamps.dt.tz_localize(None) if getattr(stamps.dt, "tz", None) is not None else stamps
        seconds = stamps.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float) / 1e9
        values = np.where(stamps.isna().to_numpy(), np.nan, seconds)
        has_time = bool(np.nanmax(np.mod(values, 86400.0)) > 0) if np.isfinite(values).any() else False
        missing_rate = float(np.isnan(values).mean())
        decimals = 1 if has_time else 0
    else:
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, copy=True)
        values[~np.isfinite(values)] = np.nan
        decimals = _decimals(values[np.isfinite(values)]) if np.isfinite(values).any() else 0
    seen = values[np.isfinite(values)]
    if len(seen) == 0:
        raise ValueError(f"column {name!r} has no values")
    center, mean, sd = float(np.median(seen)), float(seen.mean()), float(seen.std()) or 1.0
    common = dict(decimals=decimals, missing_rate=missing_rate, center=center, mean=mean, sd=sd)
    distinct, counts = np.unique(seen, return_counts=True)
    if role == "numeric" and len(distinct) <= MAX_DISCRETE:
        return ColumnModel(name, "numeric", values=tuple(float(v) for v in distinct),
                           probs=tuple(float(c) for c in counts / counts.sum()), **common), values
    quantiles = tuple(float(v) for v in np.quantile(seen, PROBS))
    return ColumnModel(name, role, quantiles=quantiles, **common), values


def normal_scores(col: ColumnModel, cells, rng: np.random.Generator) -> np.ndarray:
    """The cells' normal scores under the column's marginal (NaN where empty)."""
    n = len(cells)
    z = np.full(n, np.nan)
    if col.is_discrete:
        index = {v: i for i, v in enumerate(col.values)}
        codes = np.array([index.get(v if col.kind == "categorical" else (None if v != v else float(v)), -1)
                          for v in cells])
        seen = codes >= 0
        cum = np.concatenate([[0.0], np.cumsum(col.probs)])
        u = cum[codes[seen]] + rng.random(seen.sum()) * (cum[codes[seen] + 1] - cum[codes[seen]])
    else:
        values = np.asarray(cells, dtype=float)
        seen = np.isfinite(values)
        order = values[seen].argsort(kind="stable").argsort(kind="stable")
        u = (order + 0.5) / seen.sum()
    z[seen] = ndtri(np.clip(u, 1e-6, 1 - 1e-6))
    return z


def copula_correlation(scores: np.ndarray) -> np.ndarray:
    """Pairwise-complete correlation of normal scores, projected to a correlation matrix."""
    import pandas as pd

    d = scores.shape[1]
    corr = pd.DataFrame(scores).corr(min_periods=10).to_numpy()
    corr = np.nan_to_num(corr, nan=0.0)
    np.fill_diagonal(corr, 1.0)
    values, vectors = np.linalg.eigh((corr + corr.T) / 2)
    corr = vectors @ np.diag(np.maximum(values, 1e-3)) @ vectors.T
    scale = np.sqrt(np.diag(corr))
    corr = corr / np.outer(scale, scale)
    corr = np.round(corr, 4)
    np.fill_diagonal(corr, 1.0)
    return corr.reshape(d, d)


def missing_patterns(empty: np.ndarray) -> tuple[tuple[tuple[int, ...], float], ...]:
    """Joint patterns of empty cells seen in >= MIN_PATTERN_ROWS rows, with their shares."""
    from collections import Counter

    counts = Counter(tuple(np.flatnonzero(row).tolist()) for row in empty if row.any())
    n = len(empty)
    kept = [(cols, c) for cols, c in counts.most_common(MAX_PATTERNS) if c >= MIN_PATTERN_ROWS]
    return tuple((cols, round(c / n, 5)) for cols, c in kept)


# ---- the teacher -----------------------------------------------------------------------------

def _linear(classify: bool):
    from sklearn.linear_model import LogisticRegression, Ridge

    return LogisticRegression(C=1.0, max_iter=2000) if classify else Ridge(alpha=1.0)


def _trees(classify: bool, seed: int):
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    cls = GradientBoostingClassifier if classify else GradientBoostingRegressor
    return cls(random_state=seed, **TREE_SETTINGS)


def _raw(model, x: np.ndarray) -> np.ndarray:
    out = model.decision_function(x) if hasattr(model, "decision_function") else model.predict(x)
    return np.asarray(out, dtype=float).reshape(len(x), -1)


def _fit_kind(kind: str, x: np.ndarray, y: np.ndarray, classify: bool, seed: int) -> tuple[Any, Any]:
    linear = _linear(classify).fit(x, y) if kind in ("linear", "blend") else None
    trees = _trees(classify, seed).fit(x, y) if kind in ("trees", "blend") else None
    return linear, trees


def _predict_kind(kind: str, fitted, x: np.ndarray) -> np.ndarray:
    linear, trees = fitted
    if kind == "linear":
        return _raw(linear, x)
    if kind == "trees":
        return _raw(trees, x)
    return 0.5 * (_raw(linear, x) + _raw(trees, x))


def _loss(head_kind: str, raw: np.ndarray, y: np.ndarray, num_classes: int) -> float:
    """Cross-validation loss: log loss of the classes, or 1 - R^2 of normal scores."""
    if head_kind in ("binary", "multiclass"):
        p = class_probs(head_kind, raw, 1.0, np.zeros(raw.shape[1]))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))
    resid = y - raw[:, 0]
    return float(np.mean(resid ** 2) / max(np.var(y), 1e-12))


def cv_loss(kind: str, head_kind: str, x: np.ndarray, y: np.ndarray, num_classes: int, seed: int,
            out_of_fold: bool = False):
    """Mean loss over CV_FOLDS folds of `kind` (and the out-of-fold raw outputs if asked)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    classify = head_kind in ("binary", "multiclass")
    splitter = (StratifiedKFold if classify else KFold)(CV_FOLDS, shuffle=True, random_state=seed)
    oof = np.zeros((len(y), 1 if head_kind != "multiclass" else num_classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for train, test in splitter.split(x, y):
            if classify and len(np.unique(y[train])) < num_classes:
                return (np.inf, oof) if out_of_fold else np.inf
            oof[test] = _predict_kind(kind, _fit_kind(kind, x[train], y[train], classify, seed), x[test])
    loss = _loss(head_kind, oof, y, num_classes)
    return (loss, oof) if out_of_fold else loss


def _serialise(kind: str, fitted, outputs: int) -> Teacher:
    linear, trees = fitted
    coef, intercept, packed = (), (), None
    if linear is not None:
        c = np.asarray(linear.coef_, dtype=float).reshape(outputs, -1)
        coef = tuple(tuple(round(float(v), 6) for v in row) for row in c)
        intercept = tuple(round(float(v), 6) for v in np.ravel(linear.intercept_) * np.ones(outputs))
    if trees is not None:
        stages = trees.estimators_
        listing = []
        for i in range(stages.shape[0]):
            for k in range(stages.shape[1]):
                t = stages[i, k].tree_
                leaf = t.children_left < 0
                listing.append({"out": k, "feature": np.where(leaf, -1, t.feature).tolist(),
                                "threshold": [round(float(v), 6) for v in t.threshold],
                                "left": t.children_left.tolist(), "right": t.children_right.tolist(),
                                "value": [round(float(v), 6) for v in t.value[:, 0, 0]]})
        packed = Trees((0.0,) * outputs, float(trees.learning_rate), tuple(listing))
    blend = {"linear": 1.0, "trees": 0.0, "blend": 0.5}[kind]
    return Teacher(kind=kind, outputs=outputs, blend=blend, coef=coef, intercept=intercept, trees=packed)


def _with_tree_init(teacher: Teacher, fitted, x: np.ndarray) -> Teacher:
    """Set the trees' constant start so that the serialised trees reproduce sklearn's output."""
    from dataclasses import replace

    _, trees = fitted
    if trees is None:
        return teacher
    offset = _raw(trees, x[:50]) - teacher.trees.raw(x[:50])
    init = tuple(round(float(v), 6) for v in offset.mean(axis=0))
    return replace(teacher, trees=replace(teacher.trees, init=init))


# ---- the whole model -------------------------------------------------------------------------

def fit_data_model(frame, features: list[str], roles: dict[str, str], target: str, head_kind: str,
                   seed: int = 0) -> DataModel:
    """A `DataModel` of `frame`'s feature columns and its label relationship (module doc).

    `roles`: numeric, categorical or datetime per feature; `head_kind`: binary, multiclass,
    ordinal or regression. Rows whose target is missing must already be dropped."""
    from sandmle.sources.csv_plan import label_order, normal_label

    rng = np.random.default_rng(seed)
    models, cells = [], []
    for name in features:
        col, values = column_model(str(name), roles[name], frame[name])
        models.append(col)
        cells.append(values)
    columns = tuple(models)
    scores = np.stack([normal_scores(c, v, rng) for c, v in zip(columns, cells)], axis=1)
    correlation = copula_correlation(scores)
    empty = np.stack([np.array([v is None for v in v_]) if c.kind == "categorical" else np.isnan(v_)
                      for c, v_ in zip(columns, cells)], axis=1)
    patterns = missing_patterns(empty)
    x = encode(columns, cells)
    labels = frame[target]
    classes: tuple[str, ...] = ()
    shares: tuple[float, ...] = ()
    if head_kind in ("binary", "multiclass", "ordinal"):
        text = labels.map(normal_label)
        classes = tuple(sorted(set(text), key=label_order))
        index = {c: i for i, c in enumerate(classes)}
        codes = text.map(index).to_numpy()
        shares = tuple(float(v) for v in np.bincount(codes, minlength=len(classes)) / len(codes))
    if head_kind in ("binary", "multiclass"):
        y = codes
    elif head_kind == "ordinal":
        col = ColumnModel("grade", "numeric", values=tuple(range(len(classes))), probs=shares)
        y = normal_scores(col, codes.astype(float), rng)
    else:
        values = labels.to_numpy(dtype=float)
        y = normal_scores(ColumnModel("target", "numeric", quantiles=tuple(np.quantile(values, PROBS))), values, rng)
    num_classes = len(classes)
    outputs = num_classes if head_kind == "multiclass" else 1
    cv_rows = rng.permutation(len(y))[:CV_ROWS]
    losses = {kind: cv_loss(kind, head_kind, x[cv_rows], y[cv_rows], num_classes, seed)
              for kind in ("linear", "trees", "blend")}
    kind = min(losses, key=losses.get)
    real_loss, oof = cv_loss(kind, head_kind, x[cv_rows], y[cv_rows], num_classes, seed, out_of_fold=True)
    fit_rows = rng.permutation(len(y))[:FIT_ROWS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = _fit_kind(kind, x[fit_rows], y[fit_rows], head_kind in ("binary", "multiclass"), seed)
    teacher = _with_tree_init(_serialise(kind, fitted, outputs), fitted, x[fit_rows])
    base = DataModel(columns=columns, correlation=tuple(map(tuple, correlation)), missing=patterns,
                     head=_placeholder_head(head_kind, teacher, classes, shares, labels), source_rows=len(frame))
    head = calibrate_head(base, kind, real_loss, oof, y[cv_rows], len(cv_rows), seed)
    from dataclasses import replace

    signal = {"teacher": kind, **{f"cv_loss_{k}": round(v, 4) for k, v in losses.items()}, **head.signal}
    model = replace(base, head=replace(head, signal=signal), duplicate_share=micro_duplicate_share(frame[features], seed))
    probe = sample_cells(model, min(len(frame), PROBE_ROWS), np.random.default_rng(seed + 2))
    return replace(model, privacy=distance_check(columns, cells, probe, seed).to_json())


def micro_duplicate_share(features, seed: int, train_rows: int = 150, test_rows: int = 2000,
                          splits: int = 3) -> float:
    """Share of test rows whose features repeat a training row's, in micro splits of the real
    rows: real tables of few discrete columns repeat rows, and so do their faithful twins."""
    rng = np.random.default_rng(seed)
    rows = [tuple("" if v != v else str(v) for v in row) for row in features.itertuples(index=False, name=None)]
    shares = []
    for _ in range(splits):
        order = rng.permutation(len(rows))
        train = {rows[i] for i in order[:train_rows]}
        test = order[train_rows:train_rows + test_rows]
        if len(test):
            shares.append(sum(rows[i] in train for i in test) / len(test))
    return round(float(np.mean(shares)), 4) if shares else 0.0


def _placeholder_head(kind: str, teacher: Teacher, classes, shares, labels) -> LabelHead:
    extra: dict[str, Any] = {}
    if kind in ("ordinal", "regression"):
        extra["residuals"] = tuple(float(v) for v in ndtri(np.clip(PROBS, 1e-3, 1 - 1e-3)))
    if kind == "regression":
        values = labels.to_numpy(dtype=float)
        extra["target_quantiles"] = tuple(float(v) for v in np.quantile(values, PROBS))
        extra["target_decimals"] = _decimals(values)
    return LabelHead(kind=kind, teacher=teacher, classes=classes, shares=shares,
                     bias=(0.0,) * teacher.outputs, **extra)


def calibrate_head(model: DataModel, kind: str, real_loss: float, oof: np.ndarray, y_cv: np.ndarray,
                   rows: int, seed: int) -> LabelHead:
    """Set the head's temperature (classes) or noise scale (grades, values) so that the teacher
    kind, cross-validated on `rows` twin rows, reaches the real cross-validated loss."""
    from dataclasses import replace

    head = model.head
    rng = np.random.default_rng(seed + 1)
    cells = sample_cells(model, rows, rng)
    x = encode(model.columns, cells)
    raw = head.teacher.raw(x)
    draw_seed = int(rng.integers(2**31))
    num_classes = len(head.classes)
    if head.kind in ("ordinal", "regression"):
        resid = y_cv - oof[:, 0]
        sd = float(resid.std()) or 1.0
        head = replace(head, residuals=tuple(float(v) for v in np.quantile(resid / sd, PROBS)))

    def twin_loss(theta: float) -> tuple[float, LabelHead]:
        if head.kind in ("binary", "multiclass"):
            bias = bias_for_shares(head.kind, raw, theta, np.asarray(head.shares))
            trial = replace(head, temperature=theta, bias=tuple(float(b) for b in bias))
            y = draw_labels(trial, raw, np.random.default_rng(draw_seed)).values
        else:
            e = np.interp(np.random.default_rng(draw_seed).random(rows), PROBS, np.asarray(head.residuals))
            trial = replace(head, noise_scale=theta)
            y = raw[:, 0] + theta * e
        return cv_loss(kind, head.kind, x, y, num_classes, seed), trial

    classify = head.kind in ("binary", "multiclass")
    low, high = (np.log(0.05), np.log(50.0)) if classify else (0.0, 6.0 * (float(raw.std()) or 1.0))
    best = None
    for _ in range(12):
        mid = (low + high) / 2
        theta = float(np.exp(mid)) if classify else mid
        loss, trial = twin_loss(theta)
        if best is None or abs(loss - real_loss) < abs(best[0] - real_loss):
            best = (loss, trial)
        if loss < real_loss:
            low = mid           # twin too easy: more noise
        else:
            high = mid
    loss, head = best
    if head.kind in ("ordinal", "regression"):
        e = np.interp(np.random.default_rng(draw_seed).random(rows), PROBS, np.asarray(head.residuals))
        head = replace(head, z_sd=float(np.std(raw[:, 0] + head.noise_scale * e)) or 1.0)
    return replace(head, signal={"cv_loss_real": round(real_loss, 4), "cv_loss_twin": round(loss, 4)})
