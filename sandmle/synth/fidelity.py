"""Fidelity: does what wins on a seed's twins win on the real data it came from?

    report = measure_fidelity(Path("data.csv"), "label", "auc", num_twins=5)
    print(report.spearman, report.ceiling, report.control_spearman, report.acceptance)

The reference population (`sandmle.synth.solutions.reference_solutions`) runs on

- the real data, as micro tasks of the same scale as a twin: `real_splits` random draws of
  `train_rows` training rows and up to `test_rows` test rows (`sandmle task from-csv`);
- `num_twins` twins synthesised from the data-conditioned seed (`sandmle synth`: calibrated
  and verified; the twins that pass verification count);
- a control: twins of another seed scored by the same metric: by default the shipped
  tabular seed of the same target kind (the same metric first); `control` names another
  seed file or shipped seed (e.g. one made from a different dataset, or this data's DNA
  without a data model: `seeds from-csv --no-data-model`).

Each side's leaderboard becomes mean ranks per solution (1 = best; ranks within each task,
averaged over tasks). Reported: Spearman between real and twin mean ranks; the ceiling, the
Spearman between the mean ranks of two halves of the real splits (how well one estimate of
the real leaderboard agrees with another); the control's Spearman against the real ranks;
twin acceptance; the rank shift per solution; and the privacy check of fresh model rows
against the real rows. The report is written to `BANK/_fidelity.json` of the twin bank, where
`sandmle bank stats` finds it.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sandmle.errors import UserError
from sandmle.files import atomic_tmp
from sandmle.metrics.registry import METRICS

FIDELITY_FILE = "_fidelity.json"
TRAIN_ROWS = 150
TEST_ROWS = 2000
MIN_CLASS_ROWS = 5


@dataclass(frozen=True)
class SolutionShift:
    name: str
    real_rank: float
    twin_rank: float
    control_rank: float | None

    @property
    def shift(self) -> float:
        return self.twin_rank - self.real_rank


@dataclass(frozen=True)
class FidelityReport:
    data: str
    target: str
    metric: str
    rows: int
    task_kind: str
    seed_id: str
    control_id: str
    real_splits: int
    twins_attempted: int
    twins_accepted: int
    control_accepted: int
    spearman: float | None            # real vs twin mean ranks
    ceiling: float | None             # real split-half vs split-half
    control_spearman: float | None    # real vs control twins' mean ranks
    solutions: tuple[SolutionShift, ...]
    privacy: dict[str, Any]
    teacher: dict[str, Any]
    rejected: tuple[str, ...] = field(default_factory=tuple)

    @property
    def acceptance(self) -> float:
        return self.twins_accepted / self.twins_attempted if self.twins_attempted else 0.0

    @property
    def gain_over_control(self) -> float | None:
        if self.spearman is None or self.control_spearman is None:
            return None
        return self.spearman - self.control_spearman

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["solutions"] = [dict(asdict(s), shift=round(s.shift, 3)) for s in self.solutions]
        data.update(acceptance=round(self.acceptance, 3), gain_over_control=self.gain_over_control)
        return data


def mean_ranks(boards: list[dict[str, float]], is_lower_better: bool, names: list[str]) -> dict[str, float]:
    """Mean rank (1 = best, ties averaged) per solution over leaderboards of valid scores;
    a solution missing from a board takes that board's last rank."""
    from scipy.stats import rankdata

    totals = {n: [] for n in names}
    for board in boards:
        scores = np.array([board.get(n, np.nan) for n in names], dtype=float)
        key = np.where(np.isnan(scores), np.inf, scores if is_lower_better else -scores)
        for n, r in zip(names, rankdata(key, method="average")):
            totals[n].append(float(r))
    return {n: float(np.mean(v)) for n, v in totals.items() if v}


def spearman(a: dict[str, float], b: dict[str, float]) -> float | None:
    from scipy.stats import spearmanr

    names = sorted(set(a) & set(b))
    if len(names) < 3:
        return None
    value = spearmanr([a[n] for n in names], [b[n] for n in names]).statistic
    return None if value != value else round(float(value), 4)


def _board(task_dir: Path) -> dict[str, float]:
    """Valid scores by solution name of a calibrated task's private/leaderboard.csv."""
    from sandmle.leaderboard import read_leaderboard

    board = read_leaderboard(task_dir / "private" / "leaderboard.csv", is_lower_better=False, min_valid=1)
    return {e.name: e.score for e in board.entries if e.valid}


def real_boards(frame, target: str, metric: str, splits: int, pool, workdir: Path, seed: int,
                train_rows: int = TRAIN_ROWS, test_rows: int = TEST_ROWS,
                on_split: Callable[[int], None] | None = None) -> list[dict[str, float]]:
    """The reference population's scores on `splits` micro tasks drawn from the real rows."""
    from sandmle.sources.csv_task import make_task_from_csv
    from sandmle.synth.calibrate import calibrate_folder

    n = len(frame)
    if n < train_rows + 20:
        raise UserError(f"the data has {n} labelled rows; fidelity needs at least {train_rows + 20}")
    rng = np.random.default_rng(seed)
    boards = []
    for k in range(splits):
        take = rng.permutation(n)[:train_rows + min(test_rows, n - train_rows)]
        path = workdir / f"real-{k}.csv"
        frame.iloc[np.sort(take)].to_csv(path, index=False)
        task = make_task_from_csv(path, target, metric, workdir / f"real-{k}", seed=seed + k,
                                  test_fraction=1 - train_rows / len(take), task_id=f"real-{k}")
        calibrate_folder(task.root, pool, timeout_s=60.0)
        boards.append(_board(task.root))
        if on_split is not None:
            on_split(k)
    return boards


def twin_boards(seed_path: Path, num_twins: int, bank: Path, workers: int | None, seed: int):
    """(leaderboards of the accepted twins, outcomes of every twin) of a bank synthesised from a seed file."""
    from sandmle.synth.pipeline import synthesize

    report = synthesize(str(seed_path), num_twins, bank, workers=workers, seed=seed)
    from sandmle.synth.funnel import read_outcomes

    outcomes = [o for o in read_outcomes(bank)]
    boards = [_board(bank / o.task_id) for o in outcomes if o.accepted and (bank / o.task_id).is_dir()]
    return boards, outcomes, report


def measure_fidelity(csv_path: Path, target: str, metric: str, *, num_twins: int = 5, real_splits: int = 8,
                     control: str | None = None, bank: Path | None = None, workers: int | None = None,
                     seed: int = 0, seed_file: Path | None = None,
                     log: Callable[[str], None] | None = None) -> FidelityReport:
    """Measure a data-conditioned seed's fidelity to its data (module doc)."""
    import pandas as pd

    from sandmle.sandbox.pool import DEFAULT_PRELOAD, Pool
    from sandmle.sources.csv_plan import normal_label, read_csv
    from sandmle.sources.csv_seed import dna_from_csv
    from sandmle.synth.pipeline import PRELOAD_EXTRA
    from sandmle.synth.seeds import load_seed_file, select_seeds
    from sandmle.synth.twin.model import DataModel
    from sandmle.task import write_json_atomic

    say = log or (lambda line: None)
    if num_twins < 1 or real_splits < 2:
        raise UserError(f"--twins must be >= 1 and real splits >= 2, got {num_twins} and {real_splits}")
    dna = load_seed_file(seed_file) if seed_file else dna_from_csv(csv_path, [target], metric)
    if not dna.is_data_conditioned:
        raise UserError(f"{csv_path.name} gives no data-conditioned seed ({dna.notes or 'no data model'})")
    if dna.metric != metric:
        raise UserError(f"seed {dna.id} is scored by {dna.metric}, not {metric}")
    frame = read_csv(Path(csv_path))
    if target not in frame.columns:
        raise UserError(f"target column {target!r} is not in {csv_path}")
    frame = frame.dropna(subset=[target]).reset_index(drop=True)
    if METRICS[metric].kind not in ("value", "multi_value"):
        counts = frame[target].map(normal_label).value_counts()
        rare = counts[counts < MIN_CLASS_ROWS]
        if len(rare):        # a class of a row or two cannot be split into micro tasks
            say(f"real data: left out {int(rare.sum())} rows of rare classes {', '.join(map(str, rare.index))}")
            frame = frame[~frame[target].map(normal_label).isin(rare.index)].reset_index(drop=True)
    control_dna = _control(dna, control, metric, load_seed_file, select_seeds)
    is_lower = METRICS[metric].is_lower_better
    with tempfile.TemporaryDirectory(prefix="sandmle-fidelity.") as scratch:
        scratch = Path(scratch)
        twin_bank = Path(bank) if bank is not None else scratch / "twins"
        seed_path, control_path = scratch / f"{dna.id}.json", scratch / f"{control_dna.id}.json"
        write_json_atomic(seed_path, dna.to_json())
        write_json_atomic(control_path, control_dna.to_json())
        say(f"real data: {len(frame)} rows; {real_splits} micro tasks of {TRAIN_ROWS} training rows")
        (scratch / "real").mkdir()
        with Pool(num_workers=workers, preload=DEFAULT_PRELOAD + PRELOAD_EXTRA, isolate=True) as pool:
            real = real_boards(frame, target, metric, real_splits, pool, scratch / "real", seed,
                               on_split=lambda k: say(f"real split {k + 1}/{real_splits} scored"))
        say(f"twins: synthesising {num_twins} from {dna.id}")
        twins, outcomes, _ = twin_boards(seed_path, num_twins, twin_bank, workers, seed)
        say(f"control: synthesising {num_twins} from {control_dna.id}")
        controls, control_outcomes, _ = twin_boards(control_path, num_twins, scratch / "control", workers, seed + 1)
    names = sorted({n for b in real for n in b})
    real_ranks = mean_ranks(real, is_lower, names)
    half = len(real) // 2
    ceiling = spearman(mean_ranks(real[:half], is_lower, names), mean_ranks(real[half:], is_lower, names))
    twin_ranks = mean_ranks(twins, is_lower, names) if twins else {}
    control_ranks = mean_ranks(controls, is_lower, names) if controls else {}
    shifts = tuple(sorted((SolutionShift(n, round(real_ranks[n], 3), round(twin_ranks[n], 3),
                                         round(control_ranks[n], 3) if n in control_ranks else None)
                           for n in names if n in twin_ranks), key=lambda s: -abs(s.shift)))
    model = DataModel.from_json(dna.data_model)
    privacy = _fresh_privacy(model, frame, dna, seed)
    report = FidelityReport(
        data=str(csv_path), target=target, metric=metric, rows=len(frame), task_kind=dna.target_kind,
        seed_id=dna.id, control_id=control_dna.id, real_splits=len(real), twins_attempted=len(outcomes),
        twins_accepted=len(twins), control_accepted=len(controls),
        spearman=spearman(real_ranks, twin_ranks) if twins else None, ceiling=ceiling,
        control_spearman=spearman(real_ranks, control_ranks) if controls else None,
        solutions=shifts, privacy=privacy, teacher=dict(model.head.signal),
        rejected=tuple(o.reason or o.stage for o in outcomes if not o.accepted))
    if bank is not None:
        write_json_atomic(Path(bank) / FIDELITY_FILE, report.to_json())
    return report


def _control(dna, control: str | None, metric: str, load_seed_file, select_seeds):
    """The control seed, scored by `metric`: `control` (a seed file or shipped id), or by
    default the shipped tabular seed of the same target kind, preferring the same metric."""
    if control is None:
        kinds = {"ranking": "multiclass"}
        same = [d for d in select_seeds("modality:tabular") if not d.is_data_conditioned
                and kinds.get(d.target_kind, d.target_kind) == kinds.get(dna.target_kind, dna.target_kind)]
        if not same:
            raise UserError(f"no shipped tabular seed has a {dna.target_kind} target; give --control SEED")
        other = sorted(same, key=lambda d: (d.metric != metric, d.id))[0]
    else:
        other = load_seed_file(control) if control.endswith(".json") else select_seeds(control)[0]
    params = dict(dna.metric_params) if dna.metric_params else dict(other.metric_params)
    if METRICS[metric].kind == "ranking":
        params = {"k": min(int(params.get("k", 5)), other.num_classes - 1)}
    try:
        return dataclasses.replace(other, metric=metric, metric_params=params)
    except ValueError as exc:
        raise UserError(f"control seed {other.id} cannot be scored by {metric}: {exc}") from None


def _fresh_privacy(model, frame, dna, seed: int) -> dict[str, Any]:
    """The privacy check of a fresh draw of model rows against every real row."""
    from sandmle.sources.csv_twin import column_model
    from sandmle.synth.twin.privacy import distance_check
    from sandmle.synth.twin.sample import sample_cells

    real_cells = []
    for col in model.columns:
        role = col.kind
        real_cells.append(column_model(col.name, role, frame[col.name])[1] if col.name in frame.columns else None)
    if any(c is None for c in real_cells):
        return {}
    twin_cells = sample_cells(model, min(len(frame), 2000), np.random.default_rng(seed + 7))
    return distance_check(model.columns, real_cells, twin_cells, seed).to_json()


def write_chart(report: FidelityReport, path: Path) -> None:
    """A PNG: real mean rank against twin (and control) mean rank per solution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 7))
    real = [s.real_rank for s in report.solutions]
    ax.scatter(real, [s.twin_rank for s in report.solutions], color="#4c72b0",
               label=f"twins (Spearman {report.spearman})")
    control = [(s.real_rank, s.control_rank) for s in report.solutions if s.control_rank is not None]
    if control:
        ax.scatter(*zip(*control), color="#c44e52", marker="x", alpha=0.6,
                   label=f"control {report.control_id} (Spearman {report.control_spearman})")
    for s in report.solutions:
        ax.annotate(s.name, (s.real_rank, s.twin_rank), fontsize=6, alpha=0.8)
    top = max(real + [s.twin_rank for s in report.solutions], default=1) + 1
    ax.plot([1, top], [1, top], color="grey", lw=0.8)
    ax.set_xlabel(f"mean rank on the real data ({report.real_splits} micro splits; ceiling {report.ceiling})")
    ax.set_ylabel(f"mean rank on the twins ({report.twins_accepted} accepted of {report.twins_attempted})")
    ax.set_title(f"{Path(report.data).name}: {report.target} ({report.metric})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    try:
        with atomic_tmp(path, ".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)


def read_fidelity(bank: Path) -> dict[str, Any] | None:
    path = Path(bank) / FIDELITY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
