"""The sandbox side of a synthesis run: its pool and thread pools, started on demand.

    with ExitStack() as stack:
        runner = SandboxRunner(stack, "ray:auto", workers=None, preload_extra=PRELOAD_EXTRA)
        pool, jobs, tasks = runner.start()        # at the first attempt that must run
        drive(schedule, known, submit, runner.in_flight, record)

Shared by the procedural (`sandmle.synth.pipeline`) and language-model
(`sandmle.synth.llm.pipeline`) generators; where the pool runs is `sandmle.sandbox.backend`.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any


class SandboxRunner:
    """A run's sandbox pool (`sandmle.sandbox.backend.open_pool`: local, or one pool per Ray
    node) and its two thread pools (attempts, reference solutions), started by the first
    attempt that must run: a resumed run with nothing left to do starts none.

    `preload_extra`: modules the pool preloads on top of its default (what the run's
    solutions import); `pool`: a running pool to use instead of starting one. Attempts in
    flight: one more than the pool's workers (the cluster's on Ray), so every worker stays
    busy while an attempt is generated or verified, at least `min_in_flight`;
    `tasks_in_flight` fixes it."""

    def __init__(self, stack: ExitStack, sandbox, workers: int | None, preload_extra: tuple[str, ...], *,
                 pool=None, tasks_in_flight: int | None = None, min_in_flight: int = 1, name: str = "task"):
        self._stack, self._sandbox, self._workers = stack, sandbox, workers
        self._preload_extra = tuple(preload_extra)
        self._fixed, self._min, self._name = tasks_in_flight, min_in_flight, name
        self.pool = pool
        self._started: tuple | None = None

    def in_flight(self) -> int:
        """Attempts to keep running now (1 until the pool has started and its size is known)."""
        if self._fixed:
            return self._fixed
        if self._started is None:
            return 1
        return max(self._min, self.pool.num_workers + 1)

    def start(self) -> tuple[Any, ThreadPoolExecutor, ThreadPoolExecutor]:
        """(pool, solution threads, attempt threads), started on the first call."""
        if self._started is None:
            from sandmle.sandbox.backend import open_pool
            from sandmle.sandbox.pool import DEFAULT_PRELOAD

            if self.pool is None:
                self.pool = self._stack.enter_context(open_pool(
                    self._sandbox, num_workers=self._workers, preload=DEFAULT_PRELOAD + self._preload_extra))
            jobs = self._stack.enter_context(ThreadPoolExecutor(max_workers=4 * self.pool.num_workers + 4,
                                                                thread_name_prefix="solution"))
            tasks = self._stack.enter_context(ThreadPoolExecutor(
                max_workers=self._fixed or max(self._min, self.pool.num_workers + 1),
                thread_name_prefix=self._name))
            self._started = (self.pool, jobs, tasks)
        return self._started
