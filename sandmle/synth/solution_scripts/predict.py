"""Reference solution for row-per-id tasks: featurise ./input/, fit one model, write ./submission.csv.

Runs in the sandbox after its settings line, `CFG = {...}` (`sandmle.synth.solutions`), with
`features.py` inlined. `model` and `params` pick the estimator (`make_model`); `kind`,
`classes` and `k` the submission layout the metric needs; `rows` a share of
the training rows to fit on (a learning-curve ladder); `shrink` a blend towards the class
prior (log loss punishes overconfidence); `ordinal` regresses or classifies grades;
`log_target` fits log1p of non-negative targets. Uses numpy/pandas/scipy/sklearn only and
fixes every random_state.
"""
import warnings

import numpy as np
import pandas as pd
from scipy import sparse

from sandmle.synth.solution_scripts.features import INPUT, features, read
from sandmle.synth.solution_scripts.submission import write_submission

CFG: dict = globals().get("CFG", {})   # the settings line `CFG = {...}` binds them first
warnings.filterwarnings("ignore")
SEED = 0


def make_model(task, x_sparse):
    from sklearn import ensemble, linear_model, naive_bayes, neighbors, neural_network, svm, tree
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler, PolynomialFeatures, SplineTransformer, StandardScaler
    name, p = CFG["model"], CFG["params"]
    clf = task == "clf"
    scale = MaxAbsScaler() if x_sparse else StandardScaler()
    if name == "linear":
        core = (linear_model.LogisticRegression(C=p["C"], max_iter=3000) if clf
                else linear_model.Ridge(alpha=1.0 / p["C"]))
        return make_pipeline(scale, core)
    if name == "poly2":
        core = (linear_model.LogisticRegression(C=p["C"], max_iter=3000) if clf
                else linear_model.Ridge(alpha=1.0 / p["C"]))
        return make_pipeline(StandardScaler(), PolynomialFeatures(2), StandardScaler(), core)
    if name == "spline":
        core = (linear_model.LogisticRegression(C=p["C"], max_iter=3000) if clf
                else linear_model.Ridge(alpha=1.0 / p["C"]))
        return make_pipeline(StandardScaler(), SplineTransformer(n_knots=5, degree=3), core)
    if name == "knn":
        core = (neighbors.KNeighborsClassifier(n_neighbors=p["k"], weights=p.get("weights", "uniform")) if clf
                else neighbors.KNeighborsRegressor(n_neighbors=p["k"], weights=p.get("weights", "uniform")))
        return make_pipeline(scale, core)
    if name == "tree":
        return (tree.DecisionTreeClassifier(max_depth=p["depth"], random_state=SEED) if clf
                else tree.DecisionTreeRegressor(max_depth=p["depth"], random_state=SEED))
    if name == "forest":
        kw = dict(n_estimators=p["n"], max_depth=p.get("depth"), min_samples_leaf=p.get("leaf", 1),
                  max_features=p.get("features", "sqrt" if clf else 1.0), random_state=SEED, n_jobs=1)
        return ensemble.RandomForestClassifier(**kw) if clf else ensemble.RandomForestRegressor(**kw)
    if name == "extra":
        kw = dict(n_estimators=p["n"], min_samples_leaf=p.get("leaf", 1), random_state=SEED, n_jobs=1,
                  max_features="sqrt" if clf else 1.0)
        return ensemble.ExtraTreesClassifier(**kw) if clf else ensemble.ExtraTreesRegressor(**kw)
    if name == "gbm":
        kw = dict(n_estimators=p["n"], learning_rate=p["lr"], max_depth=p["depth"], subsample=p.get("subsample", 1.0),
                  random_state=SEED)
        return ensemble.GradientBoostingClassifier(**kw) if clf else ensemble.GradientBoostingRegressor(**kw)
    if name == "hgb":
        kw = dict(max_iter=p["n"], learning_rate=p["lr"], max_leaf_nodes=p.get("leaves", 15),
                  min_samples_leaf=p.get("leaf", 10), random_state=SEED)
        return ensemble.HistGradientBoostingClassifier(**kw) if clf else ensemble.HistGradientBoostingRegressor(**kw)
    if name == "adaboost":
        return (ensemble.AdaBoostClassifier(n_estimators=p["n"], random_state=SEED) if clf
                else ensemble.AdaBoostRegressor(n_estimators=p["n"], random_state=SEED))
    if name == "svm":
        core = (svm.SVC(C=p["C"], kernel=p.get("kernel", "rbf"), probability=True, random_state=SEED) if clf
                else svm.SVR(C=p["C"], kernel=p.get("kernel", "rbf")))
        return make_pipeline(scale, core)
    if name == "linsvm":
        core = svm.LinearSVC(C=p["C"]) if clf else svm.LinearSVR(C=p["C"], max_iter=5000)
        return make_pipeline(scale, core)
    if name == "mlp":
        kw = dict(hidden_layer_sizes=(p["units"],), alpha=p.get("alpha", 1e-3), solver=p.get("solver", "adam"),
                  max_iter=p.get("iters", 800), random_state=SEED)
        core = neural_network.MLPClassifier(**kw) if clf else neural_network.MLPRegressor(**kw)
        return make_pipeline(scale, core)
    if name == "nb":
        if clf:
            return naive_bayes.MultinomialNB(alpha=p.get("alpha", 1.0)) if x_sparse else naive_bayes.GaussianNB()
        return linear_model.BayesianRidge()
    if name == "cnb":
        return naive_bayes.ComplementNB(alpha=p.get("alpha", 1.0)) if clf else linear_model.BayesianRidge()
    if name == "lda":
        return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto") if clf else linear_model.LassoCV(cv=3)
    if name == "sgd":
        core = (linear_model.SGDClassifier(loss="modified_huber", alpha=p["alpha"], random_state=SEED) if clf
                else linear_model.SGDRegressor(alpha=p["alpha"], random_state=SEED))
        return make_pipeline(scale, core)
    if name == "ridgeclf":
        return linear_model.RidgeClassifier(alpha=p["alpha"]) if clf else linear_model.Ridge(alpha=p["alpha"])
    raise ValueError(name)


def scores_of(model, x, classes_wanted):
    """Class probabilities with columns in `classes_wanted` order (missing classes get 0)."""
    fitted = list(model.classes_)
    if hasattr(model, "predict_proba"):
        try:
            p = model.predict_proba(x)
        except AttributeError:
            p = None
    else:
        p = None
    if p is None:
        d = model.decision_function(x)
        if d.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-d))
            p = np.stack([1 - p1, p1], axis=1)
        else:
            e = np.exp(d - d.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
    out = np.zeros((p.shape[0], len(classes_wanted)))
    for j, c in enumerate(classes_wanted):
        if c in fitted:
            out[:, j] = p[:, fitted.index(c)]
    return out


def to_dense(x):
    return x.toarray() if sparse.issparse(x) and CFG["model"] in ("gbm", "hgb", "lda", "poly2", "spline") else x


def fit_classes(x, y, xt, classes):
    y = np.asarray(y)
    freq = np.array([(y == c).mean() for c in classes])
    if CFG["model"] == "constant" or len(np.unique(y)) < 2:
        return np.tile(freq, (xt.shape[0], 1))
    model = make_model("clf", sparse.issparse(x))
    model.fit(to_dense(x), y)
    p = scores_of(model, to_dense(xt), classes)
    shrink = CFG.get("shrink", 0.0)         # blend towards the prior: log loss punishes overconfidence
    return (1 - shrink) * p + shrink * freq[None, :]


def label_text(value):
    """A label in one spelling: integer-valued numbers as integers ("1.0" -> "1"), text stripped."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value).strip()
    return str(int(number)) if number.is_integer() else str(value).strip()


def binary_codes(column):
    """0/1 codes of a two-valued label column of any spelling ("No"/"Yes", "0"/"1", "1.0").

    The positive label is "1" where the labels are 0/1; otherwise the second in numeric, then
    alphabetical, order -- the order `sandmle task from-csv` names the positive class in."""
    text = column.map(label_text)
    values = sorted(set(text), key=lambda v: (0, float(v), v) if v.replace(".", "", 1).lstrip("+-").isdigit()
                    else (1, 0.0, v))
    positive = "1" if set(values) <= {"0", "1"} else values[-1]
    return (text == positive).astype(int)


def grade_domain(y):
    """The integer grades a prediction may take: the task's classes, else those seen in training."""
    classes = [c for c in CFG.get("classes", []) if label_text(c).lstrip("+-").isdigit()]
    if classes:
        return sorted(int(label_text(c)) for c in classes)
    return list(range(int(np.min(y)), int(np.max(y)) + 1))


def fit_values(x, y, xt):
    y = np.asarray(y, dtype=float)
    if CFG["model"] == "constant":
        if CFG.get("metric") == "spearman":    # a constant has no rank correlation: break ties by row
            return np.median(y) + 1e-6 * np.arange(xt.shape[0])
        return np.full(xt.shape[0], np.median(y))
    model = make_model("reg", sparse.issparse(x))
    model.fit(to_dense(x), y)
    return np.asarray(model.predict(to_dense(xt)), dtype=float)


def main():
    train, test = read("train.csv"), read("test.csv")
    if CFG.get("rows", 1.0) < 1.0:         # learning-curve ladder: a fixed share of the rows
        train = train.sample(frac=CFG["rows"], random_state=0).reset_index(drop=True)
    sample = pd.read_csv(INPUT / "sample_submission.csv", nrows=5)
    idc = CFG["id_column"]
    targets = [c for c in sample.columns if c != idc]
    labels = [c for c in train.columns if c not in test.columns]
    if CFG["model"] == "constant":
        x, xt = np.zeros((len(train), 1)), np.zeros((len(test), 1))
    else:
        x, xt = features(train, test, idc)
    kind = CFG["kind"]
    out = pd.DataFrame({idc: test[idc]})
    classes = list(CFG["classes"])
    if not classes and kind == "multiclass_proba":
        classes = targets
    elif not classes and kind in ("label", "ranking"):
        classes = sorted(train[labels[0]].map(label_text).unique())
    if kind == "binary_proba":
        out[targets[0]] = fit_classes(x, binary_codes(train[labels[0]]), xt, [0, 1])[:, 1]
    elif kind in ("multilabel_proba", "multiclass_proba", "ranking", "label"):
        onehot = len(labels) > 1 and (train[labels].apply(binary_codes).sum(axis=1) == 1).all()
        if kind == "multilabel_proba" and not onehot:
            for c in targets:
                out[c] = fit_classes(x, binary_codes(train[c]), xt, [0, 1])[:, 1]
        else:
            y = (np.array(labels)[train[labels].apply(binary_codes).to_numpy().argmax(axis=1)] if onehot
                 else train[labels[0]].map(label_text).to_numpy())
            p = fit_classes(x, y, xt, classes)
            if kind == "ranking":
                k = CFG["k"]
                out[targets[0]] = [" ".join(classes[j] for j in row[:k]) for row in np.argsort(-p, axis=1, kind="stable")]
            elif kind == "label":
                out[targets[0]] = [classes[j] for j in p.argmax(axis=1)]
            else:
                p = p + 1e-4
                p = p / p.sum(axis=1, keepdims=True)
                for j, c in enumerate(classes):
                    out[c] = p[:, j]
    elif kind == "ordinal":
        y = train[labels[0]].map(label_text).astype(int).to_numpy()
        grades = grade_domain(y)
        if CFG.get("ordinal") == "regress" and CFG["model"] != "constant":
            pred = np.rint(fit_values(x, y, xt))
        else:
            pred = np.array(grades)[fit_classes(x, y, xt, grades).argmax(axis=1)]
        out[targets[0]] = np.clip(pred, grades[0], grades[-1]).astype(int)
    else:
        for c in targets:
            y = train[c].astype(float).to_numpy()
            if CFG.get("log_target"):
                out[c] = np.clip(np.expm1(fit_values(x, np.log1p(np.clip(y, 0, None)), xt)), 0, None)
            else:
                out[c] = fit_values(x, y, xt)
    write_submission({c: out[c] for c in [idc] + targets})


if __name__ == "__main__":
    main()
