"""`sandmle bench grpo [--json] [--tokens 256]`: the GRPO update step and its log-prob memory,
against the previous sandmle path measured in the same run.

Update step: `Trainer._update` (forward, clipped loss with the entropy term, backward,
optimizer step) on a fixed batch of 8 sequences (96 prompt + 160 response tokens), with
today's log-probs (`sandmle.train.logprobs`: response columns only, one chunked pass for
log-probs and entropy) and with the previous path (full logits, a temperature copy, float32
chunks kept for backward, a second softmax for the entropy), on two tiny models: the
protocol-tokenizer Qwen2 (vocabulary ~530) and a Qwen3 of the same size at Qwen3's
vocabulary (151,936). Best of several alternating runs. TRL is not a dependency; its update
step is not measured here.

Memory per token at vocabulary 151,936, bfloat16 logits of `--tokens` positions: the bytes
autograd saves for backward (exact, through saved-tensor hooks) and the peak resident memory
of forward + backward above the inputs in a fresh process (Linux), divided by the tokens;
both include the logits' own gradient (0.3 MB/token) in the peak.
Goal (issue of the update step): >= 2x the previous path's update at vocabulary 151,936.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

VOCAB = 151_936
PROMPT_TOKENS, RESPONSE_TOKENS, ROWS = 96, 160, 8


def register(subparsers) -> None:
    from sandmle.arguments import count

    parser = subparsers.add_parser("grpo", help="GRPO update step and log-prob memory vs the previous path")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--tokens", type=count, default=1024, help="positions in the memory measurement")
    parser.add_argument("--peak-child", choices=("previous", "today"), help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


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


def _trainer(model_dir, tmp):
    import torch
    from transformers import AutoModelForCausalLM

    from sandmle.train.config import GRPOConfig, LogConfig, ModelConfig, RunConfig, TrainConfig
    from sandmle.train.trainer import Trainer

    cfg = RunConfig(model=ModelConfig(path=str(model_dir)),
                    grpo=GRPOConfig(group_size=ROWS, tasks_per_step=1, micro_batch_size=ROWS, entropy_coef=0.001),
                    train=TrainConfig(steps=1000, lr=1e-5), log=LogConfig(live=False))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return Trainer(cfg, tmp, tasks=[0], env=None, model=model)


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


def measure_update(tmp) -> list[dict]:
    from pathlib import Path

    from sandmle.bench.kernels import best_times_s
    from sandmle.policies.tiny import build_tiny_model

    rows = []
    models = [("qwen2 tiny", build_tiny_model(Path(tmp) / "qwen2", seed=0), None)]
    models.append(("qwen3 tiny, vocab 151936", _wide_model(Path(tmp) / "qwen3"), VOCAB))
    for name, folder, vocab in models:
        today = _trainer(folder, Path(tmp) / f"run-{len(rows)}")
        before = _trainer(folder, Path(tmp) / f"run-{len(rows)}-previous")
        before._logp = _previous_trainer_logp(before)
        batch, adv = _batch(vocab or today.model.config.vocab_size)
        ours_s, base_s = best_times_s(lambda: today._update(batch, adv, 0), lambda: before._update(batch, adv, 0))
        rows.append({"model": name, "today_s": ours_s, "previous_s": base_s, "ratio": base_s / ours_s})
    return rows


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
    rows = []
    for method in ("previous", "today"):
        out = subprocess.run([sys.executable, "-m", "sandmle", "bench", "grpo", "--peak-child", method,
                              "--tokens", str(tokens)], capture_output=True, text=True, check=True)
        peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"]
        rows.append({"method": method, "saved_per_token_mb": saved_bytes(method, tokens) / tokens / 1e6,
                     "peak_per_token_mb": peak / tokens / 1e6})
    return rows


def run(args) -> int:
    import tempfile

    if args.peak_child:
        _peak_child(args.peak_child, args.tokens)
        return 0
    started = time.perf_counter()
    memory = measure_memory(args.tokens)
    with tempfile.TemporaryDirectory(prefix="sandmle-bench-grpo-") as tmp:
        update = measure_update(tmp)
    if args.json:
        print(json.dumps({"update": update, "memory": memory, "vocab": VOCAB, "tokens": args.tokens}))
        return 0
    for row in update:
        print(f"update step, {row['model']}: today {row['today_s'] * 1e3:.1f} ms, previous {row['previous_s'] * 1e3:.1f} ms, "
              f"{row['ratio']:.2f}x")
    for row in memory:
        print(f"log-probs + entropy at vocab {VOCAB}, {row['method']}: saved for backward "
              f"{row['saved_per_token_mb']:.3f} MB/token, peak {row['peak_per_token_mb']:.3f} MB/token")
    today = {r["method"]: r for r in memory}
    print(f"memory ratio previous/today: saved {today['previous']['saved_per_token_mb'] / today['today']['saved_per_token_mb']:.2f}x, "
          f"peak {today['previous']['peak_per_token_mb'] / today['today']['peak_per_token_mb']:.2f}x "
          f"({time.perf_counter() - started:.0f} s)")
    return 0
