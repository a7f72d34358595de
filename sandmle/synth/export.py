"""Export a bank to other benchmark layouts.

- `sandmle-release`: the layout of the SandMLE code release (REFERENCE §3):
  `<DIR>/<task_id>/prepared/public/` holds description.md, the data files,
  sample_submission.csv, a self-contained `evaluator.py` and `answer.csv`. Run from that
  folder, `python evaluator.py --submission_path X` prints one JSON object (score,
  is_lower_better and the four thresholds) or exits non-zero on an invalid submission.
  Known flaw of that layout, kept for compatibility: answer.csv sits where an agent can read
  it, so these tasks only suit scaffolds that hide the file themselves.
- `mlebench`: what MLE-bench's registry loads (`mlebench/registry.py`): each
  `<DIR>/<task_id>/` is both a competition folder (config.yaml, grade.py, prepare.py,
  description.md, leaderboard.csv) and that competition's data (`prepared/public/`,
  `prepared/private/answers.csv`). Copy or link the folders into an MLE-bench checkout's
  `mlebench/competitions/` and pass `<DIR>` as its data dir; `mlebench grade-sample` then
  grades with the exported `grade.py`, the standalone evaluator with the task's grading
  facts and whole grader block inlined (same verdict and score as `sandmle grade`, for
  every MLE-bench-lite profile), and the config's paths resolve
  as the registry resolves them (description from the repository, data from the data dir).

Every task folder is built under a temporary name and renamed into place.
"""
from __future__ import annotations

import csv
import io
import json
import pprint
import shutil
from pathlib import Path

from sandmle.errors import UserError
from sandmle.files import staged_folder
from sandmle.task import Task, load_bank

FORMATS = ("sandmle-release", "mlebench")
EVALUATOR_FILE = "evaluator.py"
RELEASE_ANSWER_FILE = "answer.csv"
SUBMISSION_DATE = "2026-01-01 00:00:00"     # fixed, so exports are reproducible
_TASK_LINE = "TASK: dict = {}"


def evaluator_source(task: Task) -> str:
    """The task's standalone evaluator.py: the template with the task's grading facts inlined."""
    from sandmle.synth import evaluator_template

    template = Path(evaluator_template.__file__).read_text(encoding="utf-8")
    if template.count(_TASK_LINE) != 1:
        raise RuntimeError(f"{evaluator_template.__file__} must hold the line {_TASK_LINE!r} exactly once")
    return template.replace(_TASK_LINE, "TASK: dict = " + pprint.pformat(evaluator_facts(task), width=100))


def evaluator_facts(task: Task) -> dict:
    """What the standalone evaluator needs of a task: metric, columns, thresholds and its
    grading rules (the whole grader block). With sandmle's reader it carries the column
    rules, scored columns, row sums, clipping and the era; the row rules, positional
    columns, skipped answer rows and text comparison come with MLE-bench's reader (every
    lite profile has it), and a block asking for them with sandmle's reader is a UserError."""
    from sandmle.grading.profile import GraderProfile

    spec = task.spec
    t = spec.thresholds
    profile = GraderProfile.from_json(spec.grader)
    if profile.reader == "sandmle":
        unsupported = {key for key in ("rows", "compare") if getattr(profile, key) != getattr(GraderProfile(), key)}
        if profile.columns == "positional" or profile.skip_answer_rows_below is not None:
            unsupported.add("columns")
        if unsupported:
            raise UserError(f"task {spec.id}: its grader block ({', '.join(sorted(unsupported))}) cannot be "
                            "exported with sandmle's reader; grade it with sandmle")
    return {"task_id": spec.id, "metric": spec.metric, "metric_params": spec.metric_params,
            "is_lower_better": spec.is_lower_better, "id_column": spec.id_column,
            "target_columns": list(spec.target_columns), "classes": list(spec.classes),
            "kind": _metric_kind(spec.metric), "answer_file": RELEASE_ANSWER_FILE,
            "columns": profile.columns, "scored_columns": list(profile.scored_columns),
            "row_sum": list(profile.row_sum) if profile.row_sum else None, "clip_eps": profile.clip_eps,
            "renormalise": profile.row_sum is None, "probability_range": profile.probability_range,
            "reader": profile.reader, "rows": profile.rows, "compare": profile.compare, "era": profile.era,
            "skip_answer_rows_below": profile.skip_answer_rows_below,
            "thresholds": {"gold": t.gold, "silver": t.silver, "bronze": t.bronze, "median": t.median}}


def _metric_kind(metric: str) -> str:
    from sandmle.metrics import METRICS

    return METRICS[metric].kind


def _leaderboard_rows(task: Task) -> list[tuple[str, float]]:
    """(team name, score) of the task's simulated leaderboard, best first, valid entries only."""
    from sandmle.leaderboard import read_leaderboard
    from sandmle.synth.calibrate import LEADERBOARD_FILE

    path = task.private_dir / LEADERBOARD_FILE
    if not path.is_file():
        raise UserError(f"task {task.id} has no private/{LEADERBOARD_FILE} (was it calibrated by sandmle synth?)")
    board = read_leaderboard(path, task.spec.is_lower_better, min_valid=1)
    return [(e.name, e.score) for e in board.valid_entries]


def mlebench_leaderboard_csv(task: Task) -> str:
    """Kaggle's leaderboard columns as MLE-bench ships them (it reads `score`), plus teamName."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scoreNullable", "teamId", "teamName", "hasTeamName", "submissionDate", "score", "hasScore"])
    for team_id, (name, score) in enumerate(_leaderboard_rows(task), start=1):
        writer.writerow([repr(score), team_id, name, True, SUBMISSION_DATE, repr(score), True])
    return out.getvalue()


def mlebench_config_yaml(task: Task) -> str:
    """config.yaml as `mlebench.registry.Registry.get_competition` reads it: the description
    path relative to the MLE-bench repository, dataset paths relative to its data dir, the
    grader's `grade_fn` and the `preparer` as "module:function"."""
    spec = task.spec
    module = f"mlebench.competitions.{spec.id}"
    return "\n".join([
        f"id: {spec.id}",
        f"name: {json.dumps(spec.title)}",
        "competition_type: simple",
        "awards_medals: true",
        "prizes: null",
        f"description: mlebench/competitions/{spec.id}/description.md",
        "",
        "dataset:",
        f"  answers: {spec.id}/prepared/private/answers.csv",
        f"  sample_submission: {spec.id}/prepared/public/{spec.sample_submission_file}",
        "",
        "grader:",
        f"  name: {spec.metric}",
        f"  grade_fn: {module}.grade:grade",
        "",
        f"preparer: {module}.prepare:prepare",
        "",
    ])


PREPARE_PY = '''"""Preparer of an exported sandmle task: the data comes prepared. `raw` holds the
exported `public/` and `private/` folders (or this competition folder's `prepared/`)."""
import shutil
from pathlib import Path


def prepare(raw: Path, public: Path, private: Path) -> None:
    source = raw / "prepared" if (raw / "prepared").is_dir() else raw
    shutil.copytree(source / "public", public, dirs_exist_ok=True)
    shutil.copytree(source / "private", private, dirs_exist_ok=True)
'''


def _copy_public(task: Task, dest: Path) -> None:
    shutil.copytree(task.public_dir, dest)


def _build_release(task: Task, root: Path) -> None:
    public = root / "prepared" / "public"
    _copy_public(task, public)
    shutil.copyfile(task.answers_path, public / RELEASE_ANSWER_FILE)
    (public / EVALUATOR_FILE).write_text(evaluator_source(task), encoding="utf-8")


def _build_mlebench(task: Task, root: Path) -> None:
    _copy_public(task, root / "prepared" / "public")
    private = root / "prepared" / "private"
    private.mkdir(parents=True)
    shutil.copyfile(task.answers_path, private / "answers.csv")
    leaderboard = mlebench_leaderboard_csv(task)
    (private / "leaderboard.csv").write_text(leaderboard, encoding="utf-8")
    (root / "leaderboard.csv").write_text(leaderboard, encoding="utf-8")
    shutil.copyfile(task.public_dir / "description.md", root / "description.md")
    (root / "config.yaml").write_text(mlebench_config_yaml(task), encoding="utf-8")
    (root / "grade.py").write_text(evaluator_source(task), encoding="utf-8")
    (root / "prepare.py").write_text(PREPARE_PY, encoding="utf-8")


_BUILDERS = {"sandmle-release": _build_release, "mlebench": _build_mlebench}


def export_task(task: Task, fmt: str, out_dir: Path, overwrite: bool = False) -> Path:
    """Write one task in layout `fmt` to `out_dir/<task_id>/` (atomically)."""
    if fmt not in _BUILDERS:
        raise UserError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    dest = Path(out_dir) / task.id
    if dest.exists() and not overwrite:
        raise UserError(f"{dest} already exists (remove it or choose another --out)")
    with staged_folder(dest) as staging:
        _BUILDERS[fmt](task, staging)
    return dest


def export_bank(bank: Path, fmt: str, out_dir: Path, overwrite: bool = False) -> list[Path]:
    """Export every task of a bank; returns the task folders written."""
    if fmt not in _BUILDERS:
        raise UserError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    return [export_task(task, fmt, out_dir, overwrite) for task in load_bank(bank)]
