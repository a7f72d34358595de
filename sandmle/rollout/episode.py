"""The record of one episode: every message, every step's sandbox result and grade, the
final reward, and (with a tokenizer) training ids with a loss mask.

Episodes are saved as JSONL (`save_episodes` writes atomically, `load_episodes` reads),
checked by `replay` (re-parses every turn, recomputes the format rate and the reward, and
re-grades the final submission when it is still on disk), and exported as chat-format SFT
data by `to_sft` / `save_sft`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sandmle.files import atomic_file, existing_file
from sandmle.rollout.protocol import Action, parse_turn

TERMINATIONS = ("answered", "turn_budget", "time_budget", "context_overflow", "policy_error",
                "env_error")
TRUNCATIONS = ("turn_budget", "time_budget", "context_overflow")   # a budget ended it
TIMEOUT_SHARE = 0.2          # > 20% of tool responses timed out: a timeout episode (REFERENCE §5)
# Records written before ids were kept per step held one re-tokenised sequence; it is dropped.
LEGACY_KEYS = ("input_ids", "loss_mask", "prompt_len")


@dataclass(frozen=True)
class Step:
    """One assistant turn and what the environment answered."""

    index: int
    text: str                        # the assistant's raw text
    finish_reason: str               # the Generation's
    action: dict[str, Any]           # protocol.Action.to_json()
    observation: str | None          # the tool response's content; None after an answer
    job: dict[str, Any] | None       # JobResult.to_json() of a python step
    grade: dict[str, Any] | None     # Grade.to_json() of a score step
    failed: bool                     # format error, crashed or timed-out code, invalid score
    generate_s: float                # this turn's share of the batched generate call
    sandbox_s: float                 # the job's wall time (0 for other actions)
    context_tokens: int              # tokens shown to the policy for this turn
    # What the policy saw and sampled, as token ids (None in a rollout without a tokenizer):
    prompt_ids: tuple[int, ...] | None = None      # the prompt's ids; with prompt_extends only
                                                   # those after the previous turn's prompt + completion
    prompt_extends: bool = False                   # the prompt continues the previous turn's
    completion_ids: tuple[int, ...] | None = None  # sampled ids (end-of-turn token when sampled)
    logprobs: tuple[float, ...] | None = None      # behaviour log-prob of each completion id
    tokenised: bool = False          # the backend returned text only: completion_ids encode it
    stop_string: str | None = None   # the stop string that ended the generation
    resumes: int = 0                 # generation resumed after a stop string cut the action

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Step":
        data = dict(data)
        for key in ("prompt_ids", "completion_ids", "logprobs"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


@dataclass(frozen=True)
class Episode:
    task_id: str
    episode_id: str
    policy: str
    messages: tuple[dict, ...]
    steps: tuple[Step, ...]
    termination: str
    terminated: bool                 # the agent ended it (answered)
    truncated: bool                  # a budget ended it
    final_grade: dict | None         # Grade.to_json() of the submission the reward used
    reward: float
    reward_scheme: str
    format_rate: float
    timed_out: bool                  # > 20% of tool responses timed out
    wall_s: float
    sandbox_s: float
    num_turns: int
    reward_from: str = "last"        # "last" | "best" graded score
    error: str | None = None         # policy_error / env_error: what failed, one line
    task_root: str | None = None     # host paths, for replay
    work_dir: str | None = None
    seed: int | None = None
    split: str | None = None         # the task's split, as the run named it ("train", "heldout", ...)

    def __post_init__(self) -> None:
        if self.termination not in TERMINATIONS:
            raise ValueError(f"termination must be one of {TERMINATIONS}, got {self.termination!r}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["messages"] = [dict(m) for m in self.messages]
        data["steps"] = [s.to_json() for s in self.steps]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Episode":
        data = dict(data)
        for key in LEGACY_KEYS:
            data.pop(key, None)
        data["messages"] = tuple(dict(m) for m in data["messages"])
        data["steps"] = tuple(Step.from_json(s) for s in data["steps"])
        return cls(**data)


def is_timeout_episode(steps: Iterable[Step]) -> bool:
    """More than 20% of tool responses timed out (REFERENCE §5: masked out of the loss)."""
    responses = [s for s in steps if s.observation is not None]
    timeouts = sum(1 for s in responses if s.job is not None and s.job.get("timed_out"))
    return bool(responses) and timeouts / len(responses) > TIMEOUT_SHARE


def save_episodes(path: str | os.PathLike, episodes: Iterable[Episode]) -> Path:
    """Write episodes as JSONL to a temporary file, then rename it into place."""
    path = Path(path)
    with atomic_file(path) as fh:
        for episode in episodes:
            fh.write(json.dumps(episode.to_json(), allow_nan=False) + "\n")
    return path


def load_episodes(path: str | os.PathLike) -> list[Episode]:
    from sandmle.errors import UserError

    path = existing_file(path, "episodes file")
    episodes = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                episodes.append(Episode.from_json(json.loads(line)))
            except (json.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
                raise UserError(f"{path}:{number}: not an episode record ({exc})") from None
    return episodes


@dataclass(frozen=True)
class ReplayReport:
    episode_id: str
    problems: tuple[str, ...] = field(default_factory=tuple)
    regraded: bool = False           # the final submission was graded again

    @property
    def consistent(self) -> bool:
        return not self.problems


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def replay(episode: Episode) -> ReplayReport:
    """Re-check an episode: parsed actions, message layout, format rate, reward, regrade."""
    from sandmle.rollout.protocol import format_rate

    problems = []
    actions = []
    for step in episode.steps:
        action = parse_turn(step.text, stopped_at=step.stop_string)
        actions.append(action)
        if action != Action.from_json(step.action):
            problems.append(f"step {step.index}: the text parses to {action.kind!r}, recorded {step.action.get('kind')!r}")
    assistant = [m["content"] for m in episode.messages if m["role"] == "assistant"]
    if assistant != [s.text for s in episode.steps]:
        problems.append("assistant messages differ from the steps' texts")
    if len(episode.steps) != episode.num_turns:
        problems.append(f"num_turns {episode.num_turns} but {len(episode.steps)} steps")
    if not _close(format_rate(actions), episode.format_rate):
        problems.append(f"format_rate {episode.format_rate} recomputes to {format_rate(actions)}")
    if episode.terminated != (episode.termination == "answered"):
        problems.append(f"terminated={episode.terminated} contradicts termination {episode.termination!r}")
    if episode.truncated != (episode.termination in TRUNCATIONS):
        problems.append(f"truncated={episode.truncated} contradicts termination {episode.termination!r}")
    if episode.termination == "answered" and (not actions or actions[-1].kind != "answer"):
        problems.append("termination 'answered' but the last turn is not an answer")
    if episode.timed_out != is_timeout_episode(episode.steps):
        problems.append(f"timed_out={episode.timed_out} contradicts the steps")
    grades = [s.grade for s in episode.steps if s.grade is not None]
    if episode.termination not in ("policy_error", "env_error") and grades:
        chosen = choose_grade(grades, episode.reward_from)
        if chosen != episode.final_grade:
            problems.append(f"final_grade is not the {episode.reward_from} graded score")
    from sandmle.reward import reward_for_grade

    grade = None if episode.final_grade is None else grade_from_json(episode.final_grade)
    expected = reward_for_grade(grade, episode.format_rate, episode.reward_scheme)
    if episode.termination not in ("policy_error", "env_error") and not _close(expected, episode.reward):
        problems.append(f"reward {episode.reward} recomputes to {expected}")
    regraded = False
    if episode.final_grade is not None and episode.task_root and episode.final_grade.get("submission_path"):
        submission = Path(episode.final_grade["submission_path"])
        if submission.is_file() and Path(episode.task_root).is_dir():
            from sandmle.grading import grade_submission

            again = grade_submission(Path(episode.task_root), submission)
            regraded = True
            if again.valid != episode.final_grade["valid"] or not _close(again.score, episode.final_grade["score"]):
                problems.append(f"the submission regrades to {again.score} (valid={again.valid}), "
                                f"recorded {episode.final_grade['score']} (valid={episode.final_grade['valid']})")
    return ReplayReport(episode.episode_id, tuple(problems), regraded)


def _better(a: dict, b: dict) -> bool:
    """Whether grade `a` beats grade `b` (valid beats invalid; then the metric's direction)."""
    if a["valid"] != b["valid"]:
        return a["valid"]
    if not a["valid"]:
        return False
    return a["score"] < b["score"] if a["is_lower_better"] else a["score"] > b["score"]


def choose_grade(grades: list[dict], reward_from: str) -> dict | None:
    """The grade the reward uses: the last one, or the best one."""
    if not grades:
        return None
    if reward_from == "last":
        return grades[-1]
    if reward_from == "best":
        best = grades[0]
        for g in grades[1:]:
            if _better(g, best):
                best = g
        return best
    raise ValueError(f"reward_from must be 'last' or 'best', got {reward_from!r}")


def grade_from_json(data: dict[str, Any]):
    """A Grade from its JSON form."""
    from sandmle.grading import Grade

    return Grade.from_json(data)


INFRASTRUCTURE = ("policy_error", "env_error")   # the rollout, not the agent, failed
UNUSABLE_REASONS = ("policy_error", "env_error", "nonfinite_reward", "timed_out")


def unusable_reason(episode: Episode, include_timeouts: bool = False) -> str | None:
    """Why an episode must not be trained on (GRPO groups and SFT export alike); None if usable.

    policy_error / env_error: infrastructure ended it (an HTTP 503, a broken sandbox), so its
    reward says nothing about the agent; nonfinite_reward: NaN or infinite reward; timed_out:
    more than 20% of its tool responses timed out (REFERENCE §5), unless `include_timeouts`.
    """
    if episode.termination in INFRASTRUCTURE:
        return episode.termination
    if not math.isfinite(episode.reward):
        return "nonfinite_reward"
    if episode.timed_out and not include_timeouts:
        return "timed_out"
    return None


def to_sft(episodes: Iterable[Episode], min_reward: float = 0.0,
           include_timeouts: bool = False) -> list[dict[str, Any]]:
    """Chat-format SFT records ({"messages": [...]} ) of usable episodes that earned `min_reward`."""
    records = []
    for ep in episodes:
        if unusable_reason(ep, include_timeouts) is not None or ep.reward < min_reward:
            continue
        records.append({"messages": [dict(m) for m in ep.messages], "task_id": ep.task_id,
                        "episode_id": ep.episode_id, "reward": ep.reward, "split": ep.split,
                        "policy": ep.policy})
    return records


def save_sft(path: str | os.PathLike, records: list[dict[str, Any]]) -> Path:
    path = Path(path)
    with atomic_file(path) as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    return path
