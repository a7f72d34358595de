"""Reference solution for image denoising: noisy PNGs in ./input/ -> cleaned pixel values.

Runs in the sandbox after its settings line, `CFG = {...}` (`sandmle.synth.solutions`):
`method` is a constant, the identity, a global linear map, a threshold, a median or
Gaussian filter, background division, or a per-pixel regressor (`make_model`: ridge,
forests, extra trees, boosting, k-NN, MLP) on neighbourhood features (`pixel_features`);
`params` its settings. Writes ./submission.csv with one row per pixel (`<image>_<row>_<col>`).
"""
import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from sandmle.synth.solution_scripts.submission import write_submission

CFG: dict = globals().get("CFG", {})   # the settings line `CFG = {...}` binds them first
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
        ids.extend(f"{image}_{r + 1}_{c + 1}" for r in range(h) for c in range(w))
        values.append(out.ravel())
    write_submission({"id": ids, "value": np.round(np.concatenate(values) if values else np.array([]), 5)})


if __name__ == "__main__":
    main()
