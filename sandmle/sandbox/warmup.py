"""Warm-up workloads a worker runs once after preloading, before it forks any job.

Importing sklearn is not all a first fit costs: pandas and sklearn import more modules
lazily on first use (sklearn's dataframe interchange pulls in narwhals; pandas its CSV
writers) and fill caches. A logistic-regression micro job took ~150 ms the first time in a
process and ~45 ms the second (REFERENCE §9 machine), so each forked job would pay the
first-time cost again. Running a tiny version of the usual workload here moves that cost
into the worker, once. Nothing here starts a thread (sklearn runs sequentially with one
BLAS thread; polars, whose thread pool starts on first use, is not exercised).

A preload entry "module:function" imports the module and calls the function.
"""
from __future__ import annotations

import os
import tempfile
import warnings


def warm_sklearn() -> None:
    """Read and write a CSV with pandas; fit and score the common sklearn models."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import (GradientBoostingClassifier, RandomForestClassifier,
                                  RandomForestRegressor)
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, roc_auc_score
    from sklearn.model_selection import KFold, cross_val_score, train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 4)), columns=["f0", "f1", "f2", "f3"])
    frame.insert(0, "id", np.arange(60))
    frame["cat"] = np.where(frame["f0"] > 0, "a", "b")
    frame["target"] = (frame["f1"] + frame["f2"] > 0).astype(int)
    with tempfile.TemporaryDirectory(prefix="sandmle-warmup-") as tmp:
        path = os.path.join(tmp, "train.csv")
        frame.to_csv(path, index=False)
        frame = pd.read_csv(path)
        features = ["f0", "f1", "f2", "f3"]
        x, y = frame[features], frame["target"]
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for model in (LogisticRegression(max_iter=200), RandomForestClassifier(n_estimators=3),
                          DecisionTreeClassifier(), KNeighborsClassifier(3),
                          GradientBoostingClassifier(n_estimators=3),
                          make_pipeline(StandardScaler(), LogisticRegression())):
                proba = model.fit(x_train, y_train).predict_proba(x_test)[:, 1]
                roc_auc_score(y_test, proba)
                accuracy_score(y_test, proba > 0.5)
                f1_score(y_test, proba > 0.5)
            for model in (Ridge(), RandomForestRegressor(n_estimators=3)):
                mean_squared_error(y_test, model.fit(x_train, y_train).predict(x_test))
            cross_val_score(LogisticRegression(), x, y, cv=KFold(3))
            OneHotEncoder(handle_unknown="ignore").fit_transform(frame[["cat"]])
        pd.DataFrame({"id": frame["id"], "target": y}).to_csv(
            os.path.join(tmp, "submission.csv"), index=False)
