"""Action language and its rendered scripts: every family runs on every supported kind."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from sandmle.task import Lineage, TaskSpec, Thresholds, write_task
from sandmle.train.action_env import render_script, supports, target_kind
from sandmle.train.actions import (PROMPT_LEN, SEQ_LEN, SLOTS, VOCAB, ActionPolicy, decode_action,
                                   encode_prompt)
from sandmle.train.logprobs import selective_logprobs

KINDS = {  # metric -> (targets, classes)
    "auc": (("target",), ()),
    "accuracy": (("target",), ("a", "b", "c")),
    "qwk": (("target",), ("0", "1", "2", "3")),
    "rmse": (("target",), ()),
    "mean_column_rmsle": (("y1", "y2"), ()),
    "multiclass_log_loss": (("a", "b", "c"), ("a", "b", "c")),
    "mean_column_auc": (("l1", "l2"), ()),
}


def make_task(root, metric, seed=0, n=80, m=30):
    from sandmle.metrics import METRICS

    targets, classes = KINDS[metric]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + m, 4))
    X[rng.random(X.shape) < 0.05] = np.nan
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    frame["cat"] = rng.choice(["u", "v"], size=n + m)
    frame.insert(0, "id", np.arange(n + m))
    signal = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1])
    kind = METRICS[metric].kind
    labels = {}
    if kind == "binary_proba":
        labels["target"] = (signal > 0).astype(int)
    elif kind in ("label", "ordinal", "multiclass_proba"):
        cls = list(classes)
        labels["target"] = [cls[i] for i in np.digitize(signal, np.quantile(signal, np.linspace(0, 1, len(cls) + 1)[1:-1]))]
    elif kind == "multilabel_proba":
        labels = {t: (signal + i > 0).astype(int) for i, t in enumerate(targets)}
    else:
        labels = {t: np.exp(signal / 3) + i for i, t in enumerate(targets)}
    train = frame.iloc[:n].copy()
    for k, v in labels.items():
        train[k] = np.asarray(v)[:n]
    test = frame.iloc[n:].copy()
    sample = pd.DataFrame({"id": test["id"]})
    answers = pd.DataFrame({"id": test["id"]})
    for t in targets:
        sample[t] = 0
        if kind == "multiclass_proba":
            answers[t] = (np.asarray(labels["target"])[n:] == t).astype(int)
        else:
            answers[t] = np.asarray(labels["target" if "target" in labels else t])[n:]

    def fill(public, private):
        train.to_csv(public / "train.csv", index=False)
        test.to_csv(public / "test.csv", index=False)
        sample.to_csv(public / "sample_submission.csv", index=False)
        (public / "description.md").write_text("toy")
        answers.to_csv(private / "answers.csv", index=False)

    lower = METRICS[metric].is_lower_better
    th = Thresholds(3, 2, 1, 0) if lower else Thresholds(0, 1, 2, 3)
    spec = TaskSpec(id=f"toy-{metric}", title="toy", modality="tabular", metric=metric, is_lower_better=lower,
                    id_column="id", target_columns=targets, thresholds=th, train_rows=n, test_rows=m,
                    lineage=Lineage("toy", "procedural", "1", seed), classes=classes)
    return write_task(root / spec.id, spec, fill)


def _ids(values):
    from sandmle.train.actions import TOKEN_ID

    prompt = encode_prompt("binary", "narrow")
    return prompt + [TOKEN_ID[f"{name}={v}"] for (name, _), v in zip(SLOTS, values)]


def test_decode_round_trip_and_rejects_wrong_slot():
    action = decode_action(_ids(["gbm", "0.1", "None", "300", "5", "yes", "zero"]))
    assert (action.family, action.C, action.depth, action.n_estimators, action.k, action.scale, action.impute) == \
        ("gbm", 0.1, None, 300, 5, True, "zero")
    bad = _ids(["gbm", "0.1", "None", "300", "5", "yes", "zero"])
    bad[PROMPT_LEN], bad[PROMPT_LEN + 1] = bad[PROMPT_LEN + 1], bad[PROMPT_LEN]
    with pytest.raises(ValueError, match="not a value of slot"):
        decode_action(bad)


def test_initial_policy_is_uniform_and_sampling_respects_the_grammar():
    model = ActionPolicy(16)
    prompts = torch.tensor([encode_prompt("regression", "wide")] * 64)
    seqs = model.sample(prompts, generator=torch.Generator().manual_seed(0))
    for row in seqs.tolist():
        decode_action(row)                       # every sample is well formed
    logits = model(seqs).logits[:, :-1]
    logp = selective_logprobs(logits.reshape(-1, logits.shape[-1]), seqs[:, 1:].reshape(-1))[0].view(64, -1)
    expected = torch.tensor([-np.log(len(values)) for _, values in SLOTS], dtype=torch.float32)
    torch.testing.assert_close(logp[:, PROMPT_LEN - 1:], expected.expand(64, -1), rtol=1e-5, atol=1e-5)
    assert len(VOCAB) == len(set(VOCAB)) and seqs.shape[1] == SEQ_LEN


_RUNNER = """
import os, runpy, sys, traceback
for work in sys.argv[1:]:
    os.chdir(work)
    try:
        runpy.run_path("solve.py", run_name="__main__")
    except Exception:
        open("error.txt", "w").write(traceback.format_exc())
"""


def test_every_family_writes_a_submission_of_the_right_shape(tmp_path):
    works = []
    for metric in sorted(KINDS):
        task = make_task(tmp_path, metric)
        assert supports(task)
        for family in SLOTS[0][1]:
            action = decode_action(_ids([family, "1", "4", "10", "5", "yes", "median"]))
            work = tmp_path / f"run-{metric}-{family}"
            work.mkdir()
            (work / "input").symlink_to(task.public_dir)
            (work / "solve.py").write_text(render_script(action, task))
            works.append((task, family, work))
    # one interpreter runs every script (imports once), each in its own folder
    subprocess.run([sys.executable, "-c", _RUNNER, *[str(w) for _, _, w in works]], check=True, timeout=300)
    for task, family, work in works:
        assert not (work / "error.txt").exists(), (task.id, family, (work / "error.txt").read_text()[-1500:])
        sub = pd.read_csv(work / "submission.csv")
        assert list(sub.columns) == ["id", *task.spec.target_columns], (task.id, family)
        assert len(sub) == task.spec.test_rows and not sub.isna().any().any(), (task.id, family)


def test_target_kind_context_tokens(tmp_path):
    assert target_kind(make_task(tmp_path, "auc")) == "binary"
    assert target_kind(make_task(tmp_path, "mean_column_rmsle")) == "regression"
    assert target_kind(make_task(tmp_path, "multiclass_log_loss")) == "multiclass"
