"""Make a task from any CSV file: `sandmle task from-csv DATA.csv --target COL --metric NAME`.

    task = make_task_from_csv("houses.csv", "price", "rmse", "tasks/houses")

The rows are split deterministically (stratified for classification metrics) into
public/train.csv and public/test.csv (the target removed); the hidden targets go only to
private/answers.csv, laid out as a submission. An id column is added (from a seeded
permutation, so ids carry no row order) when the file has none. The submission layout
follows the metric's kind: `multiclass_log_loss` -> one probability column per class,
`mean_column_auc` / `mean_column_rmsle` -> one column per target, and so on.

Medal thresholds come from a small leaderboard of baselines fit in-process with
scikit-learn (constant prior, linear models, nearest neighbours, trees, forests), scored by
the grader itself and turned into thresholds by MLE-bench's rule (`medal_thresholds`),
which orders them median <= bronze <= silver <= gold in the metric's direction. The
leaderboard is kept in private/leaderboard.csv; the constant baseline is the sample
submission. Bad input (a missing column, a metric that does not fit the target, too few
rows) raises a one-line UserError.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from sandmle.errors import InvalidSubmission, UserError
from sandmle.leaderboard import Entry, make_leaderboard, medal_thresholds
from sandmle.metrics import METRICS
from sandmle.task import Lineage, Task, TaskSpec, Thresholds, write_task

GENERATOR = "from-csv"
GENERATOR_VERSION = "1"
MIN_ROWS = 20                # fewer rows cannot fill both splits and a leaderboard
MIN_TEST_ROWS = 5
MIN_TRAIN_ROWS = 10
MIN_VALID_BASELINES = 5      # the medal rule needs a leaderboard, not two points
MAX_CLASSES = 200
MAX_CATEGORIES = 20          # one-hot levels per text column in the baselines' features
THRESHOLD_DECIMALS = 6
CLASSIFICATION_KINDS = ("binary_proba", "multilabel_proba", "multiclass_proba", "label", "ordinal", "ranking")
SINGLE_TARGET_KINDS = ("binary_proba", "multiclass_proba", "label", "ordinal", "ranking")
_INTEGER_TEXT = re.compile(r"[+-]?\d+(\.0*)?")


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


@dataclass(frozen=True)
class _Plan:
    """What the CSV and the metric imply: columns, classes, encodings."""

    kind: str
    id_column: str
    targets: tuple[str, ...]            # the CSV's target columns
    submission_columns: tuple[str, ...]
    classes: tuple[str, ...]            # label domain (strings), () for regression
    positive: tuple[str, ...]           # per target: the label counted as 1 (binary kinds)
    features: tuple[str, ...]


def make_task_from_csv(csv_path: str | Path, targets: str | Sequence[str], metric: str,
                       out_dir: str | Path, seed: int = 0, test_fraction: float = 0.3,
                       id_column: str | None = None, task_id: str | None = None,
                       title: str | None = None, metric_params: dict[str, Any] | None = None,
                       overwrite: bool = False) -> Task:
    """Build and write a task folder from a CSV file; returns the loaded task."""

    csv_path, out_dir = Path(csv_path), Path(out_dir)
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r} (known: {', '.join(sorted(METRICS))})")
    if not targets:
        raise UserError("give at least one --target column")
    if len(set(targets)) != len(targets):
        raise UserError(f"--target columns repeat: {', '.join(targets)}")
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if out_dir.exists() and not overwrite:
        raise UserError(f"{out_dir} already exists (remove it or choose another --out)")
    metric_params = dict(metric_params or {})
    kind = METRICS[metric].kind
    if kind == "ranking":
        metric_params.setdefault("k", 5)
    frame = _read_csv(csv_path)
    frame, id_name = _with_ids(frame, id_column, targets, seed)
    plan = _plan(frame, kind, metric, targets, id_name)
    train, test = _split(frame, plan, seed, test_fraction)

    spec = TaskSpec(
        id=task_id or _slug(out_dir.name),
        title=title or f"{csv_path.stem}: predict {', '.join(targets)}",
        modality="tabular", metric=metric, is_lower_better=METRICS[metric].is_lower_better,
        id_column=plan.id_column, target_columns=plan.submission_columns,
        thresholds=Thresholds(0.0, 0.0, 0.0, 0.0), train_rows=len(train), test_rows=len(test),
        lineage=Lineage(seed=f"csv:{csv_path.name}", generator=GENERATOR,
                        generator_version=GENERATOR_VERSION, random_seed=seed,
                        dna={"kind": kind, "metric": metric, "targets": list(targets),
                             "num_features": len(plan.features), "num_classes": len(plan.classes)},
                        extra={"source_sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
                               "test_fraction": test_fraction}),
        metric_params=metric_params, classes=plan.classes,
    )
    answers = _answers(test, plan)
    with tempfile.TemporaryDirectory(prefix="sandmle-from-csv.") as scratch:
        scratch = Path(scratch)
        answers_path = scratch / "answers.csv"
        _write_table(answers_path, answers)
        entries, submissions = _run_baselines(spec, plan, train, test, answers_path, scratch, seed)
    valid = [e for e in entries if e.valid]
    if len(valid) < MIN_VALID_BASELINES:
        reasons = sorted({e.reason for e in entries if e.reason})
        raise UserError(f"only {len(valid)} of {len(entries)} baselines could be scored on this data "
                        f"(need {MIN_VALID_BASELINES}){': ' + reasons[0] if reasons else ''}")
    sample_name = next((e.name for e in entries if e.family == "constant" and e.valid), None)
    if metric == "spearman" or sample_name is None:
        sample, sample_kind = _ramp_submission(test, plan), "the row position, a placeholder"
    else:
        sample, sample_kind = submissions[sample_name], "a constant guess"
    board = medal_thresholds([e.score for e in valid], spec.is_lower_better)
    # Scores carry 5 decimals, so a median (a mean of two) needs 6: rounding is exact here,
    # and rounding is monotone, so the order of the thresholds is kept.
    thresholds = Thresholds(*(round(v, THRESHOLD_DECIMALS) for v in board.as_tuple()))
    spec = _replace(spec, thresholds=thresholds, lineage=_replace(
        spec.lineage, extra={**spec.lineage.extra, "leaderboard": [e.name for e in valid]}))
    description = _description(spec, plan, csv_path, train, sample, sample_kind)

    def fill(public: Path, private: Path) -> None:
        _write_frame(public / spec.train_file, train)
        _write_frame(public / spec.test_file, test.drop(columns=list(plan.targets)))
        _write_table(public / spec.sample_submission_file, sample)
        (public / "description.md").write_text(description, encoding="utf-8")
        _write_table(private / "answers.csv", answers)
        make_leaderboard(entries, spec.is_lower_better, min_valid=1).write_csv(private / "leaderboard.csv")

    task = write_task(out_dir, spec, fill, overwrite=overwrite)
    from sandmle.grading import grade_submission

    grade = grade_submission(task, task.sample_submission_path)
    if not grade.valid:
        raise UserError(f"the sample submission of {out_dir} is invalid on this data: {grade.reason}")
    return task


# -- reading and planning --------------------------------------------------------------------

def _read_csv(path: Path):
    import pandas as pd

    if not path.is_file():
        raise UserError(f"data file {path} does not exist")
    try:
        frame = pd.read_csv(path, low_memory=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"cannot read {path} as CSV: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if frame.columns.duplicated().any():
        raise UserError(f"{path} has duplicated column names")
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) < MIN_ROWS:
        raise UserError(f"{path} has {len(frame)} rows; a task needs at least {MIN_ROWS}")
    return frame


def _with_ids(frame, id_column: str | None, targets: tuple[str, ...], seed: int):
    """The frame with a usable id column, and its name."""
    missing = [t for t in targets if t not in frame.columns]
    if missing:
        raise UserError(f"target column {missing[0]!r} is not in the data (columns: {_list(frame.columns)})")
    if id_column is not None:
        if id_column not in frame.columns:
            raise UserError(f"id column {id_column!r} is not in the data (columns: {_list(frame.columns)})")
        if id_column in targets:
            raise UserError(f"column {id_column!r} cannot be both the id and a target")
        ids = frame[id_column]
        if ids.isna().any() or ids.astype(str).str.strip().eq("").any() or ids.astype(str).duplicated().any():
            raise UserError(f"id column {id_column!r} has empty or duplicated values")
        return frame, id_column
    if "id" in frame.columns and "id" not in targets:
        ids = frame["id"]
        if not (ids.isna().any() or ids.astype(str).duplicated().any()):
            return frame, "id"
    name = next(n for n in ("id", "row_id", "sandmle_id", "sandmle_row_id") if n not in frame.columns)
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    frame.insert(0, name, rng.permutation(len(frame)))
    return frame, name


def _normal_label(value: Any) -> str:
    """A label as text, integer-valued numbers in one spelling (as the grader reads them)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    if len(text) < 1000 and _INTEGER_TEXT.fullmatch(text):
        return str(int(text.split(".")[0]))
    return text


def _plan(frame, kind: str, metric: str, targets: tuple[str, ...], id_name: str) -> _Plan:
    import pandas as pd

    for t in targets:
        nulls = int(frame[t].isna().sum())
        if nulls:
            raise UserError(f"target column {t!r} has {nulls} missing values; drop those rows first")
    if kind in SINGLE_TARGET_KINDS and len(targets) != 1:
        hint = {"binary_proba": " (mean_column_auc scores several 0/1 targets)"}.get(kind, "")
        raise UserError(f"metric {metric} scores one target column, got {len(targets)}{hint}")
    features = tuple(c for c in frame.columns if c != id_name and c not in targets)
    if not features:
        raise UserError("the data has no feature columns besides the id and the target(s)")
    classes: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()
    columns: tuple[str, ...] = targets
    if kind in ("binary_proba", "multilabel_proba"):
        pos = []
        for t in targets:
            labels = sorted({_normal_label(v) for v in frame[t]}, key=_label_order)
            if len(labels) != 2:
                raise UserError(f"metric {metric} needs a two-valued target, but {t!r} has "
                                f"{len(labels)} distinct values ({_list(labels)})")
            pos.append(labels[1])
        positive = tuple(pos)
    elif kind in ("multiclass_proba", "label", "ranking", "ordinal"):
        t = targets[0]
        if kind == "ordinal":
            values = pd.to_numeric(frame[t], errors="coerce")
            if values.isna().any() or not np.all(np.asarray(values) == np.round(np.asarray(values))):
                raise UserError(f"metric {metric} needs integer grades, but {t!r} holds other values")
        labels = sorted({_normal_label(v) for v in frame[t]}, key=_label_order)
        if not 2 <= len(labels) <= min(MAX_CLASSES, max(2, len(frame) // 2)):
            raise UserError(f"metric {metric} needs 2 to {min(MAX_CLASSES, max(2, len(frame) // 2))} classes "
                            f"({len(frame)} rows), but {t!r} has {len(labels)} distinct values")
        if kind == "ranking" and any(not label or any(ch.isspace() for ch in label) for label in labels):
            raise UserError(f"metric {metric} ranks space-separated labels; {t!r} has labels with spaces")
        classes = tuple(labels)
        if kind == "multiclass_proba":
            clash = [c for c in classes if c == id_name or not c]
            if clash:
                raise UserError(f"class {clash[0]!r} of {t!r} cannot name a submission column")
            columns = classes
    else:
        for t in targets:
            if not pd.api.types.is_numeric_dtype(frame[t]) or pd.api.types.is_bool_dtype(frame[t]):
                raise UserError(f"metric {metric} needs a numeric target, but {t!r} is {frame[t].dtype}")
            if not np.isfinite(frame[t].to_numpy(dtype=float)).all():
                raise UserError(f"target column {t!r} has infinite values")
            if metric in ("rmsle", "mean_column_rmsle") and (frame[t] < 0).any():
                raise UserError(f"metric {metric} needs non-negative targets, but {t!r} has negative values")
    return _Plan(kind=kind, id_column=id_name, targets=targets, submission_columns=columns,
                 classes=classes, positive=positive, features=features)


def _label_order(label: str):
    """Numbers in numeric order, then other labels alphabetically."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _split(frame, plan: _Plan, seed: int, test_fraction: float):
    from sklearn.model_selection import train_test_split

    n = len(frame)
    n_test = int(round(n * test_fraction))
    if n_test < MIN_TEST_ROWS or n - n_test < MIN_TRAIN_ROWS:
        raise UserError(f"{n} rows with test_fraction {test_fraction} give {n_test} test and {n - n_test} "
                        f"train rows; need at least {MIN_TEST_ROWS} and {MIN_TRAIN_ROWS}")
    strata = None
    if plan.kind in CLASSIFICATION_KINDS:
        keys = frame[list(plan.targets)].apply(lambda row: "\x1f".join(_normal_label(v) for v in row), axis=1)
        counts = keys.value_counts()
        if plan.kind == "multilabel_proba" and counts.min() < 2:
            rarest = min(plan.targets, key=lambda t: frame[t].map(_normal_label).value_counts().min())
            keys = frame[rarest].map(_normal_label)
            counts = keys.value_counts()
        if counts.min() < 2:
            label = counts.idxmin().replace("\x1f", ", ")
            raise UserError(f"class {label!r} has a single row; a stratified split needs at least 2 per class")
        if n_test < len(counts) or n - n_test < len(counts):
            raise UserError(f"{len(counts)} classes do not fit in {n_test} test rows; "
                            "use more rows or a larger test_fraction")
        strata = keys.to_numpy()
    train, test = train_test_split(frame, test_size=n_test, random_state=seed, stratify=strata)
    if plan.kind in ("binary_proba", "multilabel_proba"):
        for t in plan.targets:
            for part, name in ((train, "train"), (test, "test")):
                if part[t].map(_normal_label).nunique() < 2:
                    raise UserError(f"the {name} split holds one value of {t!r}; the metric needs both "
                                    "(use more rows)")
    return train.reset_index(drop=True), test.reset_index(drop=True)


# -- answers, baselines and submissions --------------------------------------------------------

def _answers(test, plan: _Plan) -> tuple[list[str], list[list[str]]]:
    """Header and rows of private/answers.csv (the submission layout)."""
    ids = [str(v) for v in test[plan.id_column]]
    if plan.kind in ("binary_proba", "multilabel_proba"):
        cols = [[int(_normal_label(v) == pos) for v in test[t]] for t, pos in zip(plan.targets, plan.positive)]
        rows = [[i, *vals] for i, vals in zip(ids, zip(*cols))]
    elif plan.kind == "multiclass_proba":
        labels = [_normal_label(v) for v in test[plan.targets[0]]]
        rows = [[i, *[int(label == c) for c in plan.classes]] for i, label in zip(ids, labels)]
    elif plan.kind in ("label", "ordinal", "ranking"):
        rows = [[i, _normal_label(v)] for i, v in zip(ids, test[plan.targets[0]])]
    else:
        values = test[list(plan.targets)].to_numpy(dtype=float)
        rows = [[i, *[repr(float(v)) for v in row]] for i, row in zip(ids, values)]
    return [plan.id_column, *plan.submission_columns], [[str(c) for c in row] for row in rows]


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


def _run_baselines(spec: TaskSpec, plan: _Plan, train, test, answers_path: Path, scratch: Path, seed: int):
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
            _write_table(path, table)
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


def _targets(frame, plan: _Plan):
    if plan.kind == "multilabel_proba":
        return np.array([[int(_normal_label(v) == pos) for v in frame[t]]
                         for t, pos in zip(plan.targets, plan.positive)]).T
    if plan.kind == "binary_proba":
        return np.array([int(_normal_label(v) == plan.positive[0]) for v in frame[plan.targets[0]]])
    if plan.kind in CLASSIFICATION_KINDS:
        return np.array([_normal_label(v) for v in frame[plan.targets[0]]], dtype=object)
    values = frame[list(plan.targets)].to_numpy(dtype=float)
    return values[:, 0] if len(plan.targets) == 1 else values


def _predict(pipeline, x_test, test, plan: _Plan, spec: TaskSpec, y_train) -> tuple[list[str], list[list[str]]]:
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


def _ramp_submission(test, plan: _Plan) -> tuple[list[str], list[list[str]]]:
    """Row position as the prediction: a valid placeholder where a constant is undefined."""
    ids = [str(v) for v in test[plan.id_column]]
    header = [plan.id_column, *plan.submission_columns]
    return header, [[i, *[str(float(r))] * len(plan.submission_columns)] for r, i in enumerate(ids)]


# -- writing ------------------------------------------------------------------------------------

def _write_table(path: Path, table: tuple[list[str], list[list[Any]]]) -> None:
    header, rows = table
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[str(v) for v in row] for row in rows])


def _write_frame(path: Path, frame) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _description(spec: TaskSpec, plan: _Plan, csv_path: Path, train, sample, sample_kind: str) -> str:
    import pandas as pd

    metric = METRICS[spec.metric]
    direction = "lower is better" if metric.is_lower_better else "higher is better"
    targets = ", ".join(f"`{t}`" for t in plan.targets)
    lines = [f"# {spec.title}", "", "## Overview", "",
             f"Predict {targets} for every row of `test.csv` from the other columns. The rows come "
             f"from `{csv_path.name}`: {spec.train_rows} training rows and {spec.test_rows} test rows.",
             "", "## Files", "",
             f"- `train.csv`: {spec.train_rows} rows with every column, including {targets}.",
             f"- `test.csv`: {spec.test_rows} rows with the same columns except {targets}.",
             f"- `sample_submission.csv`: a valid submission ({sample_kind}) in the expected format.",
             "", "## Columns", "", "| column | type | role |", "|---|---|---|"]
    for column in train.columns:
        kind = "number" if pd.api.types.is_numeric_dtype(train[column]) and not pd.api.types.is_bool_dtype(
            train[column]) else "text"
        role = ("row id" if column == plan.id_column else "target" if column in plan.targets else "feature")
        lines.append(f"| `{column}` | {kind} | {role} |")
    lines += ["", "## Metric", "", f"`{spec.metric}`: {metric.description}; {direction}.",
              "", "## Submission format", "", _format_text(spec, plan), "", "Example:", "", "```csv"]
    header, rows = sample
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows[:3]])
    lines += [out.getvalue().rstrip("\n"), "```", ""]
    return "\n".join(lines)


def _format_text(spec: TaskSpec, plan: _Plan) -> str:
    cols = ", ".join(f"`{c}`" for c in (plan.id_column, *plan.submission_columns))
    head = f"A CSV file with the columns {cols} and one row per id of `test.csv`. "
    t = plan.targets[0]
    if plan.kind == "binary_proba":
        return head + f"`{t}` holds the probability (0 to 1) that `{t}` is `{plan.positive[0]}`."
    if plan.kind == "multilabel_proba":
        parts = ", ".join(f"`{c}` is `{p}`" for c, p in zip(plan.targets, plan.positive))
        return head + f"Each target column holds a probability (0 to 1): that {parts}."
    if plan.kind == "multiclass_proba":
        return head + (f"Each class of `{t}` has a column holding its probability (0 to 1); "
                       "rows are renormalised to sum to 1.")
    if plan.kind == "label":
        return head + f"`{t}` holds the predicted label, one of: {_list(plan.classes)}."
    if plan.kind == "ordinal":
        return head + f"`{t}` holds the predicted integer grade, one of: {_list(plan.classes)}."
    if plan.kind == "ranking":
        k = spec.metric_params.get("k", 5)
        return head + (f"`{t}` holds up to {k} predicted labels separated by spaces, best first "
                       f"(labels: {_list(plan.classes)}).")
    return head + "Each target column holds the predicted number."


def _list(values, limit: int = 20) -> str:
    values = [str(v) for v in values]
    return ", ".join(values[:limit]) + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "csv-task"


def _replace(obj, **changes):
    from dataclasses import replace

    return replace(obj, **changes)
