"""Scripted baseline agents: no model, the same protocol as a language model.

`ScriptedPolicy(strength)` plays every episode in four turns: inspect the data (a Python step
printing the shape, columns and head of ./input/<train file> and which columns hold free
text), run a reference solution of the chosen strength ("weak", "medium", "strong", drawn
from `sandmle.synth.solutions.reference_solutions`) that writes ./submission.csv, score it,
answer. If the solution fails, it copies the sample submission instead before scoring.

`ScriptedPolicy(strength, style="short")` (spec `scripted:STRENGTH:short`) is the teacher of
small models: three turns (a seventeen-line solution of `sandmle.policies.short_scripts` written
straight from the task card, score, answer), on the tabular tasks those cover: `sandmle eval`
refuses a bank holding other tasks before any episode runs (`check_tasks`); given one anyway,
the episode ends with a policy error saying so.

It knows only what the conversation shows: the task card of the first user message and the
tool responses (the inspection step's text-column line decides between text and general
solutions). Which solution of the strength it runs is fixed by the task id, the sampling
seed and the conversation's row in the batch, so runs are reproducible and repeated
rollouts of one task may differ.
"""
from __future__ import annotations

import ast
import hashlib
import re
from typing import Any

from sandmle.errors import UserError
from sandmle.policies.base import Generation, Message, SamplingParams
from sandmle.rollout.prompts import parse_task_card
from sandmle.rollout.protocol import Action, render_turn
from sandmle.task import Lineage, TaskSpec, Thresholds

STRENGTHS = ("weak", "medium", "strong")
STYLES = ("reference", "short")
_TEXT_LINE = re.compile(r"^text columns: (\[.*\])$", re.M)
_FAILED = re.compile(r"^\[(exit code [1-9]|timed out|killed|memory)", re.M)   # a failed run's status line

INSPECT = """import os
import pandas as pd
print("files:", sorted(os.listdir("input")))
train = pd.read_csv("input/{train}")
test = pd.read_csv("input/{test}")
print("train shape:", train.shape, "test shape:", test.shape)
print("columns:", list(train.columns))
print(train.head())
text = [c for c in test.columns if c != "{id}" and c in train.columns and not pd.api.types.is_numeric_dtype(train[c])
        and train[c].dropna().astype(str).str.count(" ").mean() >= 3]
print("text columns:", text)
"""
NO_TABLE = """import os
print("files:", sorted(os.listdir("input")))
raise SystemExit("no training table")
"""
FALLBACK = """import shutil
import zipfile
if "{sample}".endswith(".zip"):
    with zipfile.ZipFile("input/{sample}") as archive:
        with open("submission.csv", "wb") as out:
            out.write(archive.read(archive.namelist()[0]))
else:
    shutil.copy("input/{sample}", "submission.csv")
print("copied the sample submission")
"""
_MARK = "# scripted: {role}\n"


def _call(think: str, role: str, code: str) -> str:
    return render_turn(Action(kind="python", think=think, code=f"{_MARK.format(role=role)}{code.rstrip()}\n"))


def spec_from_card(card: dict[str, Any], text_columns: int) -> TaskSpec:
    """A TaskSpec holding only the card's public fields (no thresholds, no lineage)."""
    dna = {"features": {"text": text_columns}}
    return TaskSpec(
        id=card["id"], title=card["title"], modality=card["modality"], metric=card["metric"],
        is_lower_better=card["is_lower_better"], id_column=card["id_column"],
        target_columns=tuple(card["target_columns"]), thresholds=Thresholds(0.0, 0.0, 0.0, 0.0),
        train_rows=card["train_rows"], test_rows=card["test_rows"],
        lineage=Lineage(seed="task-card", generator="task-card", generator_version="1", random_seed=0, dna=dna),
        metric_params=dict(card.get("metric_params") or {}), classes=tuple(card.get("classes") or ()),
        train_file=card["train_file"], test_file=card["test_file"],
        sample_submission_file=card["sample_submission_file"])


class ScriptedPolicy:
    def __init__(self, strength: str = "strong", style: str = "reference", name: str | None = None) -> None:
        if strength not in STRENGTHS:
            raise UserError(f"scripted policy strength must be one of {', '.join(STRENGTHS)}, got {strength!r}")
        if style not in STYLES:
            raise UserError(f"scripted policy style must be one of {', '.join(STYLES)}, got {style!r}")
        self.strength = strength
        self.style = style
        self.name = name or (f"scripted:{strength}" if style == "reference" else f"scripted:{strength}:{style}")

    def check_tasks(self, tasks: list) -> None:
        """UserError when the short style is asked to play tasks it does not cover (before
        any episode runs: a coverage limit is bad input, not a policy failure mid-run)."""
        if self.style != "short":
            return
        from sandmle.policies.short_scripts import KINDS, covers
        from sandmle.rollout.prompts import task_card

        uncovered = [t.id for t in tasks if not covers(task_card(t))]
        if uncovered:
            shown = ", ".join(uncovered[:3]) + (f" and {len(uncovered) - 3} more" if len(uncovered) > 3 else "")
            raise UserError(f"{self.name} plays tabular tasks with one target of kind {', '.join(KINDS)}; "
                            f"{len(uncovered)} of {len(tasks)} tasks are not: {shown} (choose a bank of such "
                            "tasks, e.g. synth --seeds with single-target tabular seeds)")

    def generate(self, conversations: list[list[Message]], sampling: SamplingParams,
                 prompt_ids: list[list[int]] | None = None) -> list[Generation]:
        """Text turns; the prompt ids are not needed (its texts are tokenised by the rollout)."""
        out = []
        for row, conversation in enumerate(conversations):
            seed = sampling.seed_for(row)
            try:
                out.append(Generation(text=self._turn(conversation, seed)))
            except Exception as exc:     # a conversation it cannot read is this episode's error
                out.append(Generation.failed(f"{type(exc).__name__}: {exc}".splitlines()[0]))
        return out

    def _turn(self, conversation: list[Message], seed: int | None) -> str:
        user = [m["content"] for m in conversation if m["role"] == "user"]
        card = parse_task_card(user[0]) if user else None
        if card is None:
            raise ValueError("the first user message holds no task-card block")
        done = [m["content"] for m in conversation if m["role"] == "assistant"]
        last = done[-1] if done else ""
        last_response = user[-1] if len(user) > 1 else ""
        if self.style == "short" and not done:
            solution = self._short_solution(card, seed)
            return _call(solution.think, "solution", solution.code)
        if not done:
            code = NO_TABLE if card["train_file"] is None else INSPECT.format(
                train=card["train_file"], test=card["test_file"] or card["sample_submission_file"],
                id=card["id_column"])
            return _call("First look at the training data: size, columns, text fields.", "inspect", code)
        if _MARK.format(role="inspect") in last and _FAILED.search(last_response):
            code = FALLBACK.format(sample=card["sample_submission_file"])
            return _call("The data is not one table I can fit; submit the sample submission.", "fallback", code)
        if _MARK.format(role="inspect") in last:
            match = _TEXT_LINE.search(last_response)
            text_columns = len(ast.literal_eval(match.group(1))) if match else 0
            solution = self._solution(spec_from_card(card, text_columns), seed)
            think = (f"{card['metric']} is {'lower' if card['is_lower_better'] else 'higher'} better. "
                     f"Train the {solution.name} model ({solution.family}) and write submission.csv.")
            return _call(think, "solution", solution.code)
        if _MARK.format(role="solution") in last and "[exit code 0" not in last_response:
            code = FALLBACK.format(sample=card["sample_submission_file"])
            return _call("The model failed; submit the sample submission instead.", "fallback", code)
        if "<code>" in last:
            return render_turn(Action(kind="score", think="Check the score of submission.csv."))
        return render_turn(Action(kind="answer", think="Submit the scored submission.", answer="submission.csv"))

    def _solution(self, spec: TaskSpec, seed: int | None):
        from sandmle.synth.solutions import reference_solutions

        candidates = [s for s in reference_solutions(spec) if s.strength == self.strength]
        if not candidates:
            raise ValueError(f"no {self.strength} reference solution for task {spec.id}")
        digest = hashlib.sha1(f"{spec.id}/{seed}".encode()).digest()
        return candidates[int.from_bytes(digest[:4], "big") % len(candidates)]

    def _short_solution(self, card: dict[str, Any], seed: int | None):
        from sandmle.policies.short_scripts import short_solutions

        candidates = [s for s in short_solutions(card) if s.strength == self.strength]
        digest = hashlib.sha1(f"{card['id']}/{seed}".encode()).digest()
        return candidates[int.from_bytes(digest[:4], "big") % len(candidates)]

    def sync_weights(self, model: Any) -> None:
        raise UserError("the scripted policy has no weights to update")

    def close(self) -> None:
        """Nothing to release."""
