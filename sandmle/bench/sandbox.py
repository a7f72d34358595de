"""`sandmle bench sandbox [--json] [--repeats N]`: the warm isolated pool against a fresh
`python` process, on a 150-row micro task, measured in the same run. With
`--sandbox ray[:ADDRESS]`, the Ray backend against the local pool instead (below).

Two jobs (read input/train.csv and input/test.csv with pandas, fit, write submission.csv):
a logistic regression and a 100-tree random forest. Each runs `--repeats` times as a fresh
`python script.py` subprocess (the baseline: what a sandbox without a warm pool pays) and
as a job in a warm `Pool` (isolation on where available), one at a time, for p50/p95
latency; then `workers x repeats` jobs are submitted at once from `workers` threads for the
pool's throughput with every worker busy. Goal (REFERENCE §9): logistic regression warm
p50 <= 60 ms and >= 20x faster than fresh. Wall-clock figures depend on the machine's load,
so the report also gives each job's CPU seconds and the load average around the run.

`--sandbox ray[:ADDRESS]`: the Ray backend against the local pool (the baseline), on the
same jobs, in the same run.

    sandmle bench sandbox --sandbox ray                 # a private Ray cluster of this machine
    sandmle bench sandbox --sandbox ray:auto --workers 4 --json

Both pools stay up side by side, `--workers` workers each (on Ray, per node). Three jobs on
the same micro task: a no-op (`pass`: the cost of the
backend alone), the logistic regression and the 100-tree forest. For each job:
- latency: `--repeats` jobs one at a time on each backend, the two taking turns (which goes
  first alternates), so a load that drifts during the run weighs on both alike. The
  overhead of a job is its latency on the driver minus its own wall time in the sandbox;
  "Ray adds" is the p50 of Ray's overheads minus the p50 of the local pool's: what the
  Ray backend costs per job (placement, the actor call, the work folder's deltas both
  ways), measured directly rather than as a difference of noisy latencies;
- throughput: `workers x repeats` jobs with every worker busy, in two turns per backend
  (local, Ray, Ray, local), jobs/s over the four.
Wall-clock figures depend on the machine's load: the report gives the 1-min load average
before and after, and each backend's start-up time.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

JOBS = {
    "logreg": """\
import pandas as pd
from sklearn.linear_model import LogisticRegression

train = pd.read_csv("input/train.csv")
test = pd.read_csv("input/test.csv")
features = [c for c in train.columns if c.startswith("f")]
model = LogisticRegression(max_iter=1000).fit(train[features], train["target"])
pred = model.predict_proba(test[features])[:, 1]
pd.DataFrame({"id": test["id"], "target": pred}).to_csv("submission.csv", index=False)
""",
    "forest100": """\
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

train = pd.read_csv("input/train.csv")
test = pd.read_csv("input/test.csv")
features = [c for c in train.columns if c.startswith("f")]
model = RandomForestClassifier(n_estimators=100, random_state=0)
model.fit(train[features], train["target"])
pred = model.predict_proba(test[features])[:, 1]
pd.DataFrame({"id": test["id"], "target": pred}).to_csv("submission.csv", index=False)
""",
}
TRAIN_ROWS, TEST_ROWS, FEATURES = 150, 50, 6


def register(subparsers) -> None:
    from sandmle.arguments import add_sandbox_argument, count

    parser = subparsers.add_parser("sandbox", help="warm isolated pool vs fresh python")
    parser.add_argument("--repeats", type=count, default=10, help="runs per job and mode")
    parser.add_argument("--workers", type=count, default=None, help="pool size (CPU count)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_sandbox_argument(parser)
    parser.set_defaults(handler=run_bench)


def make_micro_task(root: Path, seed: int = 0) -> Path:
    """A binary-classification public folder: train.csv (150 rows), test.csv (50 rows)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    public = root / "public"
    public.mkdir(parents=True)
    n = TRAIN_ROWS + TEST_ROWS
    x = rng.normal(size=(n, FEATURES))
    logits = x @ rng.normal(size=FEATURES) + 0.5 * rng.normal(size=n)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)])
    frame.insert(0, "id", np.arange(n))
    frame["target"] = (logits > 0).astype(int)
    frame.iloc[:TRAIN_ROWS].to_csv(public / "train.csv", index=False)
    frame.iloc[TRAIN_ROWS:].drop(columns="target").to_csv(public / "test.csv", index=False)
    return public


def _fresh_run(code: str, public: Path, work: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `python main.py` in a fresh process (the baseline)."""
    import resource

    from sandmle.sandbox.limits import thread_env

    work.mkdir(parents=True)
    (work / "input").symlink_to(public)
    (work / "main.py").write_text(code)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work),
           **thread_env(1)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "main.py"], cwd=work, env=env,
                          capture_output=True, text=True)
    wall_s = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"baseline job failed: {proc.stderr.strip()[-500:]}")
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall_s, cpu_s


def _pool_run(pool, code: str, public: Path, work: Path) -> tuple[float, float]:
    """Wall seconds seen by the caller and the job's CPU seconds."""
    from sandmle.sandbox import Job, Limits

    start = time.perf_counter()
    result = pool.run(Job(work_dir=str(work), public_dir=str(public), code=code,
                          limits=Limits(timeout_s=120.0)))
    wall_s = time.perf_counter() - start
    if not result.ok or "submission.csv" not in result.files_written:
        raise RuntimeError(f"pool job failed: {result.stderr_tail.strip()[-500:]}")
    return wall_s, result.cpu_s


def measure(repeats: int, workers: int | None, show_progress: bool = False) -> dict:
    import numpy as np

    from sandmle.progress import Progress
    from sandmle.sandbox import Pool

    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sandmle-bench-") as tmp:
        root = Path(tmp)
        public = make_micro_task(root)
        start = time.perf_counter()
        with Pool(num_workers=workers) as pool, Progress("bench sandbox", len(JOBS), "jobs",
                                                         enabled=show_progress) as bar:
            pool_start_s = time.perf_counter() - start
            for name, code in JOBS.items():
                fresh, fresh_cpu = zip(*[_fresh_run(code, public, root / f"fresh-{name}-{i}")
                                         for i in range(repeats)])
                warm, warm_cpu = zip(*[_pool_run(pool, code, public, root / f"warm-{name}-{i}")
                                       for i in range(repeats)])
                count = pool.num_workers * repeats
                start = time.perf_counter()
                with ThreadPoolExecutor(pool.num_workers) as ex:
                    list(ex.map(lambda i: _pool_run(pool, code, public,
                                                    root / f"busy-{name}-{i}"), range(count)))
                busy_s = time.perf_counter() - start
                rows.append({
                    "job": name,
                    "fresh_p50_s": round(float(np.percentile(fresh, 50)), 4),
                    "warm_p50_s": round(float(np.percentile(warm, 50)), 4),
                    "ratio": round(float(np.percentile(fresh, 50) / np.percentile(warm, 50)), 1),
                    "fresh_p95_s": round(float(np.percentile(fresh, 95)), 4),
                    "warm_p95_s": round(float(np.percentile(warm, 95)), 4),
                    "throughput_jobs_per_s": round(count / busy_s, 2),
                    "fresh_cpu_p50_s": round(float(np.percentile(fresh_cpu, 50)), 4),
                    "warm_cpu_p50_s": round(float(np.percentile(warm_cpu, 50)), 4),
                    "workers": pool.num_workers, "repeats": repeats,
                    "isolation": pool.isolation,
                })
                bar.advance(note=f"{name} measured")
    return {"rows": rows, "pool_start_s": round(pool_start_s, 2), "cpu_count": os.cpu_count(),
            "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


NOOP = "pass\n"                # the cost of the backend alone


def _run_one(pool, code: str, public: Path, work: Path) -> tuple[float, float]:
    """(latency on the driver, overhead = latency - the job's own wall time), seconds."""
    from sandmle.sandbox import Job, Limits

    start = time.perf_counter()
    result = pool.run(Job(work_dir=str(work), public_dir=str(public), code=code,
                          limits=Limits(timeout_s=120.0)))
    latency_s = time.perf_counter() - start
    if not result.ok or (code != NOOP and "submission.csv" not in result.files_written):
        raise RuntimeError(f"bench job failed: {result.stderr_tail.strip()[-500:]}")
    return latency_s, max(0.0, latency_s - result.wall_s)


def _burst(pool, code: str, public: Path, root: Path, count: int) -> float:
    """Seconds to run `count` jobs from as many threads as the pool has workers."""
    start = time.perf_counter()
    with ThreadPoolExecutor(pool.num_workers) as ex:
        list(ex.map(lambda i: _run_one(pool, code, public, root / f"{i}"), range(count)))
    return time.perf_counter() - start


def _p(values: list[float], q: float) -> float:
    import numpy as np

    return round(float(np.percentile(values, q)), 4)


def measure_ray(repeats: int, workers: int | None, spec) -> dict:
    """The figures described in the module docstring, as one JSON-ready dict."""
    from sandmle.sandbox.backend import open_pool

    jobs = {"noop": NOOP, **JOBS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sandmle-bench-") as tmp:
        root = Path(tmp)
        public = make_micro_task(root)
        pools, start_s = {}, {}
        try:
            for label, backend in (("local", "local"), ("ray", spec)):
                start = time.perf_counter()
                pools[label] = open_pool(backend, num_workers=workers)
                start_s[label] = round(time.perf_counter() - start, 2)
            rows = [_measure_job(pools, name, code, public, root / name, repeats)
                    for name, code in jobs.items()]
            nodes = [dataclasses.asdict(r) for r in pools["ray"].stats()[0]]
        finally:
            for pool in pools.values():
                pool.close()
    return {"sandbox": str(spec), "repeats": repeats, "rows": rows, "start_s": start_s,
            "workers": {label: pool.num_workers for label, pool in pools.items()},
            "isolation": {label: pool.isolation for label, pool in pools.items()},
            "ray_nodes": nodes, "cpu_count": os.cpu_count(),
            "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def _measure_job(pools: dict, name: str, code: str, public: Path, root: Path, repeats: int) -> dict:
    latency: dict[str, list[float]] = {"local": [], "ray": []}
    overhead: dict[str, list[float]] = {"local": [], "ray": []}
    for i in range(repeats):
        for label in (("local", "ray") if i % 2 == 0 else ("ray", "local")):
            lat, over = _run_one(pools[label], code, public, root / f"{label}-one-{i}")
            latency[label].append(lat)
            overhead[label].append(over)
    busy_s = {"local": 0.0, "ray": 0.0}
    count = {label: pool.num_workers * max(1, (repeats + 1) // 2) for label, pool in pools.items()}
    for turn, label in enumerate(("local", "ray", "ray", "local")):
        busy_s[label] += _burst(pools[label], code, public, root / f"{label}-busy-{turn}", count[label])
    row: dict = {"job": name}
    for label in ("local", "ray"):
        row[label] = {"p50_s": _p(latency[label], 50), "p95_s": _p(latency[label], 95),
                      "overhead_p50_ms": round(1000 * _p(overhead[label], 50), 1),
                      "jobs_per_s": round(2 * count[label] / busy_s[label], 2)}
    row["ray_adds_ms"] = round(row["ray"]["overhead_p50_ms"] - row["local"]["overhead_p50_ms"], 1)
    row["throughput_ratio"] = round(row["ray"]["jobs_per_s"] / row["local"]["jobs_per_s"], 2)
    return row


def print_ray(report: dict) -> None:
    from sandmle.console import make_console

    console = make_console()
    workers, start = report["workers"], report["start_s"]
    console.print(f"Ray backend ({report['sandbox']}) vs the local pool (baseline), side by side on "
                  f"this machine: {report['cpu_count']} CPUs, 1-min load average "
                  f"{report['load_avg_1m'][0]} -> {report['load_avg_1m'][1]}; {workers['local']} local "
                  f"workers, {workers['ray']} on {len(report['ray_nodes'])} Ray node(s); started in "
                  f"{start['local']} s (local) and {start['ray']} s (ray); isolation "
                  f"{report['isolation']['local']} / {report['isolation']['ray']}")
    for row in report["rows"]:
        lo, ry = row["local"], row["ray"]
        console.print(f"{row['job']:<10} p50 local {lo['p50_s']:.3f} s  ray {ry['p50_s']:.3f} s  |  "
                      f"p95 local {lo['p95_s']:.3f} s  ray {ry['p95_s']:.3f} s  |  overhead p50 local "
                      f"{lo['overhead_p50_ms']:.0f} ms  ray {ry['overhead_p50_ms']:.0f} ms: Ray adds "
                      f"{row['ray_adds_ms']:+.0f} ms/job  |  local {lo['jobs_per_s']} jobs/s  ray "
                      f"{ry['jobs_per_s']} jobs/s  (ratio {row['throughput_ratio']})")


def run_ray_bench(args) -> int:
    report = measure_ray(args.repeats, args.workers, args.sandbox)
    if args.json:
        from sandmle.console import print_json

        print_json(report)
    else:
        print_ray(report)
    return 0


def run_bench(args) -> int:
    from sandmle.errors import UserError

    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
    if args.sandbox.kind == "ray":
        return run_ray_bench(args)
    report = measure(args.repeats, args.workers, show_progress=not args.json)
    if args.json:
        from sandmle.console import print_json

        print_json(report)
        return 0
    from sandmle.console import make_console

    console = make_console()
    console.print(f"sandbox pool started in {report['pool_start_s']} s (baseline: a fresh "
                  f"python per job; {report['cpu_count']} CPUs, 1-min load average "
                  f"{report['load_avg_1m'][0]} -> {report['load_avg_1m'][1]})")
    for row in report["rows"]:
        console.print(
            f"{row['job']:<10} fresh p50 {row['fresh_p50_s']:.3f} s  warm p50 "
            f"{row['warm_p50_s']:.3f} s  ratio {row['ratio']}x  |  p95 fresh "
            f"{row['fresh_p95_s']:.3f} s warm {row['warm_p95_s']:.3f} s  |  "
            f"{row['throughput_jobs_per_s']} jobs/s on {row['workers']} workers "
            f"({row['isolation']})  |  job CPU p50 fresh {row['fresh_cpu_p50_s']:.3f} s "
            f"warm {row['warm_cpu_p50_s']:.3f} s")
    return 0
