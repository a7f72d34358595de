"""Forecasting: several series with trend, seasonality, dated events and inputs known ahead.

Each series follows, on the log scale,

    log y[t] = level + slope * t + amplitude * season[t mod m] + event_effect * event[t]
               + sum_k beta_k * x_k[t] + e[t],        e[t] = phi * e[t-1] + N(0, sigma^2)

so a forecast has to get the level, the season profile, the events of holidays.csv and the
exogenous inputs (prices, weather, staffing: known for the horizon too) right, and the
autocorrelated noise rewards using the last observed values. train.csv holds the history of
every series, test.csv the next `horizon` steps (a split by time, not by rows); the
submission gives one forecast per test row. The oracle knows every term and forecasts the
noise from its last value (`phi^h * e[T]`); the sample submission is the history's median.
`signal` divides the noise's sigma (`sandmle.synth.design`).
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.domains import SERIES_VOCABULARY, NumericColumn
from sandmle.synth.generators.common import ColumnDoc, GeneratedData, fmt, fmt_value
from sandmle.synth.generators.tabular import humanise

_STEP = {"H": "hour", "D": "day", "W": "week", "M": "month"}
_EVENT_RATE = {"H": 1 / 30, "D": 1 / 30, "W": 1 / 12, "M": 1 / 12}    # share of steps (hours: of days) with an event
_COUNT_UNITS = {"patients", "units", "passengers", "transactions", "samples", "crates", "requests", "boardings"}
START = dt.datetime(2022, 1, 3)     # a Monday


def timestamps(frequency: str, start_step: int, steps: int) -> list[str]:
    """Formatted time stamps of `steps` consecutive steps from START + start_step steps."""
    if frequency == "M":
        months = [START.year * 12 + START.month - 1 + start_step + i for i in range(steps)]
        return [f"{m // 12:04d}-{m % 12 + 1:02d}-01" for m in months]
    unit = {"H": dt.timedelta(hours=1), "D": dt.timedelta(days=1), "W": dt.timedelta(weeks=1)}[frequency]
    spec = "%Y-%m-%d %H:00" if frequency == "H" else "%Y-%m-%d"
    return [(START + unit * (start_step + i)).strftime(spec) for i in range(steps)]


def _events(frequency: str, steps: int, history: int, rng: np.random.Generator) -> np.ndarray:
    """0/1 per step: dated events (whole days for hourly data), some in the history and at
    least one in the horizon."""
    if frequency == "H":
        days = (steps + 23) // 24
        daily = rng.random(days) < _EVENT_RATE["H"]
        daily[int(rng.integers(history // 24, days))] = True
        flags = np.repeat(daily, 24)[:steps]
    else:
        flags = rng.random(steps) < _EVENT_RATE[frequency]
        flags[int(rng.integers(history, steps))] = True
    if flags[:history].sum() < 3:                  # something to learn the effect from
        flags[rng.choice(history, size=3, replace=False)] = True
    return flags.astype(float)


def _season(m: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth periodic profile of m steps with mean 0 and standard deviation 1."""
    raw = rng.standard_normal(m)
    smooth = (np.roll(raw, 1) + 2 * raw + np.roll(raw, -1)) / 4
    smooth -= smooth.mean()
    return smooth / (smooth.std() + 1e-9)


def _exogenous(vocab, count: int) -> list[NumericColumn]:
    pool = list(vocab.exogenous)
    return [pool[i] if i < len(pool) else NumericColumn(f"{pool[i % len(pool)].name}_{i // len(pool) + 1}",
                                                        *[getattr(pool[i % len(pool)], f) for f in
                                                          ("unit", "mean", "sd", "decimals", "non_negative")])
            for i in range(count)]


def generate_forecast(dna: TaskDNA, bp: Blueprint, rng: np.random.Generator, signal: float = 1.0) -> GeneratedData:
    vocab = SERIES_VOCABULARY[bp.domain.name]
    sch, q = dna.series, dna.quirks
    history, horizon, series = bp.train_rows, bp.test_rows, bp.series
    steps = history + horizon
    m = sch.season_length
    start_step = int(rng.integers(0, 60))
    stamps = timestamps(sch.frequency, start_step, steps)
    t = np.arange(steps, dtype=float)
    events = _events(sch.frequency, steps, history, rng) if sch.holidays else np.zeros(steps)
    event_sign = float(rng.choice([-1.0, 1.0]))
    inputs = _exogenous(vocab, dna.features.numeric + q.distractors)
    betas = np.array([float(rng.choice([-1, 1]) * rng.uniform(0.06, 0.18)) if k < dna.features.numeric else 0.0
                      for k in range(len(inputs))])
    profile = _season(m, rng) if m else np.zeros(1)
    phi = rng.uniform(0.3, 0.7)
    sigma = rng.uniform(0.06, 0.12) / signal
    log_mean = np.log(vocab.target.mean)
    count_like = vocab.target.unit in _COUNT_UNITS
    mu = np.empty((series, steps))
    noise = np.empty((series, steps))
    x = np.empty((len(inputs), series, steps))
    for j in range(series):
        level = log_mean + rng.normal(0.0, 0.4)
        slope = rng.uniform(-0.3, 0.6) / steps if sch.trend else 0.0
        own = 0.7 * profile + 0.3 * (_season(m, rng) if m else 0.0)
        season = rng.uniform(0.12, 0.35) * own[(t.astype(int) + start_step) % m] if m else 0.0
        effect = event_sign * rng.uniform(0.25, 0.6)
        for k in range(len(inputs)):
            z = np.empty(steps)
            z[0] = rng.standard_normal()
            shocks = rng.standard_normal(steps)
            for i in range(1, steps):        # smooth inputs: an AR(1) with phi 0.8
                z[i] = 0.8 * z[i - 1] + 0.6 * shocks[i]
            x[k, j] = z
        mu[j] = level + slope * t + season + effect * events + betas @ x[:, j, :]
        e = np.empty(steps)
        e[0] = rng.normal(0.0, sigma / np.sqrt(1 - phi * phi))
        shocks = rng.normal(0.0, sigma, steps)
        for i in range(1, steps):
            e[i] = phi * e[i - 1] + shocks[i]
        noise[j] = e
    y = np.exp(mu + noise)
    h = np.arange(1, horizon + 1)
    carried = phi ** h[None, :] * noise[:, history - 1:history]
    if dna.metric == "rmse":        # the conditional mean minimises squared error; the median the rest
        spread = sigma ** 2 * (1 - phi ** (2 * h)) / (1 - phi * phi)
        oracle = np.exp(mu[:, history:] + carried + 0.5 * spread[None, :])
    else:
        oracle = np.exp(mu[:, history:] + carried)
    floor = 1.0 if count_like else 0.01
    y = np.maximum(np.round(y) if count_like else np.round(y, 2), floor)
    y_train = y[:, :history].copy()
    spikes = rng.random(y_train.shape) < q.outlier_rate
    y_train[spikes] = np.round(y_train[spikes] * rng.uniform(2.0, 3.0, int(spikes.sum())), 0 if count_like else 2)
    prefix = "".join(c for c in vocab.entity.upper() if c.isalpha())[:3]
    names = [f"{prefix}{j + 1:02d}" for j in range(series)]
    target = vocab.target.name
    ts = vocab.series_column
    train = {"id": [], "date": [], ts: [], **{c.name: [] for c in inputs}, target: []}
    test = {"id": [], "date": [], ts: [], **{c.name: [] for c in inputs}}
    answers, oracle_rows = [], []
    shown = {c.name: np.round(c.mean + c.sd * x[k], c.decimals) for k, c in enumerate(inputs)}
    for k, c in enumerate(inputs):
        if c.non_negative:
            shown[c.name] = np.maximum(shown[c.name], 0.0)
        shown[c.name][rng.random((series, steps)) < q.missing_rate] = np.nan
    row_id = 0
    for i in range(steps):              # time-major: the rows of one step together, as in Kaggle's files
        for j in range(series):
            row = train if i < history else test
            row["id"].append(str(row_id))
            row["date"].append(stamps[i])
            row[ts].append(names[j])
            for c in inputs:
                row[c.name].extend(fmt(shown[c.name][j, i:i + 1], c.decimals))
            if i < history:
                train[target].append(fmt_value(y_train[j, i:i + 1])[0])
            else:
                answers.append(y[j, i])
                oracle_rows.append(oracle[j, i - history])
            row_id += 1
    test_ids = test["id"]
    median = float(np.median(y_train))
    files = {}
    notes = []
    if sch.holidays:
        from sandmle.synth.generators.common import to_csv

        days = sorted({stamps[i][:10] for i in np.flatnonzero(events).tolist()})
        files["holidays.csv"] = to_csv({"date": days, "event": [vocab.event] * len(days)})
        notes.append(f"`holidays.csv`: the dates of every {vocab.event} in the history and the forecast period "
                      f"(columns `date`, `event`).")
    step = _STEP[sch.frequency]
    unit = f" ({vocab.target.unit})" if vocab.target.unit else ""
    known = (f" Inputs known in advance ({', '.join(c.name for c in inputs)}) are given for the forecast "
             f"period too." if inputs else "")
    overview = (f"{bp.domain.organisation.capitalize()} records {vocab.target.description}{unit} of {series} "
                f"{vocab.entity}s, one row per {vocab.entity} and {step}. Forecast the next {horizon} {step}s of "
                f"every {vocab.entity} (the rows of test.csv) from the {history} {step}s of history in train.csv."
                f"{known}")
    docs = [ColumnDoc("date", f"the {step}", "YYYY-MM-DD HH:00" if sch.frequency == "H" else "YYYY-MM-DD"),
            ColumnDoc(ts, f"which {vocab.entity}")]
    docs += [ColumnDoc(c.name, f"{humanise(c.name)}, known in advance", c.unit) for c in inputs]
    rule = (f"log y = level + slope*t + amplitude*season[t mod {m}] + event_effect*event + beta.x + e, "
            f"e[t] = {phi:.3f} e[t-1] + N(0, {sigma:.4f}^2); betas {np.round(betas, 3).tolist()} over "
            f"{[c.name for c in inputs]}; event effect sign {event_sign:+.0f}; trend {sch.trend}; "
            f"training targets spiked x2-3 with probability {q.outlier_rate}. Oracle: exp(mean + phi^h e[T])"
            f"{' with the lognormal mean correction' if dna.metric == 'rmse' else ''}.\n")
    return GeneratedData(
        train=train, test=test, answers={"id": test_ids, target: fmt_value(np.array(answers))},
        oracle={"id": test_ids, target: fmt_value(np.array(oracle_rows))},
        sample={"id": test_ids, target: [format(median, ".6g")] * len(test_ids)},
        files=files, docs=docs, label_docs=[ColumnDoc(target, vocab.target.description, vocab.target.unit)],
        rule_text=rule, train_ids=tuple(train["id"]), test_ids=tuple(test_ids), notes=notes, overview=overview,
        submission_text=f"One row per `id` of test.csv with `{target}`: the forecast{unit}.")
