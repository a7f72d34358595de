"""The four synthesis roles (REFERENCE §2) over a language model, each with its own acceptance test.

- `strategist`: the seed's DNA -> a plan (domain, features, targets, mutations, hidden rule),
  validated against `STRATEGY_SCHEMA` and the DNA (target count, classes, quirk ranges;
  `sandmle.synth.llm.plan`).
- `developer`: the plan -> a data-generation script, run in the sandbox with the output folder
  as its only writable place; a crash or a failed file check (`sandmle.synth.llm.outputs`)
  goes back to the model with the stderr tail and the check report, up to `max_repairs` times.
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
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sandmle.metrics.registry import METRICS
from sandmle.synth.dna import Sizes, TaskDNA, stable_test_rows
from sandmle.synth.llm import prompts
from sandmle.synth.llm.leaks import HiddenRule, description_leaks
from sandmle.synth.llm.outputs import check_outputs, read_frame, read_output
from sandmle.synth.llm.plan import (Strategy, developer_notes, layout_for, mutated_quirks, plan_problems,
                                    provisional_spec, strategist_notes)
from sandmle.synth.llm.schema import GRADER_SCHEMA, ParseError, extract_code, extract_json, schema_problems, strip_thinking

Ask = Callable[[list[dict[str, str]], str], str]
SCRIPT_TIMEOUT_S = 120.0
SCRIPT_MEMORY_MB = 4096


class RoleFailure(Exception):
    def __init__(self, role: str, reason: str) -> None:
        super().__init__(f"{role}: {reason}")
        self.role = role
        self.reason = reason


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


# ---- 1. Data Strategist ----------------------------------------------------------------------

def strategist(dna: TaskDNA, random_seed: int, ask: Ask, max_retries: int = 1) -> Strategy:
    messages = prompts.strategist_messages(dna, random_seed, stable_test_rows(dna), strategist_notes(dna))
    plan, problems = _ask_until_accepted(ask, "strategist", messages, _json_check(lambda p: plan_problems(dna, p)),
                                         max_retries)
    if problems:
        raise RoleFailure("strategist", f"plan rejected: {'; '.join(problems)[:300]}")
    n_train, n_test = plan["train_rows"], plan["test_rows"]
    amplified = dataclasses.replace(dna, domain=plan["domain"], quirks=mutated_quirks(dna, plan["mutations"]),
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
                rows = (len(read_frame(out_dir / "train.csv")), len(read_frame(out_dir / "test.csv")))
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
    answers = read_frame(script.out_dir / "answers.csv")
    sample = read_frame(script.out_dir / "sample_submission.csv")
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
    answers = read_frame(script.out_dir / "answers.csv")
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
