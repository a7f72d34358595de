"""`sandmle bench grpo [--json] [--baseline auto|trl|previous] [--repeats N] [--tokens 1024] [--threads 1]
[--attention auto|sdpa]`:
the GRPO update step against TRL's GRPOTrainer (or the previous sandmle path), measured in
the same run, and the log-prob memory per token.

Update step: forward, loss, backward, gradient clipping and optimizer step on one fixed
batch of 8 sequences (96 prompt + 160, 152 or 144 response tokens), on two tiny models: the
protocol-tokenizer Qwen2 (vocabulary ~530) and a Qwen3 of the same size at Qwen3's
vocabulary (151,936). sandmle's step is `Trainer._update` as a recipe runs it (`[model]
attention = "auto"`: on the CPU the 8-dimension heads of both tiny models run sandmle's
causal-attention kernel, `sandmle.train.attention`, where TRL's model runs transformers' SDPA;
`--attention sdpa` runs sandmle's step with SDPA too). The baseline (`--baseline auto`:
TRL when it is installed, `pip install -e .[bench]`, else the previous path):

- `trl`: TRL's `GRPOTrainer` update as its training loop runs it once the completions are
  generated (`compute_loss`, `accelerator.backward`, `clip_grad_norm_`, optimizer and
  scheduler step): the same model weights, batch, optimizer (AdamW, same hyper-parameters),
  float32, temperature, clipped loss (TRL's `loss_type="grpo"` = sandmle's
  seq-mean-token-mean, epsilon 0.2 / 0.28), no KL, entropy bonus 0.001 on both, advantages
  given; generation and rewards are not part of either.
- `previous`: sandmle's update before `sandmle.train.logprobs` (full logits, a temperature
  copy, float32 chunks kept for backward, a second softmax for the entropy) and before the CPU
  attention kernel (SDPA).

Each of `--repeats` rounds times one step of each, alternating, after a warm-up step; the
ratio is the median over rounds of baseline / sandmle, in wall and in CPU seconds (the
machine may be shared: the load average is printed). Both run with `--threads` torch
threads (default 1, as the CPU recipes do): on a shared 2-core machine at load 6 the tiny
model's ratio with two threads was 0.82x, with one 1.73x (same code, same hour), since a
thread that waits for a busy core stalls the other one at every op. Peak memory of a step: the rise of
the resident set (VmHWM) over the state before the step, one fresh process per method,
after a warm-up step (Linux).

Memory per token at vocabulary 151,936, bfloat16 logits of `--tokens` positions: the bytes
autograd saves for backward (exact, through saved-tensor hooks) and the peak resident memory
of forward + backward above the inputs in a fresh process, divided by the tokens; both
include the logits' own gradient (0.3 MB/token) in the peak.
Goal: >= 2x TRL's update step at vocabulary 151,936.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

VOCAB = 151_936
PROMPT_TOKENS, RESPONSE_TOKENS, ROWS = 96, 160, 8


BASELINES = ("auto", "trl", "previous")


def register(subparsers) -> None:
    from sandmle.arguments import count

    parser = subparsers.add_parser("grpo", help="GRPO update step vs TRL's GRPOTrainer (or the previous path)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--baseline", choices=BASELINES, default="auto",
                        help="trl: TRL's GRPOTrainer; previous: sandmle's earlier log-prob path; "
                             "auto (default): trl when TRL is installed, else previous")
    parser.add_argument("--repeats", type=count, default=3, help="alternating timed rounds per model (default 3)")
    parser.add_argument("--tokens", type=count, default=1024, help="positions in the memory measurement (default 1024)")
    parser.add_argument("--threads", type=count, default=1, help="torch threads for both methods (default 1)")
    parser.add_argument("--attention", choices=("auto", "sdpa"), default="auto",
                        help="sandmle's [model] attention (default auto: its CPU attention kernel at these models' "
                             "8-dimension heads; sdpa: transformers' SDPA, as the baselines run)")
    parser.add_argument("--peak-child", choices=("previous", "today"), help=argparse.SUPPRESS)
    parser.add_argument("--step-child", choices=("today", "trl", "previous"), help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer-dir", help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def trl_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("trl") is not None


def resolve_baseline(name: str) -> str:
    """"trl" or "previous" for a --baseline value; UserError for trl without TRL installed."""
    from sandmle.errors import UserError

    if name == "auto":
        return "trl" if trl_installed() else "previous"
    if name == "trl" and not trl_installed():
        raise UserError("--baseline trl needs TRL: pip install -e .[bench]")
    return name


def previous_logprobs(logits, targets, temperature: float, with_entropy: bool):
    """The log-prob computation sandmle used before `sandmle.train.logprobs` (the baseline)."""
    import torch

    logits = logits / temperature
    logps, entropies = [], []
    for start in range(0, logits.shape[1], 1024):
        part = logits[:, start:start + 1024].float()
        logz = torch.logsumexp(part, dim=-1)
        logps.append(torch.gather(part, -1, targets[:, start:start + 1024].unsqueeze(-1)).squeeze(-1) - logz)
        if with_entropy:
            p = torch.softmax(part, dim=-1)
            entropies.append(logz - (p * part).sum(-1))
    return torch.cat(logps, dim=1), (torch.cat(entropies, dim=1) if with_entropy else None)


def _previous_trainer_logp(trainer):
    """Trainer._logp as it was: full logits, then the previous computation."""
    import torch

    def logp(model, mb, entropy_grad):
        logits = model(input_ids=mb.input_ids, attention_mask=mb.attention_mask).logits[:, :-1]
        targets = mb.input_ids[:, 1:]
        temperature = trainer.config.rollout.temperature
        if entropy_grad:
            return previous_logprobs(logits, targets, temperature, True)
        value, _ = previous_logprobs(logits, targets, temperature, False)
        with torch.no_grad():
            _, entropy = previous_logprobs(logits.detach(), targets, temperature, True)
        return value, entropy
    return logp


def _config(model_dir, attention: str = "auto"):
    from sandmle.train.config import GRPOConfig, LogConfig, ModelConfig, RunConfig, TrainConfig

    return RunConfig(model=ModelConfig(path=str(model_dir), attention=attention),
                     grpo=GRPOConfig(group_size=ROWS, tasks_per_step=1, micro_batch_size=ROWS, entropy_coef=0.001),
                     train=TrainConfig(steps=1000, lr=1e-5), log=LogConfig(live=False))


def _trainer(model_dir, tmp, attention: str):
    import torch
    from transformers import AutoModelForCausalLM

    from sandmle.train.trainer import Trainer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return Trainer(_config(model_dir, attention), tmp, tasks=[0], env=None, model=model)


def _batch(vocab: int):
    import torch

    from sandmle.train.batch import Sample, collate

    gen = torch.Generator().manual_seed(0)
    samples = []
    for i in range(ROWS):
        length = PROMPT_TOKENS + RESPONSE_TOKENS - 8 * (i % 3)
        ids = torch.randint(0, vocab, (length,), generator=gen).tolist()
        mask = [0] * PROMPT_TOKENS + [1] * (length - PROMPT_TOKENS)
        samples.append(Sample(tuple(ids), tuple(mask), float(i % 2), 0, "t"))
    batch = collate(samples)
    adv = torch.tensor([1.0 if i % 2 else -1.0 for i in range(ROWS)])
    return batch, adv


def _no_reward(completions, **kwargs) -> list[float]:
    return [0.0] * len(completions)


def _trl_update(model_dir, tokenizer_dir, tmp, batch, adv):
    """TRL's GRPOTrainer update step on `batch` (see the module docstring), as a callable."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from sandmle.train.trainer import lr_lambda

    cfg = _config(model_dir)
    g, t = cfg.grpo, cfg.train
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    args = GRPOConfig(output_dir=str(tmp), per_device_train_batch_size=ROWS, num_generations=ROWS,
                      max_completion_length=RESPONSE_TOKENS, learning_rate=t.lr, weight_decay=t.weight_decay,
                      max_grad_norm=t.grad_clip, beta=g.kl_coef, epsilon=g.clip_ratio_low,
                      epsilon_high=g.clip_ratio_high, loss_type="grpo", entropy_coef=g.entropy_coef,
                      temperature=cfg.rollout.temperature, use_cpu=not torch.cuda.is_available(), bf16=False,
                      report_to=[], disable_dropout=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, betas=(t.adam_beta1, t.adam_beta2), eps=t.adam_eps,
                                  weight_decay=t.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(t.lr_schedule, t.warmup_steps, t.steps))
    trainer = GRPOTrainer(model=model, reward_funcs=[_no_reward], args=args,
                          train_dataset=Dataset.from_dict({"prompt": ["-"] * ROWS}),
                          processing_class=AutoTokenizer.from_pretrained(tokenizer_dir),
                          optimizers=(optimizer, scheduler))
    trainer.current_gradient_accumulation_steps = 1          # TRL's training loop sets it
    acc = trainer.accelerator
    model, optimizer, scheduler = acc.prepare(trainer.model, optimizer, scheduler)
    completion_mask = batch.attention_mask[:, PROMPT_TOKENS:]
    inputs = {"prompt_ids": batch.input_ids[:, :PROMPT_TOKENS], "prompt_mask": batch.attention_mask[:, :PROMPT_TOKENS],
              "completion_ids": batch.input_ids[:, PROMPT_TOKENS:], "completion_mask": completion_mask,
              "advantages": adv, "num_items_in_batch": completion_mask.sum()}
    inputs = {k: v.to(acc.device) for k, v in inputs.items()}

    def step() -> None:
        model.train()
        with trainer.compute_loss_context_manager():
            loss = trainer.compute_loss(model, inputs)
        acc.backward(loss)
        acc.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        model.zero_grad(set_to_none=True)
    return step, trainer.model


def update_step(method: str, model_dir, tokenizer_dir, tmp, attention: str = "auto"):
    """(step, model): one update step of `method` ("today", "previous" or "trl") on the bench
    batch as a callable, and the model it trains; "today" with [model] attention `attention`,
    "previous" with SDPA (as before the CPU attention kernel)."""
    from pathlib import Path

    vocab = json.loads((Path(model_dir) / "config.json").read_text())["vocab_size"]
    batch, adv = _batch(vocab)
    if method == "trl":
        return _trl_update(model_dir, tokenizer_dir, Path(tmp) / "trl", batch, adv)
    trainer = _trainer(model_dir, Path(tmp) / method, attention if method == "today" else "sdpa")
    if method == "previous":
        trainer._logp = _previous_trainer_logp(trainer)
    batch, adv = batch.to(trainer.accelerator.device), adv.to(trainer.accelerator.device)
    return (lambda: trainer._update(batch, adv, 0)), trainer.model


def paired_times(ours, baseline, repeats: int) -> dict:
    """Median wall and CPU seconds of `repeats` alternating calls of each after one warm-up
    call each, and the medians of the per-round ratios baseline / ours."""
    from statistics import median

    ours(), baseline()
    wall: dict[int, list[float]] = {0: [], 1: []}
    cpu: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(repeats):
        for i, fn in enumerate((ours, baseline)):
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall[i].append(time.perf_counter() - w)
            cpu[i].append(time.process_time() - c)
    return {"sandmle_s": median(wall[0]), "baseline_s": median(wall[1]),
            "sandmle_cpu_s": median(cpu[0]), "baseline_cpu_s": median(cpu[1]),
            "ratio": median(b / a for a, b in zip(wall[0], wall[1])),
            "cpu_ratio": median(b / a for a, b in zip(cpu[0], cpu[1]))}


def measure_update(tmp, baseline: str, repeats: int, attention: str = "auto") -> list[dict]:
    from pathlib import Path

    from sandmle.policies.tiny import build_tiny_model

    tiny = build_tiny_model(Path(tmp) / "qwen2", seed=0)
    rows = []
    for name, folder in (("qwen2 tiny", tiny), (f"qwen3 tiny, vocab {VOCAB}", _wide_model(Path(tmp) / "qwen3"))):
        ours, _ = update_step("today", folder, tiny, Path(tmp) / f"{len(rows)}", attention)
        base, _ = update_step(baseline, folder, tiny, Path(tmp) / f"{len(rows)}")
        row = {"model": name, **paired_times(ours, base, repeats)}
        del ours, base
        if name.startswith("qwen3"):
            row["sandmle_peak_mb"] = _step_peak_mb("today", folder, tiny, attention)
            row["baseline_peak_mb"] = _step_peak_mb(baseline, folder, tiny, attention)
        rows.append(row)
    return rows


def _step_peak_mb(method: str, model_dir, tokenizer_dir, attention: str) -> float:
    import torch

    out = subprocess.run([sys.executable, "-m", "sandmle", "bench", "grpo", "--step-child", method,
                          "--model-dir", str(model_dir), "--tokenizer-dir", str(tokenizer_dir),
                          "--threads", str(torch.get_num_threads()), "--attention", attention],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"] / 2**20


def _step_child(method: str, model_dir: str, tokenizer_dir: str, attention: str) -> None:
    """In a fresh process: the rise of the resident set during one update step, after a
    warm-up step (optimizer state allocated)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sandmle-bench-grpo-") as tmp:
        step, _ = update_step(method, model_dir, tokenizer_dir, tmp, attention)
        step()
        base = _resident_bytes("VmRSS")
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        step()
        print(json.dumps({"peak_bytes": _resident_bytes("VmHWM") - base}))


def _wide_model(folder):
    """The tiny Qwen3 with Qwen3's vocabulary: a random tokenizer-free model of the same size."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    if not (folder / "config.json").is_file():
        torch.manual_seed(0)
        config = Qwen3Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, head_dim=8, tie_word_embeddings=True)
        AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder


def saved_bytes(method: str, tokens: int) -> int:
    """Bytes autograd keeps for backward when computing log-probs and entropy of `tokens` rows."""
    import torch

    from sandmle.train.logprobs import selective_logprobs

    logits = torch.randn(1, tokens + 1, VOCAB, dtype=torch.bfloat16, requires_grad=True)
    targets = torch.randint(0, VOCAB, (1, tokens))
    seen: dict[int, int] = {}

    def pack(tensor):
        seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        raw = logits * 1.0                    # the model's output, as autograd would hold it
        if method == "previous":
            previous_logprobs(raw[:, :-1], targets, 0.7, True)
        else:
            selective_logprobs(raw[0, :-1], targets[0], 0.7)
    return sum(seen.values())


def _peak_child(method: str, tokens: int) -> None:
    """In a fresh process: the peak resident memory of forward + backward above the inputs
    (Linux: the high-water mark is reset through /proc/self/clear_refs once they exist)."""
    import torch

    from sandmle.train.logprobs import selective_logprobs

    logits = torch.randn(1, tokens + 1, VOCAB, dtype=torch.bfloat16, requires_grad=True)
    targets = torch.randint(0, VOCAB, (1, tokens))
    base = _resident_bytes("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    if method == "previous":
        logp, entropy = previous_logprobs(logits[:, :-1], targets, 0.7, True)
    else:
        logp, entropy = selective_logprobs(logits[0, :-1], targets[0], 0.7)
    (logp.sum() + 0.001 * entropy.sum()).backward()
    print(json.dumps({"peak_bytes": _resident_bytes("VmHWM") - base}))


def _resident_bytes(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_memory(tokens: int) -> list[dict]:
    import torch

    rows = []
    for method in ("previous", "today"):
        out = subprocess.run([sys.executable, "-m", "sandmle", "bench", "grpo", "--peak-child", method,
                              "--tokens", str(tokens), "--threads", str(torch.get_num_threads())],
                             capture_output=True, text=True, check=True)
        peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"]
        rows.append({"method": method, "saved_per_token_mb": saved_bytes(method, tokens) / tokens / 1e6,
                     "peak_per_token_mb": peak / tokens / 1e6})
    return rows


def run(args) -> int:
    import os
    import tempfile

    import torch

    torch.set_num_threads(args.threads)
    if args.peak_child:
        _peak_child(args.peak_child, args.tokens)
        return 0
    if args.step_child:
        _step_child(args.step_child, args.model_dir, args.tokenizer_dir, args.attention)
        return 0
    baseline = resolve_baseline(args.baseline)
    started, load = time.perf_counter(), [os.getloadavg()[0]]
    memory = measure_memory(args.tokens)
    with tempfile.TemporaryDirectory(prefix="sandmle-bench-grpo-") as tmp:
        update = measure_update(tmp, baseline, args.repeats, args.attention)
    load.append(os.getloadavg()[0])
    if args.json:
        print(json.dumps({"baseline": baseline, "attention": args.attention, "update": update, "memory": memory,
                          "vocab": VOCAB, "tokens": args.tokens, "threads": args.threads, "load": load}))
        return 0
    name = "TRL GRPOTrainer" if baseline == "trl" else "previous sandmle"
    for row in update:
        line = (f"update step, {row['model']}: sandmle {row['sandmle_s'] * 1e3:.0f} ms, {name} "
                f"{row['baseline_s'] * 1e3:.0f} ms: {row['ratio']:.2f}x wall, {row['cpu_ratio']:.2f}x CPU "
                f"({row['sandmle_cpu_s'] * 1e3:.0f} vs {row['baseline_cpu_s'] * 1e3:.0f} ms CPU)")
        if "sandmle_peak_mb" in row:
            line += (f"; peak memory {row['sandmle_peak_mb']:.0f} vs {row['baseline_peak_mb']:.0f} MB "
                     f"({row['sandmle_peak_mb'] / max(row['baseline_peak_mb'], 1e-9):.2f}x)")
        print(line)
    for row in memory:
        print(f"log-probs + entropy at vocab {VOCAB}, {row['method']}: saved for backward "
              f"{row['saved_per_token_mb']:.3f} MB/token, peak {row['peak_per_token_mb']:.3f} MB/token")
    today = {r["method"]: r for r in memory}
    print(f"memory ratio previous/today: saved {today['previous']['saved_per_token_mb'] / today['today']['saved_per_token_mb']:.2f}x, "
          f"peak {today['previous']['peak_per_token_mb'] / today['today']['peak_per_token_mb']:.2f}x")
    kernel = "its CPU attention kernel" if args.attention == "auto" else "SDPA"
    print(f"sandmle's update step ran {kernel} ([model] attention = \"{args.attention}\"), {name} SDPA")
    print(f"median of {args.repeats} alternating rounds, {args.threads} torch thread(s); "
          f"load average {load[0]:.1f} -> {load[1]:.1f} "
          f"({time.perf_counter() - started:.0f} s)")
    return 0
