"""Language-model synthesis: seeds -> four model roles -> calibrated, verified task bank.

    config = LLMConfig(policy="openai:Qwen/Qwen3-8B@http://localhost:8000/v1", cache_dir=Path("llm-cache"))
    report = synthesize_llm("modality:tabular", num_tasks=8, out_dir=Path("bank"), config=config)

Each planned task runs the Data Strategist, ML Developer (script run and repaired in the
sandbox pool), MLOps Engineer and Technical Writer (`sandmle.synth.llm.roles`), is staged as a
task folder (task.json with lineage generator "llm", the model and the prompt hash; public/;
private/ with answers, oracle, the hidden rule, the script, the plan and the grader
configuration), then calibrated and verified by the procedural engine's own stages
(`sandmle.synth.calibrate.calibrate_folder`, `sandmle.synth.verify.verify`) and filed like
`sandmle.synth.pipeline` files its tasks: `BANK/<task_id>/`, `BANK/_rejected.jsonl` (a role
failure is stage "generate" with the role named in its reason) and `BANK/_funnel.json`.

Where the paper's ML Developer also trains baselines and sets the medal thresholds, here
the simulated leaderboard of reference solutions does, as for procedural tasks.

Every model call goes through `CachedPolicy` (cache folder + `BANK/_llm_calls.jsonl`), so a
second run over the same cache sends no request; `dry_run_text` shows the prompts without
any call. Re-running resumes: finished tasks are skipped.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sandmle.errors import UserError
from sandmle.policies.base import SamplingParams
from sandmle.synth.llm import prompts
from sandmle.synth.llm.cache import CachedPolicy, request_key
from sandmle.synth.llm.outputs import read_output
from sandmle.synth.llm.plan import Strategy, supports
from sandmle.synth.llm.roles import RoleFailure, Script, developer, mlops, strategist, writer
from sandmle.synth.verify import SEPARATION_SIGMAS
from sandmle.task import TASK_FILE, Lineage, TaskSpec, Thresholds, load_task, write_json_atomic

GENERATOR = "llm"
GENERATOR_VERSION = "1"
CALLS_LOG = "_llm_calls.jsonl"
STAGING_DIR = ".staging-llm"
# What generator scripts and reference solutions import, on top of the pool's default set.
PRELOAD_EXTRA = ("scipy.stats", "sklearn.naive_bayes", "sklearn.neural_network", "sklearn.discriminant_analysis",
                 "scipy.sparse")


@dataclass(frozen=True)
class LLMConfig:
    policy: str                          # spec for sandmle.policies.make_policy, e.g. openai:MODEL@URL
    cache_dir: Path
    max_repairs: int = 3                 # ML Developer: scripts re-written after a failure
    max_retries: int = 1                 # Strategist, MLOps, Writer: answers re-asked after a rejection
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 8192           # room for a reasoning model's <think> block and a script
    script_timeout_s: float = 120.0
    offline: bool = False                # answer only from the cache

    def __post_init__(self) -> None:
        if self.max_repairs < 0:
            raise UserError(f"--max-repairs must be >= 0, got {self.max_repairs}")
        if self.max_retries < 0:
            raise UserError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.script_timeout_s <= 0:
            raise UserError(f"script_timeout_s must be > 0, got {self.script_timeout_s}")

    def sampling(self, seed: int) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_p=self.top_p,
                              max_new_tokens=self.max_new_tokens, seed=seed)


@dataclass(frozen=True)
class LLMSynthReport:
    synth: Any                           # sandmle.synth.pipeline.SynthReport
    model: str
    requests_sent: int                   # model calls that reached the backend in this run
    cache_hits: int
    failures_by_role: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.synth.to_json(), "generator": GENERATOR, "model": self.model,
                "requests_sent": self.requests_sent, "cache_hits": self.cache_hits,
                "failures_by_role": dict(self.failures_by_role)}


def select_llm_seeds(selector: str | None) -> list:
    """Seeds for language-model synthesis: by default every supported seed; an explicit
    selector naming an unsupported seed is a UserError."""
    from sandmle.synth.seeds import select_seeds

    chosen = select_seeds(selector)
    if selector is None or selector.strip() in ("", "all"):
        chosen = [d for d in chosen if supports(d) is None]
    unsupported = [supports(d) for d in chosen if supports(d) is not None]
    if unsupported:
        raise UserError(f"{unsupported[0]} ({len(unsupported)} of the selected seeds; choose tabular or text seeds)")
    if not chosen:
        raise UserError("no seed selected supports language-model synthesis")
    return chosen


def llm_schedule(seed_ids: list[str], num_tasks: int, seed: int, max_attempts: int | None = None):
    """The schedule of a language-model run (`sandmle.synth.schedule`); random seeds are
    drawn apart from the procedural engine's, so both generators may fill one bank without
    colliding."""
    from sandmle.synth.schedule import Schedule

    return Schedule(seed_ids, num_tasks, seed, max_attempts, seed_key=lambda s: f"{GENERATOR}:{s}")


def plan_llm_tasks(seed_ids: list[str], num_tasks: int, seed: int) -> list:
    """The attempts a run starts with: the first `num_tasks` of its schedule (more follow
    only for rejected ones)."""
    schedule = llm_schedule(seed_ids, num_tasks, seed)
    return [schedule.next_attempt() for _ in range(num_tasks)]


# ---- one task --------------------------------------------------------------------------------

class _Asker:
    """The `ask` callable the roles get: one cached model call per request, keys recorded."""

    def __init__(self, llm: CachedPolicy, sampling: SamplingParams, tag: str) -> None:
        self.llm, self.sampling, self.tag = llm, sampling, tag
        self.keys: list[str] = []

    def __call__(self, messages: list[dict[str, str]], role: str) -> str:
        [generation] = self.llm.generate([messages], self.sampling, tag=f"{self.tag}:{role}")
        self.keys.append(request_key(self.llm.model, messages, self.sampling))
        if generation.finish_reason == "error":
            raise RoleFailure(role, f"model call failed: {generation.error}")
        if generation.finish_reason == "length":
            raise RoleFailure(role, f"the answer was cut off at max_new_tokens={self.sampling.max_new_tokens}")
        return generation.text


def _rule_text(strategy: Strategy) -> str:
    rule = strategy.plan["hidden_rule"]
    return (f"# Hidden rule\n\n{rule['description']}\n\n```\n{rule['formula']}\n```\n\n"
            f"Informative features: {', '.join(rule['informative_features'])}\n\nNoise: {rule['noise']}\n")


def build_spec(strategy: Strategy, script: Script, config, task_id: str, random_seed: int,
               model: str, keys: list[str]) -> TaskSpec:
    """The task's spec before calibration (thresholds all 0), lineage "llm"."""
    from sandmle.metrics.registry import METRICS

    lineage = Lineage(seed=strategy.dna.id, generator=GENERATOR, generator_version=GENERATOR_VERSION,
                      random_seed=random_seed, dna=strategy.dna.to_json(),
                      extra={"model": model, "prompts_sha256": prompts.PROMPTS_SHA256, "requests": list(keys),
                             "scripts_run": script.attempts})
    return TaskSpec(id=task_id, title=strategy.plan["title"], modality=strategy.dna.modality, metric=config.metric,
                    is_lower_better=METRICS[config.metric].is_lower_better, id_column=config.id_column,
                    target_columns=config.target_columns, thresholds=Thresholds(0.0, 0.0, 0.0, 0.0),
                    train_rows=script.train_rows, test_rows=script.test_rows, lineage=lineage,
                    domain=strategy.dna.domain, metric_params=dict(config.metric_params), classes=config.classes)


def stage_task(task_dir: Path, spec: TaskSpec, strategy: Strategy, script: Script, grader, description: str) -> None:
    """Write the staged task folder (task.json last)."""
    public, private = task_dir / "public", task_dir / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    for folder, names in ((public, ("train.csv", "test.csv", "sample_submission.csv")),
                          (private, ("answers.csv", "oracle.csv"))):
        for name in names:
            (folder / name).write_bytes(read_output(script.out_dir / name))
    (public / "description.md").write_text(description, encoding="utf-8")
    (private / "rule.md").write_text(_rule_text(strategy), encoding="utf-8")
    (private / "generate.py").write_text(script.code, encoding="utf-8")
    write_json_atomic(private / "strategy.json", strategy.plan)
    write_json_atomic(private / "grader.json", {"metric": grader.metric, "id_column": grader.id_column,
                                                "target_columns": list(grader.target_columns),
                                                "classes": list(grader.classes), "metric_params": grader.metric_params})
    write_json_atomic(task_dir / TASK_FILE, spec.to_json())


class _Bank:
    """Accepted folders renamed into place, rejections appended to the log (thread-safe)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.staging = out_dir / STAGING_DIR
        self.lock = threading.Lock()
        self.closed = threading.Event()

    def stage_dir(self, planned) -> Path:
        path = self.staging / f"{planned.seed_id}-{planned.index}-{planned.random_seed}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def accept(self, task_dir: Path, outcome) -> None:
        write_json_atomic(task_dir / "private" / "outcome.json", outcome.to_json())
        dest = self.out_dir / outcome.task_id
        with self.lock:
            if self.closed.is_set():
                return
            if dest.exists():
                raise RuntimeError(f"{dest} already exists but its plan entry {outcome.seed_id}/"
                                   f"{outcome.random_seed} was not recorded as finished")
            os.replace(task_dir, dest)

    def reject(self, outcome) -> None:
        from sandmle.synth.funnel import REJECTED_FILE

        line = json.dumps(outcome.to_json(), sort_keys=True) + "\n"
        with self.lock:
            if self.closed.is_set():
                return
            with open(self.out_dir / REJECTED_FILE, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())


def process_llm_task(planned, dna, llm: CachedPolicy, config: LLMConfig, bank: _Bank, pool, executor,
                     timeout_s: float, separation_sigmas: float = SEPARATION_SIGMAS):
    """Run the four roles, stage, calibrate, verify and file one task; failures are rejections."""
    from sandmle.synth.calibrate import calibrate_folder
    from sandmle.synth.funnel import Outcome
    from sandmle.synth.pipeline import task_id_for
    from sandmle.synth.verify import verify, write_verification

    start = time.perf_counter()
    base = dict(seed_id=planned.seed_id, index=planned.index, random_seed=planned.random_seed,
                modality=dna.modality, metric=dna.metric)
    stage = bank.stage_dir(planned)
    work = stage / "scripts"
    work.mkdir()
    ask = _Asker(llm, config.sampling(planned.random_seed), f"{dna.id}#{planned.index}")
    try:
        try:
            strategy = strategist(dna, planned.random_seed, ask, config.max_retries)
            script = developer(strategy, planned.random_seed, ask, pool, work, config.max_repairs,
                               config.script_timeout_s)
            grader = mlops(strategy, script, ask, config.max_retries)
            description = writer(strategy, script, grader, ask, config.max_retries)
        except RoleFailure as failure:
            outcome = Outcome(**base, task_id=None, accepted=False, stage="generate", reason=str(failure),
                              wall_s=time.perf_counter() - start)
            bank.reject(outcome)
            return outcome
        task_id = f"{task_id_for(dna.id, strategy.dna.domain, planned.index)}-{GENERATOR}"
        spec = build_spec(strategy, script, grader, task_id, planned.random_seed, llm.model, ask.keys)
        base.update(task_id=task_id, domain=strategy.dna.domain, metric=spec.metric)
        task_dir = stage / "task"
        stage_task(task_dir, spec, strategy, script, grader, description)
        try:
            board = calibrate_folder(task_dir, pool, executor=executor, timeout_s=timeout_s, runs_dir=stage / "runs")
        except UserError as exc:
            outcome = Outcome(**base, accepted=False, stage="calibrate", reason=str(exc).splitlines()[0][:300],
                              wall_s=time.perf_counter() - start)
            bank.reject(outcome)
            return outcome
        counts = dict(valid_solutions=len(board.valid_entries), total_solutions=len(board.entries))
        if board.thresholds is None:
            outcome = Outcome(**base, **counts, accepted=False, stage="calibrate", reason=board.problem,
                              wall_s=time.perf_counter() - start)
            bank.reject(outcome)
            return outcome
        results = verify(task_dir, separation_sigmas=separation_sigmas)
        write_verification(task_dir, results)
        checks = tuple(r.to_json() for r in results)
        failed = [r for r in results if not r.passed]
        if failed:
            outcome = Outcome(**base, **counts, accepted=False, stage="verify", checks=checks,
                              reason=f"{failed[0].name}: {failed[0].reason}", wall_s=time.perf_counter() - start)
            bank.reject(outcome)
            return outcome
        load_task(task_dir)
        outcome = Outcome(**base, **counts, accepted=True, stage="accepted", checks=checks,
                          wall_s=time.perf_counter() - start)
        bank.accept(task_dir, outcome)
        return outcome
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# ---- the run ---------------------------------------------------------------------------------

def synthesize_llm(selector: str | None, num_tasks: int, out_dir: Path, config: LLMConfig,
                   workers: int | None = None, seed: int = 0, *, max_attempts: int | None = None,
                   timeout_s: float = 30.0, tasks_in_flight: int | None = None, pool=None,
                   separation_sigmas: float = SEPARATION_SIGMAS,
                   on_outcome: Callable[[Any], None] | None = None, sandbox=None) -> LLMSynthReport:
    """Make `num_tasks` accepted language-model tasks in the bank `out_dir`, with at most
    `max_attempts` attempts (`sandmle.synth.schedule`); resumable.

    `pool`: a running sandbox pool to share; by default one is started where `sandbox`
    says ("local", "ray[:ADDRESS]", `sandmle.sandbox.backend`; `workers` is then per node).
    `separation_sigmas`: how far apart verification wants adjacent medal thresholds."""
    from contextlib import ExitStack

    from sandmle.synth.funnel import compute_funnel, read_funnel, read_outcomes, write_funnel
    from sandmle.synth.pipeline import SynthReport, drive, prepare_bank
    from sandmle.synth.runner import SandboxRunner

    start = time.perf_counter()
    out_dir = Path(out_dir)
    chosen = select_llm_seeds(selector)
    seeds = {d.id: d for d in chosen}
    schedule = llm_schedule(list(seeds), num_tasks, seed, max_attempts)
    prepare_bank(out_dir, seed, staging_dir=STAGING_DIR)
    outcomes = read_outcomes(out_dir)
    known = {f"{o.seed_id}/{o.random_seed}": o for o in outcomes}
    llm = CachedPolicy(config.policy, config.cache_dir, out_dir / CALLS_LOG, offline=config.offline)
    bank = _Bank(out_dir)
    finished: list = []
    replayed: list = []

    def record(outcome, again: bool) -> None:
        (replayed if again else finished).append(outcome)
        if not again:
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            write_funnel(out_dir, seed, compute_funnel(outcomes), request=schedule.summary())

    try:
        with ExitStack() as stack:
            # at least 4 attempts in flight: model calls, not the sandbox, bound most of them
            runner = SandboxRunner(stack, sandbox, workers, PRELOAD_EXTRA, pool=pool, tasks_in_flight=tasks_in_flight,
                                   min_in_flight=4, name="llm-task")

            def submit(planned):
                running, jobs, tasks = runner.start()
                return tasks.submit(process_llm_task, planned, seeds[planned.seed_id], llm, config, bank,
                                    running, jobs, timeout_s, separation_sigmas)

            try:
                drive(schedule, known, submit, runner.in_flight, record)
            except BaseException:
                bank.closed.set()
                raise
    finally:
        llm.close()
        shutil.rmtree(out_dir / STAGING_DIR, ignore_errors=True)
    funnel = read_funnel(out_dir)
    write_funnel(out_dir, seed, funnel, request=schedule.summary())
    report = SynthReport(out_dir=str(out_dir), random_seed=seed, request=schedule.summary(), skipped=len(replayed),
                         processed=len(finished), accepted_now=sum(o.accepted for o in finished),
                         wall_s=time.perf_counter() - start, funnel=funnel,
                         rejected_now=tuple(o for o in finished if not o.accepted))
    by_role: dict[str, int] = {}
    for o in finished:
        if o.stage == "generate" and o.reason:
            role = o.reason.split(":", 1)[0]
            by_role[role] = by_role.get(role, 0) + 1
    return LLMSynthReport(synth=report, model=llm.model, requests_sent=llm.misses, cache_hits=llm.hits,
                          failures_by_role=dict(sorted(by_role.items())))


def dry_run_text(selector: str | None, num_tasks: int, seed: int = 0, config: LLMConfig | None = None) -> str:
    """The prompts a run would send first, without calling a model.

    Each planned task's Data Strategist request is shown in full (marked cached when the
    cache already answers it); the later roles' requests are built from earlier answers, so
    their system prompts are shown once."""
    from sandmle.synth.dna import stable_test_rows
    from sandmle.synth.llm.plan import strategist_notes

    chosen = select_llm_seeds(selector)
    seeds = {d.id: d for d in chosen}
    plan = plan_llm_tasks(list(seeds), num_tasks, seed)
    llm = CachedPolicy(config.policy, config.cache_dir, offline=True) if config is not None else None
    out = [f"# dry run: {len(plan)} task(s), prompts sha256 {prompts.PROMPTS_SHA256}"]
    for p in plan:
        dna = seeds[p.seed_id]
        messages = prompts.strategist_messages(dna, p.random_seed, stable_test_rows(dna), strategist_notes(dna))
        state = ""
        if llm is not None:
            state = " (cached)" if llm.lookup(messages, config.sampling(p.random_seed)) is not None else " (not cached)"
        out.append(f"\n## task {p.seed_id}#{p.index} (random seed {p.random_seed}): strategist request{state}")
        for m in messages:
            out.append(f"--- {m['role']} ---\n{m['content']}")
    out.append("\n## later roles (their user messages are built from earlier answers)")
    for role in prompts.ROLES[1:]:
        out.append(f"--- {role} system ---\n{prompts.system_prompt(role)}")
    return "\n".join(out) + "\n"
