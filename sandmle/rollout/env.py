"""One episode's environment: a task, a persistent work folder, budgets and the tools.

Gymnasium-shaped: `reset()` writes the system and task messages and starts the clock;
`view()` is what the policy is shown this turn (under the context budget; with a tokenizer
also as exact prompt ids, `prompt`); `step(gen)` parses the policy's text (after the
`prefill` its generation prompt opened the turn with), records the turn's token ids, runs
its code as a sandbox job (the work folder persists across steps, the task's public files
appear as ./input/) or grades ./submission.csv, and appends the tool response; `finish()` picks the graded submission, computes the reward and returns
the `Episode`. Agent failures are data; an exception from the sandbox or grader ends the
episode as "env_error" instead of escaping.

The score tool behaves as `config.score_tool` says (`sandmle.rollout.score_tool`): `test`
shows the test grade; `validation` shows the task's validation view (written under the
episode folder as view/) and scores its held-out training rows; `format` only validates;
`off` refuses. Outside `test` the episode is graded on the submission it ends with (its
test rows alone in `validation`).

Budgets: the turn and wall-clock budgets are checked before each turn, and a code run's
timeout is the smaller of the step timeout and the time left; a generation in flight is not
interrupted (its backend's own timeout bounds it).

Files of one episode, under its folder:  work/ (the job's cwd, where submission.csv goes)
and graded/ (a copy of every submission the score tool graded, so the record can be
re-graded after the agent overwrote its submission; a submission over the grader's size
limit is refused unread and never copied). The work folder is capped per episode by the
sandbox's `Limits.work_files` / `work_mb`: a run that goes over has its new files removed
and the tool response says so.
"""
from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

from sandmle.policies.base import Generation
from sandmle.rollout.context import ContextView, fit_context
from sandmle.rollout.episode import TRUNCATIONS, Episode, Step, choose_grade, grade_from_json, is_timeout_episode
from sandmle.rollout.prompts import system_prompt, tail_lines, task_message, tool_response
from sandmle.rollout.protocol import UNFENCED_NOTE, Action, format_rate, parse_turn
from sandmle.rollout.score_tool import ValidationView, filter_rows, make_validation_view
from sandmle.rollout.tokens import TokenContext, TurnPrompt
from sandmle.sandbox.job import Job, Limits
from sandmle.sandbox.workdir import remove_tree
from sandmle.task import Task

SUBMISSION = "submission.csv"
MIN_STEP_TIMEOUT_S = 1.0        # below this much time left, the episode is out of time


class EpisodeEnv:
    def __init__(self, task: Task, pool: Any, config: Any, episode_dir: Path, episode_id: str,
                 policy_name: str, counter, seed: int | None = None, tokenizer: Any = None,
                 split: str | None = None) -> None:
        self.task = task
        self.pool = pool
        self.config = config
        self.episode_dir = Path(episode_dir)
        self.work_dir = self.episode_dir / "work"
        self.episode_id = episode_id
        self.policy_name = policy_name
        self.counter = counter
        self.seed = seed
        self.split = split
        self.messages: list[dict[str, str]] = []
        self.steps: list[Step] = []
        self.failed: list[bool] = []
        self.termination: str | None = None
        self.error: str | None = None
        self.start = 0.0
        self._last_view: ContextView | None = None
        self.tokens = TokenContext(tokenizer)
        self.prompt: TurnPrompt | None = None       # this turn's prompt ids (with a tokenizer)
        self.shown = task                          # the task as the agent sees it
        self.validation: ValidationView | None = None
        self.validation_note: str | None = None    # why `validation` mode found no split

    # -- lifecycle -------------------------------------------------------------------------
    def reset(self) -> None:
        cfg = self.config
        remove_tree(self.episode_dir)     # iterative: any tree an earlier run's job left
        self.work_dir.mkdir(parents=True)
        (self.episode_dir / "graded").mkdir()
        if cfg.score_tool == "validation":
            try:
                made = make_validation_view(self.task, self.episode_dir / "view")
            except (ValueError, UnicodeDecodeError) as exc:
                made = f"its files cannot be split ({exc})"
            if isinstance(made, str):
                self.validation_note = made
            else:
                self.validation, self.shown = made, made.task
        self.messages = [
            {"role": "system", "content": system_prompt(cfg.tool_output_lines, cfg.score_tool)},
            {"role": "user", "content": task_message(self.shown, cfg.max_turns, cfg.episode_timeout_s,
                                                     cfg.step_timeout_s)},
        ]
        self.start = time.perf_counter()

    @property
    def done(self) -> bool:
        return self.termination is not None

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.start

    def end(self, termination: str, error: str | None = None) -> None:
        if self.termination is None:
            self.termination = termination
            self.error = error

    def view(self) -> list[dict[str, str]] | None:
        """The messages to show the policy now; None when a budget ended the episode."""
        if self.done:
            return None
        if len(self.steps) >= self.config.max_turns:
            self.end("turn_budget")
            return None
        if self.config.episode_timeout_s - self.elapsed_s() < MIN_STEP_TIMEOUT_S:
            self.end("time_budget")
            return None
        budget = self.config.max_context_tokens - self.config.sampling.max_new_tokens
        view = fit_context(self.messages, self.failed, budget, self.counter)
        if not view.fits:
            self.end("context_overflow")
            return None
        try:
            self.prompt = self.tokens.prompt(view.messages)
        except Exception as exc:   # the chat template cannot render this conversation
            self.end("env_error", f"chat template: {type(exc).__name__}: {exc}".splitlines()[0])
            return None
        if self.prompt is not None and len(self.prompt.ids) > budget:     # the exact count decides
            self.end("context_overflow")
            return None
        self._last_view = view
        return view.messages

    @property
    def prefill(self) -> str:
        """Text the generation prompt already opened the turn with (an open <think>)."""
        return self.prompt.prefill if self.prompt is not None else ""

    # -- one turn --------------------------------------------------------------------------
    def step(self, generation: Generation, generate_s: float) -> None:
        """Apply the policy's turn; never raises for agent or environment failures."""
        if generation.finish_reason == "error":
            self.end("policy_error", generation.error)
            return
        # The assistant message holds the turn as the policy's context does: prefill + sampled text.
        text = self.prefill + generation.text
        action = parse_turn(text, stopped_at=generation.stop_string)
        shown = (self._last_view.messages if self._last_view is not None else self.messages)
        self.messages.append({"role": "assistant", "content": text})
        try:
            ids = self.tokens.record(self.prompt, shown + [self.messages[-1]], generation)
        except Exception as exc:
            self.messages.pop()
            self.end("env_error", f"tokenizer: {type(exc).__name__}: {exc}".splitlines()[0])
            return
        job = grade = None
        sandbox_s = 0.0
        try:
            if action.kind == "invalid":
                observation, failed = action.error, True
            elif action.kind == "answer":
                observation, failed = None, False
            elif action.kind == "python":
                job, observation, failed = self._run_code(action, len(self.steps))
                sandbox_s = job["wall_s"]
                if action.unfenced:
                    observation = f"{UNFENCED_NOTE}\n{observation}"
            else:
                grade, observation, failed = self._score(len(self.steps))
        except Exception as exc:   # the sandbox or grader broke: the episode's data ends here
            self.messages.pop()
            self.end("env_error", f"{type(exc).__name__}: {exc}".splitlines()[0])
            return
        tokens = self._last_view.num_tokens if self._last_view is not None else 0
        if self.prompt is not None:
            tokens = len(self.prompt.ids)
        self.steps.append(Step(index=len(self.steps), text=text, finish_reason=generation.finish_reason,
                               action=action.to_json(), observation=observation, job=job, grade=grade,
                               failed=failed, generate_s=generate_s, sandbox_s=sandbox_s,
                               context_tokens=tokens, stop_string=generation.stop_string,
                               resumes=generation.resumes, **vars(ids)))
        self.failed.append(failed)
        if action.kind == "answer":
            self.end("answered")
            return
        self.messages.append({"role": "user", "content": tool_response(observation)})

    def _run_code(self, action: Action, index: int) -> tuple[dict, str, bool]:
        cfg = self.config
        remaining_s = cfg.episode_timeout_s - self.elapsed_s()
        timeout_s = max(MIN_STEP_TIMEOUT_S, min(cfg.step_timeout_s, remaining_s))
        job = Job(work_dir=str(self.work_dir), public_dir=str(self.shown.public_dir), code=action.code,
                  limits=Limits(timeout_s=timeout_s, memory_mb=cfg.memory_mb),
                  seed=None if self.seed is None else self.seed * 1000 + index,
                  name=f"{self.episode_id}/step{index}", devices=tuple(cfg.devices))
        result = self.pool.run(job)
        lines = []
        if result.stdout_tail.strip():
            lines.append(result.stdout_tail.rstrip("\n"))
        if result.stderr_tail.strip():
            lines.append(result.stderr_tail.rstrip("\n"))
        output = tail_lines("\n".join(lines), cfg.tool_output_lines) if lines else "(no output)"
        if result.timed_out:
            status = f"[timed out after {timeout_s:.0f} s]"
        elif result.memory_exceeded:
            status = "[memory limit exceeded]"
        elif result.work_exceeded:
            limits = job.limits
            status = (f"[work folder limit exceeded: at most {limits.work_files} files and folders "
                      f"and {limits.work_mb} MB; the files this run created or changed were removed]")
        elif result.exit_code is None:
            status = f"[killed by signal {result.signal}]"
        else:
            status = f"[exit code {result.exit_code}, {result.wall_s:.2f} s]"
        return result.to_json(), f"{status}\n{output}", not result.ok

    def _copy_submission(self, index: int) -> Path | dict | None:
        """A copy of ./submission.csv under graded/; an invalid grade (JSON) when it cannot be
        copied safely; None when there is none."""
        submission = self.work_dir / SUBMISSION
        if not os.path.lexists(submission):
            return None
        mode = os.lstat(submission).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):   # a folder, a FIFO: never read it
            from sandmle.grading import Grade

            return Grade.invalid(self.task.spec, submission, f"{SUBMISSION} is not a regular file").to_json()
        from sandmle.grading import MAX_SIZE_FACTOR, MAX_SIZE_SLACK_BYTES

        limit = MAX_SIZE_FACTOR * self.task.answers_path.stat().st_size + MAX_SIZE_SLACK_BYTES
        size = os.lstat(submission).st_size
        if size > limit:   # refused unread: a sparse file would be copied dense, step after step
            from sandmle.grading import Grade

            return Grade.invalid(self.task.spec, submission, f"submission is {size} bytes, far larger "
                                 f"than the answers (the limit is {limit})").to_json()
        copy = self.episode_dir / "graded" / f"step{index}.csv"
        # A planted symlink is copied as a link, and the grader refuses links.
        shutil.copyfile(submission, copy, follow_symlinks=False)
        return copy

    def _grade_copy(self, index: int) -> dict | None:
        """The test grade of a copy of ./submission.csv (of its test rows, when a validation
        view added rows); None when there is none."""
        from sandmle.grading import grade_submission

        copy = self._copy_submission(index)
        if not isinstance(copy, Path):
            return copy
        if self.validation is not None:
            held = self.validation.validation_ids
            copy = filter_rows(copy, copy.with_suffix(".test.csv"), self.task.spec.id_column,
                               lambda row_id: row_id not in held)
        return grade_submission(self.task, copy).to_json()

    def _score(self, index: int) -> tuple[dict | None, str, bool]:
        """The score tool: (the test grade to record, or None outside `test` mode; the answer;
        whether the call failed)."""
        mode = self.config.score_tool
        if mode == "off":
            return None, "the score tool is off in this run: check ./submission.csv with Python", True
        grade = self._grade_copy(index)
        if grade is None:
            return None, f"no {SUBMISSION} in the working directory: write it first", True
        if mode == "test":
            return grade, describe_grade(grade, self.task.spec.metric), not grade["valid"]
        if not grade["valid"]:
            return None, describe_grade(grade, self.task.spec.metric), True
        if mode == "validation" and self.validation is not None:
            return None, *self._validation_score(index)
        note = (f"validation scoring is not available for this task ({self.validation_note}): "
                "format check only\n" if mode == "validation" else "")
        return None, f"{note}valid submission: {self.task.spec.test_rows} test rows (no score is shown)", False

    def _validation_score(self, index: int) -> tuple[str, bool]:
        from sandmle.errors import InvalidSubmission
        from sandmle.grading import score_submission

        spec, held = self.task.spec, self.validation.validation_ids
        copy = self.episode_dir / "graded" / f"step{index}.csv"
        rows = filter_rows(copy, copy.with_suffix(".validation.csv"), spec.id_column, held.__contains__)
        try:
            score = score_submission(spec, self.validation.answers_path, rows)
        except InvalidSubmission as exc:
            return f"the test rows are valid; the validation rows are not: {exc}", True
        direction = "lower is better" if spec.is_lower_better else "higher is better"
        return (f"validation score {score} ({spec.metric}, {direction}) on the {len(held)} rows held out "
                f"from {spec.train_file}; the test score stays hidden"), False

    # -- the record ------------------------------------------------------------------------
    def finish(self) -> Episode:
        """Choose the graded submission, compute the reward, build the Episode."""
        from sandmle.reward import reward_for_grade

        if self.termination is None:
            raise RuntimeError("finish() called on an episode that has not ended")
        cfg = self.config
        grades = [s.grade for s in self.steps if s.grade is not None]
        final = None
        if self.termination != "env_error":
            final = choose_grade(grades, cfg.reward_from)
            if not grades:   # the agent never scored: grade what it left
                try:
                    final = self._grade_copy(len(self.steps))
                except Exception as exc:
                    self.termination, self.error = "env_error", f"{type(exc).__name__}: {exc}".splitlines()[0]
        actions = [Action.from_json(s.action) for s in self.steps]
        rate = format_rate(actions)
        reward = reward_for_grade(None if final is None else grade_from_json(final), rate, cfg.reward_scheme)
        return Episode(
            task_id=self.task.id, episode_id=self.episode_id, policy=self.policy_name,
            messages=tuple(self.messages), steps=tuple(self.steps), termination=self.termination,
            terminated=self.termination == "answered", truncated=self.termination in TRUNCATIONS,
            final_grade=final, reward=float(reward), reward_scheme=cfg.reward_scheme, format_rate=rate,
            timed_out=is_timeout_episode(self.steps), wall_s=self.elapsed_s(),
            sandbox_s=sum(s.sandbox_s for s in self.steps), num_turns=len(self.steps),
            reward_from=cfg.reward_from, error=self.error, task_root=str(self.task.root),
            work_dir=str(self.work_dir), seed=self.seed, split=self.split)


def describe_grade(grade: dict, metric: str) -> str:
    """The score tool's answer: score, direction, all four thresholds and the tier reached."""
    if not grade["valid"]:
        return f"invalid submission: {grade.get('reason') or 'it could not be graded'}"
    t = grade["thresholds"]
    direction = "lower is better" if grade["is_lower_better"] else "higher is better"
    tier = grade["tier"].replace("_", " ")
    return (f"score {grade['score']} ({metric}, {direction})\n"
            f"thresholds: median {t['median']}, bronze {t['bronze']}, silver {t['silver']}, gold {t['gold']}\n"
            f"tier reached: {tier}")

