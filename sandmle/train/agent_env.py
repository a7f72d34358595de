"""The agent environment: a language model's episodes through the real agent protocol.

`collect` runs `group_size` episodes per task with `sandmle.rollout.runner.run_episodes`
(the ReAct protocol of REFERENCE §5, the sandbox pool, the grader and the reward kernel) and
turns each episode into one training `Sample`: the whole conversation tokenised by
`sandmle.rollout.tokens.tokenize_episode` (prompt and tool responses masked out), the
episode's reward, and `keep=False` for episodes counted as timed out. A conversation longer
than max_prompt_tokens + max_response_tokens is cut at the end (its tail leaves the loss);
one whose prompt alone exceeds max_prompt_tokens stays out of the loss. After the rollouts
a colocated vLLM engine is put to sleep so the update has the GPU memory.
"""
from __future__ import annotations

import time
from pathlib import Path

from sandmle.train.batch import Rollouts, Sample


class AgentEnv:
    def __init__(self, policy, tokenizer, pool, rollout_config, work_root: Path, *,
                 max_prompt_tokens: int, max_response_tokens: int, episodes_dir: Path | None = None):
        self.policy = policy
        self.tokenizer = tokenizer
        self.pool = pool
        self.rollout_config = rollout_config
        self.work_root = Path(work_root)
        self.max_prompt_tokens = max_prompt_tokens
        self.max_response_tokens = max_response_tokens
        self.episodes_dir = episodes_dir

    def collect(self, model, tasks: list, group_size: int, seed: int) -> Rollouts:
        from sandmle.rollout.runner import run_episodes
        from sandmle.rollout.tokens import tokenize_episode

        start = time.perf_counter()
        plan = [task for task in tasks for _ in range(group_size)]
        was_training = model.training
        model.eval()
        episodes = run_episodes(self.policy, plan, self.pool, self.rollout_config, tokenizer=self.tokenizer,
                                work_root=self.work_root / f"rollout-{seed}", seed=seed)
        if was_training:
            model.train()
        if hasattr(self.policy, "sleep"):
            self.policy.sleep()
        samples = []
        for i, ep in enumerate(episodes):
            if ep.input_ids is not None and ep.loss_mask is not None and ep.prompt_len is not None:
                ids, mask, prompt_len = list(ep.input_ids), list(ep.loss_mask), ep.prompt_len
            else:
                ids, mask, prompt_len = tokenize_episode(list(ep.messages), self.tokenizer)
            keep = not ep.timed_out
            if prompt_len > self.max_prompt_tokens:
                keep = False
            limit = prompt_len + self.max_response_tokens
            ids, mask = ids[:limit], mask[:limit]
            grade = ep.final_grade or {}
            samples.append(Sample(
                input_ids=tuple(ids), loss_mask=tuple(mask), reward=float(ep.reward), group=i // group_size,
                task_id=ep.task_id, keep=keep, valid=bool(grade.get("valid", False)),
                tier=str(grade.get("tier", "none")), timed_out=bool(ep.timed_out),
                info={"prompt_len": prompt_len, "termination": ep.termination, "num_turns": ep.num_turns,
                      "sandbox_s": ep.sandbox_s, "format_rate": ep.format_rate}))
        if self.episodes_dir is not None:
            self._save(episodes, seed)
        wall = time.perf_counter() - start
        n = max(len(episodes), 1)
        stats = {
            "turns_mean": sum(ep.num_turns for ep in episodes) / n,
            "format_rate": sum(ep.format_rate for ep in episodes) / n,
            "answered_rate": sum(ep.termination == "answered" for ep in episodes) / n,
            "policy_error_rate": sum(ep.termination == "policy_error" for ep in episodes) / n,
            "sandbox_s": sum(ep.sandbox_s for ep in episodes),
        }
        return Rollouts(tuple(samples), wall, stats)

    def sync(self, model) -> None:
        self.policy.sync_weights(model)

    def _save(self, episodes, seed: int) -> None:
        from sandmle.task import write_json_atomic

        write_json_atomic(Path(self.episodes_dir) / f"episodes-{seed}.json", [ep.to_json() for ep in episodes])

    def close(self) -> None:
        self.policy.close()
