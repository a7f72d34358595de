"""Reference solution for graph tasks: node classification, pair scoring, neighbour ranking.

Runs in the sandbox after its settings line, `CFG = {...}` (`sandmle.synth.solutions`). The
task's kind follows from its files: test.csv with `source` and `target` columns scores node
pairs; a train.csv answer of space-separated node ids ranks neighbours; otherwise nodes are
classified. The network is edges.csv as a scipy.sparse adjacency matrix; node measures come
from train/test.csv or nodes.csv. `CFG`:

- `inputs` (node tasks): own (the node's measures), neighbours (plus the mean measures of its
  neighbours, `hops` 1 or 2), labels (plus the label shares of its labelled neighbours, from
  propagation over `hops`), propagation (only the propagated labels), degree (only degrees);
  `model` and `params` as in predict.py's estimators; `rows` keeps a share of the labelled
  nodes.
- `score` (pair and ranking tasks): constant, degree (preferential attachment), common
  (common neighbours), jaccard, adamic_adar, resource, katz (paths of length 2 and 3),
  spectral (dot product of a `dims`-dimensional spectral embedding), features (cosine
  similarity of standardised measures), or learned: a `model` fitted on all of these
  for train.csv's pairs (ranking: each train node's answers against sampled non-edges).

Uses numpy/pandas/scipy/scikit-learn only and fixes every random_state.
"""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from sandmle.synth.solution_scripts.cache import cached
from sandmle.synth.solution_scripts.submission import write_submission

CFG: dict = globals().get("CFG", {})   # the settings line `CFG = {...}` binds them first
INPUT = Path("input")

SEED = 0
CANDIDATES = 40      # ranking with a fitted model: it re-ranks the top candidates of Katz and the embedding
HEURISTICS = ("degree", "common", "jaccard", "adamic_adar", "resource", "katz", "spectral", "features")
warnings.filterwarnings("ignore")


def make_model(task):
    from sklearn import ensemble, linear_model, neighbors, neural_network
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    name, p = CFG["model"], CFG.get("params", {})
    if name == "linear":
        return make_pipeline(StandardScaler(), linear_model.LogisticRegression(C=p.get("C", 1.0), max_iter=2000))
    if name == "knn":
        return make_pipeline(StandardScaler(), neighbors.KNeighborsClassifier(n_neighbors=p["k"]))
    if name == "forest":
        return ensemble.RandomForestClassifier(n_estimators=p["n"], min_samples_leaf=p.get("leaf", 1),
                                               random_state=SEED, n_jobs=1)
    if name == "gbm":
        return ensemble.GradientBoostingClassifier(n_estimators=p["n"], max_depth=p.get("depth", 2),
                                                   learning_rate=p.get("lr", 0.1), subsample=0.8, random_state=SEED)
    if name == "mlp":
        return make_pipeline(StandardScaler(), neural_network.MLPClassifier(
            hidden_layer_sizes=(p["units"],), alpha=p.get("alpha", 1e-2), solver="lbfgs", max_iter=400,
            random_state=SEED))
    raise ValueError(name)


def adjacency(index):
    edges = pd.read_csv(INPUT / "edges.csv", dtype=str)
    a = edges["source"].map(index).to_numpy()
    b = edges["target"].map(index).to_numpy()
    n = len(index)
    m = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)).tocsr()
    m = ((m + m.T) > 0).astype(float)
    return m.tocsr()


def row_normalised(a):
    degree = np.asarray(a.sum(axis=1)).ravel()
    return sparse.diags(1.0 / np.maximum(degree, 1.0)) @ a


def standardised(frame, columns):
    x = frame[columns].to_numpy(float) if columns else np.zeros((len(frame), 1))
    x = np.where(np.isfinite(x), x, np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0))
    x = np.nan_to_num(x)
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)


# ---- node classification -----------------------------------------------------------------

def classify_nodes(train, test, idc, label):
    nodes = pd.concat([train.drop(columns=[label]), test], ignore_index=True)
    index = {v: i for i, v in enumerate(nodes[idc].astype(str))}
    a = adjacency(index)
    walk = row_normalised(a)
    measures = [c for c in test.columns if c != idc and pd.api.types.is_numeric_dtype(test[c])]
    x = standardised(nodes, measures)
    labelled = train
    if CFG.get("rows", 1.0) < 1.0:
        labelled = train.sample(frac=CFG["rows"], random_state=SEED)
    classes = sorted(train[label].astype(str).unique())
    rows = np.array([index[v] for v in labelled[idc].astype(str)])
    y = labelled[label].astype(str).to_numpy()
    hops = CFG.get("hops", 1)
    spec = CFG["inputs"]
    blocks = []
    if spec in ("own", "neighbours", "labels"):
        blocks.append(x)
    if spec == "neighbours":
        mean = walk @ x
        blocks.append(mean)
        if hops > 1:
            blocks.append(walk @ mean)
    if spec in ("labels", "propagation"):
        seed = np.zeros((len(nodes), len(classes)))
        seed[rows, [classes.index(v) for v in y]] = 1.0
        shares = walk @ seed
        spread = shares
        for _ in range(hops - 1):
            spread = 0.5 * shares + 0.5 * (walk @ spread)
        blocks.append(spread)
        if spec == "propagation":
            blocks.append(np.asarray(a.sum(axis=1)))
    if spec == "degree":
        blocks.append(np.log1p(np.asarray(a.sum(axis=1))))
    features = np.hstack(blocks)
    targets = np.array([index[v] for v in test[idc].astype(str)])
    freq = np.array([(y == c).mean() for c in classes])
    if CFG["model"] == "constant" or len(set(y)) < 2:
        proba = np.tile(freq, (len(targets), 1))
    else:
        model = make_model("clf")
        model.fit(features[rows], y)
        proba = np.zeros((len(targets), len(classes)))
        got = model.predict_proba(features[targets])
        for j, c in enumerate(model.classes_):
            proba[:, classes.index(c)] = got[:, j]
    return classes, proba


# ---- pairs and rankings --------------------------------------------------------------------

class PairScores:
    """Heuristic scores of node pairs from the adjacency matrix and the node measures."""

    def __init__(self, a, x):
        self.a, self.x = a, x
        self.degree = np.asarray(a.sum(axis=1)).ravel()
        self.inv_log = sparse.diags(1.0 / np.log(np.maximum(self.degree, 2.0)))
        self.inv = sparse.diags(1.0 / np.maximum(self.degree, 1.0))
        norm = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)
        self.unit = norm
        self._embeddings = {}

    def embedding(self):
        dims = min(CFG.get("dims", 8), self.a.shape[0] - 2)
        if dims not in self._embeddings:
            from scipy.sparse.linalg import eigsh
            d = np.maximum(self.degree, 1.0) ** -0.5
            lap = sparse.diags(d) @ self.a @ sparse.diags(d)
            vals, vecs = eigsh(lap, k=dims, which="LA", v0=np.ones(self.a.shape[0]))
            self._embeddings[dims] = vecs * np.abs(vals)
        return self._embeddings[dims]

    def rows(self, name, sources):
        """Scores of every node as a partner of each node in `sources`: (len(sources), n)."""
        a = self.a
        s = a[sources]
        if name == "degree":
            return np.log1p(np.outer(self.degree[sources], self.degree))
        if name == "common":
            return (s @ a).toarray()
        if name == "jaccard":
            common = (s @ a).toarray()
            union = self.degree[sources][:, None] + self.degree[None, :] - common
            return common / np.maximum(union, 1.0)
        if name == "adamic_adar":
            return (s @ self.inv_log @ a).toarray()
        if name == "resource":
            return (s @ self.inv @ a).toarray()
        if name == "katz":
            two = s @ a
            return (two + 0.1 * (two @ a)).toarray()
        if name == "spectral":
            e = self.embedding()
            return e[sources] @ e.T
        if name == "features":
            return self.unit[sources] @ self.unit.T
        raise ValueError(name)

    def pairs(self, name, a_idx, b_idx):
        out = np.empty(len(a_idx))
        for start in range(0, len(a_idx), 256):
            chunk = slice(start, start + 256)
            out[chunk] = self.rows(name, a_idx[chunk])[np.arange(len(a_idx[chunk])), b_idx[chunk]]
        return out


def pair_matrix(scores, a_idx, b_idx):
    key = ("pairs", str(INPUT.resolve()), a_idx.tobytes(), b_idx.tobytes(), CFG.get("dims", 8))
    return cached(key, lambda: np.stack([scores.pairs(h, a_idx, b_idx) for h in HEURISTICS], axis=1))


def network_scores():
    """The known network and node measures as PairScores, with the node ids."""
    def make():
        nodes = pd.read_csv(INPUT / "nodes.csv")
        node_col = nodes.columns[0]
        ids = nodes[node_col].astype(str).to_numpy()
        index = {v: i for i, v in enumerate(ids)}
        measures = [c for c in nodes.columns if c != node_col and pd.api.types.is_numeric_dtype(nodes[c])]
        return PairScores(adjacency(index), standardised(nodes, measures)), ids, index
    return cached(("network", str(INPUT.resolve())), make)


def score_pairs(train, test, idc, label):
    scores, _, index = network_scores()
    ends = lambda frame: (frame["source"].astype(str).map(index).to_numpy(), frame["target"].astype(str).map(index).to_numpy())
    ta, tb = ends(test)
    method = CFG["score"]
    if method == "constant":
        return np.full(len(test), 0.5)
    if method != "learned":
        raw = scores.pairs(method, ta, tb)
        ranks = pd.Series(raw).rank(pct=True).to_numpy()
        return np.clip(ranks, 0.0, 1.0)
    if CFG.get("rows", 1.0) < 1.0:
        train = train.sample(frac=CFG["rows"], random_state=SEED)
    xa, xb = ends(train)
    model = make_model("clf")
    model.fit(pair_matrix(scores, xa, xb), train[label].astype(int).to_numpy())
    return model.predict_proba(pair_matrix(scores, ta, tb))[:, 1]


def candidates(scores, i, known):
    """Node i's CANDIDATES best partners by Katz and by the embedding, minus `known` ones.
    The same for every fitted ranker of a job, so found once per node and `known` set."""
    def make():
        rows = [scores.rows(h, np.array([i]))[0] for h in ("katz", "spectral")]
        cand = np.unique(np.concatenate([np.argsort(-np.where(known, -np.inf, x))[:CANDIDATES] for x in rows]))
        return cand[~known[cand] & (cand != i)]
    return cached(("candidates", id(scores), CFG.get("dims", 8), int(i), known.tobytes()), make)


def candidate_scores(scores, i, cand):
    """The HEURISTICS scores of node i with each of `cand`: (len(cand), len(HEURISTICS)), once
    per job (on a 650-node ranking task, 9 fitted rankers spent 120 of 240 s recomputing them)."""
    def make():
        return np.stack([scores.rows(h, np.array([i]))[0, cand] for h in HEURISTICS], axis=1)
    return cached(("candidate_scores", id(scores), CFG.get("dims", 8), int(i), cand.tobytes()), make)


def rank_neighbours(train, test, idc, label, k):
    scores, ids, index = network_scores()
    a = scores.a
    queries = test[idc].astype(str).map(index).to_numpy()
    method = CFG["score"]
    if method == "constant":
        popular = " ".join(ids[np.argsort(-scores.degree, kind="stable")[:k]])
        return [popular] * len(queries)
    if method == "learned":
        rng = np.random.default_rng(SEED)
        if CFG.get("rows", 1.0) < 1.0:
            train = train.sample(frac=CFG["rows"], random_state=SEED)
        src, dst, y = [], [], []
        for node, answer in zip(train[idc].astype(str), train[label].astype(str)):
            i = index[node]
            hidden = {index[j] for j in answer.split()}
            pool = candidates(scores, i, a[i].toarray()[0] > 0)         # negatives as hard as the test's
            for j in hidden:
                src.append(i), dst.append(j), y.append(1)
            for j in rng.choice(pool, size=min(10, len(pool)), replace=False):
                if j not in hidden:
                    src.append(i), dst.append(int(j)), y.append(0)
        src, dst = np.array(src), np.array(dst)
        model = make_model("clf")
        model.fit(pair_matrix(scores, src, dst), np.array(y))
    out = []
    for start in range(0, len(queries), 64):
        chunk = queries[start:start + 64]
        known = a[chunk].toarray() > 0
        known[np.arange(len(chunk)), chunk] = True
        if method == "learned":           # re-rank the best candidates of two cheap scores
            block = np.full(known.shape, -np.inf)
            cands = [candidates(scores, i, known[r]) for r, i in enumerate(chunk)]
            rows = np.vstack([candidate_scores(scores, i, cand) for i, cand in zip(chunk, cands)])
            # one prediction per chunk, not per query: a forest's per-call overhead was most of it
            proba = model.predict_proba(rows)[:, 1] if len(rows) else np.empty(0)
            ends = np.cumsum([len(cand) for cand in cands])
            for r, (cand, end) in enumerate(zip(cands, ends)):
                block[r, cand] = proba[end - len(cand):end]
        else:
            block = scores.rows(method, chunk)
        block = block + 1e-9 * scores.degree[None, :]      # ties go to the better-connected node
        block[known] = -np.inf
        top = np.argsort(-block, axis=1, kind="stable")[:, :k]
        out += [" ".join(ids[row]) for row in top]
    return out


def main():
    idc = CFG["id_column"]
    train, test = pd.read_csv(INPUT / "train.csv", dtype={idc: str}), pd.read_csv(INPUT / "test.csv", dtype={idc: str})
    sample = pd.read_csv(INPUT / "sample_submission.csv", nrows=5)
    target = [c for c in sample.columns if c != idc][0]
    label = [c for c in train.columns if c not in test.columns][0]
    out = pd.DataFrame({idc: test[idc]})
    if "source" in test.columns:
        out[target] = score_pairs(train, test, idc, label)
    elif CFG.get("kind") == "ranking":
        out[target] = rank_neighbours(train, test, idc, label, int(CFG.get("k", 5)))
    else:
        classes, proba = classify_nodes(train, test, idc, label)
        if CFG["kind"] == "binary_proba":
            out[target] = proba[:, classes.index("1")] if "1" in classes else 0.0
        else:
            out[target] = [classes[j] for j in proba.argmax(axis=1)]
    write_submission({idc: out[idc], target: out[target]})


if __name__ == "__main__":
    main()
