"""The synthesis pipeline: seeds -> generated tasks -> calibrated, verified task bank.

    report = synthesize("modality:tabular", num_tasks=40, out_dir=Path("bank"), workers=2)

`num_tasks` is the number of accepted tasks wanted. `sandmle.synth.schedule` spreads them
evenly over the selected seeds and decides which attempts to make (at most `max_attempts`);
attempt k of seed `s` gets random seed `derive_seed(seed, s, k)` and the id
`<s>-<domain>-<k>`. Each attempt is generated, staged under `BANK/.staging/`, calibrated
against a simulated leaderboard in one shared sandbox pool (`sandmle.synth.calibrate`),
verified (`sandmle.synth.verify`) and then renamed into `BANK/<task_id>/` in one step (the
checks of the data alone, `DATA_CHECKS`, run before calibration: a task failing one is
rejected at the "screen" stage without a leaderboard); a rejected attempt is appended to `BANK/_rejected.jsonl` with its reason and its folder
removed. `BANK/_funnel.json` keeps the funnel over every finished attempt
(`sandmle.synth.funnel`) and, under "request", what the last run asked for, the attempts it
took and the seeds that fell short of their share.

Re-running resumes: attempts already accepted or rejected are replayed from the bank, not
run again, and the run continues toward N; a killed run leaves no half-written task (the
staging folder is cleared on start). Tasks overlap: several are in flight at once and each
submits its reference solutions (20+, a few to a sandbox job) from a shared thread pool, so
every sandbox worker stays busy.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sandmle.errors import UserError
from sandmle.synth.funnel import (FUNNEL_FILE, REJECTED_FILE, Funnel, Outcome, compute_funnel, read_funnel,
                                  read_outcomes, repair_rejected, write_funnel)
from sandmle.synth.runner import SandboxRunner
from sandmle.synth.schedule import PlannedTask, Schedule, ScheduleSummary
from sandmle.task import TASK_FILE, load_task, write_json_atomic

STAGING_DIR = ".staging"
MAX_REPAIRS = 2             # regenerations of a rejected attempt with a repaired design
PRELOAD_EXTRA = ("sklearn.naive_bayes", "sklearn.neural_network", "sklearn.discriminant_analysis",
                 "scipy.sparse", "scipy.io.wavfile", "scipy.ndimage", "PIL.Image")   # what reference solutions import


@dataclass(frozen=True)
class SynthReport:
    out_dir: str
    random_seed: int
    request: ScheduleSummary            # N asked for, attempts taken, seeds that fell short
    skipped: int                        # attempts finished in an earlier run, replayed
    processed: int                      # attempts finished in this run
    accepted_now: int
    wall_s: float
    funnel: Funnel
    rejected_now: tuple[Outcome, ...] = field(default_factory=tuple)

    @property
    def tasks_per_min(self) -> float:
        return 60.0 * self.processed / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def accepted_per_min(self) -> float:
        return 60.0 * self.accepted_now / self.wall_s if self.wall_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "random_seed": self.random_seed, "request": self.request.to_json(),
                "skipped": self.skipped, "processed": self.processed, "accepted_now": self.accepted_now,
                "wall_s": round(self.wall_s, 3), "tasks_per_min": round(self.tasks_per_min, 2),
                "accepted_per_min": round(self.accepted_per_min, 2), "funnel": self.funnel.to_json(),
                "rejected_now": [o.to_json() for o in self.rejected_now]}


def task_id_for(seed_id: str, domain: str, index: int) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in domain.lower()).strip("-") or "general"
    while "--" in slug:
        slug = slug.replace("--", "-")
    return f"{seed_id}-{slug}-{index}"


# ---- one task --------------------------------------------------------------------------------

class _RunStopped(Exception):
    """A task finished after its run was interrupted; its outcome is not recorded."""


class _Bank:
    """The bank folder as the run writes it (thread-safe appends and renames)."""

    def __init__(self, out_dir: Path, seed: int) -> None:
        self.out_dir = out_dir
        self.staging = out_dir / STAGING_DIR
        self.lock = threading.Lock()
        self.seed = seed
        self.closed = threading.Event()     # set when the run stops early: record nothing more

    def _check_open(self) -> None:
        if self.closed.is_set():
            raise _RunStopped("the run stopped before this task finished")

    def stage_dir(self, planned: PlannedTask) -> Path:
        path = self.staging / f"{planned.seed_id}-{planned.index}-{planned.random_seed}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def accept(self, staged: Path, outcome: Outcome) -> None:
        write_json_atomic(staged / "private" / "outcome.json", outcome.to_json())
        dest = self.out_dir / outcome.task_id
        with self.lock:
            self._check_open()
            if dest.exists():
                raise RuntimeError(f"{dest} already exists but its plan entry {outcome.seed_id}/"
                                   f"{outcome.random_seed} was not recorded as finished")
            os.replace(staged, dest)

    def reject(self, staged: Path | None, outcome: Outcome) -> None:
        line = json.dumps(outcome.to_json(), sort_keys=True) + "\n"
        with self.lock:
            self._check_open()
            with open(self.out_dir / REJECTED_FILE, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}".rstrip(": ")


def generate_planned(planned: PlannedTask, seeds: dict, design=None):
    """Generate a planned task with its final id `<seed>-<domain>-<k>` (`design`: test size
    and signal, `sandmle.synth.design`).

    The domain is drawn first by amplification; generating with the same random seed draws
    the same domain again, so the id can be set before the data is made."""
    from sandmle.synth.amplify import amplify
    from sandmle.synth.generated import generate_task, task_rng

    dna = seeds[planned.seed_id]
    amplified, _ = amplify(dna, task_rng(dna, planned.random_seed))
    task_id = task_id_for(dna.id, amplified.domain, planned.index)
    generated = generate_task(dna, planned.random_seed, task_id=task_id, design=design)
    if generated.domain != amplified.domain:
        raise RuntimeError(f"generation of {task_id} drew domain {generated.domain!r}, "
                           f"amplification drew {amplified.domain!r}")
    return generated


@dataclass
class _Round:
    """One generate-calibrate-verify pass of an attempt."""

    staged: Path | None
    stage: str                          # last stage reached, as in Outcome.stage
    reason: str | None = None
    fields: dict = field(default_factory=dict)     # task_id, domain, counts, checks
    failed: tuple[str, ...] = ()        # names of the failed checks


def _run_round(planned: PlannedTask, seeds: dict, bank: _Bank, pool, executor, design, timeout_s: float,
               population, min_valid, separation_sigmas: float, phase_s: dict[str, float]) -> _Round:
    from sandmle.synth.calibrate import calibrate_folder, staged_spec
    from sandmle.synth.verify import CHECKS, DATA_CHECKS, verify, write_verification

    def add(phase: str, since: float) -> None:
        phase_s[phase] = round(phase_s.get(phase, 0.0) + time.perf_counter() - since, 4)

    mark = time.perf_counter()
    try:
        generated = generate_planned(planned, seeds, design)
    except Exception as exc:        # a generator failure is a funnel stage, not a crash of the run
        return _Round(None, "generate", _first_line(exc), {"task_id": None})
    spec = generated.spec
    fields: dict[str, Any] = dict(task_id=spec.id, domain=generated.domain)
    staged = bank.stage_dir(planned)
    (staged / "public").mkdir()
    (staged / "private").mkdir()
    generated.write(staged / "public", staged / "private")
    write_json_atomic(staged / TASK_FILE, staged_spec(spec).to_json())
    add("generate", mark)
    mark = time.perf_counter()
    screened = verify(staged, DATA_CHECKS)
    add("verify", mark)
    if not all(r.passed for r in screened):
        failed = [r for r in screened if not r.passed]
        fields["checks"] = tuple(r.to_json() for r in screened)
        return _Round(staged, "screen", f"{failed[0].name}: {failed[0].reason}", fields,
                      tuple(r.name for r in failed))
    mark = time.perf_counter()
    try:
        board = calibrate_folder(staged, pool, population(spec) if population else None, executor=executor,
                                 timeout_s=timeout_s, runs_dir=bank.staging / "runs",
                                 **({} if min_valid is None else {"min_valid": min_valid}))
    except UserError as exc:        # the staged folder is not a valid task; a sandbox failure raises
        return _Round(staged, "calibrate", _first_line(exc), fields)
    add("calibrate", mark)
    phase_s["jobs"] = round(phase_s.get("jobs", 0.0) + sum(e.wall_s for e in board.entries), 4)
    fields.update(valid_solutions=len(board.valid_entries), total_solutions=len(board.entries))
    if board.thresholds is None:
        return _Round(staged, "calibrate", board.problem, fields)
    mark = time.perf_counter()
    board_checks = verify(staged, tuple(c for c in CHECKS if c not in DATA_CHECKS), separation_sigmas=separation_sigmas)
    by_name = {r.name: r for r in screened + board_checks}
    results = [by_name[name] for name in CHECKS]
    write_verification(staged, results)
    add("verify", mark)
    failed = [r for r in results if not r.passed]
    fields["checks"] = tuple(r.to_json() for r in results)
    if failed:
        return _Round(staged, "verify", f"{failed[0].name}: {failed[0].reason}", fields,
                      tuple(r.name for r in failed))
    load_task(staged)
    return _Round(staged, "accepted", None, fields)


class _MeteredPool:
    """A pool as one attempt's calibration uses it: each job's CPU seconds (`JobResult.cpu_s`,
    the whole job tree) are added to the attempt's `phase_s["jobs_cpu"]`. With the run's own
    CPU time, this is what an attempt costs whatever else loads the machine."""

    def __init__(self, pool, phase_s: dict[str, float]) -> None:
        self._pool, self._phase_s = pool, phase_s
        self._lock = threading.Lock()

    def run(self, job):
        result = self._pool.run(job)
        with self._lock:
            self._phase_s["jobs_cpu"] = round(self._phase_s.get("jobs_cpu", 0.0) + result.cpu_s, 4)
        return result

    def __getattr__(self, name: str):
        return getattr(self._pool, name)


def process_task(planned: PlannedTask, seeds: dict, bank: _Bank, pool, executor,
                 timeout_s: float, population: Callable | None = None, min_valid: int | None = None,
                 separation_sigmas: float = 1.0, max_repairs: int = MAX_REPAIRS) -> Outcome:
    """Generate, stage, calibrate, verify and file one attempt; failures become a rejected Outcome.

    The task is generated with its seed's first design (`sandmle.synth.design.first_design`);
    when verification fails a check a design can fix, it is generated again from the same
    random seed with the repaired design (a larger test set, a stronger signal), up to
    `max_repairs` times. The Outcome lists the failed rounds under `repairs`."""
    from sandmle.synth.design import first_design, repair
    from sandmle.synth.verify import leaderboard_room, tier_margins

    start = time.perf_counter()
    phase_s: dict[str, float] = {}
    pool = _MeteredPool(pool, phase_s)
    dna = seeds[planned.seed_id]
    design = first_design(dna)
    repairs: list[dict[str, Any]] = []
    while True:
        now = _run_round(planned, seeds, bank, pool, executor, design, timeout_s, population, min_valid,
                         separation_sigmas, phase_s)
        if now.stage in ("accepted", "generate", "screen", "calibrate") or len(repairs) >= max_repairs:
            break
        task = load_task(now.staged)
        measured = tier_margins(task) if "tiers_separable" in now.failed else None
        following = repair(design, list(now.failed), measured[0] if isinstance(measured, tuple) else None,
                           separation_sigmas, leaderboard_room(task))
        if following is None:
            break
        repairs.append({"design": design.to_json(), "stage": now.stage, "reason": now.reason})
        shutil.rmtree(now.staged, ignore_errors=True)
        design = following
    fields = dict(modality=dna.modality, metric=dna.metric, **now.fields)
    outcome = Outcome(seed_id=planned.seed_id, index=planned.index, random_seed=planned.random_seed,
                      accepted=now.stage == "accepted", stage=now.stage, reason=now.reason, phase_s=phase_s,
                      repairs=tuple(repairs), design=design.to_json(), wall_s=time.perf_counter() - start, **fields)
    if outcome.accepted:
        bank.accept(now.staged, outcome)
    else:
        bank.reject(now.staged, outcome)
    return outcome


# ---- the run ---------------------------------------------------------------------------------

def prepare_bank(out_dir: Path, seed: int, staging_dir: str = STAGING_DIR) -> None:
    """Create the bank, clear staging and a partial rejected-log line left by a killed run,
    refuse a bank made with another seed. Every generator's run starts here."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / staging_dir, ignore_errors=True)
    for stray in out_dir.glob(".*.partial"):
        shutil.rmtree(stray, ignore_errors=True)
    for stray in out_dir.glob(".*.tmp"):
        stray.unlink(missing_ok=True)
    funnel = out_dir / FUNNEL_FILE
    if funnel.is_file():
        previous = json.loads(funnel.read_text(encoding="utf-8")).get("random_seed")
        if previous is not None and previous != seed:
            raise UserError(f"bank {out_dir} was made with --seed {previous}; rerun with --seed {previous} "
                            f"or choose another --out")
    repair_rejected(out_dir)


def synthesize(selector: str | None, num_tasks: int, out_dir: Path, workers: int | None = None,
               seed: int = 0, progress: bool = False, *, max_attempts: int | None = None,
               timeout_s: float = 30.0, tasks_in_flight: int | None = None, population: Callable | None = None,
               min_valid: int | None = None, separation_sigmas: float = 1.0,
               on_outcome: Callable[[Outcome], None] | None = None, sandbox=None) -> SynthReport:
    """Make `num_tasks` accepted tasks from the selected seeds in the bank `out_dir`, with at
    most `max_attempts` attempts (default `sandmle.synth.schedule.default_max_attempts`);
    resumable.

    `population(spec) -> [Solution]` replaces the reference population of
    `sandmle.synth.solutions.reference_solutions` (with `min_valid`, the fewest valid scores
    a leaderboard needs); `separation_sigmas`: how many bootstrap standard deviations
    adjacent thresholds must lie apart; `on_outcome` is called with each attempt finished
    in this run; `sandbox`: where the solutions run ("local", "ray[:ADDRESS]",
    `sandmle.sandbox.backend`; `workers` is then per node)."""
    from sandmle.synth.seeds import select_seeds

    start = time.perf_counter()
    out_dir = Path(out_dir)
    chosen = select_seeds(selector)
    seeds = {dna.id: dna for dna in chosen}
    schedule = Schedule(list(seeds), num_tasks, seed, max_attempts)
    prepare_bank(out_dir, seed)
    outcomes = read_outcomes(out_dir)
    known = {f"{o.seed_id}/{o.random_seed}": o for o in outcomes}
    bank = _Bank(out_dir, seed)
    finished: list[Outcome] = []
    replayed: list[Outcome] = []
    from sandmle.progress import Progress

    bar = Progress("synth", num_tasks, "accepted tasks") if progress and num_tasks else None
    accepted = rejected = 0

    def record(outcome: Outcome, again: bool) -> None:
        nonlocal accepted, rejected
        (replayed if again else finished).append(outcome)
        if not again:
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            write_funnel(out_dir, seed, compute_funnel(outcomes), request=schedule.summary())
        if bar is not None:
            accepted += outcome.accepted
            rejected += not outcome.accepted
            note = f"{rejected} rejected of {accepted + rejected} attempts"
            (bar.skip if again else bar.advance)(outcome.accepted, note=note)

    try:
        with ExitStack() as stack:
            runner = SandboxRunner(stack, sandbox, workers, PRELOAD_EXTRA, tasks_in_flight=tasks_in_flight)

            def submit(planned: PlannedTask):
                pool, jobs, tasks = runner.start()
                return tasks.submit(process_task, planned, seeds, bank, pool, jobs, timeout_s, population,
                                    min_valid, separation_sigmas)

            try:
                drive(schedule, known, submit, runner.in_flight, record)
            except BaseException:
                bank.closed.set()            # tasks still in flight must not record half results
                raise
    finally:
        if bar is not None:
            bar.close()
        shutil.rmtree(out_dir / STAGING_DIR, ignore_errors=True)
    funnel = read_funnel(out_dir)
    write_funnel(out_dir, seed, funnel, request=schedule.summary())
    return SynthReport(out_dir=str(out_dir), random_seed=seed, request=schedule.summary(),
                       skipped=len(replayed), processed=len(finished),
                       accepted_now=sum(o.accepted for o in finished),
                       wall_s=time.perf_counter() - start, funnel=funnel,
                       rejected_now=tuple(o for o in finished if not o.accepted))


def drive(schedule: Schedule, known: dict[str, Outcome], submit: Callable[[PlannedTask], Future],
          in_flight: Callable[[], int], record: Callable[[Outcome, bool], None]) -> None:
    """Run the schedule's attempts, at most `in_flight()` at once, until it is over.

    `submit(planned)` starts an attempt and returns a future of its Outcome; an attempt the
    bank already holds (`known`, by `PlannedTask.key`) is replayed instead. `record(outcome,
    replayed)` is called for each finished attempt, from this thread. On an exception,
    attempts not yet started are cancelled and the exception propagates."""
    pending: dict[Future, PlannedTask] = {}
    try:
        while True:
            while len(pending) < in_flight() and (planned := schedule.next_attempt()) is not None:
                previous = known.get(planned.key)
                if previous is not None:
                    schedule.record(planned, previous.accepted)
                    record(previous, True)
                else:
                    pending[submit(planned)] = planned
            if not pending:
                return
            completed, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in completed:
                planned = pending.pop(future)
                outcome = future.result()
                schedule.record(planned, outcome.accepted)
                record(outcome, False)
    except BaseException:
        for future in pending:
            future.cancel()
        raise
