"""The one script a GPU machine runs: does training with vLLM rollouts work here, end to end?

    python -m sandmle.train.gpu_check [--out DIR] [--steps 12] [--gpu-memory-utilization 0.3]
                                      [--no-vllm] [--allow-cpu]

Needs only the repository and a CUDA torch (vLLM optional); nothing is downloaded. Each
stage prints one JSON line ({"stage", "ok", "seconds", figures...}) and asserts; the first
failure prints its line with "ok": false and exits 1. About 2-5 minutes on one GPU.

    model     a tiny Qwen3 built from a config (4 layers, hidden 256) and the protocol tokenizer
    logprobs  the trainer's log-probs of sampled tokens equal the generator's behaviour
              log-probs (vLLM's when installed, else transformers')
    learn     a few GRPO steps on a task a tiny model can learn (reward: the share of
              completion tokens with an even id) move the weights and raise the reward
    resume    a checkpoint restored into a fresh trainer has the trained weights, and the
              generator samples from them (vLLM: proven by its log-probs)
    vllm      colocated engine: sleep (weights offloaded, KV cache dropped), wake the weights,
              sync perturbed weights, its log-probs of fixed tokens match the trainer's and
              no longer the old ones, wake the KV cache, generate

Without vLLM the stages that need it print {"stage": ..., "skipped": reason}. Without CUDA
it stops with a one-line error unless `--allow-cpu` (the tests run it so; sleep mode is
CUDA-only and is reported as not exercised there).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from sandmle.errors import UserError

PROMPT = [{"role": "user", "content": "write tokens"}]
BF16_LOGPROB_TOL = 0.1        # max |vLLM - trainer| log-prob, bfloat16 engine (measured 0.005-0.03 on CPU)
FP32_LOGPROB_TOL = 1e-3       # the same for transformers generation in float32
MOVED = 0.5                   # a sync must move the engine's log-probs by at least this much


class CheckFailed(Exception):
    """A stage's assertion failed; its message is the reason."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@contextmanager
def stage(name: str, figures: dict):
    """Run one stage: print its JSON line (figures filled in by the stage), re-raise failures."""
    start = time.perf_counter()
    try:
        yield
    except Exception as exc:
        print(json.dumps({"stage": name, "ok": False, "seconds": round(time.perf_counter() - start, 2),
                          "error": f"{type(exc).__name__}: {exc}", **figures}), flush=True)
        raise
    print(json.dumps({"stage": name, "ok": True, "seconds": round(time.perf_counter() - start, 2), **figures}),
          flush=True)


def skipped(name: str, reason: str) -> None:
    print(json.dumps({"stage": name, "skipped": reason}), flush=True)


class EvenTokenEnv:
    """Rollouts of one fixed prompt; reward = share of completion tokens with an even id.

    A random model starts near 0.5 with spread inside each group, so GRPO has a signal from
    the first step; the optimum (only even ids) is reachable by the output layer alone.
    """

    def __init__(self, policy, tokenizer, max_new_tokens: int = 16, temperature: float = 1.0):
        from sandmle.policies.base import SamplingParams
        from sandmle.policies.vllm import prompt_token_ids

        self.policy = policy
        self.prompt = prompt_token_ids(tokenizer, PROMPT)
        self.sampling = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens)
        self.generations: list = []

    def collect(self, model, tasks, group_size: int, seed: int):
        from dataclasses import replace

        from sandmle.train.batch import Rollouts, Sample

        sampling = replace(self.sampling, seed=seed)
        conversations = [PROMPT] * (len(tasks) * group_size)
        was_training = model.training
        model.eval()
        self.generations = self.policy.generate(conversations, sampling)
        model.train(was_training)
        if hasattr(self.policy, "sleep"):
            self.policy.sleep()
        samples = []
        for i, gen in enumerate(self.generations):
            if gen.finish_reason == "error":
                raise RuntimeError(f"generation failed: {gen.error}")
            ids = list(gen.token_ids)
            reward = sum(t % 2 == 0 for t in ids) / max(len(ids), 1)
            samples.append(Sample(tuple(self.prompt + ids), (0,) * len(self.prompt) + (1,) * len(ids), reward,
                                  i // group_size, str(tasks[i // group_size]), valid=True))
        return Rollouts(tuple(samples), 0.0)

    def sync(self, model) -> None:
        self.policy.sync_weights(model)


def build_model(out: Path, cuda: bool) -> Path:
    from sandmle.policies.tiny import build_tiny_model

    folder = out / "model"
    if not (folder / "config.json").is_file():
        size = dict(hidden_size=256, num_layers=4) if cuda else dict(hidden_size=128, num_layers=2)
        build_tiny_model(folder, seed=0, architecture="qwen3", dtype="bfloat16", **size)
    return folder


def load(folder: Path, device):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(device)


def trainer_logprobs(model, sequences: list[list[int]], temperature: float = 1.0) -> list[list[float]]:
    """Log-probs of every token after the first, by the trainer's own code path."""
    import torch

    from sandmle.train.logprobs import sequence_logprobs

    device = next(model.parameters()).device
    rows = []
    with torch.no_grad():
        for ids in sequences:
            ids_t = torch.tensor([ids], device=device)
            logp, _ = sequence_logprobs(model, ids_t, torch.ones_like(ids_t), torch.ones(1, len(ids) - 1, device=device),
                                        temperature)
            rows.append(logp[0].tolist())
    return rows


def max_gap(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def run_config(model_dir: Path, steps: int, backend: str, utilization: float):
    from sandmle.train.config import GRPOConfig, LogConfig, ModelConfig, RolloutSection, RunConfig, TrainConfig

    return RunConfig(
        model=ModelConfig(path=str(model_dir), dtype="float32"),
        rollout=RolloutSection(backend=backend, vllm_gpu_memory_utilization=utilization, temperature=1.0),
        grpo=GRPOConfig(group_size=8, tasks_per_step=2, loss_agg="token-mean", micro_batch_size=16),
        train=TrainConfig(steps=steps, lr=1e-2, weight_decay=0.0, save_every=0, seed=0),
        log=LogConfig(live=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandmle.train.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"))
    parser.add_argument("--steps", type=int, default=8, help="GRPO steps of the learn stage")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.3)
    parser.add_argument("--no-vllm", action="store_true", help="roll out with transformers even if vLLM is installed")
    parser.add_argument("--allow-cpu", action="store_true", help="run on CPU when no GPU is visible")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"gpu_check: error: {exc}", file=sys.stderr)
        return 2
    except Exception:           # the failing stage printed its JSON line
        return 1


def run(args) -> int:
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        raise UserError("gpu_check needs a CUDA GPU (none is visible); --allow-cpu runs it on the CPU")
    if args.steps < 2:
        raise UserError(f"--steps {args.steps} must be >= 2")
    device = torch.device("cuda" if cuda else "cpu")
    use_vllm = not args.no_vllm
    if use_vllm:
        try:
            import vllm  # noqa: F401
        except ImportError:
            use_vllm = False
            skipped("vllm", "vLLM is not installed (pip install 'sandmle[vllm]'): rollouts use transformers")
    args.out.mkdir(parents=True, exist_ok=True)
    from transformers import AutoTokenizer

    figures: dict = {}
    with stage("model", figures):
        model_dir = build_model(args.out, cuda)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = load(model_dir, device)
        figures.update(device=str(device), params=sum(p.numel() for p in model.parameters()), folder=str(model_dir))
    policy = make_policy(model_dir, model, tokenizer, use_vllm, args.gpu_memory_utilization, cuda)
    try:
        env = EvenTokenEnv(policy, tokenizer)
        figures = {}
        with stage("logprobs", figures):
            policy.sync_weights(model)
            env.collect(model, [0], 4, seed=1)
            gens = env.generations
            got = [list(g.logprobs) for g in gens]
            want = [row[len(env.prompt) - 1:] for row in
                    trainer_logprobs(model, [env.prompt + list(g.token_ids) for g in gens])]
            tol = BF16_LOGPROB_TOL if use_vllm else FP32_LOGPROB_TOL
            figures.update(generator="vllm" if use_vllm else "transformers", max_gap=round(max_gap(got, want), 6),
                           tolerance=tol, tokens=sum(len(r) for r in got))
            check(figures["max_gap"] < tol, f"behaviour and trainer log-probs differ by {figures['max_gap']} > {tol}")
        trainer = learn_stage(args, model_dir, model, env, use_vllm)
        resume_stage(args, model_dir, trainer, env, policy, use_vllm, device)
        if use_vllm:
            vllm_stage(model_dir, policy, device, cuda)
    finally:
        if hasattr(policy, "close"):
            policy.close()
    return 0


def make_policy(model_dir: Path, model, tokenizer, use_vllm: bool, utilization: float, cuda: bool):
    if use_vllm:
        from sandmle.policies.vllm import VLLMPolicy

        return VLLMPolicy(str(model_dir), tokenizer=tokenizer, gpu_memory_utilization=utilization, max_model_len=512,
                          enforce_eager=not cuda)
    from sandmle.policies.hf import HFPolicy

    return HFPolicy(model, tokenizer=tokenizer)


def learn_stage(args, model_dir: Path, model, env, use_vllm: bool):
    import torch

    from sandmle.train.trainer import Trainer

    figures: dict = {}
    with stage("learn", figures):
        cfg = run_config(model_dir, args.steps, "vllm" if use_vllm else "hf", args.gpu_memory_utilization)
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        trainer = Trainer(cfg, args.out / "run", tasks=[0, 1], env=env, model=model)
        rows = trainer.train(args.steps)
        rewards = [round(r["reward_mean"], 4) for r in rows]
        moved = max(float((v.detach() - start[k]).abs().max()) for k, v in model.state_dict().items())
        first, last = sum(rewards[:2]) / 2, sum(rewards[-2:]) / 2
        figures.update(steps=len(rows), reward_per_step=rewards, max_weight_change=moved,
                       update_s=round(sum(r["update_s"] for r in rows), 2), sync_s=round(sum(r["sync_s"] for r in rows), 2))
        check(moved > 1e-3, f"the weights moved by at most {moved}")
        check(last > first + 0.1, f"the reward did not rise: {first:.3f} over the first two steps, {last:.3f} over the last two")
        trainer.save()
    return trainer


def resume_stage(args, model_dir: Path, trainer, env, policy, use_vllm: bool, device) -> None:
    from sandmle.train.checkpoint import latest_checkpoint
    from sandmle.train.trainer import Trainer

    figures: dict = {}
    with stage("resume", figures):
        trained = trainer.accelerator.unwrap_model(trainer.model)
        fresh = load(model_dir, device)
        if use_vllm:
            policy.sync_weights(fresh)               # a new process: the engine holds the base model
        else:
            env.policy = type(policy)(fresh, tokenizer=policy.tokenizer)
        resumed = Trainer(trainer.config, args.out / "run", tasks=[0, 1], env=env, model=fresh)
        resumed.resume(latest_checkpoint(args.out / "run"))
        same = max(float((a - b).abs().max()) for a, b in zip(trained.state_dict().values(), fresh.state_dict().values()))
        figures.update(step=resumed.step, max_weight_gap=same)
        check(resumed.step == trainer.step, f"resumed at step {resumed.step}, expected {trainer.step}")
        check(same == 0.0, f"resumed weights differ from the trained ones by {same}")
        if use_vllm:
            env.collect(fresh, [0], 2, seed=5)       # a rollout right after resume
            seqs = [env.prompt + list(g.token_ids) for g in env.generations]
            got = [list(g.logprobs) for g in env.generations]
            want = [r[len(env.prompt) - 1:] for r in trainer_logprobs(fresh, seqs)]
            base = [r[len(env.prompt) - 1:] for r in trainer_logprobs(load(model_dir, device), seqs)]
            figures.update(rollout_gap_trained=round(max_gap(got, want), 6), rollout_gap_base=round(max_gap(got, base), 4))
            check(figures["rollout_gap_trained"] < BF16_LOGPROB_TOL, "the first rollout after resume is not from the "
                  f"trained weights (gap {figures['rollout_gap_trained']})")


def vllm_stage(model_dir: Path, policy, device, cuda: bool) -> None:
    import torch

    figures: dict = {}
    with stage("vllm", figures):
        model = load(model_dir, device)
        ids = [[(7 * i + 3) % len(policy.tokenizer) for i in range(48)]]
        policy.sync_weights(model)
        before = policy.score(ids)
        if cuda:
            free_awake = torch.cuda.mem_get_info()[0]
            policy.sleep()
            free_asleep = torch.cuda.mem_get_info()[0]
            figures.update(freed_by_sleep_gib=round((free_asleep - free_awake) / 2**30, 3))
            check(policy.asleep == {"weights", "kv_cache"}, f"asleep: {policy.asleep}")
        else:
            figures.update(sleep="CUDA only: not exercised")
        gen = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for param in model.parameters():
                param.add_(torch.randn(param.shape, generator=gen).to(param.device) * 0.05)
        policy.sync_weights(model)                 # wakes the weights only
        if cuda:
            check(policy.asleep == {"kv_cache"}, f"after sync, asleep: {policy.asleep}")
        after = policy.score(ids)                  # wakes the KV cache
        want = trainer_logprobs(model, ids)
        figures.update(sync_gap=round(max_gap(after, want), 6), stale_gap=round(max_gap(before, want), 4),
                       tolerance=BF16_LOGPROB_TOL)
        check(figures["sync_gap"] < BF16_LOGPROB_TOL, f"engine log-probs after sync differ by {figures['sync_gap']}")
        check(figures["stale_gap"] > MOVED, f"the perturbation moved the log-probs by only {figures['stale_gap']}")
        from sandmle.policies.base import SamplingParams

        out = policy.generate([PROMPT], SamplingParams(max_new_tokens=8, seed=0))[0]
        check(out.finish_reason != "error" and len(out.token_ids) > 0, f"generation after wake failed: {out.error}")


if __name__ == "__main__":
    raise SystemExit(main())
