"""Reference solution for forecasting tasks: read the history, forecast test.csv's rows.

Runs in the sandbox after its settings line, `CFG = {...}` (`sandmle.synth.solutions`). It
finds the layout in the data: the time column (`date`), the series column (the text column
that is neither id nor time; none for one series), inputs known in advance (numeric
columns of test.csv) and `holidays.csv` when present; the season length follows from the
step (24 hours, 7 days, 52 weeks, 12 months). `method` picks the forecaster:

    constant          the history's median                 naive      the last value
    series_mean       mean of the last `window` steps      drift      last value + mean slope
    seasonal_naive    the value one season back            seasonal_mean  mean over `seasons` seasons
    ses               exponential smoothing of the deseasonalised log series (`alpha`)
    regression        `model` (ridge, gbm, hgb, forest, extra, knn) on `features`: calendar
                      (trend, season position, series), lags (values at least one horizon back,
                      so every test row has them), inputs and holidays, fitted to log values;
                      `rows` keeps that share of the most recent history.

Uses numpy/pandas/scikit-learn only and fixes every random_state.
"""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sandmle.synth.solution_scripts.cache import cached
from sandmle.synth.solution_scripts.submission import write_submission

CFG: dict = globals().get("CFG", {})   # the settings line `CFG = {...}` binds them first
INPUT = Path("input")
SEED = 0
warnings.filterwarnings("ignore")


def season_length(stamps):
    """Steps per seasonal cycle, from the spacing of the time stamps."""
    step = pd.Series(sorted(stamps.unique())).diff().median()
    if step <= pd.Timedelta(hours=1):
        return 24
    if step <= pd.Timedelta(days=1):
        return 7
    if step <= pd.Timedelta(days=7):
        return 52
    return 12


def layout(test, idc):
    """(time column, series column or None, input columns) of test.csv."""
    numeric = [c for c in test.columns if c != idc and pd.api.types.is_numeric_dtype(test[c])]
    text = [c for c in test.columns if c != idc and c not in numeric]
    time = "date" if "date" in text else text[0]
    keys = [c for c in text if c != time]
    return time, (keys[0] if keys else None), numeric


def make_model(name, p):
    from sklearn import ensemble, linear_model, neighbors
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if name == "ridge":
        return make_pipeline(StandardScaler(), linear_model.Ridge(alpha=p.get("alpha", 1.0)))
    if name == "gbm":
        return ensemble.GradientBoostingRegressor(n_estimators=p["n"], learning_rate=p.get("lr", 0.1),
                                                  max_depth=p["depth"], subsample=0.8, random_state=SEED)
    if name == "hgb":
        return ensemble.HistGradientBoostingRegressor(max_iter=p["n"], learning_rate=p.get("lr", 0.1),
                                                      min_samples_leaf=p.get("leaf", 10), random_state=SEED)
    if name == "forest":
        return ensemble.RandomForestRegressor(n_estimators=p["n"], min_samples_leaf=p.get("leaf", 2),
                                              max_features=0.5, random_state=SEED, n_jobs=1)
    if name == "extra":
        return ensemble.ExtraTreesRegressor(n_estimators=p["n"], min_samples_leaf=p.get("leaf", 2),
                                            max_features=0.7, random_state=SEED, n_jobs=1)
    if name == "knn":
        return make_pipeline(StandardScaler(), neighbors.KNeighborsRegressor(n_neighbors=p["k"], weights="distance"))
    raise ValueError(name)


def simple_forecast(history, steps_ahead, m):
    """Forecasts of one series (log values in time order) at the given steps after its end."""
    method, n = CFG["method"], len(history)
    h = np.asarray(steps_ahead)
    if method == "naive":
        return np.full(len(h), history[-1])
    if method == "series_mean":
        return np.full(len(h), history[-(CFG.get("window") or n):].mean())
    if method == "drift":
        slope = (history[-1] - history[0]) / max(n - 1, 1)
        return history[-1] + slope * h
    back = m * np.ceil(h / m).astype(int)                       # whole seasons back, within the history
    if method == "seasonal_naive":
        return history[n - back + h - 1]
    if method == "seasonal_mean":
        seasons = [history[n - back - m * j + h - 1] for j in range(CFG["seasons"]) if (n - back - m * j + h - 1).min() >= 0]
        return np.mean(seasons, axis=0)
    if method == "ses":
        phase = np.arange(n) % m
        index = np.array([history[phase == k].mean() for k in range(m)])
        index -= index.mean()
        level = history[0] - index[0]
        for i in range(1, n):
            level = CFG["alpha"] * (history[i] - index[phase[i]]) + (1 - CFG["alpha"]) * level
        return level + index[(n - 1 + h) % m]
    raise ValueError(method)


def lagged(grid, codes, steps):
    """grid[code, step] for each row; NaN where the step falls before the grid."""
    out = np.full(len(steps), np.nan)
    inside = steps >= 0
    out[inside] = grid[codes[inside], steps[inside]]
    return out


def frame_features(frame, key_codes, m, t, holidays, inputs, lag, grid):
    """Feature matrix of rows at global steps `t`; `grid[series, step]` holds the known log
    values (NaN elsewhere)."""
    parts = []
    spec = CFG.get("features", [])
    if "calendar" in spec:
        parts.append((t / max(t.max(), 1))[:, None])
        angle = 2 * np.pi * (t % m) / m
        parts += [np.stack([np.sin(k * angle), np.cos(k * angle)], axis=1) for k in (1, 2, 3)]
        if m <= 12:
            parts.append(np.eye(m)[t % m])
        if key_codes is not None:
            onehot = np.eye(key_codes.max() + 1)[key_codes]
            parts += [onehot, onehot * (t / max(t.max(), 1))[:, None]]
    if "inputs" in spec and inputs:
        parts.append(frame[inputs].to_numpy(float))
    if "holidays" in spec and holidays is not None:
        parts.append(frame["__day"].isin(holidays).to_numpy(float)[:, None])
    if "lags" in spec:
        for back in (lag, lag + m, lag + 2 * m):
            parts.append(lagged(grid, key_codes, t - back)[:, None])
        with np.errstate(all="ignore"):      # the mean of the season before the nearest lag
            window = np.nanmean(np.stack([lagged(grid, key_codes, t - lag - j) for j in range(m)]), axis=0)
        parts.append(window[:, None])
    x = np.hstack(parts) if parts else np.zeros((len(t), 1))
    return x


def prepared():
    """The history in the shapes the forecasters read, built once per job."""
    idc = CFG["id_column"]
    train = pd.read_csv(INPUT / "train.csv")
    test = pd.read_csv(INPUT / "test.csv")
    sample = pd.read_csv(INPUT / "sample_submission.csv", nrows=5)
    target = [c for c in sample.columns if c != idc][0]
    time, key, inputs = layout(test, idc)
    stamps = pd.to_datetime(pd.concat([train[time], test[time]]))
    order = {s: i for i, s in enumerate(sorted(stamps.unique()))}
    for frame in (train, test):
        frame["__t"] = pd.to_datetime(frame[time]).map(order).astype(int)
        frame["__key"] = frame[key].astype(str) if key else "all"
        frame["__day"] = frame[time].astype(str).str[:10]
    if inputs:
        med = train[inputs].median()
        for frame in (train, test):
            frame[inputs] = frame[inputs].fillna(med)
    y = np.log(np.clip(train[target].to_numpy(float), 1e-3, None))
    keys = sorted(set(train["__key"]) | set(test["__key"]))
    code = {k: i for i, k in enumerate(keys)}
    grid = np.full((len(keys), len(order)), np.nan)
    grid[train["__key"].map(code).to_numpy(), train["__t"].to_numpy()] = y
    last = {k: train.loc[train["__key"] == k, "__t"].max() for k in keys}
    holidays = None
    if (INPUT / "holidays.csv").is_file():
        holidays = set(pd.read_csv(INPUT / "holidays.csv")["date"].astype(str).str[:10])
    return dict(idc=idc, train=train, test=test, target=target, inputs=inputs, m=season_length(stamps), y=y,
                keys=keys, code=code, grid=grid, last=last, holidays=holidays)


def regression_inputs(d):
    """(x of the fitted rows, their positions in train.csv, x of test.csv) for CFG's
    features and rows, built once per job."""
    train, test, m = d["train"], d["test"], d["m"]
    horizon = int((test["__t"] - test["__key"].map(d["last"])).max())
    lag = m * int(np.ceil(horizon / m))
    fit = train
    if "lags" in CFG.get("features", []):      # rows with at least the nearest lag; others are imputed
        fit = train[train["__t"] >= train["__t"].min() + lag]
    if CFG.get("rows", 1.0) < 1.0:
        cut = fit["__t"].quantile(1 - CFG["rows"])
        fit = fit[fit["__t"] >= cut]
    codes = lambda frame: frame["__key"].map(d["code"]).to_numpy()
    x = frame_features(fit, codes(fit), m, fit["__t"].to_numpy(), d["holidays"], d["inputs"], lag, d["grid"])
    xt = frame_features(test, codes(test), m, test["__t"].to_numpy(), d["holidays"], d["inputs"], lag, d["grid"])
    with np.errstate(all="ignore"):
        fill = np.nan_to_num(np.nanmean(x, axis=0))       # a lag no fitted row has: 0
    return np.where(np.isnan(x), fill, x), fit.index.to_numpy(), np.where(np.isnan(xt), fill, xt)


def main():
    here = str(INPUT.resolve())
    d = cached(("forecast", here, CFG["id_column"]), prepared)
    idc, target, train, test = d["idc"], d["target"], d["train"], d["test"]
    out = pd.DataFrame({idc: test[idc]})
    if CFG["method"] == "constant":
        out[target] = float(np.median(train[target]))
    elif CFG["method"] != "regression":
        pred = np.empty(len(test))
        for k in d["keys"]:
            mine = (train["__key"] == k).to_numpy()
            history = d["y"][mine][np.argsort(train.loc[mine, "__t"].to_numpy())]
            rows = (test["__key"] == k).to_numpy()
            pred[rows] = simple_forecast(history, test.loc[rows, "__t"].to_numpy() - d["last"][k], d["m"])
        out[target] = np.exp(pred)
    else:
        key = ("forecast-x", here, tuple(CFG.get("features", [])), CFG.get("rows", 1.0))
        x, fitted, xt = cached(key, lambda: regression_inputs(d))
        model = make_model(CFG["model"], CFG.get("params", {}))
        model.fit(x, d["y"][fitted])
        out[target] = np.exp(model.predict(xt))
    write_submission({idc: out[idc], target: out[target]})


if __name__ == "__main__":
    main()
