"""Will a recipe fit on its GPUs? An estimate of one training process's peak memory.

`estimate_memory(cfg, arch, processes, fsdp)` adds up, per process:

    weights      parameters in [model] dtype (FSDP: sharded over the processes, plus the
                 two decoder layers gathered at a time); a frozen reference copy for KL
    gradients    trainable parameters in their dtype (freed between steps), sharded likewise
    optimizer    AdamW's two moments per trainable parameter, sharded likewise
    activations  per token of a micro-batch: with gradient checkpointing one saved residual
                 per layer plus one layer's working set (its forward recomputed, its
                 backward transients); without it, every layer's working set
    logits       per trained token: the response columns' logits in the compute dtype, kept
                 for backward, plus their gradient (`sandmle.train.logprobs` keeps nothing
                 else of vocabulary size)
    engine       the colocated vLLM engine: its `gpu_memory_utilization` share during
                 rollouts; asleep during the update (CUDA sleep mode), about 1 GiB left
    overhead     CUDA context, allocator fragmentation, NCCL buffers: 2 GiB

and checks two moments: rollouts (weights, optimizer, engine awake) and the update (all of
the above but the engine asleep). `check_memory` raises a UserError naming the knob when a
moment does not fit, with the largest response length that would. The figures are an
estimate (±15%): residual-stream dtype, attention kernel and allocator behaviour vary.
"""
from __future__ import annotations

from dataclasses import dataclass

from sandmle.errors import UserError

GIB = float(1 << 30)
OVERHEAD_BYTES = 2 * (1 << 30)
ENGINE_ASLEEP_BYTES = 1 << 30


@dataclass(frozen=True)
class Architecture:
    """What the estimate needs of a decoder-only transformer (read from its config)."""

    num_params: int
    trainable_params: int
    hidden_size: int
    num_layers: int
    intermediate_size: int
    vocab_size: int
    kv_width: int                     # num_key_value_heads * head_dim

    @classmethod
    def of(cls, model) -> "Architecture":
        config = getattr(model, "config", None)
        if config is None:
            raise ValueError(f"{type(model).__name__} has no transformers config")
        config = getattr(config, "text_config", None) or config
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(
            num_params=sum(p.numel() for p in model.parameters()),
            trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
            hidden_size=config.hidden_size, num_layers=config.num_hidden_layers,
            intermediate_size=config.intermediate_size, vocab_size=config.vocab_size,
            kv_width=getattr(config, "num_key_value_heads", heads) * head_dim)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per process; `rollout_bytes` and `update_bytes` are the two peaks."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    engine_awake: float
    engine_asleep: float
    overhead: float
    per_token: float                  # activations + logits per response token
    prompt_bytes: float               # activations of the prompt tokens

    @property
    def rollout_bytes(self) -> float:
        return self.weights + self.optimizer + self.engine_awake + self.overhead

    @property
    def update_bytes(self) -> float:
        return (self.weights + self.gradients + self.optimizer + self.activations + self.logits
                + self.engine_asleep + self.overhead)

    def summary(self, device_bytes: float | None = None) -> str:
        parts = (f"weights {self.weights / GIB:.1f}, gradients {self.gradients / GIB:.1f}, "
                 f"optimizer {self.optimizer / GIB:.1f}, activations {self.activations / GIB:.1f}, "
                 f"logits {self.logits / GIB:.1f}, vLLM {self.engine_awake / GIB:.1f} awake / "
                 f"{self.engine_asleep / GIB:.1f} asleep, overhead {self.overhead / GIB:.1f}")
        device = f" of {device_bytes / GIB:.1f} GiB" if device_bytes else ""
        return (f"memory estimate per process (GiB): {parts}; peak {self.update_bytes / GIB:.1f} in the update, "
                f"{self.rollout_bytes / GIB:.1f} in rollouts{device}")


def estimate_memory(cfg, arch: Architecture, processes: int = 1, fsdp: bool = False,
                    device_bytes: float | None = None) -> MemoryEstimate:
    """The estimate for recipe `cfg` (a RunConfig) on `processes` GPUs of `device_bytes` each."""
    m, r, g = cfg.model, cfg.rollout, cfg.grpo
    param_b = 2 if m.dtype == "bfloat16" else 4
    compute_b = 2 if (m.dtype == "bfloat16" or cfg.train.mixed_precision == "bf16") else 4
    shard = processes if fsdp else 1
    h, layers, inter, kv = arch.hidden_size, arch.num_layers, arch.intermediate_size, arch.kv_width
    layer_params = (arch.num_params - 2 * arch.vocab_size * h) / max(layers, 1)
    weights = arch.num_params * param_b / shard
    if fsdp and processes > 1:
        weights += 2 * layer_params * param_b          # units gathered for the current and next layer
    if g.kl_coef > 0 and not m.lora_rank:
        weights += arch.num_params * param_b           # the reference model, a full copy per process
    gradients = arch.trainable_params * param_b / shard
    optimizer = 2 * arch.trainable_params * param_b / shard
    # one layer's forward intermediates (q, k, v, attention output, MLP gate/up/act/product)
    # in the compute dtype, its fp32-or-not residual pieces, and the MLP's backward transients
    working = (4 * h + 2 * kv + 4 * inter) * compute_b + 4 * h * param_b + 3 * inter * compute_b
    saved = layers * h * param_b if m.gradient_checkpointing else layers * working
    act_per_token = saved + (working if m.gradient_checkpointing else 0)
    logits_per_token = 2 * arch.vocab_size * compute_b
    rows = g.micro_batch_size
    activations = rows * (r.max_prompt_tokens + r.max_response_tokens) * act_per_token
    logits = rows * r.max_response_tokens * logits_per_token
    colocated = r.backend == "vllm" and r.vllm_mode == "colocate"
    awake = r.vllm_gpu_memory_utilization * device_bytes if colocated and device_bytes else 0.0
    asleep = ENGINE_ASLEEP_BYTES if colocated else 0.0
    return MemoryEstimate(weights, gradients, optimizer, activations, logits, awake, asleep, OVERHEAD_BYTES,
                          per_token=rows * (act_per_token + logits_per_token),
                          prompt_bytes=rows * r.max_prompt_tokens * act_per_token)


def check_memory(cfg, estimate: MemoryEstimate, device_bytes: float) -> None:
    """Raise a UserError naming the knob when the rollouts or the update cannot fit."""
    if estimate.rollout_bytes > device_bytes:
        raise UserError(
            f"this run needs about {estimate.rollout_bytes / GIB:.1f} GiB per GPU during rollouts but the GPU has "
            f"{device_bytes / GIB:.1f}: lower [rollout] vllm_gpu_memory_utilization (now "
            f"{cfg.rollout.vllm_gpu_memory_utilization}), train LoRA adapters ([model] lora_rank) or shard "
            f"over more GPUs (FSDP). {estimate.summary(device_bytes)}")
    if estimate.update_bytes <= device_bytes:
        return
    fixed = estimate.update_bytes - estimate.activations - estimate.logits + estimate.prompt_bytes
    fits = int((device_bytes - fixed) / estimate.per_token) if device_bytes > fixed else 0
    knobs = [f"lower [rollout] max_response_tokens (now {cfg.rollout.max_response_tokens}; about {max(fits, 0)} "
             f"would fit)"]
    if not cfg.model.gradient_checkpointing:
        knobs.append("set [model] gradient_checkpointing = true")
    if cfg.grpo.micro_batch_size > 1:
        knobs.append(f"lower [grpo] micro_batch_size (now {cfg.grpo.micro_batch_size})")
    raise UserError(
        f"this run needs about {estimate.update_bytes / GIB:.1f} GiB per GPU in the update but the GPU has "
        f"{device_bytes / GIB:.1f}: {', or '.join(knobs)}. {estimate.summary(device_bytes)}")
