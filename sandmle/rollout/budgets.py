"""Named episode budgets (REFERENCE §5), for `--budget` and `RolloutConfig`.

paper-train is the released code's training episodes (15 LLM calls); paper-eval its
MLE-bench-lite evaluation (20 LLM calls). Both allow 20 min per trajectory and 300 s per
code run. A plain dict, so the command line can list the names without importing the runner.
"""
from __future__ import annotations

BUDGETS: dict[str, dict[str, float]] = {
    "paper-train": {"max_turns": 15, "episode_timeout_s": 1200.0, "step_timeout_s": 300.0},
    "paper-eval": {"max_turns": 20, "episode_timeout_s": 1200.0, "step_timeout_s": 300.0},
}
