"""Graph tasks: node classification and link prediction layouts, hidden edges kept out of
edges.csv, and reference solutions where the network beats a node's own measures."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from solution_runs import submission_of
from sandmle.grading import score_submission
from sandmle.synth.generated import generate_task
from sandmle.synth.seeds import select_seeds
from sandmle.synth.solutions import reference_solutions


def frame(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


def written(seed_id, random_seed, root):
    g = generate_task(select_seeds(seed_id)[0], random_seed)
    g.write(root / "public", root / "private")
    return g



def scores(g, root, tmp_path, names):
    chosen = {s.name: s for s in reference_solutions(g.spec)}
    answers = root / "private" / "answers.csv"
    return {n: score_submission(g.spec, answers, submission_of(chosen[n], root / "public", tmp_path)) for n in names}


def test_node_task_edges_join_known_nodes_and_neighbours_help(tmp_path):
    g = written("graph-node-multiclass-accuracy", 2, tmp_path)
    train, test, edges = (frame(g.public_files[f]) for f in ("train.csv", "test.csv", "edges.csv"))
    idc = g.spec.id_column
    nodes = set(train[idc]) | set(test[idc])
    assert not set(train[idc]) & set(test[idc])
    assert set(edges["source"]) | set(edges["target"]) <= nodes
    got = scores(g, tmp_path, tmp_path, ["constant_prior", "own_linear_C1", "labels2_linear"])
    assert got["constant_prior"] < got["own_linear_C1"] < got["labels2_linear"]


def test_scored_link_task_hides_its_pairs_from_the_network(tmp_path):
    g = written("graph-link-auc", 2, tmp_path)
    test, edges = frame(g.public_files["test.csv"]), frame(g.public_files["edges.csv"])
    answers = frame(g.answers_csv)
    known = set(zip(edges["source"], edges["target"])) | set(zip(edges["target"], edges["source"]))
    assert not any(pair in known for pair in zip(test["source"], test["target"]))
    assert 0.4 < answers[g.spec.target_columns[0]].astype(int).mean() < 0.6
    got = scores(g, tmp_path, tmp_path, ["constant", "feature_similarity", "learned_linear"])
    assert got["constant"] == 0.5 and got["learned_linear"] > got["feature_similarity"] > 0.5


def test_ranked_link_task_answers_are_hidden_neighbours(tmp_path):
    g = written("graph-link-map5", 2, tmp_path)
    test, edges, answers = frame(g.public_files["test.csv"]), frame(g.public_files["edges.csv"]), frame(g.answers_csv)
    known = set(zip(edges["source"], edges["target"])) | set(zip(edges["target"], edges["source"]))
    col = g.spec.target_columns[0]
    for node, hidden in zip(answers[g.spec.id_column], answers[col]):
        assert hidden and not any((node, other) in known for other in hidden.split())
    oracle = score_submission(g.spec, tmp_path / "private" / "answers.csv", tmp_path / "private" / "oracle.csv")
    got = scores(g, tmp_path, tmp_path, ["constant", "adamic_adar", "learned_linear"])
    assert got["constant"] < got["adamic_adar"] and got["learned_linear"] < oracle
    assert len(reference_solutions(g.spec)) >= 20
