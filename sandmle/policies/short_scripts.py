"""Short solutions: what the scripted teacher writes in its "short" style (seventeen lines).

The reference solutions (`sandmle.synth.solutions`) are the calibration population: scripts
of several hundred lines, far more than a small language model can learn to write on a CPU.
A short solution does the same job in seventeen lines of pandas and scikit-learn: it reads
the id and target columns from ./input/sample_submission.csv and the target's kind from the
data (so nothing task-specific is written but the file names of the task card), one-hot
encodes the few-valued text columns, drops the others, fills missing values, fits one
estimator (its regressor or classifier form) and writes ./submission.csv. The solutions
differ in one line, the estimator's.

    short_solutions(card)   the solutions for a task card (the `task-card` block of the
                            task message); ValueError for a task they do not cover
    covers(card)            whether they cover it

Covered: tabular tasks whose metric kind is binary_proba (the probability of the larger
label), label (predicted labels) or value (one numeric target). Each estimator comes in a
classifier and a regressor form; its strength was measured (paper reward, see `ESTIMATORS`)
on 11 synthetic tasks of nine tabular seeds: binary (auc, log loss, accuracy, MCC),
multi-class labels (macro F1, accuracy) and regression (MAE, R², RMSE).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandmle.metrics.registry import METRICS

KINDS = ("binary_proba", "label", "value")


@dataclass(frozen=True)
class ShortSolution:
    name: str
    strength: str                    # "weak" | "medium" | "strong"
    description: str                 # the estimator, in words
    think: str                       # the turn's reasoning: metric, direction, what to write
    code: str


# (name, strength, description, regressor, classifier); strengths as measured (paper reward,
# mean over the 11 tasks of the module doc): stump and knn_50 0.43, knn_15 0.65, boosting
# 0.69, linear 0.83, forest 0.93
ESTIMATORS = (
    ("stump", "weak", "a depth-1 decision tree",
     "tree.DecisionTreeRegressor(max_depth=1)", "tree.DecisionTreeClassifier(max_depth=1)"),
    ("knn_50", "weak", "50 nearest neighbours on raw features",
     "neighbors.KNeighborsRegressor(n_neighbors=50)", "neighbors.KNeighborsClassifier(n_neighbors=50)"),
    ("knn_15", "medium", "15 nearest neighbours on standardised features",
     "pipeline.make_pipeline(preprocessing.StandardScaler(), neighbors.KNeighborsRegressor(n_neighbors=15))",
     "pipeline.make_pipeline(preprocessing.StandardScaler(), neighbors.KNeighborsClassifier(n_neighbors=15))"),
    ("boosting", "medium", "histogram gradient boosting",
     "ensemble.HistGradientBoostingRegressor(max_iter=100, random_state=0)",
     "ensemble.HistGradientBoostingClassifier(max_iter=100, random_state=0)"),
    ("linear", "strong", "a linear model on standardised features",
     "pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.Ridge())",
     "pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression(max_iter=1000))"),
    ("forest", "strong", "a random forest of 100 trees",
     "ensemble.RandomForestRegressor(n_estimators=100, random_state=0)",
     "ensemble.RandomForestClassifier(n_estimators=100, random_state=0)"),
)

_WHAT = {"binary_proba": "the probability of the larger label", "label": "the predicted label",
         "value": "the predicted value"}

# The script reads the target's kind from the data (many distinct values: a regression;
# else a probability where the sample submission holds floats, a label otherwise), so it is
# the same for every task it covers but for the estimator line: a small model learns the
# rest as fixed text and the choice as one decision.
_TEMPLATE = """import pandas as pd
from sklearn import ensemble, linear_model, neighbors, pipeline, preprocessing, tree
train = pd.read_csv("input/{train}")
test = pd.read_csv("input/{test}")
sub = pd.read_csv("input/{sample}")
y = train[sub.columns[1]]
kind = "value" if y.nunique() > 20 else "proba" if sub[sub.columns[1]].dtype.kind == "f" else "label"
X = pd.concat([train, test])[test.columns.drop(sub.columns[0])]
few = [c for c in X.select_dtypes(exclude="number") if X[c].nunique() <= 20]
X = pd.get_dummies(X, columns=few, dtype=float).select_dtypes("number")
X = X.fillna(X.median()).fillna(0)
X_train, X_test = X.iloc[:len(train)], X.iloc[len(train):]
model = {regressor} if kind == "value" else {classifier}
model.fit(X_train, y)
sub[sub.columns[1]] = model.predict_proba(X_test)[:, 1] if kind == "proba" else model.predict(X_test)
sub.to_csv("submission.csv", index=False)
print(kind, sub.shape)
"""


def covers(card: dict[str, Any]) -> bool:
    """Whether short solutions cover the task of this card (see the module docstring)."""
    try:
        _kind(card)
    except ValueError:
        return False
    return True


def _kind(card: dict[str, Any]) -> str:
    metric = METRICS.get(card.get("metric", ""))
    kind = metric.kind if metric is not None else None
    if card.get("modality") != "tabular" or kind not in KINDS or len(card.get("target_columns", ())) != 1:
        raise ValueError(f"short solutions cover tabular tasks with one target of kind {', '.join(KINDS)}; "
                         f"task {card.get('id')!r} is {card.get('modality')!r} with metric {card.get('metric')!r}")
    return kind


def short_solutions(card: dict[str, Any]) -> list[ShortSolution]:
    """The short solutions for a task card (`sandmle.rollout.prompts.parse_task_card`)."""
    kind = _kind(card)
    direction = "lower" if card["is_lower_better"] else "higher"
    think = f"{card['metric']}, {direction} is better: write {_WHAT[kind]}."
    out = []
    for name, strength, description, regressor, classifier in ESTIMATORS:
        code = _TEMPLATE.format(train=card["train_file"], test=card["test_file"],
                                sample=card["sample_submission_file"], regressor=regressor, classifier=classifier)
        out.append(ShortSolution(name, strength, description, think, code))
    return out
