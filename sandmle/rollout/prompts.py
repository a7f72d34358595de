"""What the agent reads: the system prompt, the task message and tool responses.

The task message shows the task's public files at the paths the sandbox shows them
(`./input/...`; a folder of many files as one line with its count and file types, so a
full-size image competition lists in milliseconds), the task's layout note, says that
`submission.csv` goes in the working directory (one row per test id: of the test table, or
of the sample submission when there is none), names the metric and its direction, and
states the budgets. It ends with a `task-card` JSON block of the
public spec fields (no thresholds, no lineage), which a program can read back with
`parse_task_card`.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from sandmle.metrics.registry import METRICS
from sandmle.rollout.protocol import FORMAT_HINT
from sandmle.sandbox.job import INPUT_DIRNAME
from sandmle.task import Task

CARD_FIELDS = ("id", "title", "modality", "metric", "metric_params", "is_lower_better",
               "id_column", "target_columns", "classes", "train_file", "test_file",
               "sample_submission_file", "train_rows", "test_rows")
_CARD = re.compile(r"```task-card\n(.*?)\n```", re.S)
MAX_LISTED_FILES = 30
SMALL_FOLDER = 12              # a folder with more entries is shown as one summary line
MAX_COUNTED = 1_000_000        # files counted per folder before "or more"

SYSTEM_PROMPT = """You are an expert machine-learning engineer working in a sandbox. You solve \
one prediction task by writing and running Python, then submit predictions.

Every turn, first reason inside <think>...</think>, then take exactly one action:

1. Run Python (a fresh process each time, in your working directory; files you write persist \
between runs; numpy, pandas, scipy and scikit-learn are installed; there is no network):
<tool_call>{{"name": "python"}}<code>
import pandas as pd
print(pd.read_csv("input/train.csv").head())
</code></tool_call>

{score_tool}{finish}. Finish, submitting ./submission.csv:
<answer>submission.csv</answer>

Results come back as <tool_response>...</tool_response> showing the last {tool_output_lines} \
lines of output. A turn that breaks the format is wasted; in short: {format_hint}."""


def system_prompt(tool_output_lines: int, score_tool: str = "test") -> str:
    """The system prompt; the score tool is described as `score_tool` makes it behave
    (`sandmle.rollout.score_tool`), and not offered when it is "off"."""
    from sandmle.rollout.score_tool import prompt_line

    line = prompt_line(score_tool)
    tool = f'2. {line}:\n<tool_call>{{"name": "score"}}</tool_call>\n\n' if line else ""
    return SYSTEM_PROMPT.format(tool_output_lines=tool_output_lines, format_hint=FORMAT_HINT,
                                score_tool=tool, finish=3 if line else 2)


def task_card(task: Task) -> dict[str, Any]:
    spec = task.spec.to_json()
    return {key: spec[key] for key in CARD_FIELDS}


def _listing(public_dir: Path) -> list[str]:
    """Files under `public_dir` as the job sees them; big folders summarised in one line."""
    lines: list[str] = []
    hidden = 0

    def visit(folder: str, prefix: str) -> None:
        nonlocal hidden
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            name = f"./{INPUT_DIRNAME}/{prefix}{entry.name}"
            if len(lines) >= MAX_LISTED_FILES:
                hidden += 1
            elif entry.is_dir():
                inside = len(os.listdir(entry.path))
                if inside <= SMALL_FOLDER and prefix.count("/") < 2:
                    visit(entry.path, f"{prefix}{entry.name}/")
                else:
                    lines.append(f"{name}/ ({_folder_summary(entry.path)})")
            else:
                lines.append(name)

    visit(str(public_dir), "")
    if hidden:
        lines.append(f"... and {hidden} more entries")
    return lines


def _folder_summary(folder: str) -> str:
    """"9,199 files: .jpg" (or "1,000,000 or more files ...") for a folder, counted recursively."""
    count, kinds = 0, Counter()
    for _, _, files in os.walk(folder):
        count += len(files)
        kinds.update(os.path.splitext(f)[1].lower() or "no extension" for f in files[:1000])
        if count >= MAX_COUNTED:
            break
    more = " or more" if count >= MAX_COUNTED else ""
    return f"{count:,}{more} files: " + ", ".join(kind for kind, _ in kinds.most_common(3)) if count else "empty"


def task_message(task: Task, max_turns: int, episode_timeout_s: float, step_timeout_s: float) -> str:
    spec = task.spec
    description = (task.public_dir / "description.md").read_text(encoding="utf-8").strip()
    metric = METRICS[spec.metric]
    direction = "lower is better" if spec.is_lower_better else "higher is better"
    columns = ", ".join([spec.id_column, *spec.target_columns])
    files = "\n".join(f"- {name}" for name in _listing(task.public_dir))
    if spec.layout:
        files += f"\n\nLayout: {spec.layout}"
    rows = (f"one row per row of ./{INPUT_DIRNAME}/{spec.test_file}" if spec.test_file else
            f"one row per id of ./{INPUT_DIRNAME}/{spec.sample_submission_file} (there is no test table)")
    card = json.dumps(task_card(task), indent=1)
    return f"""# Task: {spec.title}

{description}

## Files
The task's files are read-only under ./{INPUT_DIRNAME}/ in your working directory:
{files}

## Submission
Write ./submission.csv in your working directory with the columns {columns}, {rows}, in the \
layout of ./{INPUT_DIRNAME}/{spec.sample_submission_file}.{_rules(task)}

## Metric
{spec.metric} ({metric.description}); {direction}.

## Budget
At most {max_turns} turns, {episode_timeout_s:.0f} s in all, {step_timeout_s:.0f} s per Python run.

```task-card
{card}
```"""


def _rules(task: Task) -> str:
    from sandmle.grading.profile import GraderProfile, describe_rules

    rules = describe_rules(GraderProfile.from_json(task.spec.grader), task.spec)
    return "".join(f"\n- {rule}" for rule in rules)


def parse_task_card(text: str) -> dict[str, Any] | None:
    """The task-card JSON of a task message, or None when the text holds none."""
    match = _CARD.search(text)
    if not match:
        return None
    try:
        card = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return card if isinstance(card, dict) else None


def tail_lines(text: str, num_lines: int) -> str:
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= num_lines:
        return "\n".join(lines)
    return "\n".join([f"[... {len(lines) - num_lines} earlier lines omitted]", *lines[-num_lines:]])


def tool_response(body: str) -> str:
    return f"<tool_response>\n{body.strip()}\n</tool_response>"
