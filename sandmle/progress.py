"""Progress of long work: a rich bar on a terminal, plain periodic lines in a log.

    with Progress("eval", total=40, unit="episodes") as bar:
        bar.print("a-task-0: answered, 4 turns, ...")    # a line above the bar
        bar.advance(note="3 failed")

On a terminal (the stream is a tty) it is rich's progress bar: done of total, elapsed and
remaining time, and the note. Anywhere else (a log file, a batch job, CI) rich would print
nothing until the end, so a plain line

    eval: 12/40 episodes (30%), 2.4 episodes/min, elapsed 5m00s, ETA 11m40s; 3 failed

is written at most every `every_s` seconds (default 30), and once more when the work ends.
The rate counts only what this run did (`start_done`: a resumed run's earlier items), so
the ETA holds for the rest. Lines from `print` always go out as they come.

Why our own plain lines: rich renders a non-terminal progress bar once, at the end, and
tqdm writes carriage-return updates that a log shows as one growing line.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

PLAIN_EVERY_S = 30.0


def duration(seconds: float) -> str:
    """3h05m, 11m40s, 42s."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def rate_and_eta(done: int, total: int | None, start_done: int, elapsed_s: float, unit: str) -> str:
    """"2.4 episodes/min, elapsed 5m00s, ETA 11m40s" (the ETA only with a total and a rate)."""
    made = done - start_done
    if made <= 0 or elapsed_s <= 0:
        return f"elapsed {duration(elapsed_s)}"
    per_min = 60.0 * made / elapsed_s
    text = f"{per_min:.3g} {unit}/min, elapsed {duration(elapsed_s)}"
    if total is not None and done < total:
        text += f", ETA {duration((total - done) * elapsed_s / made)}"
    return text


class Progress:
    """See the module docstring. `clock` is injectable for tests (seconds, monotonic)."""

    def __init__(self, label: str, total: int | None, unit: str = "items", *, stream: TextIO | None = None,
                 every_s: float = PLAIN_EVERY_S, start_done: int = 0, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.done = self.start_done = start_done
        self.note = ""
        self.enabled = enabled
        self.clock = clock
        self.started = clock()
        self.last_line = self.started
        self.last_done: int | None = None       # `done` in the last plain line written
        self._bar: Any = None
        if enabled and _is_terminal(self.stream):
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._bar = RichProgress(TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn(unit), TimeElapsedColumn(), TimeRemainingColumn(),
                                     TextColumn("{task.fields[note]}"),
                                     console=Console(file=self.stream), transient=False)
            self._task = self._bar.add_task(label, total=total, completed=start_done, note="")
            self._bar.start()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def restart_clock(self) -> None:
        """Count elapsed time and the rate from now: the work itself starts (a pool that
        started before it is not part of its rate)."""
        self.started = self.last_line = self.clock()
        if self._bar is not None:
            self._bar.reset(self._task, completed=self.done, note=self.note)

    def skip(self, n: int = 1, note: str | None = None) -> None:
        """Count `n` items done by an earlier run (replayed): not part of this run's rate."""
        self.start_done += n
        self.update(self.done + n, note)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.update(self.done + n, note)

    def update(self, done: int, note: str | None = None) -> None:
        self.done = done
        if note is not None:
            self.note = note
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done, note=self.note)
            return
        now = self.clock()
        if now - self.last_line >= self.every_s:
            self.last_line = now
            self.last_done = done
            self._write(self.line())

    def print(self, text: str) -> None:
        """A line of output (an episode that ended), above the bar on a terminal."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            self._write(text)

    def line(self) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        text = (f"{self.label}: {self.done}{total} {self.unit}{share}, "
                f"{rate_and_eta(self.done, self.total, self.start_done, self.clock() - self.started, self.unit)}")
        return text + (f"; {self.note}" if self.note else "")

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.done != self.last_done and (self.done != self.start_done or self.total == self.start_done):
            self._write(self.line())
        self.enabled = False

    def _write(self, text: str) -> None:
        from sandmle.console import printable

        self.stream.write(printable(text) + "\n")
        self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
