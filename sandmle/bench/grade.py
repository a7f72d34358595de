"""`sandmle bench grade [--json] [--sizes 100,10000,1000000]`: grading a submission file
against a task's answers, sandmle's grader vs the pandas + scikit-learn pattern of
MLE-bench's `grade.py` files, measured in the same run.

Two tasks per size: ROC AUC (id + one probability column) and multi-class log loss (id + 5
class columns, rows summing to 1), the submission's rows shuffled. The baseline reads both
files with `pandas.read_csv(float_precision="round_trip")` as MLE-bench's `read_csv` does,
checks the columns and the row count, sorts both by id, compares the ids, checks the
probabilities (and for log loss the row sums, as `mlebench/competitions/*/grade.py` do),
then calls `roc_auc_score` / `log_loss`.

Two measurements per case:
- in process: CPU seconds of one grade (all threads), best of repeats, ours and the
  baseline taking turns so both see the same load. "warm" grades with the loaded task, which
  keeps the parsed answers (how rollouts and `sandmle eval` grade: one task, many
  submissions); "cold" loads the task afresh for every grade, as the CLI does. Goal: >= 3x
  at every size.
- fresh process: `sandmle grade TASK SUB --json` against `python -c <baseline>` (imports
  included), wall seconds (best of 3) and peak resident memory. Goal: our peak <= the
  baseline's.
`uptime`'s load average is printed with the table: on a shared machine the wall figures
move with it, the CPU figures much less.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import replace
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (100, 10_000, 1_000_000)
NUM_CLASSES = 5
LOOP_S = 0.05
REPEATS = 5
GOAL_RATIO = 3.0

BASELINE = '''
import sys
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score


def grade(submission_path, answers_path, id_col, columns, metric):
    submission = pd.read_csv(submission_path, float_precision="round_trip")
    answers = pd.read_csv(answers_path, float_precision="round_trip")
    for col in [id_col, *columns]:
        if col not in submission.columns:
            raise ValueError(f"missing column {col}")
    if len(submission) != len(answers):
        raise ValueError("row count")
    values = submission[columns]
    if metric == "multiclass_log_loss":
        if not np.all(np.isclose(values.sum(axis=1), 1, atol=1e-6)):
            raise ValueError("row sums")
    if not ((values >= 0) & (values <= 1)).all().all():
        raise ValueError("probabilities")
    submission = submission.sort_values(id_col)
    answers = answers.sort_values(id_col)
    if (submission[id_col].values != answers[id_col].values).any():
        raise ValueError("ids")
    if metric == "auc":
        return roc_auc_score(answers[columns[0]].to_numpy(), submission[columns[0]].to_numpy())
    return log_loss(answers[columns].to_numpy(), submission[columns].to_numpy())
'''


def register(subparsers) -> None:
    parser = subparsers.add_parser("grade", help="grading vs the pandas + scikit-learn pattern")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="comma-separated row counts (default: %(default)s)")
    parser.add_argument("--no-process", action="store_true",
                        help="skip the fresh-process measurements (time and peak memory)")
    parser.set_defaults(handler=run)


def make_case(root: Path, metric: str, n: int, seed: int = 0):
    """A task folder and a shuffled, valid submission for `metric` with n test rows."""
    import numpy as np

    from sandmle.metrics import METRICS
    from sandmle.task import Lineage, TaskSpec, Thresholds, write_task

    rng = np.random.default_rng(seed)
    ids = np.arange(10_000, 10_000 + n)
    if metric == "auc":
        columns = ["target"]
        truth = rng.integers(0, 2, (n, 1))
        truth[:2, 0] = [0, 1]
        guess = rng.random((n, 1))
        thresholds = Thresholds(median=0.6, bronze=0.7, silver=0.8, gold=0.9)
        classes: tuple[str, ...] = ()
    else:
        columns = [f"class_{j}" for j in range(NUM_CLASSES)]
        labels = rng.integers(0, NUM_CLASSES, n)
        truth = np.eye(NUM_CLASSES, dtype=np.int64)[labels]
        guess = rng.random((n, NUM_CLASSES))
        guess /= guess.sum(axis=1, keepdims=True)
        thresholds = Thresholds(median=1.5, bronze=1.0, silver=0.8, gold=0.5)
        classes = tuple(columns)

    def table(values, fmt: str, order) -> str:
        body = "\n".join(f"{ids[i]}," + ",".join(fmt % v for v in values[i]) for i in order)
        return "id," + ",".join(columns) + "\n" + body + "\n"

    def fill(public: Path, private: Path) -> None:
        (public / "description.md").write_text(f"Benchmark task, {metric}, {n} rows.\n")
        (public / "train.csv").write_text("id\n1\n")
        (public / "test.csv").write_text("id\n" + "\n".join(map(str, ids)) + "\n")
        sample = np.full((n, len(columns)), 1.0 / len(columns))
        (public / "sample_submission.csv").write_text(table(sample, "%.17g", range(n)))
        (private / "answers.csv").write_text(table(truth, "%d", range(n)))

    spec = TaskSpec(id=f"bench-{metric}-{n}", title=f"bench {metric}", modality="tabular",
                    metric=metric, is_lower_better=METRICS[metric].is_lower_better, id_column="id",
                    target_columns=tuple(columns), thresholds=thresholds, train_rows=1, test_rows=n,
                    lineage=Lineage(seed="bench", generator="bench", generator_version="1",
                                    random_seed=seed), classes=classes)
    task = write_task(root / spec.id, spec, fill)
    submission = root / f"{spec.id}-submission.csv"
    submission.write_text(table(guess, "%.17g", rng.permutation(n)))
    return task, submission


def cpu_best_s(fn, repeats: int) -> float:
    """Best CPU seconds (all threads) of one call of fn over `repeats` loops of about LOOP_S."""
    start = time.process_time()
    fn()
    once = max(time.process_time() - start, 1e-6)
    number = max(1, int(LOOP_S / once))
    best = once
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, (time.process_time() - start) / number)
    return best


def run_process(argv: list[str]) -> tuple[float, int]:
    """(wall seconds, peak resident KiB) of one fresh process; raises if it fails."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
            "w = time.perf_counter() - t; "
            "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    wall, peak, rc = out.stdout.split()
    if rc != "0":
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {rc}")
    return float(wall), int(peak)


def measure(sizes, with_process: bool = True) -> list[dict]:
    from sandmle.grading import grade_submission

    namespace: dict = {}
    exec(BASELINE, namespace)
    baseline = namespace["grade"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sandmle-bench-grade-") as tmp:
        for n in sizes:
            for metric in ("auc", "multiclass_log_loss"):
                task, submission = make_case(Path(tmp), metric, n)
                columns = list(task.spec.target_columns)
                ours_score = grade_submission(task, submission).score
                base_score = baseline(submission, task.answers_path, "id", columns, metric)
                if ours_score is None or abs(ours_score - base_score) > 1e-5:
                    raise RuntimeError(f"{metric} n={n}: scores differ ({ours_score} vs {base_score})")
                repeats = REPEATS if n < 1_000_000 else 3
                ours_s = cold_s = base_s = float("inf")
                for _ in range(repeats):     # take turns, so all see the same load
                    ours_s = min(ours_s, cpu_best_s(lambda: grade_submission(task, submission), 1))
                    cold_s = min(cold_s, cpu_best_s(lambda: grade_submission(replace(task, cache={}), submission), 1))
                    base_s = min(base_s, cpu_best_s(
                        lambda: baseline(submission, task.answers_path, "id", columns, metric), 1))
                row = {"metric": metric, "n": n, "ours_cpu_s": ours_s, "ours_cold_cpu_s": cold_s,
                       "baseline_cpu_s": base_s, "ratio": base_s / ours_s, "cold_ratio": base_s / cold_s}
                if with_process:
                    ours_argv = [sys.executable, "-m", "sandmle", "grade", str(task.root), str(submission),
                                 "--json"]
                    base_argv = [sys.executable, "-c",
                                 BASELINE + f"\ngrade({str(submission)!r}, {str(task.answers_path)!r}, "
                                 f"'id', {columns!r}, {metric!r})\n"]
                    ours = [run_process(ours_argv) for _ in range(3)]
                    base = [run_process(base_argv) for _ in range(3)]
                    ours_wall, base_wall = min(w for w, _ in ours), min(w for w, _ in base)
                    row.update(ours_process_s=ours_wall, baseline_process_s=base_wall,
                               process_ratio=base_wall / ours_wall,
                               ours_peak_mib=max(p for _, p in ours) / 1024.0,
                               baseline_peak_mib=max(p for _, p in base) / 1024.0)
                rows.append(row)
    return rows


def run(args) -> int:
    from sandmle.bench import format_seconds, parse_sizes

    sizes = parse_sizes(args.sizes)
    load = os.getloadavg()
    with warnings.catch_warnings():          # pandas 3 deprecates float_precision, which MLE-bench passes
        warnings.simplefilter("ignore")
        rows = measure(sizes, with_process=not args.no_process)
    load_after = os.getloadavg()
    if args.json:
        print(json.dumps({"rows": rows, "load_before": load, "load_after": load_after}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="grading: sandmle vs pandas + scikit-learn (MLE-bench's pattern)")
    columns = ["metric", "n", "warm", "cold", "pandas", "warm x", "cold x"]
    if not args.no_process:
        columns += ["cli", "pandas cli", "cli x", "cli peak", "pandas peak"]
    for column in columns:
        table.add_column(column, justify="left" if column == "metric" else "right", no_wrap=True)
    for r in rows:
        ok = r["ratio"] >= GOAL_RATIO
        cold_ok = r["cold_ratio"] >= GOAL_RATIO
        cells = [r["metric"], f"{r['n']:,}", format_seconds(r["ours_cpu_s"]),
                 format_seconds(r["ours_cold_cpu_s"]), format_seconds(r["baseline_cpu_s"]),
                 f"[{'green' if ok else 'red'}]{r['ratio']:.1f}x[/]",
                 f"[{'green' if cold_ok else 'red'}]{r['cold_ratio']:.1f}x[/]"]
        if not args.no_process:
            low = r["ours_peak_mib"] <= r["baseline_peak_mib"]
            cells += [format_seconds(r["ours_process_s"]), format_seconds(r["baseline_process_s"]),
                      f"{r['process_ratio']:.1f}x",
                      f"[{'green' if low else 'red'}]{r['ours_peak_mib']:.0f} MiB[/]",
                      f"{r['baseline_peak_mib']:.0f} MiB"]
        table.add_row(*cells)
    table.caption = f"load average {load[0]:.1f} before, {load_after[0]:.1f} after"
    table.caption += ("; goal >= 3x" + ("" if args.no_process else ", peak <= pandas'")
                      + "; warm: the task's answers kept between grades (rollouts, eval), cold: read every time"
                      + ("" if args.no_process else "; cli: fresh process wall time"))
    Console(width=max(150, Console().width)).print(table)
    return 0

