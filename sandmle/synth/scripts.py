"""Source text of reference-solution scripts (assembled by `sandmle.synth.solutions`).

A script is `CFG = {...}` (the solution's settings and the task's submission layout)
followed by one of the bodies below, so each script is self-contained: it reads ./input/,
writes ./submission.csv, uses numpy/pandas/scipy/sklearn/PIL only and fixes every
random_state. `PREDICT` featurises any mix of tabular columns, free text, PNG images
(input/images/<id>.png) and WAV clips (input/audio/<id>.wav) found at run time (images as
pixels, colour histograms, edges or a segmented object's description; clips as band
energies, spectrogram slices, statistics or a description of the loudest call), fits the
configured model and writes predictions in the layout the metric needs. `NORMALISE`
learns token normalisation from train.csv; `DENOISE` cleans images pixel by pixel.
"""

PREDICT = r'''
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

warnings.filterwarnings("ignore")
INPUT = Path("input")
SEED = 0


def read(name):
    return pd.read_csv(INPUT / name, keep_default_na=True, na_values=[""])


def column_roles(train, test, idc):
    roles = {}
    for c in test.columns:
        if c == idc:
            continue
        s = train[c]
        if pd.api.types.is_numeric_dtype(s):
            roles[c] = "numeric"
            continue
        sample = s.dropna().astype(str)
        if len(sample) and sample.str.match(r"^\d{4}-\d{2}-\d{2}").mean() > 0.9:
            roles[c] = "datetime"
        elif len(sample) and sample.str.count(" ").mean() >= 3:
            roles[c] = "text"
        else:
            roles[c] = "categorical"
    return roles


def tabular_block(train, test, roles, mode):
    if mode == "none":
        return None, None
    blocks_tr, blocks_te = [], []
    for c, role in roles.items():
        if role == "numeric":
            blocks_tr.append(train[[c]].to_numpy(float))
            blocks_te.append(test[[c]].to_numpy(float))
            if mode == "first_numeric":
                break
        elif role == "datetime" and mode != "first_numeric":
            for frame, out in ((train, blocks_tr), (test, blocks_te)):
                t = pd.to_datetime(frame[c], errors="coerce")
                out.append(np.stack([t.dt.hour + t.dt.minute / 60, t.dt.dayofweek, t.dt.month,
                                     t.dt.dayofyear], axis=1).astype(float))
        elif role == "categorical" and mode in ("onehot", "ordinal"):
            tr = train[c].fillna("NA").astype(str)
            te = test[c].fillna("NA").astype(str)
            levels = sorted(tr.unique())
            if mode == "onehot":
                blocks_tr.append(np.stack([(tr == v).to_numpy(float) for v in levels], axis=1))
                blocks_te.append(np.stack([(te == v).to_numpy(float) for v in levels], axis=1))
            else:
                index = {v: i for i, v in enumerate(levels)}
                blocks_tr.append(tr.map(index).to_numpy(float)[:, None])
                blocks_te.append(te.map(index).fillna(-1).to_numpy(float)[:, None])
    if not blocks_tr:
        return None, None
    xtr, xte = np.hstack(blocks_tr), np.hstack(blocks_te)
    med = np.nanmedian(np.where(np.isfinite(xtr), xtr, np.nan), axis=0)
    med = np.where(np.isfinite(med), med, 0.0)
    xtr = np.where(np.isfinite(xtr), xtr, med)
    xte = np.where(np.isfinite(xte), xte, med)
    return xtr, xte


def text_block(train, test, roles, spec):
    cols = [c for c, r in roles.items() if r == "text"]
    if not cols or spec == "none":
        return None, None
    tr = train[cols].fillna("").astype(str).agg(" ".join, axis=1)
    te = test[cols].fillna("").astype(str).agg(" ".join, axis=1)
    if spec == "length":
        f = lambda s: np.stack([s.str.len(), s.str.count(" ") + 1, s.str.count("!")], axis=1).astype(float)
        return f(tr), f(te)
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    if spec == "word1":
        vec = TfidfVectorizer(ngram_range=(1, 1), min_df=1, sublinear_tf=True)
    elif spec == "word12":
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    elif spec == "char":
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
    elif spec == "count1":
        vec = CountVectorizer(ngram_range=(1, 1), binary=True)
    elif spec == "count12":
        vec = CountVectorizer(ngram_range=(1, 2), binary=True)
    else:
        raise ValueError(spec)
    return vec.fit_transform(tr), vec.transform(te)


def image_vector(path, spec):
    from PIL import Image
    img = Image.open(path)
    img.load()
    rgb = np.asarray(img.convert("RGB"), dtype=float) / 255.0
    feats = []
    if spec in ("object", "object+hist"):
        feats.append(object_features(rgb))
    if spec in ("pixels", "all"):
        small = np.asarray(img.convert("RGB").resize((8, 8), Image.BILINEAR), dtype=float) / 255.0
        feats.append(small.ravel())
    if spec in ("hist", "all", "object+hist"):
        for ch in range(3):
            feats.append(np.histogram(rgb[:, :, ch], bins=8, range=(0, 1))[0] / rgb[:, :, ch].size)
        feats.append(rgb.reshape(-1, 3).mean(axis=0))
        feats.append(rgb.reshape(-1, 3).std(axis=0))
    if spec in ("edges", "all"):
        grey = rgb.mean(axis=2)
        gy, gx = np.gradient(grey)
        mag = np.hypot(gx, gy)
        ang = np.arctan2(gy, gx) % np.pi
        h, w = grey.shape
        for sy in (slice(0, h // 2), slice(h // 2, h)):
            for sx in (slice(0, w // 2), slice(w // 2, w)):
                feats.append(np.histogram(ang[sy, sx], bins=6, range=(0, np.pi), weights=mag[sy, sx])[0])
        feats.append([mag.mean(), mag.std(), (mag > 0.15).mean(), grey.mean(), grey.std()])
        centre = grey[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
        feats.append([centre.mean() - grey.mean(), centre.std()])
    return np.concatenate([np.ravel(f) for f in feats])


def object_features(rgb):
    """Segment the object from the background and describe it: colour, size, elongation,
    stripe texture, dark spots and the background's brightness."""
    from scipy import ndimage
    h, w, _ = rgb.shape
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    background = np.median(border, axis=0)
    distance = np.abs(rgb - background).sum(axis=2)
    mask = distance > max(0.12, 0.5 * np.percentile(distance, 90))
    mask = ndimage.binary_closing(ndimage.binary_opening(mask), iterations=2)
    labels, count = ndimage.label(mask)
    if count == 0:
        return np.concatenate([background, np.zeros(3), np.zeros(6)])
    sizes = ndimage.sum(mask, labels, range(1, count + 1))
    mask = labels == (int(np.argmax(sizes)) + 1)
    mask = ndimage.binary_fill_holes(mask)
    ys, xs = np.nonzero(mask)
    inside = rgb[mask]
    colour = np.median(inside, axis=0)
    grey = inside.mean(axis=1)
    level = np.median(grey)
    dark = (rgb.mean(axis=2) < 0.55 * level) & mask
    spots = ndimage.label(dark)[1]
    lit = grey[grey > 0.55 * level]
    stripes = lit.std() / (level + 1e-6) if len(lit) > 2 else 0.0
    return np.concatenate([background, colour, [np.sqrt(mask.mean()), np.log((xs.std() + 0.5) / (ys.std() + 0.5)),
                                                stripes, spots, dark.sum() / mask.sum(), background.mean()]])


def image_block(train, test, idc, spec):
    folder = INPUT / "images"
    if spec == "none" or not folder.is_dir():
        return None, None
    f = lambda frame: np.stack([image_vector(folder / f"{i}.png", spec) for i in frame[idc].astype(str)])
    return f(train), f(test)


def audio_vector(path, spec):
    from scipy.io import wavfile
    rate, wave = wavfile.read(path)
    x = wave.astype(float) / 32768.0
    feats = []
    if spec in ("bands", "all"):
        power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        feats.append(np.log1p(np.array([b.sum() for b in np.array_split(power, 24)])))
    if spec in ("spectro", "all"):
        for seg in np.array_split(x, 4):
            power = np.abs(np.fft.rfft(seg * np.hanning(len(seg)))) ** 2
            feats.append(np.log1p(np.array([b.sum() for b in np.array_split(power, 12)])))
    if spec in ("calls", "calls+bands"):
        feats.append(call_features(x, rate))
    if spec == "calls+bands":
        power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
        feats.append(np.log1p(np.array([b.sum() for b in np.array_split(power, 24)])))
    if spec in ("stats", "all"):
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
        feats.append([np.sqrt((x ** 2).mean()), (np.diff(np.sign(x)) != 0).mean(), freqs[power.argmax()] / rate,
                      (freqs * power).sum() / (power.sum() + 1e-12) / rate, np.abs(x).max()])
    return np.concatenate([np.ravel(f) for f in feats])


def call_features(x, rate):
    """Find the loudest call and describe it: pitch, sweep, loudness, harmonic, calls, hum."""
    frame = max(16, rate // 50)                        # 20 ms frames
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    energy = (frames ** 2).mean(axis=1)
    noise = np.median(energy) + 1e-12
    active = energy > 2.0 * noise
    bursts = int(active[0]) + int((active[1:] & ~active[:-1]).sum())
    centre = (int(energy.argmax()) + 0.5) * frame
    half = int(0.09 * rate)
    seg = x[max(0, int(centre) - half): int(centre) + half]
    freqs = np.fft.rfftfreq(len(seg), 1.0 / rate)

    def peak(part):
        power = np.abs(np.fft.rfft(part * np.hanning(len(part)), n=len(seg))) ** 2
        power[freqs < 100] = 0.0                      # ignore the mains hum
        return power, freqs[power.argmax()]

    power, pitch = peak(seg)
    _, start = peak(seg[: len(seg) // 2])
    _, end = peak(seg[len(seg) // 2:])
    near = lambda f: power[np.abs(freqs - f) < 40].sum()
    full = np.abs(np.fft.rfft(x)) ** 2
    all_freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    hum = full[np.abs(all_freqs - 60) < 8].sum() / (full.sum() + 1e-12)
    return np.array([pitch / rate, (end - start) / (pitch + 1e-9), np.log(energy.max() / noise),
                     near(2 * pitch) / (near(pitch) + 1e-12), bursts, active.mean(), hum])


def audio_block(train, test, idc, spec):
    folder = INPUT / "audio"
    if spec == "none" or not folder.is_dir():
        return None, None
    f = lambda frame: np.stack([audio_vector(folder / f"{i}.wav", spec) for i in frame[idc].astype(str)])
    return f(train), f(test)


def features(train, test, idc):
    roles = column_roles(train, test, idc)
    blocks = [tabular_block(train, test, roles, CFG["tabular"]),
              text_block(train, test, roles, CFG["text"]),
              image_block(train, test, idc, CFG["image"]),
              audio_block(train, test, idc, CFG["audio"])]
    blocks = [b for b in blocks if b[0] is not None]
    if not blocks:
        n1, n2 = len(train), len(test)
        return np.zeros((n1, 1)), np.zeros((n2, 1))
    if any(sparse.issparse(b[0]) for b in blocks):
        parts_tr, parts_te = [], []
        for tr, te in blocks:
            if not sparse.issparse(tr):
                mu, sd = tr.mean(axis=0), tr.std(axis=0) + 1e-9
                tr, te = sparse.csr_matrix((tr - mu) / sd), sparse.csr_matrix((te - mu) / sd)
            parts_tr.append(tr)
            parts_te.append(te)
        return sparse.hstack(parts_tr).tocsr(), sparse.hstack(parts_te).tocsr()
    return np.hstack([b[0] for b in blocks]), np.hstack([b[1] for b in blocks])


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
        classes = sorted(train[labels[0]].astype(str).unique())
    if kind == "binary_proba":
        out[targets[0]] = fit_classes(x, train[labels[0]].astype(int), xt, [0, 1])[:, 1]
    elif kind in ("multilabel_proba", "multiclass_proba", "ranking", "label"):
        onehot = len(labels) > 1 and (train[labels].sum(axis=1) == 1).all()
        if kind == "multilabel_proba" and not onehot:
            for c in targets:
                out[c] = fit_classes(x, train[c].astype(int), xt, [0, 1])[:, 1]
        else:
            y = (np.array(labels)[train[labels].to_numpy().argmax(axis=1)] if onehot
                 else train[labels[0]].astype(str).to_numpy())
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
        y = train[labels[0]].astype(int).to_numpy()
        grades = list(range(int(CFG["num_grades"]) or int(y.max()) + 1))
        if CFG.get("ordinal") == "regress" and CFG["model"] != "constant":
            pred = np.rint(fit_values(x, y, xt))
        else:
            pred = np.array(grades)[fit_classes(x, y, xt, grades).argmax(axis=1)]
        out[targets[0]] = np.clip(pred, 0, len(grades) - 1).astype(int)
    else:
        for c in targets:
            y = train[c].astype(float).to_numpy()
            if CFG.get("log_target"):
                out[c] = np.clip(np.expm1(fit_values(x, np.log1p(np.clip(y, 0, None)), xt)), 0, None)
            else:
                out[c] = fit_values(x, y, xt)
    out[[idc] + targets].to_csv("submission.csv", index=False)


main()
'''

NORMALISE_BODY = r'''
import re
from collections import Counter, defaultdict

import pandas as pd

LANG = CFG["lang"]
PATTERNS = [
    ("DATE", re.compile(r"^\d{1,2}\.\d{2}\.\d{4}$")),
    ("TIME", re.compile(r"^\d{1,2}:\d{2}$")),
    ("MONEY", re.compile(r"^[$€]\d+$")),
    ("MEASURE", re.compile(r"^\d+(kg|km|m|g|%)$")),
    ("ORDINAL", re.compile(r"^\d+(st|nd|rd|th|-й)$")),
    ("CARDINAL", re.compile(r"^\d+$")),
    ("LETTERS", re.compile(r"^[A-ZА-ЯЁ]{2,}$")),
]


def guess_class(token):
    for name, pattern in PATTERNS:
        if pattern.match(token):
            return name
    return "PLAIN"


def main():
    train = pd.read_csv("input/train.csv", keep_default_na=False, dtype=str)
    test = pd.read_csv("input/test.csv", keep_default_na=False, dtype=str)
    key = (lambda t: t.lower()) if CFG["lower_key"] else (lambda t: t)
    memory = {}
    if CFG["memory"]:
        seen = defaultdict(Counter)
        for before, after in zip(train["before"], train["after"]):
            seen[key(before)][after] += 1
        memory = {b: c.most_common(1)[0][0] for b, c in seen.items() if sum(c.values()) >= CFG["min_count"]}
    year_by_prev = {}
    if CFG["year_mode"] == "context":
        votes = defaultdict(Counter)
        prev = train.groupby("sentence_id")["before"].shift(1).fillna("")
        for token, cls, p in zip(train["before"], train["class"], prev):
            if token.isdigit() and 1900 <= int(token) <= 2030:
                votes[p.lower()][cls] += 1
        year_by_prev = {p: c.most_common(1)[0][0] for p, c in votes.items()}
    prev_tokens = test.groupby("sentence_id")["before"].shift(1).fillna("")
    out = []
    for token, p in zip(test["before"], prev_tokens):
        cls = guess_class(token)
        if cls == "CARDINAL" and 1900 <= int(token) <= 2030:
            mode = CFG["year_mode"]
            if mode == "date" or (mode == "context" and year_by_prev.get(p.lower(), "CARDINAL") == "DATE"):
                cls = "YEAR"
        rule_name = "CARDINAL" if cls == "YEAR" else cls
        if rule_name in CFG["rules"]:
            if CFG["digits"] and cls in ("CARDINAL", "YEAR"):
                text = " ".join(cardinal(int(d), LANG) for d in token)
            else:
                text = spoken(token, cls, LANG)
            if CFG["hundred_and"]:
                text = text.replace(" hundred ", " hundred and ")
        elif key(token) in memory:
            text = memory[key(token)]
        else:
            text = token.lower() if CFG["lowercase"] else token
        out.append(text)
    pd.DataFrame({"id": test["id"], "after": out}).to_csv("submission.csv", index=False)


main()
'''

DENOISE = r'''
import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

INPUT = "input/"
SEED = 0


def load(path):
    return np.asarray(Image.open(INPUT + path).convert("L"), dtype=float) / 255.0


def pixel_features(img, radius):
    pad = np.pad(img, radius, mode="edge")
    h, w = img.shape
    cols = [pad[dy:dy + h, dx:dx + w].ravel() for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)]
    background = ndimage.median_filter(img, size=7, mode="nearest")
    cols.append(ndimage.median_filter(img, size=3, mode="nearest").ravel())
    cols.append(background.ravel())
    cols.append((img / np.maximum(background, 1e-3)).ravel())
    return np.stack(cols, axis=1)


def make_model(name, p):
    from sklearn import ensemble, linear_model, neighbors, neural_network
    if name == "ridge":
        return linear_model.Ridge(alpha=p.get("alpha", 1.0))
    if name == "forest":
        return ensemble.RandomForestRegressor(n_estimators=p["n"], min_samples_leaf=p.get("leaf", 3), random_state=SEED, n_jobs=1)
    if name == "extra":
        return ensemble.ExtraTreesRegressor(n_estimators=p["n"], min_samples_leaf=p.get("leaf", 3), random_state=SEED, n_jobs=1)
    if name == "hgb":
        return ensemble.HistGradientBoostingRegressor(max_iter=p["n"], learning_rate=p.get("lr", 0.1), random_state=SEED)
    if name == "knn":
        return neighbors.KNeighborsRegressor(n_neighbors=p["k"])
    if name == "mlp":
        return neural_network.MLPRegressor(hidden_layer_sizes=(p["units"],), max_iter=200, early_stopping=True, random_state=SEED)
    raise ValueError(name)


def main():
    train = pd.read_csv(INPUT + "train.csv", dtype=str)
    test = pd.read_csv(INPUT + "test.csv", dtype=str)
    noisy = [load(p) for p in train["noisy"]]
    clean = [load(p) for p in train["cleaned"]]
    method, p = CFG["method"], CFG["params"]
    if method in ("ridge", "forest", "extra", "hgb", "knn", "mlp"):
        x = np.vstack([pixel_features(img, p["radius"]) for img in noisy])
        y = np.concatenate([c.ravel() for c in clean])
        rng = np.random.default_rng(SEED)
        keep = rng.permutation(len(y))[:p.get("max_pixels", len(y))]
        model = make_model(method, p).fit(x[keep], y[keep])
    elif method == "linear_global":
        xs = np.concatenate([img.ravel() for img in noisy])
        ys = np.concatenate([c.ravel() for c in clean])
        slope, intercept = np.polyfit(xs, ys, 1)
    ids, values = [], []
    for image, path in zip(test["image"], test["noisy"]):
        img = load(path)
        if method == "constant":
            out = np.full(img.shape, float(np.mean([c.mean() for c in clean])))
        elif method == "identity":
            out = img
        elif method == "linear_global":
            out = slope * img + intercept
        elif method == "threshold":
            out = np.where(img > p["t"], 1.0, img * p.get("ink", 1.0))
        elif method == "median":
            out = ndimage.median_filter(img, size=p["size"], mode="nearest")
        elif method == "gauss":
            out = ndimage.gaussian_filter(img, sigma=p["sigma"], mode="nearest")
        elif method == "background":
            ratio = img / np.maximum(ndimage.median_filter(img, size=p["size"], mode="nearest"), 1e-3)
            out = np.where(ratio > p["t"], 1.0, ratio * p.get("ink", 0.5))
        else:
            out = model.predict(pixel_features(img, p["radius"])).reshape(img.shape)
        out = np.clip(out, 0.0, 1.0)
        h, w = img.shape
        for r in range(h):
            for c in range(w):
                ids.append(f"{image}_{r + 1}_{c + 1}")
                values.append(out[r, c])
    pd.DataFrame({"id": ids, "value": np.round(values, 5)}).to_csv("submission.csv", index=False)


main()
'''
