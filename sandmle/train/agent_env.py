"""The agent environment: a language model's episodes through the real agent protocol.

`collect` runs `group_size` episodes per task with `sandmle.rollout.runner.run_episodes`
(the ReAct protocol of REFERENCE §5, the sandbox pool, the grader and the reward kernel),
with the model's tokenizer, so every turn records the prompt ids the policy saw, the ids it
sampled and their behaviour log-probs. Each episode becomes its training sequences
(`sandmle.rollout.tokens.training_sequences`: built from those ids, never from re-tokenised
text; one per episode unless the context budget changed what the policy saw), each a
`Sample` with the episode's reward and behaviour log-probs.

Which episodes train is one rule, shared with SFT export
(`sandmle.rollout.episode.unusable_reason`): rollouts ended by infrastructure (policy or
sandbox errors) or with a non-finite reward are not `usable` and never enter their group's
statistics; timed-out ones are usable but not kept in the loss unless the trainer keeps
them. A sequence longer than max_prompt_tokens + max_response_tokens is cut at the end (its
tail leaves the loss); one whose prompt alone exceeds max_prompt_tokens is not usable.
`Rollouts.counts` counts the rollouts left out, by reason (`unusable`, and `unusable_<reason>`
for each of `DROP_REASONS`, 0 included, so every step's metrics have the same columns).
After the rollouts a colocated vLLM engine is put to sleep so the update has the GPU memory.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path

from sandmle.rollout.episode import UNUSABLE_REASONS
from sandmle.train.batch import Rollouts, Sample

PROMPT_OVER_BUDGET = "prompt_over_budget"
# Why a rollout leaves the batch, each counted every step (0 or not). Timed-out rollouts are
# usable here; whether they stay in the loss is the trainer's `mask_timed_out`.
DROP_REASONS = (*(r for r in UNUSABLE_REASONS if r != "timed_out"), PROMPT_OVER_BUDGET)


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
        return self._collect(model, tasks, group_size, seed, self.rollout_config, save=True)

    def evaluate(self, model, tasks: list, episodes_per_task: int, seed: int, score_tool: str) -> Rollouts:
        """Held-out episodes (`[eval]`): as `collect`, with the evaluation's score tool."""
        from dataclasses import replace

        return self._collect(model, tasks, episodes_per_task, seed,
                             replace(self.rollout_config, score_tool=score_tool), save=False)

    def _collect(self, model, tasks: list, group_size: int, seed: int, config, save: bool) -> Rollouts:
        from sandmle.rollout.runner import run_episodes

        start = time.perf_counter()
        plan = [task for task in tasks for _ in range(group_size)]
        was_training = model.training
        model.eval()
        episodes = run_episodes(self.policy, plan, self.pool, config, tokenizer=self.tokenizer,
                                work_root=self.work_root / f"rollout-{seed}", seed=seed)
        if was_training:
            model.train()
        if hasattr(self.policy, "sleep"):
            self.policy.sleep()
        samples: list[Sample] = []
        reasons: Counter[str] = Counter()
        for i, ep in enumerate(episodes):
            episode_samples, reason = self._samples(ep, i, i // group_size)
            samples.extend(episode_samples)
            if reason is not None:
                reasons[reason] += 1
        if save and self.episodes_dir is not None:
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
        counts = {
            "resumes": float(sum(s.resumes for ep in episodes for s in ep.steps)),
            "unusable": float(sum(reasons.values())),
            **{f"unusable_{r}": float(reasons[r]) for r in DROP_REASONS},
        }
        return Rollouts(tuple(samples), wall, stats, counts)

    def _samples(self, ep, index: int, group: int) -> tuple[list[Sample], str | None]:
        """The episode's training sequences as Samples, and why it is unusable (None if usable)."""
        from sandmle.rollout.episode import unusable_reason
        from sandmle.rollout.tokens import TokenSequence, render_prompt_ids, training_sequences

        reason = unusable_reason(ep, include_timeouts=True)
        sequences = training_sequences(ep.steps)
        if not sequences:          # no turn was taken: the prompt alone, out of the loss
            try:
                prompt = tuple(render_prompt_ids(self.tokenizer, list(ep.messages[:2])))
            except Exception:      # the template failed (an env_error episode): a padding token
                prompt = (self.tokenizer.pad_token_id or 0,)
            sequences = [TokenSequence(prompt, (0,) * len(prompt), (math.nan,) * len(prompt), len(prompt), ())]
        if reason is None and any(seq.prompt_len > self.max_prompt_tokens for seq in sequences):
            reason = PROMPT_OVER_BUDGET
        grade = ep.final_grade or {}
        out = []
        for k, seq in enumerate(sequences):
            limit = seq.prompt_len + self.max_response_tokens
            out.append(Sample(
                input_ids=seq.input_ids[:limit], loss_mask=seq.loss_mask[:limit], logprobs=seq.logprobs[:limit],
                reward=float(ep.reward), group=group, task_id=ep.task_id, usable=reason is None,
                keep=reason is None and not ep.timed_out, valid=bool(grade.get("valid", False)),
                tier=str(grade.get("tier", "none")), timed_out=bool(ep.timed_out), episode=index, segment=k,
                info={"prompt_len": seq.prompt_len, "termination": ep.termination, "num_turns": ep.num_turns,
                      "sandbox_s": ep.sandbox_s, "format_rate": ep.format_rate}))
        return out, reason

    def sync(self, model) -> None:
        self.policy.sync_weights(model)

    def _save(self, episodes, seed: int) -> None:
        from sandmle.task import write_json_atomic

        write_json_atomic(Path(self.episodes_dir) / f"episodes-{seed}.json", [ep.to_json() for ep in episodes])

    def close(self) -> None:
        self.policy.close()
