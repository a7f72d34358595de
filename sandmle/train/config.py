"""Training configuration: one frozen dataclass per recipe section, validated once.

A recipe is a TOML file with one table per subsystem:

    [model]    which network is trained (a transformers folder, a tiny random one, or the
               compact action policy of the CPU learning experiment), LoRA, dtype
    [rollout]  how episodes are generated: backend (hf or vLLM colocate/server), budgets,
               sampling, reward scheme, sandbox workers
    [grpo]     the algorithm: group size, tasks per step, advantages, clipping, loss
               aggregation, KL, entropy, masking, PPO epochs and mini-batches
    [train]    optimisation: steps, learning rate and schedule, weight decay, gradient
               clipping, mixed precision, seed, checkpoints
    [bank]     the task bank: a folder, synthesised first when absent
    [eval]     the held-out bank evaluated every N steps (tasks never trained on)
    [log]      metrics files, live view, curves, tensorboard / W&B

`load_recipe(path, overrides)` reads the file with tomllib, applies `--set section.key=value`
overrides (the value is parsed as a TOML literal, a bare word is taken as a string) and
returns a `RunConfig`. Every check runs in `__post_init__`; an error names the values and
the fix, as one `UserError` line.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandmle.errors import UserError
from sandmle.files import existing_file
from sandmle.rollout.score_tool import SCORE_TOOLS

LOSS_AGGREGATIONS = ("seq-mean-token-mean", "token-mean", "seq-mean-token-sum-norm")
REWARD_SCHEMES = ("paper", "release", "sparse")


def _fail(section: str, message: str) -> None:
    raise UserError(f"[{section}] {message}")


def check_optimization(section: str, cfg) -> None:
    """UserError naming `[section]` when `cfg`'s optimizer and checkpoint settings (lr,
    lr_schedule, warmup_steps, weight_decay, grad_clip, mixed_precision, save_every, keep_last;
    shared by [train] and [sft]) are out of range."""
    if cfg.lr <= 0:
        _fail(section, f"lr={cfg.lr} must be > 0")
    if cfg.lr_schedule not in ("constant", "cosine", "linear"):
        _fail(section, f"lr_schedule={cfg.lr_schedule!r} is unknown: use \"constant\", \"cosine\" or \"linear\"")
    if cfg.warmup_steps < 0 or cfg.weight_decay < 0 or cfg.grad_clip < 0:
        _fail(section, f"warmup_steps={cfg.warmup_steps}, weight_decay={cfg.weight_decay} and "
                       f"grad_clip={cfg.grad_clip} must be >= 0")
    if cfg.mixed_precision not in ("no", "bf16"):
        _fail(section, f"mixed_precision={cfg.mixed_precision!r} is unknown: use \"no\" or \"bf16\"")
    if cfg.save_every < 0 or cfg.keep_last < 1:
        _fail(section, f"save_every={cfg.save_every} must be >= 0 and keep_last={cfg.keep_last} >= 1")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "hf"                  # "hf": a causal LM; "actions": the compact action policy
    path: str = "tiny"                # hf: local model folder, or "tiny" (random, built offline)
    dtype: str = "float32"            # weights' dtype: "float32" | "bfloat16"
    gradient_checkpointing: bool = False
    lora_rank: int = 0                # 0: train every weight; > 0: LoRA adapters (needs peft)
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    hidden_size: int = 64             # actions: GRU width
    # "auto": training on the CPU in float32 (no bf16 autocast) runs sandmle's causal-attention
    # kernel for heads of <= 32 dimensions (sandmle.train.attention); "sdpa": transformers' SDPA
    attention: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in ("hf", "actions"):
            _fail("model", f"kind={self.kind!r} is unknown: use \"hf\" or \"actions\"")
        if self.dtype not in ("float32", "bfloat16"):
            _fail("model", f"dtype={self.dtype!r} is unknown: use \"float32\" or \"bfloat16\"")
        if self.lora_rank < 0:
            _fail("model", f"lora_rank={self.lora_rank} must be >= 0 (0 trains every weight)")
        if self.lora_rank and self.kind != "hf":
            _fail("model", f"lora_rank={self.lora_rank} needs kind=\"hf\", got kind={self.kind!r}")
        if not 0 <= self.lora_dropout < 1:
            _fail("model", f"lora_dropout={self.lora_dropout} must be in [0, 1)")
        if self.hidden_size < 1:
            _fail("model", f"hidden_size={self.hidden_size} must be >= 1")
        if self.attention not in ("auto", "sdpa"):
            _fail("model", f"attention={self.attention!r} is unknown: use \"auto\" or \"sdpa\"")


@dataclass(frozen=True)
class RolloutSection:
    backend: str = "hf"               # "hf" (transformers generate) | "vllm"
    vllm_mode: str = "colocate"       # "colocate" (in-process LLM) | "server" (`vllm serve`)
    vllm_url: str = "http://localhost:8000"
    vllm_sync_dir: str = ""           # server mode: folder both processes see, for weights
    vllm_gpu_memory_utilization: float = 0.3
    vllm_tensor_parallel_size: int = 1   # colocate: must be 1 (one engine per process, its own tasks)
    max_turns: int = 15               # REFERENCE §5: 15 LLM calls in training
    episode_timeout_s: float = 1200.0  # 20 min per trajectory
    step_timeout_s: float = 300.0     # 300 s per code step
    max_prompt_tokens: int = 8192     # REFERENCE §7
    max_response_tokens: int = 32768
    max_new_tokens: int = 4096        # per assistant turn
    tool_output_lines: int = 20
    temperature: float = 1.0
    top_p: float = 1.0
    reward_scheme: str = "paper"
    reward_from: str = "last"         # released code rewards the last graded score
    score_tool: str = "test"          # the agent's score tool: "test" (the paper's training), "validation",
                                      # "format" or "off" (sandmle/rollout/score_tool.py)
    workers: int = 0                  # sandbox pool workers; 0 = one per CPU core (per node on Ray)
    sandbox: str = "local"            # "local" | "ray" | "ray:ADDRESS" (sandmle.sandbox.backend)

    def __post_init__(self) -> None:
        if self.backend not in ("hf", "vllm"):
            _fail("rollout", f"backend={self.backend!r} is unknown: use \"hf\" or \"vllm\"")
        if self.vllm_mode not in ("colocate", "server"):
            _fail("rollout", f"vllm_mode={self.vllm_mode!r} is unknown: use \"colocate\" or \"server\"")
        if self.backend == "vllm" and self.vllm_mode == "server" and not self.vllm_sync_dir:
            _fail("rollout", "vllm_mode=\"server\" needs vllm_sync_dir, a folder the trainer and the server both see")
        if not 0 < self.vllm_gpu_memory_utilization <= 1:
            _fail("rollout", f"vllm_gpu_memory_utilization={self.vllm_gpu_memory_utilization} must be in (0, 1]")
        if self.vllm_tensor_parallel_size != 1:
            _fail("rollout", f"vllm_tensor_parallel_size={self.vllm_tensor_parallel_size} is not supported: a "
                             f"colocated engine serves its own process's tasks, and tensor parallelism needs the "
                             f"same prompts on every rank of the group. Use 1 (one engine per GPU), or "
                             f"vllm_mode=\"server\" with the server's --tensor-parallel-size")
        for name in ("max_turns", "max_prompt_tokens", "max_response_tokens", "max_new_tokens",
                     "tool_output_lines"):
            if getattr(self, name) < 1:
                _fail("rollout", f"{name}={getattr(self, name)} must be >= 1")
        for name in ("episode_timeout_s", "step_timeout_s"):
            if getattr(self, name) <= 0:
                _fail("rollout", f"{name}={getattr(self, name)} must be > 0")
        if self.temperature <= 0:
            _fail("rollout", f"temperature={self.temperature} must be > 0 (GRPO needs sampled rollouts)")
        if not 0 < self.top_p <= 1:
            _fail("rollout", f"top_p={self.top_p} must be in (0, 1]")
        if self.reward_scheme not in REWARD_SCHEMES:
            _fail("rollout", f"reward_scheme={self.reward_scheme!r} is unknown: use one of {', '.join(REWARD_SCHEMES)}")
        if self.reward_from not in ("last", "best"):
            _fail("rollout", f"reward_from={self.reward_from!r} is unknown: use \"last\" or \"best\"")
        if self.score_tool not in SCORE_TOOLS:
            _fail("rollout", f"score_tool={self.score_tool!r} is unknown: use one of {', '.join(SCORE_TOOLS)}")
        if self.workers < 0:
            _fail("rollout", f"workers={self.workers} must be >= 0 (0 = one per CPU core)")
        from sandmle.sandbox.backend import parse_sandbox

        try:
            parse_sandbox(self.sandbox)
        except ValueError as exc:
            _fail("rollout", str(exc))


@dataclass(frozen=True)
class GRPOConfig:
    group_size: int = 4               # rollouts per task (REFERENCE §7)
    tasks_per_step: int = 16
    normalize_std: bool = True        # False: Dr. GRPO (advantage = reward - group mean)
    std_eps: float = 1e-6
    loss_agg: str = "seq-mean-token-mean"
    norm_tokens: int = 0              # seq-mean-token-sum-norm divisor; 0 = rollout.max_response_tokens
    clip_ratio_low: float = 0.2
    clip_ratio_high: float = 0.28
    kl_coef: float = 0.0              # > 0: k3 KL to the initial (reference) policy
    entropy_coef: float = 0.0
    mask_tool_outputs: bool = True    # tool-response tokens out of the loss (REFERENCE §7)
    mask_timed_out: bool = True       # episodes with > 20% timed-out steps out of the loss
    skip_zero_variance: bool = False  # drop groups whose rewards are all equal
    tis_cap: float = 0.0              # > 0: weight each token by min(pi_trainer/pi_rollout, tis_cap)
                                      # (truncated importance sampling; 2.0 is TRL's default cap)
    ppo_epochs: int = 1
    mini_batches: int = 1             # optimizer steps per epoch over one rollout batch
    micro_batch_size: int = 1         # sequences per forward pass (gradient accumulation)

    def __post_init__(self) -> None:
        if self.group_size < 2:
            _fail("grpo", f"group_size={self.group_size} must be >= 2: advantages compare rollouts of one task")
        if self.tasks_per_step < 1:
            _fail("grpo", f"tasks_per_step={self.tasks_per_step} must be >= 1")
        if self.loss_agg not in LOSS_AGGREGATIONS:
            _fail("grpo", f"loss_agg={self.loss_agg!r} is unknown: use one of {', '.join(LOSS_AGGREGATIONS)}")
        if self.norm_tokens < 0:
            _fail("grpo", f"norm_tokens={self.norm_tokens} must be >= 0")
        if not 0 <= self.clip_ratio_low < 1:
            _fail("grpo", f"clip_ratio_low={self.clip_ratio_low} must be in [0, 1)")
        if self.clip_ratio_high < 0:
            _fail("grpo", f"clip_ratio_high={self.clip_ratio_high} must be >= 0")
        if self.kl_coef < 0 or self.entropy_coef < 0:
            _fail("grpo", f"kl_coef={self.kl_coef} and entropy_coef={self.entropy_coef} must be >= 0")
        if self.tis_cap < 0 or 0 < self.tis_cap < 1:
            _fail("grpo", f"tis_cap={self.tis_cap} must be 0 (off) or >= 1 (a cap on the importance ratio, e.g. 2.0)")
        if self.std_eps <= 0:
            _fail("grpo", f"std_eps={self.std_eps} must be > 0")
        if self.ppo_epochs < 1 or self.mini_batches < 1 or self.micro_batch_size < 1:
            _fail("grpo", f"ppo_epochs={self.ppo_epochs}, mini_batches={self.mini_batches} and "
                          f"micro_batch_size={self.micro_batch_size} must all be >= 1")
        batch = self.group_size * self.tasks_per_step
        if batch % self.mini_batches:
            _fail("grpo", f"group_size*tasks_per_step ({batch}) must be divisible by mini_batches "
                          f"({self.mini_batches}); change mini_batches to a divisor of {batch}")

    @property
    def batch_size(self) -> int:
        return self.group_size * self.tasks_per_step


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 80
    lr: float = 1e-6
    lr_schedule: str = "constant"     # "constant" | "cosine" | "linear" (after warmup)
    warmup_steps: int = 0
    weight_decay: float = 0.01
    grad_clip: float = 1.0            # max gradient norm; 0 = no clipping
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    mixed_precision: str = "no"       # "no" | "bf16" (accelerate autocast)
    seed: int = 0
    save_every: int = 10              # steps between checkpoints; 0 = only at the end
    keep_last: int = 2                # checkpoints kept
    save_model: str = "merged"        # language models: a Hugging Face model folder in each checkpoint and
                                      # RUN/model (sandmle/train/export.py): "merged" (LoRA merged into the
                                      # weights), "adapter" (the LoRA adapter on its base), "off"

    def __post_init__(self) -> None:
        if self.steps < 1:
            _fail("train", f"steps={self.steps} must be >= 1")
        check_optimization("train", self)
        if self.save_model not in ("merged", "adapter", "off"):
            _fail("train", f"save_model={self.save_model!r} is unknown: use \"merged\", \"adapter\" or \"off\"")


@dataclass(frozen=True)
class BankConfig:
    path: str = "banks/train"         # relative paths resolve against the working directory
    source: str = "synth"             # how an absent bank is made: "synth" (sandmle.synth from
                                      # the seeds below) | "sklearn" (8 fixed tasks from
                                      # scikit-learn's bundled datasets, sandmle.sources.sklearn_bank)
    selector: str = "modality:tabular"  # seeds to synthesise from
    num_tasks: int = 16               # accepted tasks to synthesise (`sandmle synth --num-tasks`)
    seed: int = 0
    workers: int = 0                  # synthesis workers; 0 = one per CPU core
    limit: int = 0                    # use only the first N tasks of the bank; 0 = all

    def __post_init__(self) -> None:
        if not self.path:
            _fail("bank", "path is empty: name the bank folder")
        if self.source not in ("synth", "sklearn"):
            _fail("bank", f"source={self.source!r} is unknown: use \"synth\" or \"sklearn\"")
        if self.num_tasks < 1 or self.limit < 0 or self.workers < 0:
            _fail("bank", f"num_tasks={self.num_tasks} must be >= 1, limit={self.limit} and "
                          f"workers={self.workers} >= 0")


@dataclass(frozen=True)
class EvalConfig:
    every: int = 0                    # steps between held-out evaluations (and before the first); 0 = none
    bank: str = ""                    # the held-out bank folder: tasks the run never trains on
    source: str = "synth"             # how an absent bank is made, as [bank] (synth | sklearn)
    selector: str = "modality:tabular"
    num_tasks: int = 8
    seed: int = 1                     # synthesis seed: another than [bank]'s, so other tasks
    limit: int = 0                    # evaluate on the first N tasks; 0 = all
    episodes_per_task: int = 1
    score_tool: str = "format"        # the score tool in held-out episodes, as `sandmle eval`

    def __post_init__(self) -> None:
        if self.every < 0 or self.limit < 0:
            _fail("eval", f"every={self.every} and limit={self.limit} must be >= 0")
        if self.every and not self.bank:
            _fail("eval", f"every={self.every} needs bank, the held-out bank folder")
        if self.bank and not self.every:
            _fail("eval", f"bank={self.bank!r} needs every > 0, the steps between held-out evaluations")
        if self.source not in ("synth", "sklearn"):
            _fail("eval", f"source={self.source!r} is unknown: use \"synth\" or \"sklearn\"")
        if self.num_tasks < 1 or self.episodes_per_task < 1:
            _fail("eval", f"num_tasks={self.num_tasks} and episodes_per_task={self.episodes_per_task} must be >= 1")
        if self.score_tool not in SCORE_TOOLS:
            _fail("eval", f"score_tool={self.score_tool!r} is unknown: use one of {', '.join(SCORE_TOOLS)}")

    def bank_config(self) -> "BankConfig":
        return BankConfig(path=self.bank, source=self.source, selector=self.selector, num_tasks=self.num_tasks,
                          seed=self.seed, limit=self.limit)


@dataclass(frozen=True)
class LogConfig:
    live: bool = True                 # rich live table on a terminal; false: one line per step
    plot_every: int = 5               # steps between PNG curve refreshes
    tensorboard: bool = False         # needs the tensorboard package
    wandb_project: str = ""           # non-empty: log to W&B (needs wandb)
    save_episodes: bool = False       # keep every episode's JSON under the run folder

    def __post_init__(self) -> None:
        if self.plot_every < 1:
            _fail("log", f"plot_every={self.plot_every} must be >= 1")


SECTIONS: dict[str, type] = {
    "model": ModelConfig, "rollout": RolloutSection, "grpo": GRPOConfig,
    "train": TrainConfig, "bank": BankConfig, "eval": EvalConfig, "log": LogConfig,
}


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    rollout: RolloutSection = field(default_factory=RolloutSection)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    bank: BankConfig = field(default_factory=BankConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        if self.rollout.backend == "vllm" and self.model.kind != "hf":
            _fail("rollout", f"backend=\"vllm\" needs [model] kind=\"hf\", got {self.model.kind!r}")
        if self.eval.bank and Path(self.eval.bank).resolve() == Path(self.bank.path).resolve():
            _fail("eval", f"bank={self.eval.bank!r} is the training bank: a held-out bank holds other tasks")
        if self.train.save_model == "adapter" and not self.model.lora_rank:
            _fail("train", "save_model=\"adapter\" needs LoRA ([model] lora_rank > 0): use \"merged\"")

    @property
    def norm_tokens(self) -> int:
        return self.grpo.norm_tokens or self.rollout.max_response_tokens

    def to_json(self) -> dict[str, Any]:
        return {name: _jsonable(dataclasses.asdict(getattr(self, name))) for name in SECTIONS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        unknown = set(data) - set(SECTIONS)
        if unknown:
            raise UserError(f"unknown recipe section(s) {sorted(unknown)}: known are {', '.join(SECTIONS)}")
        built = {}
        for name, kind in SECTIONS.items():
            values = data.get(name, {})
            if not isinstance(values, dict):
                raise UserError(f"[{name}] must be a table, got {type(values).__name__}")
            built[name] = _build(name, kind, values)
        return cls(**built)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _build(section: str, kind: type, values: dict[str, Any]):
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = set(values) - set(fields)
    if unknown:
        raise UserError(f"[{section}] unknown key(s) {sorted(unknown)}: known are {', '.join(fields)}")
    clean = {}
    for key, value in values.items():
        default = getattr(kind(), key)
        clean[key] = _coerce(section, key, value, default)
    return kind(**clean)


def _coerce(section: str, key: str, value: Any, default: Any) -> Any:
    """Check a TOML value against the field's default type (ints widen to floats)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UserError(f"[{section}] {key}={value!r} must be true or false")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"[{section}] {key}={value!r} must be a number")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"[{section}] {key}={value!r} must be an integer")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UserError(f"[{section}] {key}={value!r} must be a list of strings")
        return tuple(value)
    if not isinstance(value, str):
        raise UserError(f"[{section}] {key}={value!r} must be a string")
    return value


def parse_override(text: str) -> tuple[str, str, Any]:
    """`section.key=value` -> (section, key, value); value is a TOML literal or a bare word."""
    name, sep, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise UserError(f"--set {text!r}: write SECTION.KEY=VALUE, e.g. --set train.lr=1e-6")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, key.strip(), value


def read_recipe(path: str | Path | None, overrides: list[str] | tuple[str, ...], sections) -> dict[str, Any]:
    """A TOML recipe's tables (None: none) with the `--set` overrides applied; an override of
    a section not in `sections` is a UserError."""
    data: dict[str, Any] = {}
    if path is not None:
        path = existing_file(path, "recipe")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"recipe {path} is not valid TOML ({exc})") from None
    for text in overrides:
        section, key, value = parse_override(text)
        if section not in sections:
            raise UserError(f"--set {text!r}: unknown section {section!r} (known: {', '.join(sections)})")
        data.setdefault(section, {})[key] = value
    return data


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a TOML recipe, apply `--set` overrides, validate."""
    return RunConfig.from_dict(read_recipe(path, overrides, SECTIONS))
