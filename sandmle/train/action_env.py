"""The action environment: action sequences -> Python scripts -> sandbox -> grade -> reward.

Each action (`sandmle.train.actions`) is rendered into a self-contained script that reads
`input/train.csv` and `input/test.csv`, one-hot encodes text columns, imputes, optionally
scales, fits the chosen scikit-learn model per target and writes `submission.csv` in the
layout of `input/sample_submission.csv`. Every rollout really runs in the sandbox pool and is
graded by the real grader and reward kernel; nothing is cached. Timed-out jobs are marked
`timed_out` (masked out of the loss); crashes and invalid submissions are data (an invalid
grade, the format-only reward).

Supported tasks: tabular ones whose metric kind is binary_proba, multiclass_proba,
multilabel_proba, label, ordinal, value or multi_value (`supports(task)`).
"""
from __future__ import annotations

import csv
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from sandmle.metrics import METRICS
from sandmle.sandbox.job import Job, Limits
from sandmle.task import Task
from sandmle.train.actions import Action, PROMPT_LEN, SEQ_LEN, decode_action, encode_prompt
from sandmle.train.batch import Rollouts, Sample

SUPPORTED_KINDS = ("binary_proba", "multiclass_proba", "multilabel_proba", "label", "ordinal",
                   "value", "multi_value")
PRELOAD = ("numpy", "pandas", "sklearn.linear_model", "sklearn.ensemble", "sklearn.tree",
           "sklearn.neighbors", "sklearn.naive_bayes", "sklearn.dummy", "sklearn.preprocessing")
WIDE_FEATURES = 10        # tasks with more feature columns get the context token width=wide

_SCRIPT = '''\
import numpy as np
import pandas as pd

ID, TARGETS, KIND, CLASSES = {id!r}, {targets!r}, {kind!r}, {classes!r}
FAMILY, C, DEPTH, N_EST, K, SCALE, IMPUTE = {family!r}, {C!r}, {depth!r}, {n_est!r}, {k!r}, {scale!r}, {impute!r}

train = pd.read_csv("input/train.csv")
test = pd.read_csv("input/test.csv")
sub = pd.read_csv("input/sample_submission.csv")
features = [c for c in test.columns if c != ID and c in train.columns]
labels = [c for c in train.columns if c not in test.columns and c != ID]
X_all = pd.get_dummies(pd.concat([train[features], test[features]], ignore_index=True), dummy_na=False)
X_all = X_all.apply(pd.to_numeric, errors="coerce").astype(float)
fill = X_all.median() if IMPUTE == "median" else 0.0
X_all = X_all.fillna(fill).fillna(0.0)
if SCALE:
    X_all = (X_all - X_all.mean()) / X_all.std().replace(0.0, 1.0)
X, X_test = X_all.iloc[:len(train)].to_numpy(), X_all.iloc[len(train):].to_numpy()


def classifier():
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier
    return {{
        "logreg": lambda: LogisticRegression(C=C, max_iter=500),
        "rf": lambda: RandomForestClassifier(n_estimators=N_EST, max_depth=DEPTH, random_state=0),
        "gbm": lambda: GradientBoostingClassifier(n_estimators=N_EST, max_depth=DEPTH or 8, random_state=0),
        "knn": lambda: KNeighborsClassifier(n_neighbors=min(K, len(X))),
        "nb": lambda: GaussianNB(),
        "tree": lambda: DecisionTreeClassifier(max_depth=DEPTH, random_state=0),
        "const": lambda: DummyClassifier(strategy="prior"),
    }}[FAMILY]()


def regressor():
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import BayesianRidge, Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.tree import DecisionTreeRegressor
    return {{
        "logreg": lambda: Ridge(alpha=1.0 / C),
        "rf": lambda: RandomForestRegressor(n_estimators=N_EST, max_depth=DEPTH, random_state=0),
        "gbm": lambda: GradientBoostingRegressor(n_estimators=N_EST, max_depth=DEPTH or 8, random_state=0),
        "knn": lambda: KNeighborsRegressor(n_neighbors=min(K, len(X))),
        "nb": lambda: BayesianRidge(),
        "tree": lambda: DecisionTreeRegressor(max_depth=DEPTH, random_state=0),
        "const": lambda: DummyRegressor(strategy="mean"),
    }}[FAMILY]()


def proba_of(model, y, positive):
    if len(set(y)) < 2:
        return np.full(len(X_test), float(y[0] == positive))
    return model.predict_proba(X_test)[:, list(model.classes_).index(positive)] if positive in model.classes_ else np.zeros(len(X_test))


pred = pd.DataFrame({{ID: test[ID]}})
if KIND in ("value", "multi_value"):
    for col in TARGETS:
        pred[col] = regressor().fit(X, train[col].astype(float)).predict(X_test)
elif KIND == "multilabel_proba":
    for col in TARGETS:
        y = train[col].to_numpy()
        pred[col] = proba_of(classifier().fit(X, y) if len(set(y)) > 1 else None, y, 1)
elif KIND == "multiclass_proba":
    y = train[labels[0] if labels else TARGETS[0]].astype(str).to_numpy()
    model = classifier().fit(X, y)
    probs = model.predict_proba(X_test)
    for col in TARGETS:
        key = str(col)
        pred[col] = probs[:, list(model.classes_).index(key)] if key in model.classes_ else 0.0
else:
    col = TARGETS[0]
    y = train[col].to_numpy()
    model = classifier().fit(X, y)
    if KIND == "binary_proba":
        positive = 1 if 1 in set(y) else sorted(set(y))[-1]
        pred[col] = proba_of(model, y, positive)
    else:
        pred[col] = model.predict(X_test)
pred = pred.set_index(ID).loc[sub[ID]].reset_index()
pred.to_csv("submission.csv", index=False)
print("wrote", len(pred), "rows")
'''


def supports(task: Task) -> bool:
    return task.spec.modality == "tabular" and METRICS[task.spec.metric].kind in SUPPORTED_KINDS


def target_kind(task: Task) -> str:
    kind = METRICS[task.spec.metric].kind
    if kind in ("value", "multi_value"):
        return "regression"
    if kind == "multilabel_proba":
        return "multilabel"
    if kind == "ordinal":
        return "ordinal"
    if kind == "binary_proba" or (kind == "label" and len(task.spec.classes) == 2):
        return "binary"
    return "multiclass"


def feature_width(task: Task) -> str:
    with open(task.public_dir / task.spec.test_file, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    return "wide" if len(header) - 1 > WIDE_FEATURES else "narrow"


def render_script(action: Action, task: Task) -> str:
    """The Python script an action stands for, specialised to the task's columns."""
    spec = task.spec
    return _SCRIPT.format(
        id=spec.id_column, targets=list(spec.target_columns), kind=METRICS[spec.metric].kind,
        classes=list(spec.classes), family=action.family, C=action.C, depth=action.depth,
        n_est=action.n_estimators, k=action.k, scale=action.scale, impute=action.impute)


class ActionEnv:
    """Runs action rollouts for a list of tasks in a shared sandbox pool."""

    def __init__(self, pool, work_root: Path, *, reward_scheme: str = "paper",
                 timeout_s: float = 60.0, memory_mb: int = 2048, concurrency: int = 2,
                 temperature: float = 1.0):
        self.pool = pool
        self.work_root = Path(work_root)
        self.reward_scheme = reward_scheme
        self.limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb)
        self.concurrency = max(1, concurrency)
        self.temperature = temperature
        self._prompts: dict[str, list[int]] = {}

    def prompt(self, task: Task) -> list[int]:
        if task.id not in self._prompts:
            self._prompts[task.id] = encode_prompt(target_kind(task), feature_width(task))
        return self._prompts[task.id]

    def collect(self, model, tasks: list[Task], group_size: int, seed: int) -> Rollouts:
        start = time.perf_counter()
        plan = [(g, task) for g, task in enumerate(tasks) for _ in range(group_size)]
        prompts = torch.tensor([self.prompt(task) for _, task in plan], dtype=torch.long)
        generator = torch.Generator().manual_seed(seed)
        model.eval()
        sequences = model.sample(prompts, temperature=self.temperature, generator=generator).tolist()
        gen_s = time.perf_counter() - start
        step_dir = self.work_root / f"rollout-{seed}"
        with ThreadPoolExecutor(self.concurrency) as ex:
            samples = list(ex.map(lambda i: self._run_one(i, plan[i], sequences[i], step_dir),
                                  range(len(plan))))
        shutil.rmtree(step_dir, ignore_errors=True)
        return Rollouts(tuple(samples), time.perf_counter() - start,
                        {"generate_s": gen_s, "sandbox_s": sum(s.info["sandbox_s"] for s in samples)})

    def evaluate(self, model, tasks: list[Task], episodes_per_task: int, seed: int, score_tool: str) -> Rollouts:
        """Held-out episodes (`[eval]`): as `collect`. The action policy submits once and is
        graded; it has no score tool, so `score_tool` does not apply."""
        return self.collect(model, tasks, episodes_per_task, seed)

    def _run_one(self, index: int, planned: tuple[int, Task], ids: list[int], step_dir: Path) -> Sample:
        from sandmle.grading import grade_submission
        from sandmle.reward import reward_for_grade

        group, task = planned
        action = decode_action(ids)
        work = step_dir / f"{index:04d}"
        job = Job(work_dir=str(work), public_dir=str(task.public_dir), code=render_script(action, task),
                  limits=self.limits, seed=0, name=f"{task.id}:{action.family}")
        result = self.pool.run(job)
        submission = work / "submission.csv"
        grade = grade_submission(task, submission) if result.ok and submission.is_file() else None
        reward = float(reward_for_grade(grade, 1.0, scheme=self.reward_scheme))
        valid = bool(grade is not None and grade.valid)
        return Sample(
            input_ids=tuple(ids), loss_mask=(0,) * PROMPT_LEN + (1,) * (SEQ_LEN - PROMPT_LEN),
            reward=reward, group=group, task_id=task.id, keep=not result.timed_out,
            valid=valid, tier=grade.tier if grade is not None else "none", timed_out=result.timed_out,
            info={"prompt_len": PROMPT_LEN, "action": action.describe(), "score": grade.score if grade is not None else None,
                  "sandbox_s": result.wall_s, "exit_code": result.exit_code})
