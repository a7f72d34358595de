"""Reference solutions: >= 20 diverse scripts per task that run, write a valid submission,
and rank sensibly (stronger families beat the constant one)."""
from __future__ import annotations

from pathlib import Path

import pytest

from solution_runs import run_solution
from sandmle.grading import score_submission
from sandmle.synth.generated import generate_task
from sandmle.synth.seeds import load_seeds
from sandmle.synth.solutions import STRENGTHS, reference_solutions

# one seed per modality and metric kind; the first few run by default, the rest are slow
FAST = {
    "tabular-playground-series-may-2022": ("constant_prior", "forest_40", "gbm_100_d2_lr0.1"),
    "tabular-regression-rmsle": ("constant_prior", "forest_40", "svm_rbf_C10"),
    "spooky-author-identification": ("constant_prior", "logreg_counts12_C1", "linear_svm_word12"),
    "text-normalization-challenge-english-language": ("copy_before", "lookup_exact", "rules_all_year_context"),
}
SLOW = {
    "tabular-ranking-map5": ("constant_prior", "linear_C1", "gbm_100_d2_lr0.1"),
    "nomad2018-predict-transparent-conductors": ("constant_prior", "gbm_100_d2_lr0.1", "forest_40"),
    "tabular-ordinal-qwk": ("constant_prior", "forest_40", "linear_C1"),
    "tabular-multilabel-auc": ("constant_prior", "forest_40", "svm_rbf_C10"),
    "tabular-binary-mcc": ("constant_prior", "forest_40", "mlp_32_lbfgs"),
    "jigsaw-toxic-comment-classification-challenge": ("constant_prior", "logreg_word12_C10", "linear_svm_word12"),
    "random-acts-of-pizza": ("constant_prior", "logreg_word12_C10", "forest_100_counts"),
    "plant-pathology-2020-fgvc7": ("constant_prior", "forest_40_object", "linear_C1"),
    "the-icml-2013-whale-challenge-right-whale-redux": ("constant_prior", "forest_40_object", "svm_rbf_C10_hist"),
    "leaf-classification": ("constant_prior", "linear_C1", "forest_40_object"),
    "denoising-dirty-documents": ("identity", "hgb_60_r1", "background_ratio_7"),
}


def check_population(seed_id: str, names: tuple[str, ...], tmp_path: Path) -> None:
    g = generate_task(load_seeds()[seed_id], 2)
    g.write(tmp_path / "public", tmp_path / "private")
    population = {s.name: s for s in reference_solutions(g.spec)}
    sign = -1 if g.spec.is_lower_better else 1
    scores = {}
    for name in names:
        result = run_solution(population[name].code, tmp_path / "public", tmp_path / "work" / name)
        assert result.returncode == 0, f"{name}: {result.stderr[-800:]}"
        scores[name] = sign * score_submission(g.spec, tmp_path / "private" / "answers.csv",
                                               tmp_path / "work" / name / "submission.csv")
    baseline, better = scores[names[0]], [scores[n] for n in names[1:]]
    assert sum(better) / len(better) > baseline, scores
    oracle = sign * score_submission(g.spec, tmp_path / "private" / "answers.csv", tmp_path / "private" / "oracle.csv")
    assert oracle > max(scores.values()), (oracle, scores)


@pytest.mark.parametrize("seed_id", sorted(FAST))
def test_solutions_run_and_rank(seed_id, tmp_path):
    check_population(seed_id, FAST[seed_id], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed_id", sorted(SLOW))
def test_solutions_run_and_rank_every_kind(seed_id, tmp_path):
    check_population(seed_id, SLOW[seed_id], tmp_path)


@pytest.mark.parametrize("seed_id", sorted({**FAST, **SLOW}))
def test_population_is_large_diverse_and_compiles(seed_id):
    spec = generate_task(load_seeds()[seed_id], 0).spec
    population = reference_solutions(spec)
    assert len(population) >= 20
    assert len({s.name for s in population}) == len(population)
    assert len({s.family for s in population}) >= (3 if spec.modality == "sequence" else 5)
    assert {s.strength for s in population} <= set(STRENGTHS) and "weak" in {s.strength for s in population}
    assert len({s.code for s in population}) == len(population)
    for solution in population:
        compile(solution.code, solution.name, "exec")
        assert "random_state=SEED" in solution.code or "SEED" not in solution.code
