"""Named episode budgets (REFERENCE §5), for `--budget` and `RolloutConfig`.

paper-train is the released code's training episodes (15 LLM calls); paper-eval its
MLE-bench-lite evaluation (20 LLM calls). Both allow 20 min per trajectory and 300 s per
code run, 4096 new tokens a turn and a 32768-token context. hf-cpu is sized for a
transformers model generating on CPU (`eval --policy hf:` without a GPU takes it by
default): 8 turns of at most 512 new tokens in an 8192-token context, 10 min per trajectory,
120 s per code run, so an episode ends in minutes, not hours. A plain dict, so the command
line can list the names without importing the runner.
"""
from __future__ import annotations

PAPER_TOKENS = {"max_new_tokens": 4096, "max_context_tokens": 32768}
BUDGETS: dict[str, dict[str, float]] = {
    "paper-train": {"max_turns": 15, "episode_timeout_s": 1200.0, "step_timeout_s": 300.0, **PAPER_TOKENS},
    "paper-eval": {"max_turns": 20, "episode_timeout_s": 1200.0, "step_timeout_s": 300.0, **PAPER_TOKENS},
    "hf-cpu": {"max_turns": 8, "episode_timeout_s": 600.0, "step_timeout_s": 120.0,
               "max_new_tokens": 512, "max_context_tokens": 8192},
}
CPU_BUDGET = "hf-cpu"                 # eval's default for hf: policies on a machine without a GPU
