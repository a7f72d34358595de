"""Graphs: node classification and link prediction on a generated network.

Nodes fall into hidden communities and carry a degree propensity. For node tasks an edge
joins two nodes of one community with probability `homophily` (a degree-corrected
stochastic block model); for link tasks nodes also sit at 2-d positions around their
community's centre and near pairs link more (`latent_network`), so shared neighbours and
embeddings predict hidden edges. Node features are domain measures whose means depend on
the community (link tasks: the position), weakly, so that a model reading only a node's
own features does worse than one that also uses the network. `signal` strengthens the
features, the homophily and the locality (`sandmle.synth.design`).

- node task (`graph.task == "node"`): train.csv holds the labelled nodes with their
  features and class, test.csv the nodes to classify, edges.csv every edge. Answers are the
  communities, a few (the DNA's label noise, at least 3%) replaced at random; the oracle
  predicts the community.
- link task, scored pairs (a probability metric): edges.csv is the network with some edges
  hidden, nodes.csv the node features; train.csv and test.csv list node pairs, half of them
  hidden edges and half non-edges, train.csv with the answer. The oracle scores a pair by
  its true edge probability.
- link task, ranked (MAP@K): each row of test.csv is a node whose hidden edges are the
  answer, space-separated; train.csv holds other nodes with theirs. The oracle ranks every
  candidate by its true edge probability.
"""
from __future__ import annotations

import numpy as np

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.domains import GRAPH_VOCABULARY
from sandmle.synth.generators.common import ColumnDoc, GeneratedData, fmt, fmt_proba, to_csv
from sandmle.synth.generators.tabular import humanise


MAX_NODES = 1500       # link tasks hold an n x n edge-probability matrix while generating
LOCALITY = 0.3         # link tasks: the reach of an edge in the 2-d latent space (communities sit 2 apart)


def network(n: int, communities: int, mean_degree: float, homophily: float, shares: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(community per node, degree propensity per node, edges (m, 2) with i < j, unique,
    in-community weight, cross weight): edge probability of a pair is proportional to
    theta_i * theta_j * (w_in if same community else w_out)."""
    community = rng.choice(communities, size=n, p=shares)
    theta = np.exp(rng.normal(0.0, 0.5, n))
    theta /= theta.mean()
    wanted = int(round(n * mean_degree / 2))
    p = theta / theta.sum()
    same_share = float(sum((p[community == c].sum()) ** 2 for c in range(communities)))
    w_in = homophily / max(same_share, 1e-9)
    w_out = (1 - homophily) / max(1 - same_share, 1e-9)
    edges: set[tuple[int, int]] = set()
    for _ in range(20):                          # rejection sampling, a few rounds at most
        draws = max(4 * wanted, 1000)
        a, b = rng.choice(n, size=draws, p=p), rng.choice(n, size=draws, p=p)
        weight = np.where(community[a] == community[b], w_in, w_out)
        keep = (rng.random(draws) < weight / max(w_in, w_out)) & (a != b)
        for i, j in zip(np.minimum(a, b)[keep].tolist(), np.maximum(a, b)[keep].tolist()):
            edges.add((i, j))
            if len(edges) >= wanted:
                break
        if len(edges) >= wanted:
            break
    pairs = np.array(sorted(edges), dtype=int).reshape(-1, 2)
    return community, theta, pairs, w_in, w_out


def latent_network(n: int, communities: int, mean_degree: float, homophily: float, locality: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A network where nearness matters (for link tasks): nodes sit at 2-d positions around
    their community's centre; a pair's edge probability is proportional to theta_i theta_j
    exp(-distance^2 / (2 locality^2)), times (1 - homophily) / homophily across communities,
    scaled so the expected degree is `mean_degree`. Returns (community, positions (n, 2),
    edges (m, 2) with i < j, edge probability matrix (n, n))."""
    community = rng.integers(0, communities, n)
    angle = 2 * np.pi * np.arange(communities) / communities
    centres = 2.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    positions = centres[community] + rng.normal(0.0, 0.8, (n, 2))
    theta = np.exp(rng.normal(0.0, 0.4, n))
    d2 = ((positions[:, None, :] - positions[None, :, :]) ** 2).sum(axis=2)
    weight = np.outer(theta, theta) * np.exp(-d2 / (2 * locality ** 2))
    weight *= np.where(community[:, None] == community[None, :], 1.0, (1 - homophily) / max(homophily, 1e-3))
    np.fill_diagonal(weight, 0.0)
    wanted = n * mean_degree / 2
    low, high = 0.0, 1.0 / max(weight.max(), 1e-12) * 1e3
    for _ in range(50):                          # bisection: sum of min(1, c w) over pairs = wanted
        mid = (low + high) / 2
        if np.minimum(1.0, mid * weight).sum() / 2 < wanted:
            low = mid
        else:
            high = mid
    prob = np.minimum(1.0, low * weight)
    upper = np.triu(rng.random((n, n)) < prob, k=1)
    edges = np.argwhere(upper)
    return community, positions, edges, prob


def node_features(bp: Blueprint, community: np.ndarray, communities: int, strength: float,
                  q, rng: np.random.Generator, positions: np.ndarray | None = None
                  ) -> tuple[dict[str, list[str]], list[ColumnDoc], np.ndarray]:
    """Visible feature columns (domain units), their docs, and the standardised values: a
    measure's mean depends on the node's community, or (given `positions`) on its position."""
    columns, docs, values = {}, [], []
    centres = rng.standard_normal((communities, len(bp.columns)))
    loadings = rng.standard_normal((2, len(bp.columns)))
    for k, col in enumerate(c for c in bp.columns if c.kind == "numeric"):
        z = rng.standard_normal(len(community))
        if not col.distractor:
            signal = centres[community, k] if positions is None else positions @ loadings[:, k] / 2.0
            z = z + strength * signal
        spec = col.numeric
        shown = np.round(spec.mean + spec.sd * z, spec.decimals)
        if spec.non_negative:
            shown = np.maximum(shown, 0.0)
        shown[rng.random(len(z)) < q.missing_rate] = np.nan
        columns[col.name] = fmt(shown, spec.decimals)
        docs.append(ColumnDoc(col.name, humanise(col.name), col.unit))
        values.append(z)
    return columns, docs, np.stack(values, axis=1)


def generate_graph(dna: TaskDNA, bp: Blueprint, rng: np.random.Generator, signal: float = 1.0) -> GeneratedData:
    g, q = dna.graph, dna.quirks
    vocab = GRAPH_VOCABULARY[bp.domain.name]
    homophily = float(np.clip(1 - (1 - g.homophily) / signal, 0.0, 0.98))
    strength = rng.uniform(0.35, 0.6) * signal
    if g.task == "node":
        return _node_task(dna, bp, vocab, homophily, strength, rng)
    return _link_task(dna, bp, vocab, homophily, strength, rng, signal)


def _shares(k: int, imbalance: float, rng: np.random.Generator) -> np.ndarray:
    ratio = 1.0 - 0.7 * imbalance
    prior = ratio ** rng.permutation(k)
    return prior / prior.sum()


def _edges_csv(pairs: np.ndarray, ids: list[str]) -> bytes:
    return to_csv({"source": [ids[i] for i in pairs[:, 0]], "target": [ids[j] for j in pairs[:, 1]]})


def _node_task(dna, bp, vocab, homophily, strength, rng) -> GeneratedData:
    g, q = dna.graph, dna.quirks
    k = g.communities
    n_train, n_test = bp.train_rows, bp.test_rows
    n = n_train + n_test
    shares = _shares(k, q.imbalance, rng)
    community, _, pairs, _, _ = network(n, k, g.mean_degree, homophily, shares, rng)
    columns, docs, _ = node_features(bp, community, k, strength, q, rng)
    order = rng.permutation(n)                 # which nodes are labelled: a random share
    train_nodes, test_nodes = np.sort(order[:n_train]), np.sort(order[n_train:])
    ids = [f"N{i:05d}" for i in range(n)]
    noise = max(q.label_noise, 0.03)
    observed = community.copy()
    flip = rng.random(n) < noise
    observed[flip] = rng.integers(0, k, int(flip.sum()))
    names = bp.classes if dna.target_kind == "multiclass" else ("0", "1")
    idc, col = bp.id_column, bp.target_columns[0]
    train = {idc: [ids[i] for i in train_nodes], **{c: [v[i] for i in train_nodes] for c, v in columns.items()},
             bp.label_columns[0]: [names[observed[i]] for i in train_nodes]}
    test = {idc: [ids[i] for i in test_nodes], **{c: [v[i] for i in test_nodes] for c, v in columns.items()}}
    test_ids = test[idc]
    freq = np.bincount(observed[train_nodes], minlength=k) / n_train
    if dna.metric_kind == "binary_proba":
        answers = {col: [str(int(observed[i] == 1)) for i in test_nodes]}
        clean = 1.0 - noise + noise / k
        oracle = {col: fmt_proba(np.where(community[test_nodes] == 1, clean, 1.0 - clean))}
        sample = {col: fmt_proba(np.full(n_test, round(float(freq[1]), 4)))}
    else:
        answers = {col: [names[observed[i]] for i in test_nodes]}
        oracle = {col: [names[community[i]] for i in test_nodes]}
        sample = {col: [names[int(np.argmax(freq))]] * n_test}
    entity = vocab.node
    overview = (f"{bp.domain.organisation.capitalize()} maps how its {entity}s connect: an edge between two "
                f"{entity}s means one {vocab.relation} the other. Predict {bp.target.description} for the "
                f"{n_test} {entity}s of test.csv from the {n_train} labelled {entity}s of train.csv, their "
                f"measures, and the network in edges.csv ({len(pairs)} edges over all {n} {entity}s).")
    rule = (f"Degree-corrected block model: {k} communities with shares {np.round(shares, 3).tolist()}, mean "
            f"degree {g.mean_degree}, homophily {homophily:.3f}; features = community centre x {strength:.3f} + "
            f"N(0, 1). Label = community, replaced at random with probability {noise:.3f}. Oracle: the community.\n")
    return GeneratedData(
        train=train, test=test, answers={idc: test_ids, **answers}, oracle={idc: test_ids, **oracle},
        sample={idc: test_ids, **sample}, files={"edges.csv": _edges_csv(pairs, ids)},
        docs=docs, label_docs=[ColumnDoc(bp.label_columns[0], bp.target.description)],
        rule_text=rule, train_ids=tuple(train[idc]), test_ids=tuple(test_ids),
        notes=[f"`edges.csv`: one undirected edge per row (`source`, `target`: {idc} values), over the "
               f"{entity}s of both train.csv and test.csv."],
        overview=overview)


def _link_task(dna, bp, vocab, homophily, strength, rng, signal: float = 1.0) -> GeneratedData:
    g, q = dna.graph, dna.quirks
    ranked = dna.metric_kind == "ranking"
    k = g.communities
    n_train, n_test = bp.train_rows, bp.test_rows
    # Enough nodes for the queries (ranked) or the pairs, capped: a dense n x n edge model.
    n = int(min(MAX_NODES, max(400, 1.5 * (n_train + n_test)))) if ranked else max(300, min(MAX_NODES, (n_train + n_test) // 2))
    community, positions, pairs, prob = latent_network(n, k, g.mean_degree, homophily, LOCALITY / signal, rng)
    columns, docs, _ = node_features(bp, community, k, strength, q, rng, positions)
    ids = [f"N{i:05d}" for i in range(n)]
    node_col = vocab.node_column
    nodes_csv = to_csv({node_col: ids, **columns})

    def probability(a, b):
        return prob[a, b]

    entity = vocab.node
    if ranked:
        return _ranked(dna, bp, vocab, rng, n, pairs, ids, probability, nodes_csv, docs, homophily)
    hidden = rng.permutation(len(pairs))[: (n_train + n_test) // 2]
    positives = pairs[hidden]
    kept = np.delete(pairs, hidden, axis=0)
    existing = {(int(a), int(b)) for a, b in pairs.tolist()}
    negatives = []
    while len(negatives) < len(positives):
        a, b = sorted(rng.choice(n, size=2, replace=False).tolist())
        if (a, b) not in existing:
            existing.add((a, b))
            negatives.append((a, b))
    both = np.concatenate([positives, np.array(negatives, dtype=int)])
    label = np.concatenate([np.ones(len(positives), int), np.zeros(len(negatives), int)])
    order = rng.permutation(len(both))
    both, label = both[order], label[order]
    split = n_train
    idc, col = bp.id_column, bp.target_columns[0]
    pair_ids = [f"P{i:05d}" for i in range(len(both))]
    rows = lambda sl: {idc: pair_ids[sl], "source": [ids[a] for a in both[sl, 0]], "target": [ids[b] for b in both[sl, 1]]}
    train = {**rows(slice(0, split)), bp.label_columns[0]: [str(v) for v in label[:split]]}
    test = rows(slice(split, None))
    test_ids = test[idc]
    oracle = probability(both[split:, 0], both[split:, 1])
    overview = (f"{bp.domain.organisation.capitalize()} maps how its {entity}s connect: an edge means one "
                f"{entity} {vocab.relation} the other. edges.csv holds the known edges, with some left out. For each "
                f"pair of {entity}s in test.csv, give the probability that it is a left-out edge; train.csv lists "
                f"{split} other pairs with the answer (half of all pairs are left-out edges).")
    rule = (f"Degree-corrected block model over {n} nodes, {k} hidden communities, mean degree {g.mean_degree}, "
            f"homophily {homophily:.3f}, nodes at 2-d positions (locality {LOCALITY / signal:.3f}); {len(hidden)} edges "
            f"hidden, as many non-edges drawn. Oracle: the pair's edge probability.\n")
    return GeneratedData(
        train=train, test=test, answers={idc: test_ids, col: [str(v) for v in label[split:]]},
        oracle={idc: test_ids, col: fmt_proba(oracle)}, sample={idc: test_ids, col: ["0.5"] * len(test_ids)},
        files={"edges.csv": _edges_csv(kept, ids), "nodes.csv": nodes_csv},
        docs=[ColumnDoc("source", f"the first {entity} ({node_col})"), ColumnDoc("target", f"the second {entity}")],
        label_docs=[ColumnDoc(bp.label_columns[0], "1 if the pair is a left-out edge, else 0")],
        rule_text=rule, train_ids=tuple(train[idc]), test_ids=tuple(test_ids),
        notes=[f"`edges.csv`: the known undirected edges (`source`, `target`: {node_col} values).",
               f"`nodes.csv`: every {entity} with its measures ({', '.join(d.name for d in docs)})."],
        overview=overview)


def _ranked(dna, bp, vocab, rng, n, pairs, ids, probability, nodes_csv, docs, homophily) -> GeneratedData:
    n_train, n_test = bp.train_rows, bp.test_rows
    k_top = int(dna.metric_params.get("k", 5))
    degree = np.bincount(pairs.ravel(), minlength=n)
    candidates = np.flatnonzero(degree >= 3)
    queries = rng.permutation(candidates)[: n_train + n_test]
    neighbours: dict[int, list[int]] = {i: [] for i in range(n)}
    for a, b in pairs.tolist():
        neighbours[a].append(b)
        neighbours[b].append(a)
    hidden_sets: dict[int, list[int]] = {}
    hide: set[tuple[int, int]] = set()
    for i in queries.tolist():
        own = [j for j in neighbours[i] if (min(i, j), max(i, j)) not in hide]
        count = min(len(own) - 1, int(rng.integers(1, 4)))
        if count < 1:
            continue
        chosen = rng.choice(own, size=count, replace=False).tolist()
        hidden_sets[i] = chosen
        hide.update((min(i, j), max(i, j)) for j in chosen)
    kept = np.array([e for e in pairs.tolist() if tuple(e) not in hide], dtype=int)
    observed = {i: set() for i in range(n)}
    for a, b in kept.tolist():
        observed[a].add(b)
        observed[b].add(a)
    chosen_queries = [i for i in queries.tolist() if i in hidden_sets]
    train_q, test_q = chosen_queries[:n_train], chosen_queries[n_train:]
    idc, col = bp.id_column, bp.target_columns[0]
    train = {idc: [ids[i] for i in train_q], bp.label_columns[0]: [" ".join(ids[j] for j in hidden_sets[i]) for i in train_q]}
    test = {idc: [ids[i] for i in test_q]}
    everyone = np.arange(n)
    oracle = []
    for i in test_q:
        p = probability(np.full(n, i), everyone)
        p[list(observed[i]) + [i]] = -1.0
        oracle.append(" ".join(ids[j] for j in np.argsort(-p, kind="stable")[:k_top]))
    popular = " ".join(ids[j] for j in np.argsort(-np.bincount(kept.ravel(), minlength=n), kind="stable")[:k_top])
    entity = vocab.node
    overview = (f"{bp.domain.organisation.capitalize()} maps how its {entity}s connect: an edge means one "
                f"{entity} {vocab.relation} the other. edges.csv holds the known edges; for every {entity} in "
                f"test.csv one to three of its edges were left out. Rank the {entity}s most likely to be its "
                f"left-out neighbours; train.csv lists other {entity}s with theirs.")
    rule = (f"Latent-position network over {n} nodes, homophily {homophily:.3f}; one to three edges hidden per "
            f"query node of degree >= 3. Oracle: candidates ranked by their edge probability.\n")
    test_ids = test[idc]
    return GeneratedData(
        train=train, test=test, answers={idc: test_ids, col: [" ".join(ids[j] for j in hidden_sets[i]) for i in test_q]},
        oracle={idc: test_ids, col: oracle}, sample={idc: test_ids, col: [popular] * len(test_ids)},
        files={"edges.csv": _edges_csv(kept, ids), "nodes.csv": nodes_csv}, docs=[],
        label_docs=[ColumnDoc(bp.label_columns[0], f"the left-out neighbours ({vocab.node_column} values, "
                                                   "space-separated)")],
        rule_text=rule, train_ids=tuple(train[idc]), test_ids=tuple(test_ids),
        notes=[f"`edges.csv`: the known undirected edges (`source`, `target`: {vocab.node_column} values).",
               f"`nodes.csv`: every {entity} with its measures ({', '.join(d.name for d in docs)})."],
        overview=overview,
        submission_text=f"One row per `{idc}` of test.csv with `{col}`: up to {k_top} {vocab.node_column} values "
                        "separated by spaces, most likely first.")
