"""`sandmle bench synth`: how fast verified tasks are made, and how much micro-scale saves.

(a) Throughput: `synthesize` into a scratch bank, timed, for every modality over all its
    seeds (tabular: --tasks accepted tasks; others: --modality-tasks, at least one per
    seed): verified (accepted) tasks per minute, acceptance (accepted / attempts), the share
    accepted at the first design, and generate-calibrate-verify rounds per attempt. On a
    shared machine the wall clock measures the other load as much as synthesis, so the row
    also counts CPU seconds (this process's threads plus every sandbox job's tree) per
    verified task, and the rate they allow when --workers cores are free: 60 x workers /
    core-s (pool start-up and idle workers not counted, so a bound).
(b) The paper's headline on our own engine (REFERENCE §1: 196 s -> 14.3 s per step, 13.7x):
    the same reference solution (a random forest, gradient boosting and a logistic regression) run as one
    sandbox step on a micro task and on the same DNA generated at full scale (100,000
    training rows by default); the ratio is full-scale time over micro time.

    sandmle bench synth [--json] [--tasks 30] [--workers 2] [--full-rows 100000] [--separation 1]
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

STEP_SEED = "tabular-playground-series-may-2022"
STEP_SOLUTIONS = ("forest_40", "gbm_100_d2_lr0.1", "linear_C1")   # timed in (b): a forest, boosting, a logistic regression


def register(subparsers) -> None:
    from sandmle.arguments import count, count_or_zero

    parser = subparsers.add_parser("synth", help="verified synthetic tasks per minute; micro vs full-scale step time")
    parser.add_argument("--tasks", type=count, default=30, help="tabular tasks to synthesise (default 30)")
    parser.add_argument("--modality-tasks", type=count_or_zero, default=6,
                        help="tasks per other modality, at least one per seed (default 6; 0 skips them)")
    parser.add_argument("--modalities", default=None, metavar="A,B",
                        help="only these modalities (default: every modality of the seed library)")
    parser.add_argument("--workers", type=count, default=2, help="sandbox workers (default 2)")
    parser.add_argument("--full-rows", type=count, default=100_000, help="training rows at full scale (default 100000)")
    parser.add_argument("--seed-task", default=STEP_SEED,
                        help=f"tabular seed for the step timing (default {STEP_SEED}: binary, so the "
                             "linear model is a logistic regression)")
    parser.add_argument("--separation", type=float, default=1.0, metavar="SIGMAS",
                        help="tier separation of verification, as in `sandmle synth` (default 1)")
    parser.add_argument("--skip-throughput", action="store_true", help="only time the micro vs full-scale step")
    parser.add_argument("--skip-step", action="store_true", help="only measure throughput")
    parser.add_argument("--json", action="store_true", help='print {"rows": [...]}')
    parser.set_defaults(handler=run)


def throughput_row(selector: str, num_tasks: int, workers: int, scratch: Path, separation: float = 1.0,
                   show_progress: bool = False) -> dict:
    from sandmle.synth.pipeline import synthesize

    out = scratch / selector.replace(":", "-")
    outcomes = []
    run_cpu = _own_cpu_s()
    report = synthesize(selector, num_tasks, out, workers=workers, seed=0, separation_sigmas=separation,
                        on_outcome=outcomes.append, progress=show_progress)
    run_cpu = _own_cpu_s() - run_cpu
    shutil.rmtree(out, ignore_errors=True)
    f = report.funnel
    jobs_cpu = sum(o.phase_s.get("jobs_cpu", 0.0) for o in outcomes)
    core_s = (run_cpu + jobs_cpu) / report.accepted_now if report.accepted_now else None
    phases = {}
    for name in ("generate", "calibrate", "jobs", "jobs_cpu", "verify"):
        values = [o.phase_s[name] for o in outcomes if name in o.phase_s]
        phases[name] = round(sum(values) / len(values), 3) if values else None
    first = sum(o.accepted and not o.repairs for o in outcomes)
    rounds = sum(1 + len(o.repairs) for o in outcomes)
    return {"bench": "throughput", "seeds": selector, "workers": workers, "separation": separation,
            "load_avg_1m": _load(),
            "tasks": report.processed, "requested": num_tasks,
            "accepted": report.accepted_now, "wall_s": round(report.wall_s, 2),
            "tasks_per_min": round(report.tasks_per_min, 1),
            "verified_per_min": round(report.accepted_per_min, 1),
            "acceptance": round(report.accepted_now / report.processed, 3) if report.processed else None,
            "first_pass": round(first / report.processed, 3) if report.processed else None,
            "rounds_per_attempt": round(rounds / report.processed, 2) if report.processed else None,
            "run_cpu_s": round(run_cpu, 1), "jobs_cpu_s": round(jobs_cpu, 1),
            "core_s_per_verified": round(core_s, 2) if core_s else None,
            "free_cores_verified_per_min": round(60.0 * workers / core_s, 1) if core_s else None,
            "short_seeds": report.request.short_seeds,
            "funnel": f.line(), "mean_phase_s": phases,
            "rejected": {o.task_id or o.seed_id: o.reason for o in report.rejected_now}}


def modality_selectors(tabular_tasks: int, modality_tasks: int, only: str | None = None) -> list[tuple[str, int]]:
    """(selector, accepted tasks) per modality of the seed library: tabular first with
    `tabular_tasks`, then the others with `modality_tasks`, at least one per seed."""
    from collections import Counter

    from sandmle.errors import UserError
    from sandmle.synth.seeds import load_seeds

    counts = Counter(d.modality for d in load_seeds().values() if d.suite != "user")
    wanted = [m.strip() for m in only.split(",")] if only else sorted(counts, key=lambda m: (m != "tabular", m))
    unknown = [m for m in wanted if m not in counts]
    if unknown:
        raise UserError(f"--modalities: no seed of modality {', '.join(unknown)} (have {', '.join(sorted(counts))})")
    rows = []
    for modality in wanted:
        n = tabular_tasks if modality == "tabular" else (max(modality_tasks, counts[modality]) if modality_tasks else 0)
        if n:
            rows.append((f"modality:{modality}", n))
    return rows


def _own_cpu_s() -> float:
    """CPU seconds of this process so far (every thread: generation, grading, verification)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> float:
    """The machine's 1-minute load average: other processes slow every figure here."""
    return round(os.getloadavg()[0], 2)


def _pick_solutions(spec, names=STEP_SOLUTIONS):
    """The named reference solutions of the task."""
    from sandmle.synth.solutions import reference_solutions

    found = {s.name: s for s in reference_solutions(spec) if s.name in names}
    missing = [n for n in names if n not in found]
    if missing:
        raise RuntimeError(f"task {spec.id} has no reference solution named {', '.join(missing)}")
    return [found[n] for n in names]


def _time_step(pool, solution, public_dir: Path, timeout_s: float) -> tuple[float, bool]:
    """Wall time of one sandbox step (run the solution, write submission.csv), and success."""
    from sandmle.sandbox.job import Job, Limits

    work = Path(tempfile.mkdtemp(prefix="sandmle-bench-step."))
    try:
        job = Job(work_dir=str(work), public_dir=str(public_dir), code=solution.code,
                  limits=Limits(timeout_s=timeout_s, memory_mb=16384, threads=1), seed=0, name=solution.name)
        start = time.perf_counter()
        result = pool.run(job)
        wall = time.perf_counter() - start
        return wall, result.ok and (work / "submission.csv").is_file()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def step_rows(seed_id: str, full_rows: int, workers: int, scratch: Path) -> list[dict]:
    from sandmle.sandbox.pool import DEFAULT_PRELOAD, Pool
    from sandmle.synth.generated import generate_task
    from sandmle.synth.pipeline import PRELOAD_EXTRA
    from sandmle.synth.seeds import select_seeds

    dna = select_seeds(seed_id)[0]
    micro = generate_task(dna, 0)
    dirs = {"micro": scratch / "micro" / "public", "full": scratch / "full" / "public"}
    (scratch / "micro" / "private").mkdir(parents=True)
    micro.write(dirs["micro"], scratch / "micro" / "private")
    full_train, _ = write_full_scale(dna, 0, full_rows, dirs["full"])
    rows = []
    with Pool(num_workers=max(1, workers), preload=DEFAULT_PRELOAD + PRELOAD_EXTRA, isolate=True) as pool:
        for solution in _pick_solutions(micro.spec):
            _time_step(pool, solution, dirs["micro"], 60.0)          # warm the worker once
            micro_s = min(_time_step(pool, solution, dirs["micro"], 60.0)[0] for _ in range(3))
            full_s, ok = _time_step(pool, solution, dirs["full"], 600.0)
            rows.append({"bench": "step", "seed": dna.id, "solution": solution.name, "family": solution.family,
                         "micro_train_rows": micro.spec.train_rows, "full_train_rows": full_train,
                         "micro_s": round(micro_s, 4), "full_s": round(full_s, 3), "full_ok": ok,
                         "ratio": round(full_s / micro_s, 1), "load_avg_1m": _load()})
    return rows


def write_full_scale(dna, random_seed: int, train_rows: int, public_dir: Path) -> tuple[int, int]:
    """The same DNA (same amplification: domain, columns, hidden-rule family) generated with
    `train_rows` training rows and a fifth as many test rows, written as the public files a
    solution reads. Sizes beyond micro scale are set on the blueprint, which the generators
    read, since the DNA itself only admits micro sizes. Returns (train rows, test rows)."""
    from sandmle.synth.amplify import amplify
    from sandmle.synth.generated import task_rng
    from sandmle.synth.generators import generate_data
    from sandmle.synth.generators.common import to_csv

    rng = task_rng(dna, random_seed)
    amplified, blueprint = amplify(dna, rng)
    blueprint = replace(blueprint, train_rows=train_rows, test_rows=max(blueprint.test_rows, train_rows // 5))
    data = generate_data(amplified, blueprint, rng)
    public_dir.mkdir(parents=True, exist_ok=True)
    files = {"train.csv": to_csv(data.train), "test.csv": to_csv(data.test),
             "sample_submission.csv": to_csv(data.sample), **data.files}
    for rel, payload in files.items():
        (public_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (public_dir / rel).write_bytes(payload)
    return blueprint.train_rows, blueprint.test_rows


def run(args) -> int:
    from sandmle.console import make_console, print_json
    from sandmle.errors import UserError

    if args.tasks < 1 or args.workers < 1 or args.full_rows < 1000:
        raise UserError("--tasks and --workers must be >= 1 and --full-rows >= 1000")
    console = None if args.json else make_console()
    rows: list[dict] = []
    scratch = Path(tempfile.mkdtemp(prefix="sandmle-bench-synth."))
    try:
        if not args.skip_throughput:
            selectors = modality_selectors(args.tasks, args.modality_tasks, args.modalities)
            for selector, n in selectors:
                try:
                    row = throughput_row(selector, n, args.workers, scratch, args.separation,
                                         show_progress=not args.json)
                except Exception as exc:   # one modality's failure must not hide the others' figures
                    row = {"bench": "throughput", "seeds": selector, "error": f"{type(exc).__name__}: {exc}"[:300]}
                    rows.append(row)
                    if console:
                        console.print(f"throughput {selector:<24} failed: {row['error']}")
                    continue
                rows.append(row)
                if console:
                    console.print(f"throughput {selector:<24} {row['accepted']:>3} accepted in {row['tasks']:>3} attempts, "
                                  f"{row['wall_s']:6.1f} s: {row['verified_per_min']:5.1f} verified/min, acceptance "
                                  f"{row['acceptance']:.0%} (first design {row['first_pass']:.0%}, "
                                  f"{row['rounds_per_attempt']:.2f} rounds/attempt) (load {row['load_avg_1m']})")
                    if row["core_s_per_verified"]:
                        console.print(f"  CPU {row['run_cpu_s']:.1f} s here + {row['jobs_cpu_s']:.1f} s in sandbox jobs: "
                                      f"{row['core_s_per_verified']:.2f} core-s per verified task, "
                                      f"{row['free_cores_verified_per_min']:.1f} verified/min if {args.workers} cores "
                                      f"were free")
                    console.print(f"  funnel {row['funnel']}")
                    console.print("  mean per task: " + ", ".join(
                        f"{k} {v:.3f} s" for k, v in row["mean_phase_s"].items() if v is not None)
                        + " (jobs: summed wall of the task's solution runs)")
        if not args.skip_step:
            for row in step_rows(args.seed_task, args.full_rows, args.workers, scratch / "step"):
                rows.append(row)
                if console:
                    console.print(f"step {row['seed']} {row['solution']:<20} micro ({row['micro_train_rows']} rows) "
                                  f"{row['micro_s'] * 1000:7.1f} ms  full ({row['full_train_rows']} rows) "
                                  f"{row['full_s']:7.2f} s  ratio {row['ratio']:.1f}x"
                                  f"{'' if row['full_ok'] else '  (full-scale step failed)'} (load {row['load_avg_1m']})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print_json({"rows": rows})
    return 0
