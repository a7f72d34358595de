"""Forecasting tasks: a split by time, holidays and inputs known ahead, reference forecasters
that run and rank as a forecaster expects, and `seeds from-csv` recognising a time index."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from solution_runs import submission_of
from sandmle.grading import score_submission
from sandmle.synth.generated import generate_task
from sandmle.synth.seeds import select_seeds
from sandmle.synth.solutions import reference_solutions


def frame(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype={"id": str})


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """A daily multi-series task written to a folder."""
    g = generate_task(select_seeds("forecast-daily-multi-rmse")[0], 4)
    root = tmp_path_factory.mktemp("daily")
    g.write(root / "public", root / "private")
    return g, root


def test_test_rows_follow_the_history_of_every_series(daily):
    g, _ = daily
    train, test = frame(g.public_files["train.csv"]), frame(g.public_files["test.csv"])
    key = g.spec.lineage.dna["series"]
    series_column = [c for c in test.columns if c.endswith("_id") and c != "id"][0]
    horizon, series = g.dna.sizes.test[0], g.dna.series.series[0]
    assert len(test) == horizon * series and train[series_column].nunique() == series == key["series"][0]
    last = train.groupby(series_column)["date"].max()
    first = test.groupby(series_column)["date"].min()
    assert (first > last).all() and (test.groupby(series_column).size() == horizon).all()
    assert set(train.columns) - set(test.columns) == set(g.spec.target_columns)
    holidays = frame(g.public_files["holidays.csv"])
    assert (holidays["date"] > last.max()).any()              # an event falls in the forecast period


def test_answers_are_positive_and_the_oracle_beats_the_sample(daily):
    g, root = daily
    answers = frame(g.answers_csv)[g.spec.target_columns[0]]
    assert (answers > 0).all()
    oracle = score_submission(g.spec, root / "private" / "answers.csv", root / "private" / "oracle.csv")
    sample = score_submission(g.spec, root / "private" / "answers.csv", root / "public" / "sample_submission.csv")
    assert oracle < 0.6 * sample



def test_reference_forecasters_run_and_lag_models_beat_the_naive_ones(daily, tmp_path):
    g, root = daily
    chosen = {s.name: s for s in reference_solutions(g.spec)}
    scores = {name: score_submission(g.spec, root / "private" / "answers.csv", submission_of(chosen[name], root / "public", tmp_path))
              for name in ("constant_median", "naive_last", "seasonal_naive", "ridge_calendar", "gbm_lags_d2")}
    assert scores["gbm_lags_d2"] < scores["naive_last"] < scores["constant_median"]
    assert scores["ridge_calendar"] < scores["seasonal_naive"]
    assert len(chosen) >= 20 and len({s.family for s in chosen.values()}) >= 5


def test_seeds_from_csv_recognises_a_time_index(tmp_path):
    from sandmle.sources.csv_seed import dna_from_csv

    rng = np.random.default_rng(0)
    dates = pd.date_range("2023-01-02", periods=100, freq="D")
    rows = [{"day": d.strftime("%Y-%m-%d"), "shop": shop, "price": 10 + rng.normal(),
             "is_holiday": int(i % 30 == 0), "sales": 50 + i + 5 * np.sin(i * 2 * np.pi / 7) + rng.normal()}
            for shop in ("north", "south", "east") for i, d in enumerate(dates)]
    path = tmp_path / "sales.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    dna = dna_from_csv(path, ["sales"], "mae")
    assert dna.modality == "time_series" and dna.sizes.unit == "step"
    assert (dna.series.frequency, dna.series.season_length, dna.series.series) == ("D", 7, (1, 3))
    assert dna.series.trend and dna.series.holidays and dna.features.numeric == 1      # price; the flag is a holiday
    assert generate_task(dna, 1).spec.modality == "time_series"
    shuffled = pd.DataFrame(rows).assign(day=[f"2023-01-{1 + i % 28:02d}" for i in range(len(rows))])
    shuffled.to_csv(path, index=False)                        # repeated, unevenly spaced stamps: not a series
    assert dna_from_csv(path, ["sales"], "mae").modality == "tabular"


def test_a_single_series_grows_its_horizon_past_the_seeds_range_when_a_repair_asks_for_more_rows():
    from sandmle.synth.amplify import MAX_HORIZON, amplify
    from sandmle.synth.seeds import load_seeds

    seed = load_seeds()["forecast-hourly-single-mape"]
    assert seed.series.series == (1, 1) and seed.sizes.test[1] <= 60
    plain, _ = amplify(seed, np.random.default_rng(3))
    grown, _ = amplify(seed, np.random.default_rng(3), test_scale=3.0)
    assert grown.sizes.test[0] == min(MAX_HORIZON, 3 * plain.sizes.test[0]) > 60      # more scored steps
    assert grown.series.series == (1, 1)
