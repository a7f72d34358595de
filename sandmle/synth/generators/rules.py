"""Hidden rules: `label = f(z) + noise` for every target kind.

`make_rule` draws a random non-linear function of the latent inputs (main effects through
identity, tanh, square and step transforms, plus pairwise products), standardised on the
task's rows. `draw_targets` turns the rule's scores into targets of the DNA's kind with
noise, the training-label quirks (label noise, outliers, imbalance), the hidden answers,
the noise-free oracle prediction and a weak sample submission, all as formatted tables.
The oracle knows the rule, so it beats any model that has to learn it from 50-200 rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from sandmle.synth.dna import TaskDNA
from sandmle.synth.generators.common import Table, fmt_proba, fmt_simplex, fmt_value, sigmoid, softmax

OPS = ("linear", "tanh", "square", "step", "product")


@dataclass(frozen=True)
class Term:
    op: str
    inputs: tuple[int, ...]
    weight: float
    threshold: float = 0.0


@dataclass(frozen=True)
class Rule:
    outputs: tuple[tuple[Term, ...], ...]
    offsets: tuple[float, ...]
    scales: tuple[float, ...]

    def raw(self, z: np.ndarray) -> np.ndarray:
        out = np.zeros((z.shape[0], len(self.outputs)))
        for j, terms in enumerate(self.outputs):
            for t in terms:
                x = z[:, t.inputs[0]]
                if t.op == "linear":
                    v = x
                elif t.op == "tanh":
                    v = np.tanh(1.5 * x)
                elif t.op == "square":
                    v = x * x - 1.0
                elif t.op == "step":
                    v = (x > t.threshold).astype(float)
                else:
                    v = x * z[:, t.inputs[1]]
                out[:, j] += t.weight * v
        return out

    def evaluate(self, z: np.ndarray) -> np.ndarray:
        return (self.raw(z) - np.asarray(self.offsets)) / np.asarray(self.scales)

    def describe(self, names: list[str]) -> str:
        lines = []
        for j, terms in enumerate(self.outputs):
            parts = []
            for t in terms:
                a = names[t.inputs[0]]
                expr = {"linear": a, "tanh": f"tanh(1.5*{a})", "square": f"({a}^2 - 1)",
                        "step": f"[{a} > {t.threshold:+.2f}]"}.get(t.op)
                if expr is None:
                    expr = f"{a}*{names[t.inputs[1]]}"
                parts.append(f"{t.weight:+.2f}*{expr}")
            lines.append(f"score[{j}] = ({' '.join(parts)} {-self.offsets[j]:+.3f}) / {self.scales[j]:.3f}")
        return "\n".join(lines)


def make_rule(rng: np.random.Generator, z: np.ndarray, num_outputs: int, interactions: int = 2,
              sparse: bool = False) -> Rule:
    """A random rule over the columns of `z` (standardised latent inputs), fitted to `z`.

    Dense rules read 60-100% of the inputs per output through any transform; sparse rules
    (for text and media, whose inputs models must first recover) read 2-3 inputs, mostly
    linearly, with at most one interaction.
    """
    d = z.shape[1]
    outputs = []
    probs = [0.75, 0.25, 0.0, 0.0] if sparse else [0.45, 0.2, 0.15, 0.2]
    for _ in range(num_outputs):
        if sparse:
            k = min(d, int(rng.integers(2, 4)))
        else:
            k = max(2, int(round(d * rng.uniform(0.6, 1.0)))) if d > 1 else 1
        chosen = sorted(rng.choice(d, size=min(k, d), replace=False).tolist())
        terms = []
        for i in chosen:
            op = OPS[int(rng.choice(4, p=probs))]
            weight = float(rng.choice([-1, 1]) * rng.uniform(0.4, 1.4))
            threshold = float(rng.uniform(-0.8, 0.8)) if op == "step" else 0.0
            terms.append(Term(op, (i,), round(weight, 3), round(threshold, 3)))
        for _ in range(min(interactions, 1 if sparse else interactions) if len(chosen) >= 2 else 0):
            a, b = rng.choice(chosen, size=2, replace=False).tolist()
            scale = 0.5 if sparse else 1.0
            terms.append(Term("product", (int(a), int(b)), round(float(rng.choice([-1, 1]) * rng.uniform(0.6, 1.2) * scale), 3)))
        outputs.append(tuple(terms))
    draft = Rule(tuple(outputs), (0.0,) * num_outputs, (1.0,) * num_outputs)
    raw = draft.raw(z)
    offsets = tuple(round(float(v), 6) for v in raw.mean(axis=0))
    scales = tuple(round(float(max(v, 1e-6)), 6) for v in raw.std(axis=0))
    return Rule(tuple(outputs), offsets, scales)


@dataclass(frozen=True)
class Targets:
    train_labels: Table        # label columns of train.csv (train rows)
    answers: Table             # submission columns (test rows), without the id column
    oracle: Table              # noise-free prediction in the submission layout, without ids
    sample: Table              # a valid, weak submission, without ids
    mechanics: str             # how scores become targets (for rule.md)


def _bias_for_share(scores: np.ndarray, share: float) -> float:
    """Offset b with mean(sigmoid(scores + b)) == share (bisection)."""
    low, high = -30.0, 30.0
    for _ in range(60):
        mid = (low + high) / 2
        if sigmoid(scores + mid).mean() < share:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _ensure_present(y: np.ndarray, scores: np.ndarray, classes: int, minimum: int) -> np.ndarray:
    """Give every class at least `minimum` rows, relabelling its most likely rows."""
    y = y.copy()
    for c in range(classes):
        missing = minimum - int((y == c).sum())
        if missing > 0:
            counts = np.bincount(y, minlength=classes)
            for i in np.argsort(-scores[:, c], kind="stable").tolist():
                if missing == 0:
                    break
                if y[i] != c and counts[y[i]] > minimum:
                    counts[y[i]] -= 1
                    y[i] = c
                    missing -= 1
    return y


def draw_targets(dna: TaskDNA, scores: np.ndarray, is_test: np.ndarray, classes: tuple[str, ...],
                 target_columns: tuple[str, ...], label_columns: tuple[str, ...],
                 rng: np.random.Generator, regression_scale: list[tuple[float, float]] | None = None) -> Targets:
    """Targets of the DNA's kind from rule scores (rows: train then test; see module doc)."""
    kind, metric_kind, q = dna.target_kind, dna.metric_kind, dna.quirks
    train, test = ~is_test, is_test
    n_train = int(train.sum())
    if kind == "binary":
        strength = rng.uniform(2.4, 3.4)
        logit = strength * scores[:, 0]
        logit = logit + _bias_for_share(logit, 0.5 * (1 - q.imbalance))
        p = sigmoid(logit)
        y = (rng.random(len(p)) < p).astype(int)
        two = np.stack([-logit, logit], axis=1)
        y[train] = _ensure_present(y[train], two[train], 2, 3)
        y[test] = _ensure_present(y[test], two[test], 2, 5)
        y_train = _flip_binary(y[train], q.label_noise, rng)
        col = target_columns[0]
        prior = float(y_train.mean())
        if metric_kind == "binary_proba":
            oracle = {col: fmt_proba(p[test])}
            sample = {col: fmt_proba(np.full(test.sum(), round(prior, 4)))}
        else:
            oracle = {col: [str(int(v)) for v in (p[test] >= 0.5)]}
            sample = {col: _prior_labels(["0", "1"], np.array([1 - prior, prior]), int(test.sum()), dna.metric, rng)}
        return Targets({label_columns[0]: [str(v) for v in y_train]}, {col: [str(v) for v in y[test]]},
                       oracle, sample,
                       f"P(y=1) = sigmoid({strength:.2f}*score[0] + bias) with positive share {0.5 * (1 - q.imbalance):.2f}; "
                       f"training labels flipped with probability {q.label_noise}")
    if kind in ("multiclass", "ranking"):
        k = len(classes)
        strength = rng.uniform(2.2, 3.2)
        ratio = 1.0 - 0.7 * q.imbalance
        prior = ratio ** rng.permutation(k)
        logits = strength * scores + np.log(prior / prior.sum())
        probs = softmax(logits)
        y = (probs.cumsum(axis=1) < rng.random((len(probs), 1))).sum(axis=1).clip(0, k - 1)
        y[train] = _ensure_present(y[train], logits[train], k, 2)
        y[test] = _ensure_present(y[test], logits[test], k, 3)
        y_train = y[train].copy()
        noisy = rng.random(n_train) < q.label_noise
        y_train[noisy] = rng.integers(0, k, int(noisy.sum()))
        names = np.array(classes)
        freq = np.bincount(y_train, minlength=k) / n_train
        n_test = int(test.sum())
        mechanics = (f"P(class c) = softmax({strength:.2f}*score[c] + log prior[c]), prior {np.round(prior / prior.sum(), 3).tolist()}; "
                     f"training labels replaced at random with probability {q.label_noise}")
        if metric_kind == "ranking":
            top_k = dna.metric_params.get("k", 5)
            best = np.argsort(-probs[test], axis=1, kind="stable")[:, :top_k]
            frequent = " ".join(names[np.argsort(-freq, kind="stable")[:top_k]])
            return Targets({label_columns[0]: names[y_train].tolist()}, {target_columns[0]: names[y[test]].tolist()},
                           {target_columns[0]: [" ".join(names[r]) for r in best]},
                           {target_columns[0]: [frequent] * n_test}, mechanics)
        if metric_kind in ("multiclass_proba", "multilabel_proba"):
            onehot = np.eye(k, dtype=int)
            if metric_kind == "multiclass_proba":
                train_labels = {label_columns[0]: names[y_train].tolist()}
            else:
                train_labels = {c: [str(v) for v in onehot[y_train, j]] for j, c in enumerate(classes)}
            answers = {c: [str(v) for v in onehot[y[test], j]] for j, c in enumerate(classes)}
            if metric_kind == "multiclass_proba":      # rows that sum to 1 as written
                oracle = dict(zip(classes, fmt_simplex(probs[test])))
                sample = dict(zip(classes, fmt_simplex(np.tile(freq / freq.sum(), (n_test, 1)))))
            else:
                oracle = {c: fmt_proba(probs[test, j]) for j, c in enumerate(classes)}
                sample = {c: fmt_proba(np.full(n_test, round(float(freq[j]), 4))) for j, c in enumerate(classes)}
            return Targets(train_labels, answers, oracle, sample, mechanics)
        return Targets({label_columns[0]: names[y_train].tolist()}, {target_columns[0]: names[y[test]].tolist()},
                       {target_columns[0]: names[probs[test].argmax(axis=1)].tolist()},
                       {target_columns[0]: _prior_labels(list(classes), freq, n_test, dna.metric, rng)}, mechanics)
    if kind == "multilabel":
        strength = rng.uniform(2.4, 3.2)
        shares = 0.5 * (1 - q.imbalance) * rng.uniform(0.6, 1.2, len(classes))
        logits = strength * scores
        for j, share in enumerate(shares):
            logits[:, j] += _bias_for_share(logits[:, j], float(share))
        p = sigmoid(logits)
        y = (rng.random(p.shape) < p).astype(int)
        for j in range(len(classes)):
            two = np.stack([-logits[:, j], logits[:, j]], axis=1)
            y[train, j] = _ensure_present(y[train, j], two[train], 2, 3)
            y[test, j] = _ensure_present(y[test, j], two[test], 2, 5)
        y_train = np.stack([_flip_binary(y[train, j], q.label_noise, rng) for j in range(len(classes))], axis=1)
        n_test = int(test.sum())
        return Targets({c: [str(v) for v in y_train[:, j]] for j, c in enumerate(classes)},
                       {c: [str(v) for v in y[test, j]] for j, c in enumerate(classes)},
                       {c: fmt_proba(p[test, j]) for j, c in enumerate(classes)},
                       {c: fmt_proba(np.full(n_test, round(float(y_train[:, j].mean()), 4))) for j, c in enumerate(classes)},
                       f"P(label j) = sigmoid({strength:.2f}*score[j] + bias[j]), shares {np.round(shares, 3).tolist()}; "
                       f"training labels flipped with probability {q.label_noise}")
    if kind == "ordinal":
        k = dna.num_classes
        noise_sd = rng.uniform(0.35, 0.5)
        latent = scores[:, 0] + noise_sd * rng.standard_normal(len(scores))
        ratio = 1.0 - 0.6 * q.imbalance
        shares = ratio ** np.arange(k)
        cuts = np.quantile(latent, np.cumsum(shares / shares.sum())[:-1])
        y = np.searchsorted(cuts, latent)
        edges = np.concatenate([[-np.inf], cuts, [np.inf]])
        cdf = ndtr((edges[None, :] - scores[:, :1]) / noise_sd)
        grade_p = np.diff(cdf, axis=1)
        expected = np.rint(grade_p @ np.arange(k)).astype(int)
        y_train = y[train].copy()
        noisy = rng.random(n_train) < q.label_noise
        y_train[noisy] = np.clip(y_train[noisy] + rng.choice([-1, 1], int(noisy.sum())), 0, k - 1)
        freq = np.bincount(y_train, minlength=k) / n_train
        col = target_columns[0]
        return Targets({label_columns[0]: [str(v) for v in y_train]}, {col: [str(v) for v in y[test]]},
                       {col: [str(v) for v in expected[test]]},
                       {col: _prior_labels([str(i) for i in range(k)], freq, int(test.sum()), dna.metric, rng)},
                       f"grade = number of cut points {np.round(cuts, 3).tolist()} below score[0] + N(0, {noise_sd:.2f}^2); "
                       f"oracle = rounded expected grade; training grades moved by one with probability {q.label_noise}")
    if kind == "regression":
        noise_sd = rng.uniform(0.3, 0.45)
        answers, oracle, train_labels, sample, notes = {}, {}, {}, {}, []
        log_scale = dna.metric in ("rmsle", "mean_column_rmsle")
        for j, col in enumerate(target_columns):
            mean, sd = (regression_scale or [(10.0, 3.0)] * len(target_columns))[j]
            y_std = scores[:, j] + noise_sd * rng.standard_normal(len(scores))
            if log_scale:
                sigma = float(np.clip(sd / mean, 0.15, 0.6))
                value, clean = mean * np.exp(sigma * y_std), mean * np.exp(sigma * scores[:, j])
                notes.append(f"{col} = {mean:g}*exp({sigma:.3f}*(score[{j}] + N(0, {noise_sd:.2f}^2)))")
            else:
                value, clean = mean + sd * y_std, mean + sd * scores[:, j]
                notes.append(f"{col} = {mean:g} + {sd:g}*(score[{j}] + N(0, {noise_sd:.2f}^2))")
            y_train = value[train].copy()
            noisy = rng.random(n_train) < q.label_noise
            y_train[noisy] = rng.permutation(y_train)[noisy]
            wild = rng.random(n_train) < q.outlier_rate
            y_train[wild] = y_train[wild] * rng.uniform(2.5, 4.0, int(wild.sum()))
            train_labels[label_columns[j]] = fmt_value(y_train)
            answers[col] = fmt_value(value[test])
            oracle[col] = fmt_value(clean[test])
            n_test = int(test.sum())
            if dna.metric == "spearman":     # a constant has no rank correlation: random order instead
                sample[col] = fmt_value(np.round(rng.random(n_test), 4))
            else:
                sample[col] = fmt_value(np.full(n_test, float(np.median(y_train))))
        notes.append(f"training targets shuffled with probability {q.label_noise}, inflated x2.5-4 with probability {q.outlier_rate}")
        return Targets(train_labels, answers, oracle, sample, "; ".join(notes))
    raise ValueError(f"draw_targets does not handle target kind {kind!r}")


def _flip_binary(y: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    flip = rng.random(len(y)) < rate
    return np.where(flip, 1 - y, y)


def _prior_labels(names: list[str], freq: np.ndarray, n: int, metric: str, rng: np.random.Generator) -> list[str]:
    """A weak label submission: the majority class, or prior draws where a constant is undefined."""
    if metric == "accuracy" or metric == "f1_micro":
        return [names[int(np.argmax(freq))]] * n
    p = np.asarray(freq, dtype=float) + 1e-9
    draws = rng.choice(len(names), size=n, p=p / p.sum())
    return [names[i] for i in draws]
