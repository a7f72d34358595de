"""Verification: the sanity filter every synthetic task passes before it joins a bank.

The paper's MLOps Engineer and sanity filter (REFERENCE §2) as named checks over a calibrated
task folder; each returns pass/fail with a one-line reason:

- thresholds_monotone: median < bronze < silver < gold, strictly, in the metric's direction.
- sample_below_median: the sample submission scores strictly worse than the median.
- oracle_gold: the noise-free oracle prediction (private/oracle.csv) reaches gold.
- tiers_separable: each gap between adjacent thresholds exceeds the bootstrap standard
  deviation, over resamples of the test rows, of the score difference between the two
  leaderboard entries that set those thresholds (paired; `paired=False` compares with the
  median entry's own score noise instead), so a medal means more than luck in the split.
- deterministic_regrade: grading the same submission twice gives the same result.
- no_test_id_in_train: no test id appears in the training data.
- no_answer_leak: the test data carries no target column, public/ holds no answers-like
  file, and no public table reproduces the hidden answers.
- no_duplicate_rows: at most `MAX_DUPLICATE_SHARE` of test rows repeat a training row's
  features exactly (a labelled copy of a test row leaks its answer).

Checks read only the task folder (task.json, public/, private/), so tasks from any generator
can be verified:  `results = verify(task_dir)`; `all(r.passed for r in results)`.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sandmle.errors import UserError
from sandmle.task import Task, load_task, write_json_atomic

VERIFICATION_FILE = "verification.json"
ORACLE_FILE = "oracle.csv"
BOOTSTRAP_RESAMPLES = 200
MAX_DUPLICATE_SHARE = 0.10
# Adjacent thresholds must lie this many bootstrap std apart. Measured on the first 15
# tabular tasks of seed 0 with the default population: 1.0 keeps 2, 0.75 keeps 3, 0.5 keeps 7,
# 0.25 keeps 13, 0 (strict order only) keeps 15 -- the top of a 25-entry leaderboard clusters.
SEPARATION_SIGMAS = 1.0
CHECKS = ("thresholds_monotone", "sample_below_median", "oracle_gold", "tiers_separable",
          "deterministic_regrade", "no_test_id_in_train", "no_answer_leak", "no_duplicate_rows")
# Checks of the data alone (no leaderboard): synthesis runs them before calibrating, so a task
# that no leaderboard can save costs no calibration.
DATA_CHECKS = ("no_test_id_in_train", "no_answer_leak", "no_duplicate_rows")
_ANSWER_NAME = re.compile(r"(answer|solution|ground[_-]?truth|private|oracle|hidden)", re.IGNORECASE)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    reason: str

    def to_json(self) -> dict:
        return asdict(self)


def _ok(name: str, reason: str) -> CheckResult:
    return CheckResult(name, True, reason)


def _fail(name: str, reason: str) -> CheckResult:
    return CheckResult(name, False, reason)


def _better(a: float, b: float, is_lower_better: bool) -> bool:
    """a strictly better than b."""
    return a < b if is_lower_better else a > b


def check_thresholds_monotone(task: Task) -> CheckResult:
    t, low = task.spec.thresholds, task.spec.is_lower_better
    chain = [("median", t.median), ("bronze", t.bronze), ("silver", t.silver), ("gold", t.gold)]
    for (n1, v1), (n2, v2) in zip(chain, chain[1:]):
        if not _better(v2, v1, low):
            word = "below" if low else "above"
            return _fail("thresholds_monotone", f"{n2} {v2:.5g} is not strictly {word} {n1} {v1:.5g}")
    return _ok("thresholds_monotone", "median {:.5g} < bronze {:.5g} < silver {:.5g} < gold {:.5g}".format(
        *t.as_tuple()) if not low else "median {:.5g} > bronze {:.5g} > silver {:.5g} > gold {:.5g}".format(*t.as_tuple()))


def check_sample_below_median(task: Task) -> CheckResult:
    from sandmle.grading import grade_submission

    grade = grade_submission(task, task.sample_submission_path)
    if not grade.valid:
        return _fail("sample_below_median", f"the sample submission is invalid: {grade.reason}")
    median = task.spec.thresholds.median
    if _better(median, grade.score, task.spec.is_lower_better):
        return _ok("sample_below_median", f"sample scores {grade.score:.5g}, median {median:.5g}")
    return _fail("sample_below_median", f"sample scores {grade.score:.5g}, not worse than median {median:.5g}")


def check_oracle_gold(task: Task) -> CheckResult:
    from sandmle.grading import grade_submission

    path = task.private_dir / ORACLE_FILE
    if not path.is_file():
        return _fail("oracle_gold", f"private/{ORACLE_FILE} is missing")
    grade = grade_submission(task, path)
    if not grade.valid:
        return _fail("oracle_gold", f"the oracle submission is invalid: {grade.reason}")
    if grade.tier == "gold":
        return _ok("oracle_gold", f"oracle scores {grade.score:.5g}, gold {task.spec.thresholds.gold:.5g}")
    return _fail("oracle_gold", f"oracle scores {grade.score:.5g}, short of gold {task.spec.thresholds.gold:.5g} "
                                f"(tier {grade.tier})")


def bootstrap_scores(task: Task, submissions: dict[str, Path], resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Metric of each submission on the same bootstrap resamples of the test rows.

    Returns name -> scores, keeping only the resamples where the metric is defined for every
    submission (AUC needs both classes), so the arrays stay paired."""
    from sandmle.errors import MetricError
    from sandmle.grading import metric_inputs
    from sandmle.metrics import METRICS, compute
    from sandmle.metrics.ranking import ranking_tables

    inputs = {name: metric_inputs(task, path) for name, path in submissions.items()}
    if METRICS[task.spec.metric].kind == "ranking":     # code label lists once, not per resample
        inputs = {name: ranking_tables(y_true, y_pred, task.spec.metric) for name, (y_true, y_pred) in inputs.items()}
    n = len(next(iter(inputs.values()))[0])
    rng = np.random.default_rng(seed)
    rows: list[list[float]] = []
    for _ in range(resamples):
        idx = rng.integers(0, n, size=n)
        try:
            row = [compute(task.spec.metric, _take(y_true, idx), _take(y_pred, idx), **task.spec.metric_params)
                   for y_true, y_pred in inputs.values()]
        except MetricError:
            continue
        if all(math.isfinite(v) for v in row):
            rows.append(row)
    table = np.array(rows, dtype=float).reshape(len(rows), len(inputs))
    return {name: table[:, j] for j, name in enumerate(inputs)}


def bootstrap_std(task: Task, submission_path: Path, resamples: int = BOOTSTRAP_RESAMPLES,
                  seed: int = 0) -> tuple[float, int]:
    """Standard deviation of one submission's metric over bootstrap resamples of the test
    rows, and the number of resamples where the metric was defined."""
    scores = bootstrap_scores(task, {"s": submission_path}, resamples, seed)["s"]
    return (float(np.std(scores, ddof=1)) if len(scores) >= 2 else math.nan), len(scores)


def _take(values, idx):
    if isinstance(values, np.ndarray):
        return values[idx]
    return [values[i] for i in idx]


def tier_margins(task: Task, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                 paired: bool = True) -> tuple[list[tuple[str, float, float]], float, int] | str:
    """Per adjacent pair of thresholds (median-bronze, bronze-silver, silver-gold): its name,
    the gap, and the bootstrap noise of the gap (see `check_tiers_separable`); with the
    median submission's own bootstrap std and the resamples used. A string says why they
    cannot be measured."""
    from sandmle.synth.calibrate import TIER_SUBMISSIONS_DIR

    folder = task.private_dir / TIER_SUBMISSIONS_DIR
    paths = {tier: folder / f"{tier}.csv" for tier in ("median", "bronze", "silver", "gold")}
    missing = [t for t, p in paths.items() if not p.is_file()]
    if missing:
        return f"private/{TIER_SUBMISSIONS_DIR}/ lacks {', '.join(missing)} (calibrate first)"
    scores = bootstrap_scores(task, paths, resamples, seed)
    used = len(scores["median"])
    if used < 2:
        return f"metric undefined on {resamples - used} of {resamples} bootstrap resamples"
    t = task.spec.thresholds
    value = {"median": t.median, "bronze": t.bronze, "silver": t.silver, "gold": t.gold}
    unpaired = float(np.std(scores["median"], ddof=1))
    margins = []
    for low, high in (("median", "bronze"), ("bronze", "silver"), ("silver", "gold")):
        gap = abs(value[high] - value[low])
        noise = float(np.std(scores[high] - scores[low], ddof=1)) if paired else unpaired
        margins.append((f"{low}-{high}", gap, noise))
    return margins, unpaired, used


def check_tiers_separable(task: Task, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                          paired: bool = True, sigmas: float = SEPARATION_SIGMAS) -> CheckResult:
    """Each gap between adjacent thresholds must exceed the bootstrap noise on the test rows.

    paired (default): the noise of a gap is the standard deviation, over resamples of the
    test rows, of the score difference between the two submissions that set the adjacent
    thresholds (private/tiers/<tier>.csv): are these two entries ranked the same way on
    most resamples? Unpaired: the standard deviation of the median submission's own score,
    a much stricter bar, since two models' errors on the same rows largely cancel in the
    difference.
    """
    measured = tier_margins(task, resamples, seed, paired)
    if isinstance(measured, str):
        return _fail("tiers_separable", measured)
    margins, unpaired, used = measured
    margin, name, gap, noise = min((gap - sigmas * noise, name, gap, noise) for name, gap, noise in margins)
    kind = "paired" if paired else "unpaired"
    times = "" if sigmas == 1 else f"{sigmas:g} x "
    pairs = ", ".join(f"{n} {g:.4g}/{z:.4g}" for n, g, z in margins)
    detail = (f"{times}{kind} bootstrap std {noise:.4g} (gap/std: {pairs}; median's own std "
              f"{unpaired:.4g}, {used} resamples)")
    if margin > 0:
        return _ok("tiers_separable", f"tightest gap {name} {gap:.4g} > {detail}")
    return _fail("tiers_separable", f"gap {name} {gap:.4g} <= {detail}")


def leaderboard_room(task: Task) -> float | None:
    """`sandmle.synth.design.headroom` of a calibrated task: how much of the range from the
    sample submission (a constant) to the oracle lies above the gold threshold, or None
    when either does not grade."""
    from sandmle.grading import grade_submission
    from sandmle.synth.design import headroom

    sample = grade_submission(task, task.sample_submission_path)
    oracle_path = task.private_dir / ORACLE_FILE
    oracle = grade_submission(task, oracle_path) if oracle_path.is_file() else None
    if not sample.valid or oracle is None or not oracle.valid:
        return None
    return headroom(sample.score, task.spec.thresholds.gold, oracle.score)


def check_deterministic_regrade(task: Task) -> CheckResult:
    from sandmle.grading import grade_submission
    from sandmle.synth.calibrate import TIER_SUBMISSIONS_DIR

    path = task.private_dir / TIER_SUBMISSIONS_DIR / "median.csv"
    if not path.is_file():
        path = task.private_dir / ORACLE_FILE
    if not path.is_file():
        path = task.sample_submission_path
    first, second = grade_submission(task, path), grade_submission(task, path)
    a = (first.valid, first.score, first.tier, first.reason)
    b = (second.valid, second.score, second.tier, second.reason)
    if a == b:
        return _ok("deterministic_regrade", f"{path.name} graded twice: score {first.score}, tier {first.tier}")
    return _fail("deterministic_regrade", f"{path.name} graded twice differs: {a} vs {b}")


def _read_table(task: Task, path: Path):
    """A table of the task folder as text cells, read once per loaded task while the file is
    unchanged (several checks read train.csv and test.csv); callers never modify it."""
    import pandas as pd

    info = path.stat()
    key = ("verify-table", str(path), info.st_size, info.st_mtime_ns, info.st_ino)
    if key not in task.cache:
        task.cache[key] = pd.read_csv(path, dtype=str, keep_default_na=False)
    return task.cache[key]


def _table_key(task: Task, train, test) -> str | None:
    """The column that names a row of train and test data: the submission's id column, or
    for long-format tasks (one submission row per pixel or token) the first column of the
    test table when train has it too (e.g. an image id)."""
    spec = task.spec
    if spec.id_column in train.columns and spec.id_column in test.columns:
        return spec.id_column
    first = test.columns[0] if len(test.columns) else None
    return first if first is not None and first in train.columns else None


def check_no_test_id_in_train(task: Task) -> CheckResult:
    spec = task.spec
    train = _read_table(task, task.public_dir / spec.train_file)
    test = _read_table(task, task.public_dir / spec.test_file)
    key = _table_key(task, train, test)
    if key is None:
        return _fail("no_test_id_in_train", f"train and test data share no id column ({spec.id_column!r} "
                                            f"or test's first column)")
    shared = sorted(set(train[key]) & set(test[key]))
    if shared:
        return _fail("no_test_id_in_train", f"{len(shared)} test ids also in train (e.g. {shared[0]!r})")
    return _ok("no_test_id_in_train", f"{len(train)} train and {len(test)} test {key!r} values are disjoint")


def check_no_answer_leak(task: Task) -> CheckResult:
    spec = task.spec
    test = _read_table(task, task.public_dir / spec.test_file)
    in_test = [c for c in spec.target_columns if c in test.columns]
    if in_test:
        return _fail("no_answer_leak", f"test data carries target column(s) {in_test}")
    answers = _read_table(task, task.answers_path)
    key = answers.set_index(spec.id_column)[list(spec.target_columns)]
    for path in sorted(p for p in task.public_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(task.public_dir).as_posix()
        if _ANSWER_NAME.search(rel):
            return _fail("no_answer_leak", f"public/{rel} looks like an answers file")
        if path.suffix.lower() not in (".csv", ".tsv") or rel in (spec.train_file,):
            continue
        leaked = _reproduces_answers(path, spec.id_column, key)
        if leaked:
            return _fail("no_answer_leak", f"public/{rel} reproduces the hidden answers")
    return _ok("no_answer_leak", "no target column in test data, no public file reproduces the answers")


def _reproduces_answers(path: Path, id_column: str, key) -> bool:
    """A public table holding every test id with the answers' exact target values."""
    import pandas as pd

    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        header = pd.read_csv(path, dtype=str, nrows=0, sep=sep).columns
        if id_column not in header or not any(c in header for c in key.columns):
            return False            # no answer column: the rows need not be read
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError):
        return False
    columns = [c for c in key.columns if c in frame.columns]
    if id_column not in frame.columns or not columns or frame[id_column].duplicated().any():
        return False
    frame = frame.set_index(id_column)
    if not key.index.isin(frame.index).all():
        return False
    got = frame.loc[key.index, columns]
    if key[columns].nunique(dropna=False).max() <= 1:
        return False   # a constant answer column is matched by any constant sample; not a leak
    return bool((got.apply(_normalise) == key[columns].apply(_normalise)).all().all())


def _normalise(column):
    """Cells compared as numbers where they parse, as text otherwise ("1" == "1.0")."""
    import pandas as pd

    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().all():
        return numbers.astype(float).round(9).astype(str)
    return column.str.strip()


def check_no_duplicate_rows(task: Task, max_share: float = MAX_DUPLICATE_SHARE) -> CheckResult:
    spec = task.spec
    train = _read_table(task, task.public_dir / spec.train_file)
    test = _read_table(task, task.public_dir / spec.test_file)
    key = _table_key(task, train, test)
    features = [c for c in test.columns if c not in (spec.id_column, key) and c in train.columns
                and c not in spec.target_columns]
    if not features:
        return _ok("no_duplicate_rows", "train and test share no feature columns")
    # A twin of a real table repeats rows as often as that table's own micro splits do
    # (few discrete columns); only repeats beyond that are a leak of the generator.
    max_share = max(max_share, float(spec.lineage.extra.get("source_duplicate_share", 0.0)) + max_share)
    rows = lambda table: zip(*(table[c].to_numpy(object) for c in features))   # faster than itertuples
    seen = set(rows(train))
    repeated = sum(row in seen for row in rows(test))
    share = repeated / max(len(test), 1)
    if share > max_share:
        return _fail("no_duplicate_rows", f"{repeated} of {len(test)} test rows repeat a training row "
                                          f"({share:.0%} > {max_share:.0%})")
    return _ok("no_duplicate_rows", f"{repeated} of {len(test)} test rows repeat a training row")


_CHECKS: dict[str, Callable[[Task], CheckResult]] = {
    "thresholds_monotone": check_thresholds_monotone,
    "sample_below_median": check_sample_below_median,
    "oracle_gold": check_oracle_gold,
    "tiers_separable": check_tiers_separable,
    "deterministic_regrade": check_deterministic_regrade,
    "no_test_id_in_train": check_no_test_id_in_train,
    "no_answer_leak": check_no_answer_leak,
    "no_duplicate_rows": check_no_duplicate_rows,
}


def verify(task_dir: Path, checks: tuple[str, ...] = CHECKS, *,
           separation_sigmas: float = SEPARATION_SIGMAS) -> list[CheckResult]:
    """Run the named checks on a calibrated task folder, in order; every check runs.

    A check that raises on a malformed file is a failed check naming the exception (a
    broken task is data)."""
    task = load_task(task_dir)
    unknown = [c for c in checks if c not in _CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown} (known: {', '.join(CHECKS)})")
    results = []
    for name in checks:
        try:
            if name == "tiers_separable":
                results.append(check_tiers_separable(task, sigmas=separation_sigmas))
                continue
            results.append(_CHECKS[name](task))
        except (UserError, ValueError, KeyError, IndexError, OSError) as exc:
            # a malformed task file is a failed check; a bug elsewhere still raises
            results.append(_fail(name, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]))
    return results


def write_verification(task_dir: Path, results: list[CheckResult]) -> None:
    write_json_atomic(Path(task_dir) / "private" / VERIFICATION_FILE,
                      {"passed": all(r.passed for r in results), "checks": [r.to_json() for r in results]})
