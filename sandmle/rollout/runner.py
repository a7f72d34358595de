"""Run many episodes together on one sandbox pool.

All active episodes advance in lock-step: each turn makes one batched `policy.generate`
over the episodes still running, then their steps (sandbox jobs, grading) run concurrently
in threads, sharing the pool. An episode that fails (the policy errs, the sandbox breaks)
is recorded with its reason and never stops the others.

Seeds: with `sampling.seed` set, episode i of the plan samples turn t with seed + i +
1_000_003 * t (`SamplingParams.row_seeds`, whatever its row in the batch), so repeated
rollouts of one task differ, a run stays reproducible, and a resumed run (`skip`) samples
its remaining episodes exactly as the uninterrupted run would have.

Stop strings: the protocol's closing tags (`</tool_call>`, `</answer>`) are always added to
the configured ones, so a policy stops right after its action; a stop string met inside the
action's code resumes generation (`sandmle.rollout.turns`).

Tokens: with a tokenizer, each episode keeps its context as token ids
(`sandmle.rollout.tokens`); the policy is given those exact prompt ids and every turn records
them with the sampled ids and behaviour log-probs.

Mixtures: `policy` may be a list with one policy per planned episode (`sandmle.rollout.mix`);
each turn then makes one batched call per policy, and each episode records its own policy's
name. They share the one tokenizer given.
"""
from __future__ import annotations

import hashlib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

from sandmle.policies.base import Policy, SamplingParams
from sandmle.rollout.context import make_token_counter
from sandmle.rollout.env import EpisodeEnv
from sandmle.rollout.episode import Episode
from sandmle.rollout.protocol import STOP_STRINGS
from sandmle.rollout.turns import TurnRequest, generate_turns
from sandmle.sandbox.workdir import remove_tree
from sandmle.task import Task


@dataclass(frozen=True)
class RolloutConfig:
    max_turns: int = 15                  # LLM calls per episode (REFERENCE §5: 15 training, 20 eval)
    episode_timeout_s: float = 1200.0    # 20 min per trajectory
    step_timeout_s: float = 300.0        # per code run
    max_context_tokens: int = 32768      # prompt + max_new_tokens must fit
    tool_output_lines: int = 20          # tail of a run's output shown to the agent
    reward_scheme: str = "paper"         # "paper" | "release" | "sparse" (REFERENCE §6)
    reward_from: str = "last"            # "last" | "best" graded score
    sampling: SamplingParams = field(default_factory=SamplingParams)
    memory_mb: int = 4096                # memory of a code run's process tree (sandbox Limits)
    devices: tuple[str, ...] = ()        # host device nodes code runs see (GPUs: sandbox/devices.py)
    score_tool: str = "test"             # "test" | "validation" | "format" | "off" (rollout/score_tool.py)

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {self.max_turns}")
        if self.episode_timeout_s <= 0 or self.step_timeout_s <= 0:
            raise ValueError(f"episode_timeout_s ({self.episode_timeout_s}) and step_timeout_s "
                             f"({self.step_timeout_s}) must be positive")
        if self.max_context_tokens <= self.sampling.max_new_tokens:
            raise ValueError(f"max_context_tokens ({self.max_context_tokens}) must exceed "
                             f"sampling.max_new_tokens ({self.sampling.max_new_tokens})")
        if self.memory_mb < 1:
            raise ValueError(f"memory_mb must be >= 1, got {self.memory_mb}")
        if self.tool_output_lines < 1:
            raise ValueError(f"tool_output_lines must be >= 1, got {self.tool_output_lines}")
        if self.reward_from not in ("last", "best"):
            raise ValueError(f"reward_from must be 'last' or 'best', got {self.reward_from!r}")
        from sandmle.rollout.score_tool import SCORE_TOOLS

        if self.score_tool not in SCORE_TOOLS:
            raise ValueError(f"score_tool must be one of {SCORE_TOOLS}, got {self.score_tool!r}")
        from sandmle.reward import SCHEMES

        if self.reward_scheme not in SCHEMES:
            raise ValueError(f"reward_scheme must be one of {SCHEMES}, got {self.reward_scheme!r}")

    def effective_sampling(self) -> SamplingParams:
        stop = tuple(dict.fromkeys(self.sampling.stop + STOP_STRINGS))
        return replace(self.sampling, stop=stop)


TURN_SEED_STRIDE = 1_000_003     # larger than any batch, as backends add the row index


def episode_id_for(task_id: str, index: int, seed: int) -> str:
    digest = hashlib.sha1(f"{task_id}/{index}/{seed}".encode()).hexdigest()[:8]
    return f"{task_id}-{index:03d}-{digest}"


def run_episodes(policy: Policy | Sequence[Policy], tasks: list[Task], pool: Any, config: RolloutConfig,
                 tokenizer: Any = None, work_root: Path | None = None, seed: int = 0,
                 on_episode: Callable[[Episode], None] | None = None,
                 skip: Collection[str] = (), split: str | None = None) -> list[Episode]:
    """One episode per entry of `tasks` (repeat a task for several rollouts), in order,
    leaving out the episodes whose ids are in `skip` (finished in an earlier, killed run).
    `policy`: one policy, or one per entry of `tasks`; `split` is recorded in each episode."""
    policies = list(policy) if isinstance(policy, (list, tuple)) else [policy] * len(tasks)
    if len(policies) != len(tasks):
        raise ValueError(f"{len(policies)} policies for {len(tasks)} planned episodes")
    own_root = None
    if work_root is None:
        own_root = tempfile.mkdtemp(prefix="sandmle-rollout-")
        work_root = Path(own_root)
    work_root = Path(work_root)
    counter = make_token_counter(tokenizer)
    sampling = config.effective_sampling()
    envs, rows = [], {}
    for i, task in enumerate(tasks):
        episode_id = episode_id_for(task.id, i, seed)
        if episode_id in skip:
            continue
        env = EpisodeEnv(task, pool, config, work_root / episode_id, episode_id,
                         getattr(policies[i], "name", type(policies[i]).__name__), counter,
                         seed=seed * 100_003 + i, tokenizer=tokenizer, split=split)
        envs.append(env)
        rows[id(env)] = i
    if not envs:
        return []
    episodes: list[Episode | None] = [None] * len(envs)
    threads = min(len(envs), max(4, 4 * (getattr(pool, "num_workers", None) or 2)))
    try:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="episode") as executor:
            list(executor.map(lambda env: env.reset(), envs))
            turn = 0
            while True:
                views = [(env, env.view()) for env in envs if not env.done]
                active = [(env, v) for env, v in views if v is not None]
                for i, env in enumerate(envs):
                    if env.done and episodes[i] is None:
                        episodes[i] = _finish(env, on_episode)
                if not active:
                    break
                t0 = time.perf_counter()
                generations: list = [None] * len(active)
                by_policy: dict[int, list[int]] = {}
                for k, (env, _) in enumerate(active):
                    by_policy.setdefault(id(policies[rows[id(env)]]), []).append(k)
                for members in by_policy.values():
                    plan_rows = [rows[id(active[k][0])] for k in members]
                    requests = [TurnRequest(active[k][1], active[k][0].prompt.ids if active[k][0].prompt else None,
                                            active[k][0].prefill) for k in members]
                    outs = generate_turns(policies[plan_rows[0]], requests, _turn_sampling(sampling, turn, plan_rows))
                    for k, generation in zip(members, outs):
                        generations[k] = generation
                turn += 1
                generate_s = time.perf_counter() - t0
                list(executor.map(lambda pair: pair[0].step(pair[1], generate_s),
                                  [(env, g) for (env, _), g in zip(active, generations)]))
    finally:
        if own_root is not None:
            remove_tree(own_root)     # iterative: any tree a job left
    return episodes   # every slot is filled: each env ends by answer, budget or error


def _turn_sampling(sampling: SamplingParams, turn: int, plan_rows: list[int]) -> SamplingParams:
    """A fixed seed moves on each turn, so a backend that reseeds per call does not replay
    the same random stream every turn; each episode keeps its own offset (its plan row)."""
    if sampling.seed is None:
        return sampling
    base = sampling.seed + TURN_SEED_STRIDE * turn
    return replace(sampling, seed=base, row_seeds=tuple(base + row for row in plan_rows))


def _finish(env: EpisodeEnv, on_episode: Callable[[Episode], None] | None) -> Episode:
    episode = env.finish()
    if on_episode is not None:
        on_episode(episode)
    return episode
