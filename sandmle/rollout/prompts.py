"""What the agent reads: the system prompt, the task message and tool responses.

The task message shows the task's public files at the paths the sandbox shows them
(`./input/...`), says that `submission.csv` goes in the working directory, names the metric
and its direction, and states the budgets. It ends with a `task-card` JSON block of the
public spec fields (no thresholds, no lineage), which a program can read back with
`parse_task_card`.
"""
from __future__ import annotations

import json
import re
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

SYSTEM_PROMPT = """You are an expert machine-learning engineer working in a sandbox. You solve \
one prediction task by writing and running Python, then submit predictions.

Every turn, first reason inside <think>...</think>, then take exactly one action:

1. Run Python (a fresh process each time, in your working directory; files you write persist \
between runs; numpy, pandas, scipy and scikit-learn are installed; there is no network):
<tool_call>{{"name": "python"}}<code>
import pandas as pd
print(pd.read_csv("input/train.csv").head())
</code></tool_call>

2. Score ./submission.csv against the hidden test answers (returns the score and the medal \
thresholds):
<tool_call>{{"name": "score"}}</tool_call>

3. Finish, submitting ./submission.csv:
<answer>submission.csv</answer>

Results come back as <tool_response>...</tool_response> showing the last {tool_output_lines} \
lines of output. A turn that breaks the format is wasted; in short: {format_hint}."""


def system_prompt(tool_output_lines: int) -> str:
    return SYSTEM_PROMPT.format(tool_output_lines=tool_output_lines, format_hint=FORMAT_HINT)


def task_card(task: Task) -> dict[str, Any]:
    spec = task.spec.to_json()
    return {key: spec[key] for key in CARD_FIELDS}


def _listing(public_dir: Path) -> list[str]:
    files = sorted(p.relative_to(public_dir).as_posix() for p in public_dir.rglob("*") if p.is_file())
    shown = [f"./{INPUT_DIRNAME}/{name}" for name in files[:MAX_LISTED_FILES]]
    if len(files) > MAX_LISTED_FILES:
        shown.append(f"... and {len(files) - MAX_LISTED_FILES} more files")
    return shown


def task_message(task: Task, max_turns: int, episode_timeout_s: float, step_timeout_s: float) -> str:
    spec = task.spec
    description = (task.public_dir / "description.md").read_text(encoding="utf-8").strip()
    metric = METRICS[spec.metric]
    direction = "lower is better" if spec.is_lower_better else "higher is better"
    columns = ", ".join([spec.id_column, *spec.target_columns])
    files = "\n".join(f"- {name}" for name in _listing(task.public_dir))
    card = json.dumps(task_card(task), indent=1)
    return f"""# Task: {spec.title}

{description}

## Files
The task's files are read-only under ./{INPUT_DIRNAME}/ in your working directory:
{files}

## Submission
Write ./submission.csv in your working directory with the columns {columns}, one row per row \
of ./{INPUT_DIRNAME}/{spec.test_file}, in the layout of ./{INPUT_DIRNAME}/{spec.sample_submission_file}.

## Metric
{spec.metric} ({metric.description}); {direction}.

## Budget
At most {max_turns} turns, {episode_timeout_s:.0f} s in all, {step_timeout_s:.0f} s per Python run.

```task-card
{card}
```"""


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
