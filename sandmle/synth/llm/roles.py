"""The four synthesis roles (REFERENCE §2) over a language model, each with its own acceptance test.

- `strategist`: the seed's DNA -> a plan (domain, features, targets, mutations, hidden rule),
  validated against `STRATEGY_SCHEMA` and the DNA (target count, classes, quirk ranges).
- `developer`: the plan -> a data-generation script, run in the sandbox with the output folder
  as its only writable place; a crash or a failed file check goes back to the model with the
  stderr tail and the check report, up to `max_repairs` times.
- `mlops`: the files -> the grader configuration (metric from `sandmle.metrics.METRICS`,
  columns, classes), validated against the registry and the answers, then tried by scoring
  the oracle and the sample submission with sandmle's own grader. The role writes no code:
  model-written code runs only in the sandbox, and grading is always sandmle's.
- `writer`: the public facts -> description.md, rejected when it leaks the rule or answers.

Every role gets `ask(messages, role) -> text`; a role that cannot produce an acceptable answer
raises `RoleFailure(role, reason)`, which the pipeline records as a rejected task.
"""
from __future__ import annotations

import dataclasses
import math
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sandmle.metrics.registry import METRICS
from sandmle.synth.dna import Quirks, Sizes, TaskDNA, stable_test_rows
from sandmle.synth.llm import prompts
from sandmle.synth.llm.leaks import HiddenRule, description_leaks
from sandmle.synth.llm.schema import (GRADER_SCHEMA, STRATEGY_SCHEMA, ParseError, extract_code, extract_json,
                                     schema_problems, strip_thinking)

Ask = Callable[[list[dict[str, str]], str], str]
DATA_FILES = ("train.csv", "test.csv", "answers.csv", "oracle.csv", "sample_submission.csv")
SUPPORTED_MODALITIES = ("tabular", "text", "multimodal")
SCRIPT_TIMEOUT_S = 120.0
SCRIPT_MEMORY_MB = 4096
MAX_OUTPUT_BYTES = 50 * 1024 * 1024
_QUIRKS = ("missing_rate", "outlier_rate", "label_noise", "imbalance", "distractors", "shift")


class RoleFailure(Exception):
    def __init__(self, role: str, reason: str) -> None:
        super().__init__(f"{role}: {reason}")
        self.role = role
        self.reason = reason


def supports(dna: TaskDNA) -> str | None:
    """Why this synthesis cannot take `dna` as a seed, or None (CSV-only data, row submissions)."""
    if dna.modality not in SUPPORTED_MODALITIES or dna.features.has_images or dna.features.has_audio:
        return f"seed {dna.id}: language-model synthesis writes CSV data only (tabular, text), not {dna.modality}"
    if dna.submission != "row":
        return f"seed {dna.id}: language-model synthesis needs one submission row per test id"
    return None


# ---- layout ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """The columns of the files a plan implies (the procedural engine's conventions)."""

    id_column: str
    feature_columns: tuple[str, ...]
    label_columns: tuple[str, ...]          # target columns of train.csv
    submission_columns: tuple[str, ...]     # columns of answers/oracle/sample after the id
    classes: tuple[str, ...]                # label domain, () for probabilities of 0/1 or values

    @property
    def train_columns(self) -> tuple[str, ...]:
        return (self.id_column, *self.feature_columns, *self.label_columns)

    @property
    def test_columns(self) -> tuple[str, ...]:
        return (self.id_column, *self.feature_columns)


def layout_for(dna: TaskDNA, plan: dict[str, Any]) -> Layout:
    kind = dna.metric_kind
    targets = tuple(t["name"] for t in plan["targets"])
    features = tuple(f["name"] for f in plan["features"])
    classes = tuple(plan["classes"])
    if dna.target_kind == "ordinal":
        classes = tuple(str(i) for i in range(dna.num_classes))
    if dna.target_kind in ("multiclass", "ranking") and kind in ("multiclass_proba", "multilabel_proba"):
        labels = classes if kind == "multilabel_proba" else targets
        return Layout(plan["id_column"], features, labels, classes, classes)
    if dna.target_kind == "multilabel":
        return Layout(plan["id_column"], features, targets, targets, targets)
    if dna.target_kind in ("multiclass", "ranking", "ordinal"):
        return Layout(plan["id_column"], features, targets, targets, classes)
    return Layout(plan["id_column"], features, targets, targets, ())


def _num_targets(dna: TaskDNA) -> int:
    return dna.num_labels if dna.target_kind == "multilabel" else dna.num_targets


def strategist_notes(dna: TaskDNA) -> dict[str, str]:
    kind, n = dna.target_kind, _num_targets(dna)
    target_note = {
        "binary": " (a yes/no outcome, 0 or 1)",
        "multiclass": f" (its values are the {dna.num_classes} classes)",
        "ranking": f" (its values are the {dna.num_classes} classes; submissions rank them)",
        "ordinal": f" (an integer grade 0..{dna.num_classes - 1})",
        "multilabel": " (one 0/1 column per label; the label names are the target names)",
        "regression": " (numeric)",
    }.get(kind, "")
    classes_note = (f"exactly {dna.num_classes} class names" if kind in ("multiclass", "ranking") else "[]")
    feature_note = {
        "text": "include at least one text column (free text of about "
                f"{max(dna.features.text_length_words, 8)} words) and optionally numeric/categorical columns",
        "multimodal": "include at least one text column and at least two numeric or categorical columns",
    }.get(dna.modality, f"about {max(3, dna.features.tabular_columns)} numeric, categorical or datetime columns, no text")
    rule_note = ("the target depends on which words or phrases occur in the text (name the word lists in the "
                 "formula), and on the other columns if any, with at least one interaction"
                 if dna.modality in ("text", "multimodal") else
                 "uses 2-6 of the features with at least one nonlinearity or interaction, so a one-feature or "
                 "linear model falls short")
    return {"num_targets": str(n), "targets_plural": "y" if n == 1 else "ies", "target_note": target_note,
            "classes_note": classes_note, "feature_note": feature_note, "rule_note": rule_note}


def _prior_note(dna: TaskDNA, what: str) -> str:
    if dna.metric in ("accuracy", "f1_micro"):
        return f"the most frequent training {what} in every row"
    return f"{what}s drawn at random with the training frequencies"


def developer_notes(dna: TaskDNA, layout: Layout) -> dict[str, str]:
    kind = dna.metric_kind
    classes = ", ".join(layout.classes)
    if kind == "binary_proba":
        return {"answers_note": "the true 0/1 test labels",
                "oracle_note": "the noise-free probability P(label = 1) under the rule, in [0, 1]",
                "sample_note": "the training positive rate in every row"}
    if kind == "multilabel_proba":
        return {"answers_note": "the true 0/1 value of each column per test row",
                "oracle_note": "the noise-free probability of each column under the rule, in [0, 1]",
                "sample_note": "each column's training positive rate in every row"}
    if kind == "multiclass_proba":
        return {"answers_note": f"one-hot 0/1 over the class columns ({classes}) marking the true class; "
                                f"train.csv's {layout.label_columns[0]} holds the class name",
                "oracle_note": "the noise-free class probabilities under the rule (each row sums to 1)",
                "sample_note": "the training class frequencies in every row"}
    if kind == "ranking":
        k = dna.metric_params.get("k", 5)
        return {"answers_note": f"the true class name (one of {classes})",
                "oracle_note": f"the {k} most probable class names under the noise-free rule, space-separated, best first",
                "sample_note": f"the {k} most frequent training classes, space-separated, in every row"}
    if kind == "ordinal":
        return {"answers_note": f"the true integer grade ({classes})",
                "oracle_note": "the noise-free expected grade under the rule, rounded to an integer",
                "sample_note": _prior_note(dna, "grade")}
    if kind == "label":
        return {"answers_note": f"the true label ({classes})",
                "oracle_note": "the most likely label under the noise-free rule",
                "sample_note": _prior_note(dna, "label")}
    sample = ("uniform random numbers in [0, 1] (a constant has no rank correlation)" if dna.metric == "spearman"
              else "the training median of each target column in every row")
    return {"answers_note": "the true numeric target values (with the rule's noise)",
            "oracle_note": "the noise-free target values under the rule", "sample_note": sample}


# ---- 1. Data Strategist ----------------------------------------------------------------------

@dataclass(frozen=True)
class Strategy:
    plan: dict[str, Any]
    dna: TaskDNA                 # the seed's DNA re-targeted: domain, mutated quirks, fixed sizes
    layout: Layout
    rule: HiddenRule


def plan_problems(dna: TaskDNA, plan: Any) -> list[str]:
    """Every reason to reject a strategist's plan: the schema first, then the DNA's constraints."""
    problems = schema_problems(plan, STRATEGY_SCHEMA)
    if problems:
        return problems
    features = [f["name"] for f in plan["features"]]
    targets = [t["name"] for t in plan["targets"]]
    names = [plan["id_column"], *features, *targets]
    if len(set(n.lower() for n in names)) != len(names):
        problems.append(f"id, feature and target names must be distinct, got {names}")
    if len(targets) != _num_targets(dna):
        problems.append(f"targets: need exactly {_num_targets(dna)}, got {len(targets)}")
    if dna.target_kind in ("multiclass", "ranking"):
        classes = plan["classes"]
        if len(classes) != dna.num_classes or len(set(classes)) != len(classes):
            problems.append(f"classes: need {dna.num_classes} distinct names, got {classes}")
        clash = sorted(set(classes) & set(names))
        if clash:
            problems.append(f"classes must not reuse column names: {clash}")
    types = [f["type"] for f in plan["features"]]
    if dna.modality in ("text", "multimodal") and "text" not in types:
        problems.append(f"features: a {dna.modality} task needs a text column")
    if dna.modality == "tabular" and "text" in types:
        problems.append("features: a tabular task has no text columns")
    if dna.modality in ("tabular", "multimodal") and sum(t != "text" for t in types) < 2:
        problems.append("features: need at least two numeric, categorical or datetime columns")
    unknown = sorted(set(plan["hidden_rule"]["informative_features"]) - set(features))
    if unknown:
        problems.append(f"hidden_rule.informative_features names unknown features {unknown}")
    low, high = dna.sizes.train
    if not low <= plan["train_rows"] <= high:
        problems.append(f"train_rows: need {low}..{high}, got {plan['train_rows']}")
    low, high = stable_test_rows(dna)
    if not low <= plan["test_rows"] <= max(high, low):
        problems.append(f"test_rows: need {low}..{high}, got {plan['test_rows']}")
    try:
        _mutated_quirks(dna, plan["mutations"])
    except ValueError as exc:
        problems.append(f"mutations: {exc}")
    return problems


def _mutated_quirks(dna: TaskDNA, mutations: dict[str, Any]) -> Quirks:
    values = {k: mutations.get(k, getattr(dna.quirks, k)) for k in _QUIRKS}
    return dataclasses.replace(dna.quirks, **values)


def _ask_until_accepted(ask: Ask, role: str, messages: list[dict], check, max_retries: int,
                        repair=None) -> tuple[Any, list[str]]:
    """Ask `role` until `check(text) -> (value, problems)` finds no problem, showing the model
    its last answer and the problems before each retry. Returns (value, []) or (None, problems)."""
    repair = repair or prompts.retry_message
    problems: list[str] = []
    text = ""
    for attempt in range(max_retries + 1):
        if attempt:
            messages = messages + [{"role": "assistant", "content": text}, repair(problems)]
        text = ask(messages, role)
        value, problems = check(text)
        if not problems:
            return value, []
    return None, problems


def _json_check(problems_of):
    """A check for roles that answer with one JSON object."""
    def check(text: str) -> tuple[Any, list[str]]:
        try:
            data = extract_json(text)
        except ParseError as exc:
            return None, [str(exc)]
        return data, problems_of(data)
    return check


def strategist(dna: TaskDNA, random_seed: int, ask: Ask, max_retries: int = 1) -> Strategy:
    messages = prompts.strategist_messages(dna, random_seed, stable_test_rows(dna), strategist_notes(dna))
    plan, problems = _ask_until_accepted(ask, "strategist", messages, _json_check(lambda p: plan_problems(dna, p)),
                                         max_retries)
    if problems:
        raise RoleFailure("strategist", f"plan rejected: {'; '.join(problems)[:300]}")
    n_train, n_test = plan["train_rows"], plan["test_rows"]
    amplified = dataclasses.replace(dna, domain=plan["domain"], quirks=_mutated_quirks(dna, plan["mutations"]),
                                    sizes=Sizes(train=(n_train, n_train), test=(n_test, n_test), unit="row"))
    rule = plan["hidden_rule"]
    return Strategy(plan=plan, dna=amplified, layout=layout_for(dna, plan),
                    rule=HiddenRule(rule["description"], rule["formula"], tuple(rule["informative_features"])))


# ---- 2. ML Developer -------------------------------------------------------------------------

@dataclass(frozen=True)
class Script:
    code: str
    out_dir: Path                # holds the five data files
    attempts: int                # scripts run (1 + repairs)
    train_rows: int
    test_rows: int


def read_output(path: Path) -> bytes:
    """A file the script wrote, read without following links: the script is untrusted, and a
    symlink it planted (train.csv -> a host file) must not be read or published."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        if info.st_size > MAX_OUTPUT_BYTES:
            raise ValueError(f"{path.name} is {info.st_size} bytes, more than {MAX_OUTPUT_BYTES}")
        return fh.read()


def _read(path: Path):
    import io

    import pandas as pd

    return pd.read_csv(io.BytesIO(read_output(path)), dtype=str, keep_default_na=False)


def _floats(values) -> list[float] | None:
    try:
        out = [float(v) for v in values]
    except ValueError:
        return None
    return out if all(math.isfinite(v) for v in out) else None


def provisional_spec(strategy: Strategy, task_id: str, train_rows: int, test_rows: int):
    """A task spec from the DNA and the layout (thresholds not yet known), for trial scoring."""
    from sandmle.task import Lineage, TaskSpec, Thresholds

    dna, layout = strategy.dna, strategy.layout
    classes = layout.classes if dna.metric_kind in ("multiclass_proba", "label", "ordinal", "ranking") else ()
    return TaskSpec(id=task_id, title=strategy.plan["title"], modality=dna.modality, metric=dna.metric,
                    is_lower_better=dna.is_lower_better, id_column=layout.id_column,
                    target_columns=layout.submission_columns, thresholds=Thresholds(0.0, 0.0, 0.0, 0.0),
                    train_rows=train_rows, test_rows=test_rows, domain=dna.domain,
                    metric_params=dict(dna.metric_params), classes=classes,
                    lineage=Lineage(seed=dna.id, generator="llm", generator_version="", random_seed=0))


def check_outputs(out_dir: Path, strategy: Strategy) -> list[str]:
    """Every problem with the files a generator script wrote (the check report)."""
    missing = [name for name in DATA_FILES if not os.path.lexists(out_dir / name)]
    if missing:
        return [f"missing output file(s): {', '.join(missing)}"]
    frames, problems = {}, []
    for name in DATA_FILES:
        try:
            frames[name] = _read(out_dir / name)
        except OSError as exc:
            problems.append(f"{name} cannot be read: {exc.strerror or exc}")
        except Exception as exc:       # any parse failure of a model-made file is a report line
            problems.append(f"{name} is not a readable CSV file: {str(exc).splitlines()[0][:120]}")
    if problems:
        return problems
    layout, dna = strategy.layout, strategy.dna
    train, test = frames["train.csv"], frames["test.csv"]
    need_train = [c for c in layout.train_columns if c not in train.columns]
    if need_train:
        problems.append(f"train.csv lacks column(s) {need_train} (has {list(train.columns)[:12]})")
    in_test = [c for c in layout.label_columns if c in test.columns]
    if in_test:
        problems.append(f"test.csv must not hold target column(s) {in_test}")
    expected_test = [c for c in train.columns if c not in layout.label_columns]
    if sorted(test.columns) != sorted(expected_test):
        problems.append(f"test.csv columns {list(test.columns)[:12]} must be train.csv's minus the targets {expected_test[:12]}")
    for name, frame, key in (("train.csv", train, "train_rows"), ("test.csv", test, "test_rows")):
        if len(frame) != strategy.plan[key]:
            problems.append(f"{name} has {len(frame)} rows, the plan says {key} = {strategy.plan[key]}")
    if problems:
        return problems
    ids = layout.id_column
    for name, frame in (("train.csv", train), ("test.csv", test)):
        if frame[ids].duplicated().any() or (frame[ids] == "").any():
            problems.append(f"{name}: ids in {ids!r} must be unique and non-empty")
    shared = set(train[ids]) & set(test[ids])
    if shared:
        problems.append(f"{len(shared)} test ids also appear in train.csv (e.g. {sorted(shared)[0]!r})")
    for column in layout.label_columns:
        if train[column].nunique() < 2:
            problems.append(f"train.csv column {column!r} holds fewer than two distinct values")
    expected = [ids, *layout.submission_columns]
    for name in ("answers.csv", "oracle.csv", "sample_submission.csv"):
        frame = frames[name]
        if list(frame.columns) != expected:
            problems.append(f"{name} columns must be {expected}, got {list(frame.columns)[:12]}")
        elif sorted(frame[ids]) != sorted(test[ids]) or frame[ids].duplicated().any():
            problems.append(f"{name} must list each test id exactly once")
        elif (frame[list(layout.submission_columns)] == "").any().any():
            problems.append(f"{name} has empty cells")
    if problems:
        return problems
    problems += _answer_problems(frames["answers.csv"], layout, dna)
    return problems or _trial_scores(out_dir, strategy, len(train), len(test))


def _answer_problems(answers, layout: Layout, dna: TaskDNA) -> list[str]:
    kind = dna.metric_kind
    for column in layout.submission_columns:
        values = answers[column]
        if kind in ("binary_proba", "multilabel_proba", "multiclass_proba"):
            bad = sorted(set(values) - {"0", "1"})
            if bad:
                return [f"answers.csv column {column!r} must hold 0/1, got {bad[:5]}"]
        elif kind in ("label", "ordinal", "ranking"):
            allowed = set(layout.classes) if layout.classes else {"0", "1"}
            bad = sorted(set(values) - allowed)
            if bad:
                return [f"answers.csv column {column!r} holds values outside {sorted(allowed)}: {bad[:5]}"]
        elif kind in ("value", "multi_value") and _floats(values) is None:
            return [f"answers.csv column {column!r} must hold finite numbers"]
    if kind == "multiclass_proba":
        rows = answers[list(layout.submission_columns)].astype(int).sum(axis=1)
        if (rows != 1).any():
            return ["answers.csv must be one-hot: exactly one 1 per row over the class columns"]
    return []


def _trial_scores(out_dir: Path, strategy: Strategy, train_rows: int, test_rows: int) -> list[str]:
    """Score oracle.csv and sample_submission.csv with sandmle's grader: both valid, oracle better."""
    from sandmle.errors import InvalidSubmission, UserError
    from sandmle.grading import score_submission

    spec = provisional_spec(strategy, "trial", train_rows, test_rows)
    scores = {}
    for name in ("oracle.csv", "sample_submission.csv"):
        try:
            scores[name] = score_submission(spec, out_dir / "answers.csv", out_dir / name)
        except (InvalidSubmission, UserError) as exc:
            return [f"{name} cannot be graded against answers.csv: {str(exc).splitlines()[0][:200]}"]
    oracle, sample = scores["oracle.csv"], scores["sample_submission.csv"]
    better = oracle < sample if spec.is_lower_better else oracle > sample
    if not better:
        return [f"oracle.csv scores {oracle} {spec.metric}, not better than sample_submission.csv's {sample}: "
                f"the rule must make the target predictable"]
    return []


def _failure_report(result, problems: list[str]) -> str:
    lines = []
    if result is not None and not result.ok:
        how = ("timed out" if result.timed_out else "exceeded the memory limit" if result.memory_exceeded
               else f"exited with code {result.exit_code}" if result.exit_code is not None else f"was killed by signal {result.signal}")
        lines.append(f"The script {how}. Last lines of its stderr:")
        tail = "\n".join((result.stderr_tail or "").strip().splitlines()[-25:])
        lines.append(f"```\n{tail}\n```")
    if problems:
        lines.append("Check report:")
        lines += [f"- {p}" for p in problems]
    return "\n".join(lines)


def developer(strategy: Strategy, random_seed: int, ask: Ask, pool, work_root: Path,
              max_repairs: int = 3, timeout_s: float = SCRIPT_TIMEOUT_S) -> Script:
    """Write, run and repair the data-generation script until its files pass `check_outputs`."""
    from sandmle.sandbox.job import Job, Limits

    messages = prompts.developer_messages(strategy.plan, random_seed, strategy.layout,
                                          developer_notes(strategy.dna, strategy.layout))
    last = ""
    for attempt in range(max_repairs + 1):
        text = ask(messages, "developer")
        result = None
        try:
            code = extract_code(text)
        except ParseError as exc:
            problems = [str(exc)]
        else:
            out_dir = Path(tempfile.mkdtemp(dir=work_root, prefix=f"script{attempt}."))
            job = Job(work_dir=str(out_dir), code=code, seed=random_seed, name=f"llm-generate:{strategy.dna.id}",
                      limits=Limits(timeout_s=timeout_s, memory_mb=SCRIPT_MEMORY_MB, output_bytes=8192))
            result = pool.run(job)
            problems = [] if result.ok else ["the script failed (see stderr above)"]
            if result.ok:
                problems = check_outputs(out_dir, strategy)
            if not problems:
                rows = (len(_read(out_dir / "train.csv")), len(_read(out_dir / "test.csv")))
                return Script(code=code, out_dir=out_dir, attempts=attempt + 1, train_rows=rows[0], test_rows=rows[1])
        last = _failure_report(result, problems)
        messages = messages + [{"role": "assistant", "content": text}, prompts.developer_repair(last)]
    first = next((ln for ln in last.splitlines() if ln.startswith("- ")), last.splitlines()[0] if last else "")
    raise RoleFailure("developer", f"no valid data after {max_repairs + 1} script(s): {first.lstrip('- ')[:240]}")


# ---- 3. MLOps Engineer -----------------------------------------------------------------------

@dataclass(frozen=True)
class GraderConfig:
    metric: str
    id_column: str
    target_columns: tuple[str, ...]
    classes: tuple[str, ...]
    metric_params: dict[str, Any]


def grader_problems(config: Any, strategy: Strategy, answer_values: dict[str, list[str]]) -> list[str]:
    problems = schema_problems(config, GRADER_SCHEMA)
    if problems:
        return problems
    dna, layout = strategy.dna, strategy.layout
    metric = config["metric"]
    if metric not in METRICS:
        return [f"metric {metric!r} is not in the registry (known: {', '.join(METRICS)})"]
    if METRICS[metric].kind != dna.metric_kind:
        problems.append(f"metric {metric!r} has kind {METRICS[metric].kind}, the task needs kind {dna.metric_kind}")
    if config["id_column"] != layout.id_column:
        problems.append(f"id_column must be {layout.id_column!r} (answers.csv's first column), got {config['id_column']!r}")
    if list(config["target_columns"]) != list(layout.submission_columns):
        problems.append(f"target_columns must be answers.csv's columns after the id, in order: {list(layout.submission_columns)}")
    classes = [str(c) for c in config["classes"]]
    kind = METRICS[metric].kind
    if kind == "multiclass_proba" and classes != list(layout.submission_columns):
        problems.append(f"classes must be the class columns {list(layout.submission_columns)}")
    elif kind in ("label", "ordinal", "ranking"):
        seen = sorted({v for values in answer_values.values() for v in values} - set(classes))
        if kind == "ordinal" and not classes:
            problems.append(f"classes must list the grades {list(layout.classes)}")
        elif classes and seen:
            problems.append(f"classes miss answer value(s) {seen[:5]}")
    elif classes:
        problems.append(f"classes must be [] for metric kind {kind}")
    params = config["metric_params"]
    if kind == "ranking":
        k = params.get("k")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k < len(layout.classes) or set(params) != {"k"}:
            problems.append(f"metric_params must be {{\"k\": integer in 1..{len(layout.classes) - 1}}}, got {params}")
    elif params:
        problems.append(f"metric_params must be {{}} for metric {metric!r}, got {params}")
    return problems


def mlops(strategy: Strategy, script: Script, ask: Ask, max_retries: int = 1) -> GraderConfig:
    answers = _read(script.out_dir / "answers.csv")
    sample = _read(script.out_dir / "sample_submission.csv")
    values = {c: sorted(set(answers[c]))[:12] for c in answers.columns[1:]}
    head = answers.head(3).to_csv(index=False).strip()
    messages = prompts.mlops_messages(strategy.plan, strategy.dna, list(answers.columns), head, values, list(sample.columns))
    check = _json_check(lambda c: grader_problems(c, strategy, values) or _config_trial(c, strategy, script))
    config, problems = _ask_until_accepted(ask, "mlops", messages, check, max_retries)
    if problems:
        raise RoleFailure("mlops", f"grader configuration rejected: {'; '.join(problems)[:300]}")
    return GraderConfig(metric=config["metric"], id_column=config["id_column"],
                        target_columns=tuple(config["target_columns"]),
                        classes=tuple(str(c) for c in config["classes"]),
                        metric_params=dict(config["metric_params"]))


def _config_trial(config: dict[str, Any], strategy: Strategy, script: Script) -> list[str]:
    """Grade the oracle and the sample with the proposed configuration (sandmle's grader)."""
    from sandmle.errors import InvalidSubmission, UserError
    from sandmle.grading import score_submission

    spec = dataclasses.replace(provisional_spec(strategy, "trial", script.train_rows, script.test_rows),
                               metric=config["metric"], is_lower_better=METRICS[config["metric"]].is_lower_better,
                               classes=tuple(str(c) for c in config["classes"]),
                               metric_params=dict(config["metric_params"]))
    scores = []
    for name in ("oracle.csv", "sample_submission.csv"):
        try:
            scores.append(score_submission(spec, script.out_dir / "answers.csv", script.out_dir / name))
        except (InvalidSubmission, UserError) as exc:
            return [f"with this configuration {name} cannot be graded: {str(exc).splitlines()[0][:200]}"]
    oracle, sample = scores
    if not (oracle < sample if spec.is_lower_better else oracle > sample):
        return [f"with metric {spec.metric} the oracle ({oracle}) does not beat the sample submission ({sample})"]
    return []


# ---- 4. Technical Writer ---------------------------------------------------------------------

MIN_DESCRIPTION_CHARS = 200


def description_problems(text: str, strategy: Strategy, config: GraderConfig,
                         test_ids: list[str], answer_values: list[str]) -> list[str]:
    problems = description_leaks(text, strategy.rule, test_ids, answer_values)
    if len(text) < MIN_DESCRIPTION_CHARS:
        problems.append(f"it is too short ({len(text)} characters, need {MIN_DESCRIPTION_CHARS})")
    unnamed = [c for c in (config.id_column, *config.target_columns[:12]) if c not in text]
    if unnamed:
        problems.append(f"it does not name the submission column(s) {unnamed}")
    return problems


def writer(strategy: Strategy, script: Script, config: GraderConfig, ask: Ask, max_retries: int = 1) -> str:
    answers = _read(script.out_dir / "answers.csv")
    sample_head = read_output(script.out_dir / "sample_submission.csv").decode("utf-8", "replace").splitlines()[:4]
    test_ids = list(answers[config.id_column])
    values = [v for c in config.target_columns for v in answers[c]]
    messages = prompts.writer_messages(strategy.plan, config.metric, [config.id_column, *config.target_columns],
                                       "\n".join(sample_head), script.train_rows, script.test_rows)
    def check(text: str) -> tuple[str, list[str]]:
        body = _unfence(strip_thinking(text))
        return body.rstrip() + "\n", description_problems(body, strategy, config, test_ids, values)

    body, problems = _ask_until_accepted(ask, "writer", messages, check, max_retries,
                                         repair=lambda found: prompts.writer_repair("; ".join(found)))
    if problems:
        raise RoleFailure("writer", f"description rejected: {'; '.join(problems)[:300]}")
    return body


def _unfence(text: str) -> str:
    """A Markdown answer wrapped whole in a ```markdown fence, unwrapped."""
    lines = text.strip().splitlines()
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1].strip() == "```":
        return "\n".join(lines[1:-1])
    return text.strip()
