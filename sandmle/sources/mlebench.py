"""MLE-bench's prepared competitions -> sandmle task folders (`sandmle bank import mlebench`).

    import_competitions(data_dir, out_bank, competitions="lite", leaderboards=None)

`data_dir` is MLE-bench's data folder: `mlebench prepare` writes <id>/prepared/public (what
an agent sees, with description.md) and <id>/prepared/private (the answers) there. Each
competition sandmle knows (the 22 of MLE-bench-lite, `sandmle.sources.mlebench_lite`)
becomes `out_bank/<id>/`, and nothing large is copied:

    task.json               metric, id and target columns, the `grader` block that reproduces
                            MLE-bench's grade.py, thresholds from the leaderboard
    public -> <id>/prepared/public          a symbolic link (the sandbox binds its target)
    private/answers.csv -> <id>/prepared/private/<answers file>
    private/leaderboard.csv                 the Kaggle leaderboard's scores, for HumanRank

Medal thresholds follow MLE-bench's `Grader.rank_score` on the leaderboard as it is stored
(`leaderboards` is a local MLE-bench checkout, or any folder holding
<id>/leaderboard.csv): the scores at the Kaggle ranks (`sandmle.leaderboard.medal_ranks`),
counted in file order, and the median of the scores. An unknown competition id, a missing
prepared folder or leaderboard is one `UserError` line.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from sandmle.errors import UserError
from sandmle.files import existing_folder
from sandmle.sources.mlebench_lite import LITE, Competition

GENERATOR = "mlebench-import"
GENERATOR_VERSION = "1"
COUNT_ROWS_MAX_BYTES = 256 << 20       # train tables larger than this keep train_rows 0
_LEADERBOARD_PLACES = ("mlebench/competitions/{id}/leaderboard.csv", "competitions/{id}/leaderboard.csv",
                       "{id}/leaderboard.csv")


@dataclass(frozen=True)
class Imported:
    """One competition written to the bank."""

    id: str
    path: Path
    test_rows: int
    num_teams: int


def select_competitions(spec: str, data_dir: Path) -> tuple[list[str], list[str]]:
    """(competition ids to import, notes) for --competitions lite|all|ID,ID,..."""
    spec = spec.strip()
    if spec in ("lite", "all"):
        present = [c for c in LITE if (data_dir / c / "prepared").is_dir()]
        notes = []
        missing = [c for c in LITE if c not in present]
        if missing and spec == "lite":
            notes.append(f"{len(missing)} lite competitions are not prepared in {data_dir}: "
                         + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        if spec == "all" and data_dir.is_dir():
            unknown = sorted(p.name for p in data_dir.iterdir()
                             if (p / "prepared").is_dir() and p.name not in LITE)
            if unknown:
                notes.append(f"skipped {len(unknown)} competitions sandmle cannot grade yet: "
                             + ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else ""))
        if not present:
            raise UserError(f"no MLE-bench-lite competition is prepared in {data_dir} "
                            "(expected <id>/prepared/public and <id>/prepared/private)")
        return present, notes
    ids = [part.strip() for part in spec.split(",") if part.strip()]
    unknown = [c for c in ids if c not in LITE]
    if unknown:
        raise UserError(f"unknown competition {unknown[0]!r}: sandmle grades the 22 MLE-bench-lite "
                        f"competitions ({', '.join(sorted(LITE)[:3])}, ...; see `sandmle bank import --help`)")
    if not ids:
        raise UserError("--competitions is empty (use lite, all or a comma-separated list of ids)")
    return ids, []


def import_competitions(data_dir: str | os.PathLike, out_bank: str | os.PathLike, competitions: str = "lite",
                        leaderboards: str | os.PathLike | None = None, overwrite: bool = False,
                        progress=None) -> tuple[list[Imported], list[str]]:
    """Import competitions into `out_bank`; returns (what was written, notes)."""
    data_dir = existing_folder(data_dir, "MLE-bench data folder").resolve()
    ids, notes = select_competitions(competitions, data_dir)
    out_bank = Path(out_bank)
    written = []
    for competition_id in ids:
        written.append(import_competition(LITE[competition_id], data_dir, out_bank, leaderboards, overwrite))
        if progress is not None:
            progress(written[-1])
    return written, notes


def import_competition(comp: Competition, data_dir: Path, out_bank: Path,
                       leaderboards: str | os.PathLike | None, overwrite: bool) -> Imported:
    from sandmle.leaderboard import Entry, make_leaderboard, mlebench_thresholds
    from sandmle.metrics import METRICS
    from sandmle.task import Lineage, TaskSpec, write_task

    prepared = data_dir / comp.id / "prepared"
    public, private = prepared / "public", prepared / "private"
    answers = private / comp.answers
    sample = public / comp.sample_submission
    for path, what in ((public / "description.md", "description"), (answers, "answers file"),
                       (sample, "sample submission")):
        if not path.is_file():
            raise UserError(f"{comp.id}: {what} {path} is missing (run `mlebench prepare -c {comp.id}`)")
    targets, header = _targets(comp, sample)
    missing = [c for c in (comp.id_column, *targets) if c not in _header(answers)]
    if missing:
        raise UserError(f"{comp.id}: answers file {answers} lacks columns {missing}")
    board_path = find_leaderboard(comp.id, leaderboards, data_dir)
    names, scores = read_kaggle_leaderboard(board_path)
    lower = METRICS[comp.metric].is_lower_better
    thresholds = mlebench_thresholds(scores, lower)
    spec = TaskSpec(
        id=comp.id, title=comp.title, modality=comp.modality, metric=comp.metric, is_lower_better=lower,
        id_column=comp.id_column, target_columns=targets, thresholds=thresholds,
        train_rows=_count_rows(public / comp.train_file) if comp.train_file else 0,
        test_rows=_count_rows(answers), domain="mle-bench",
        lineage=Lineage(seed=f"mlebench:{comp.id}", generator=GENERATOR, generator_version=GENERATOR_VERSION,
                        random_seed=0, extra={"data_dir": str(data_dir), "leaderboard": str(board_path),
                                              "num_teams": len(scores)}),
        train_file=comp.train_file, test_file=comp.test_file, sample_submission_file=comp.sample_submission,
        grader=dict(comp.grader), layout=comp.layout)
    board = make_leaderboard([Entry(name=n, family="kaggle", strength="human", score=s, valid=True, wall_s=0.0)
                              for n, s in zip(names, scores) if math.isfinite(s)], lower, min_valid=1)

    def fill(public_dir: Path, private_dir: Path) -> None:
        public_dir.rmdir()
        public_dir.symlink_to(public, target_is_directory=True)
        (private_dir / "answers.csv").symlink_to(answers)
        board.write_csv(private_dir / "leaderboard.csv")

    task = write_task(out_bank / comp.id, spec, fill, overwrite=overwrite)
    return Imported(id=comp.id, path=task.root, test_rows=spec.test_rows, num_teams=len(scores))


def _header(path: Path) -> list[str]:
    from sandmle.grading.read import read_header

    return read_header(path)


def _targets(comp: Competition, sample: Path) -> tuple[tuple[str, ...], list[str]]:
    header = _header(sample)
    if comp.id_column not in header:
        raise UserError(f"{comp.id}: sample submission {sample} has no {comp.id_column!r} column")
    if comp.targets:
        absent = [c for c in comp.scored or comp.targets if c not in header]
        if absent:
            raise UserError(f"{comp.id}: sample submission {sample} lacks columns {absent}")
        return comp.targets, header
    return tuple(c for c in header if c != comp.id_column and c not in comp.sample_extra), header


def find_leaderboard(competition_id: str, leaderboards, data_dir: Path) -> Path:
    roots = ([Path(leaderboards)] if leaderboards is not None else []) + [data_dir]
    for root in roots:
        for place in _LEADERBOARD_PLACES:
            path = root / place.format(id=competition_id)
            if path.is_file():
                return path
    where = f"under {leaderboards}" if leaderboards is not None else f"in {data_dir}"
    raise UserError(f"{competition_id}: no leaderboard.csv {where}; pass --leaderboards with an MLE-bench "
                    f"checkout (mlebench/competitions/{competition_id}/leaderboard.csv)")


def read_kaggle_leaderboard(path: Path) -> tuple[list[str], list[float]]:
    """(team names, scores) of a Kaggle leaderboard as MLE-bench stores it, in file order
    (it is read best first; a missing score is NaN)."""
    with open(path, newline="", encoding="utf-8") as fh:
        head = fh.read(200)
        if head.startswith("version https://git-lfs.github.com/spec/"):
            raise UserError(f"{path} is a Git LFS pointer, not the leaderboard: run `git lfs pull` in the checkout")
        fh.seek(0)
        rows = list(csv.DictReader(fh))
    if not rows or "score" not in rows[0]:
        raise UserError(f"{path} has no 'score' column (expected Kaggle's leaderboard columns)")
    names, scores = [], []
    for i, row in enumerate(rows):
        try:
            score = float(row["score"]) if row["score"].strip() else math.nan
        except ValueError:
            raise UserError(f"{path}: row {i + 2} has score {row['score']!r}, not a number") from None
        names.append(row.get("teamName") or row.get("teamId") or f"team {i + 1}")
        scores.append(score)
    return names, scores


def _count_rows(path: Path) -> int:
    """Data rows of a CSV table (0 when it is not a plain CSV or too large to count quickly)."""
    if path.suffix != ".csv" or not path.is_file() or path.stat().st_size > COUNT_ROWS_MAX_BYTES:
        return 0
    import polars as pl

    try:
        return int(pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item())
    except pl.exceptions.PolarsError:
        return 0
