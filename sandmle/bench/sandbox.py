"""`sandmle bench sandbox [--json] [--repeats N]`: the warm isolated pool against a fresh
`python` process, on a 150-row micro task, measured in the same run.

Two jobs (read input/train.csv and input/test.csv with pandas, fit, write submission.csv):
a logistic regression and a 100-tree random forest. Each runs `--repeats` times as a fresh
`python script.py` subprocess (the baseline: what a sandbox without a warm pool pays) and
as a job in a warm `Pool` (isolation on where available), one at a time, for p50/p95
latency; then `workers x repeats` jobs are submitted at once from `workers` threads for the
pool's throughput with every worker busy. Goal (REFERENCE §9): logistic regression warm
p50 <= 60 ms and >= 20x faster than fresh. Wall-clock figures depend on the machine's load,
so the report also gives each job's CPU seconds and the load average around the run.
"""
from __future__ import annotations

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
    from sandmle.arguments import count

    parser = subparsers.add_parser("sandbox", help="warm isolated pool vs fresh python")
    parser.add_argument("--repeats", type=count, default=10, help="runs per job and mode")
    parser.add_argument("--workers", type=count, default=None, help="pool size (CPU count)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
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


def run_bench(args) -> int:
    from sandmle.errors import UserError

    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
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
