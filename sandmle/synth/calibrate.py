"""Calibration: a simulated leaderboard sets a task's medal thresholds.

A population of reference solutions (`sandmle.synth.solutions.reference_solutions`, >= 20
model families and settings, some deliberately weak) runs in the sandbox pool on the task's
public files; each submission is graded on the hidden answers. The valid scores form a
leaderboard, and MLE-bench's medal rule (REFERENCE §4, `sandmle.leaderboard.medal_thresholds`)
turns it into the median, bronze, silver and gold thresholds -- the paper's ML Developer role
(REFERENCE §2), with measured baselines instead of a language model's guesses.

A crashed, timed-out or invalid solution is a leaderboard row with `valid=False` and a reason,
never an exception. Calibration works on any staged task folder (task.json with placeholder
thresholds, public/, private/answers.csv), so a different generator can reuse it.

    board = calibrate_folder(task_dir, pool)        # or calibrate(generated, pub, priv, pool)
    board.thresholds, board.write_csv(task_dir / "private" / "leaderboard.csv")
"""
from __future__ import annotations

import math
import shutil
import tempfile
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from sandmle.files import copy_atomic
from sandmle.leaderboard import MIN_VALID, Entry, Leaderboard, make_leaderboard
from sandmle.task import TASK_FILE, Task, TaskSpec, Thresholds, load_task, write_json_atomic

LEADERBOARD_FILE = "leaderboard.csv"
TIER_SUBMISSIONS_DIR = "tiers"    # private/tiers/<tier>.csv: the submission that sets each threshold
SUBMISSION_FILE = "submission.csv"
SOLUTION_TIMEOUT_S = 30.0 # reference solutions take < ~1 s on micro data; this only stops a hang
SOLUTION_MEMORY_MB = 2048
# Reference solutions per sandbox job. Forking a job from a worker that has sklearn loaded,
# and tearing it down, costs ~25 ms of kernel time (2 cores, REFERENCE §9 machine): a fifth
# of a micro-scale task's calibration when each of its ~21 solutions has a job of its own.
BATCH_SIZE = 7
# Reading the data and featurising it cost more than many models on them (measured: 8.6 of
# 29 s of a 32 px image solution went to segmenting objects; a constant on a 3000-row table
# took 0.12 s); one job per task reads and featurises once (solution_scripts/features.py
# keeps them for the job's later solutions). Several tasks in flight keep the workers busy.
SHARED_FEATURE_MODALITIES = ("tabular", "image", "audio", "multimodal", "text", "graph", "time_series")
BATCH_REPORT = "batch.json"    # what `sandmle.synth.solution_scripts.batch` writes


def solution_limits(timeout_s: float = SOLUTION_TIMEOUT_S):
    from sandmle.sandbox.job import Limits

    return Limits(timeout_s=timeout_s, memory_mb=SOLUTION_MEMORY_MB, threads=1, output_bytes=4096)


def _job_failure(result) -> str | None:
    """One line saying why a sandbox run produced no gradable submission, or None."""
    if result.timed_out:
        return f"timed out after {result.wall_s:.1f} s"
    if result.memory_exceeded:
        return "exceeded the memory limit"
    if result.exit_code != 0:
        lines = [ln for ln in (result.stderr_tail or "").splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else ""
        how = f"exit code {result.exit_code}" if result.exit_code is not None else f"signal {result.signal}"
        return f"crashed ({how}){': ' + last[:160] if last else ''}"
    return None


def run_solution(task: Task, solution, pool, limits, runs_dir: Path, keep: Path | None = None) -> Entry:
    """Run one reference solution in the pool and grade its submission (never raises for
    a failing solution). `keep`: where to copy the submission file, if any."""
    from sandmle.sandbox.job import Job

    work_dir = Path(tempfile.mkdtemp(dir=runs_dir, prefix=f"{_safe(solution.name)}."))
    try:
        job = Job(work_dir=str(work_dir), public_dir=str(task.public_dir), code=solution.code,
                  limits=limits, seed=0, name=f"{task.id}:{solution.name}")
        result = pool.run(job)
        return _graded_entry(task, solution, work_dir / SUBMISSION_FILE, result.wall_s, _job_failure(result), keep)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def run_batch(task: Task, solutions: Sequence[Any], pool, limits, runs_dir: Path,
              keep: Path | None = None) -> list[Entry]:
    """Run several reference solutions one after another in one sandbox job
    (`sandmle.synth.solution_scripts.batch`)
    and grade each; the same entries as `run_solution` on each, for less sandbox overhead.

    Each solution gets its own folder, fresh seeds and its own timeout (an alarm). The
    solutions of a batch share one process, so use batches only for trusted code such as
    the reference population. When the job itself fails (a hang the alarm cannot stop, a
    crash of the process, the memory limit), its solutions are run again one per job, so
    that each failure is reported against the solution that caused it."""
    import json
    from dataclasses import replace

    from sandmle.sandbox.job import Job
    from sandmle.synth.solution_scripts import script_source

    if len(solutions) == 1:
        return [run_solution(task, solutions[0], pool, limits, runs_dir, keep)]
    work_dir = Path(tempfile.mkdtemp(dir=runs_dir, prefix="batch."))
    try:
        listing = [{"name": s.name, "code": s.code} for s in solutions]
        code = f"SOLUTIONS = {json.dumps(listing)}\nTIMEOUT_S = {limits.timeout_s!r}\n{script_source('batch')}"
        job = Job(work_dir=str(work_dir), public_dir=str(task.public_dir), code=code,
                  limits=replace(limits, timeout_s=limits.timeout_s * len(solutions)), seed=0,
                  name=f"{task.id}:batch of {len(solutions)}")
        result = pool.run(job)
        report = work_dir / BATCH_REPORT
        if _job_failure(result) is not None or not report.is_file() or report.is_symlink():
            return [run_solution(task, s, pool, limits, runs_dir, keep) for s in solutions]
        runs = json.loads(report.read_text(encoding="utf-8"))
        return [_graded_entry(task, s, work_dir / f"solution{i}" / SUBMISSION_FILE, runs[i]["wall_s"],
                              _run_failure(runs[i]), keep)
                for i, s in enumerate(solutions)]
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _run_failure(run: dict) -> str | None:
    """`_job_failure`'s line for one solution of a batch, as a job of its own would get it."""
    if run["timed_out"]:
        return f"timed out after {run['wall_s']:.1f} s"
    if run["exit_code"] != 0:
        last = run["error"][:160]
        return f"crashed (exit code {run['exit_code']}){': ' + last if last else ''}"
    return None


def _graded_entry(task: Task, solution, submission: Path, wall_s: float, failure: str | None,
                  keep: Path | None) -> Entry:
    from sandmle.grading import grade_submission

    if failure is None and not submission.is_file():
        failure = f"wrote no {SUBMISSION_FILE}"
    if failure is not None:
        return Entry(solution.name, solution.family, solution.strength, None, False, wall_s, failure)
    grade = grade_submission(task, submission)
    if keep is not None and grade.valid:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(submission, keep / f"{_safe(solution.name)}.csv")
    return Entry(solution.name, solution.family, solution.strength,
                 grade.score if grade.valid else None, bool(grade.valid), wall_s,
                 None if grade.valid else f"invalid submission: {grade.reason}")


def calibrate_folder(task_dir: Path, pool, solutions: Sequence[Any] | None = None, *,
                     executor: Executor | None = None, timeout_s: float = SOLUTION_TIMEOUT_S,
                     min_valid: int = MIN_VALID, runs_dir: Path | None = None,
                     batch_size: int | None = None) -> Leaderboard:
    """Run the reference population on a staged task folder and build its leaderboard.

    Writes private/leaderboard.csv and, when the medal rule applies, the thresholds into
    task.json and private/tiers/<tier>.csv: the submission of the entry that sets each
    threshold (verification's paired bootstrap resamples them). `executor` submits the jobs (share one across
    tasks so the pool's workers stay busy); by default one thread per job. `batch_size`
    solutions share one sandbox job (`run_batch`); 1 runs each in its own job; by default
    BATCH_SIZE, or the whole population for SHARED_FEATURE_MODALITIES.
    """
    task_dir = Path(task_dir)
    task = load_task(task_dir)
    if solutions is None:
        from sandmle.synth.solutions import reference_solutions

        solutions = reference_solutions(task.spec)
    names = [s.name for s in solutions]
    if len(set(names)) != len(names):
        raise ValueError(f"reference solution names must be unique, got duplicates in {names}")
    limits = solution_limits(timeout_s)
    own_runs = runs_dir is None
    runs = Path(tempfile.mkdtemp(prefix=f"sandmle-calibrate-{_safe(task.id)}.")) if own_runs else Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    kept = Path(tempfile.mkdtemp(dir=runs, prefix="kept."))
    own_executor = executor is None
    ex = executor or ThreadPoolExecutor(max_workers=max(1, len(solutions)), thread_name_prefix="calibrate")
    try:
        # Solutions that read the same features share a job, where features.py computes them once.
        ordered = sorted(solutions, key=lambda s: getattr(s, "inputs", ""))
        if batch_size is None:
            batch_size = max(1, len(ordered)) if task.spec.modality in SHARED_FEATURE_MODALITIES else BATCH_SIZE
        batches = [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]
        futures = [ex.submit(run_batch, task, b, pool, limits, runs, kept) for b in batches]
        by_name = {e.name: e for f in futures for e in f.result()}
        board = make_leaderboard([by_name[n] for n in names], task.spec.is_lower_better, min_valid)
        board.write_csv(task.private_dir / LEADERBOARD_FILE)
        tiers = board.tier_entries()
        if tiers:
            (task.private_dir / TIER_SUBMISSIONS_DIR).mkdir(exist_ok=True)
            for tier, entry in tiers.items():
                copy_atomic(kept / f"{_safe(entry.name)}.csv", task.private_dir / TIER_SUBMISSIONS_DIR / f"{tier}.csv")
            write_thresholds(task_dir, board.thresholds)
        return board
    finally:
        if own_executor:
            ex.shutdown(wait=True)
        shutil.rmtree(kept, ignore_errors=True)
        if own_runs:
            shutil.rmtree(runs, ignore_errors=True)


def calibrate(generated, public_dir: Path, private_dir: Path, pool, **kwargs) -> Leaderboard:
    """Calibrate a generated task staged as `<root>/public` + `<root>/private`.

    Writes `<root>/task.json` from the generated spec when it is not there yet, then runs
    `calibrate_folder(<root>, pool, **kwargs)`.
    """
    public_dir, private_dir = Path(public_dir), Path(private_dir)
    root = public_dir.parent
    if public_dir != root / "public" or private_dir != root / "private":
        raise ValueError(f"public and private folders must be <root>/public and <root>/private, "
                         f"got {public_dir} and {private_dir}")
    if not (root / TASK_FILE).is_file():
        write_json_atomic(root / TASK_FILE, staged_spec(generated.spec).to_json())
    return calibrate_folder(root, pool, **kwargs)


def staged_spec(spec: TaskSpec) -> TaskSpec:
    """The spec as staged before calibration: thresholds not yet known (all equal)."""
    return replace(spec, thresholds=Thresholds(0.0, 0.0, 0.0, 0.0))


def write_thresholds(task_dir: Path, thresholds: Thresholds) -> None:
    """Replace the thresholds in a task folder's task.json (atomically)."""
    path = Path(task_dir) / TASK_FILE
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    values = thresholds.as_tuple()
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"thresholds must be finite, got {thresholds}")
    data["thresholds"] = {"median": values[0], "bronze": values[1], "silver": values[2], "gold": values[3]}
    write_json_atomic(path, data)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "solution"


