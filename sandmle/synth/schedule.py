"""Which attempts a synthesis run makes: N accepted tasks, spread evenly over the seeds.

`--num-tasks N` asks for N accepted tasks. Seed s (in selector order) gets the share
`N // S`, plus one for the first `N % S` seeds, and up to `ratio` attempts per task of its
share, where `ratio = max_attempts / N` (`max_attempts`, default `DEFAULT_ATTEMPT_RATIO * N`,
caps the whole run). Attempt k of seed s has the random seed `derive_seed(run_seed, s, k)`,
and attempts of a seed are made in k order.

A seed that uses its attempts without filling its share falls short. When nothing else can
run, its missing tasks go to the seeds that filled theirs (fewest tasks first, then selector
order), with the attempts the finished seeds left unused; the run stops when N tasks are
accepted, or when no attempt is left or no seed can take more.

An attempt starts only while the tasks its seed has accepted plus those in flight are fewer
than its share. So however tasks overlap, a seed makes exactly the attempts a one-at-a-time
run would make, and since each attempt's outcome is a function of its random seed, the same
command gives the same bank. A resumed run replays the outcomes a bank already holds
(`known`) instead of running them again, and continues toward N.

    plan = Schedule(["a", "b", "c"], num_tasks=8, run_seed=0)
    while (attempt := plan.next_attempt()) is not None: ...; plan.record(attempt, accepted)
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from sandmle.errors import UserError

DEFAULT_ATTEMPT_RATIO = 3       # attempts per requested task a run may spend by default


def derive_seed(seed: int, seed_id: str, index: int) -> int:
    """The random seed of task `index` of seed task `seed_id` in a run with `seed` (31 bits)."""
    digest = hashlib.sha256(f"sandmle-synth:{seed}:{seed_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class PlannedTask:
    seed_id: str
    index: int              # k: the task's number among those made from this seed
    random_seed: int

    @property
    def key(self) -> str:
        return f"{self.seed_id}/{self.random_seed}"


@dataclass
class _SeedState:
    share: int = 0              # accepted tasks this seed should give
    cap: int = 0                # attempts it may make
    started: int = 0            # attempts launched (next index)
    in_flight: int = 0
    accepted: int = 0
    short: bool = False         # used its attempts without filling its share
    short_of: int = 0           # the share it fell short of


@dataclass(frozen=True)
class ScheduleSummary:
    """What a run asked for and what it took (kept in BANK/_funnel.json under "request")."""

    requested: int
    max_attempts: int
    attempts: int                       # finished attempts toward this request, earlier runs included
    accepted: int
    short_seeds: dict[str, dict[str, int]] = field(default_factory=dict)   # seed -> {accepted, wanted, attempts}

    def to_json(self) -> dict[str, Any]:
        return {"requested": self.requested, "max_attempts": self.max_attempts, "attempts": self.attempts,
                "accepted": self.accepted, "short_seeds": {k: dict(v) for k, v in self.short_seeds.items()}}

    def line(self) -> str:
        short = ", ".join(f"{s} {v['accepted']}/{v['wanted']}" for s, v in self.short_seeds.items()) or "none"
        return (f"asked for {self.requested}, accepted {self.accepted} in {self.attempts} attempts "
                f"(at most {self.max_attempts}); seeds short of their share: {short}")


def default_max_attempts(num_tasks: int) -> int:
    return DEFAULT_ATTEMPT_RATIO * num_tasks


class Schedule:
    """The attempts toward N accepted tasks (see the module doc). Not thread-safe: one
    thread launches attempts and records their outcomes."""

    def __init__(self, seed_ids: list[str], num_tasks: int, run_seed: int, max_attempts: int | None = None,
                 seed_key: Callable[[str], str] = lambda s: s) -> None:
        if not seed_ids:
            raise UserError("no seeds selected")
        if num_tasks < 0:
            raise UserError(f"--num-tasks must be >= 0, got {num_tasks}")
        max_attempts = default_max_attempts(num_tasks) if max_attempts is None else max_attempts
        if max_attempts < num_tasks:
            raise UserError(f"--max-attempts ({max_attempts}) must be at least --num-tasks ({num_tasks})")
        self.seed_ids = list(dict.fromkeys(seed_ids))
        self.num_tasks, self.run_seed, self.max_attempts = num_tasks, run_seed, max_attempts
        self.seed_key = seed_key
        self.ratio = max_attempts / num_tasks if num_tasks else 0.0
        self.seeds = {s: _SeedState() for s in self.seed_ids}
        base, extra = divmod(num_tasks, len(self.seed_ids))
        for i, s in enumerate(self.seed_ids):
            state = self.seeds[s]
            state.share = base + (i < extra)
            state.cap = math.floor(self.ratio * state.share)
        self.spare = max_attempts - sum(st.cap for st in self.seeds.values())
        self.finished = 0
        self._cursor = 0

    # ---- state ------------------------------------------------------------------------
    @property
    def accepted(self) -> int:
        return sum(st.accepted for st in self.seeds.values())

    @property
    def in_flight(self) -> int:
        return sum(st.in_flight for st in self.seeds.values())

    def planned(self, seed_id: str, index: int) -> PlannedTask:
        return PlannedTask(seed_id, index, derive_seed(self.run_seed, self.seed_key(seed_id), index))

    def _can_start(self, st: _SeedState) -> bool:
        return st.accepted + st.in_flight < st.share and st.started < st.cap

    # ---- the loop ---------------------------------------------------------------------
    def next_attempt(self) -> PlannedTask | None:
        """The next attempt to launch, or None when none may start now. None while nothing
        is in flight means the run is over."""
        if self.accepted + self.in_flight >= self.num_tasks:
            return None
        if self.in_flight == 0 and not any(self._can_start(st) for st in self.seeds.values()):
            self._redistribute()
        n = len(self.seed_ids)
        for step in range(n):               # round-robin, so the seeds' first tasks come first
            s = self.seed_ids[(self._cursor + step) % n]
            st = self.seeds[s]
            if self._can_start(st):
                self._cursor = (self._cursor + step + 1) % n
                st.in_flight += 1
                st.started += 1
                return self.planned(s, st.started - 1)
        return None

    def record(self, planned: PlannedTask, accepted: bool) -> None:
        """The outcome of an attempt `next_attempt` gave."""
        st = self.seeds[planned.seed_id]
        st.in_flight -= 1
        st.accepted += bool(accepted)
        self.finished += 1
        if st.accepted < st.share and st.started >= st.cap and st.in_flight == 0:
            st.short = True
            st.short_of = st.share

    def _redistribute(self) -> None:
        """Move the missing tasks of seeds that fell short, and the attempts finished seeds
        left unused, to the seeds that filled their share (only called when nothing runs,
        so the outcome does not depend on timing)."""
        missing = self.num_tasks - self.accepted
        if missing <= 0:
            return
        for st in self.seeds.values():
            if st.short:
                st.share = st.accepted       # its missing tasks move on
            else:
                self.spare += st.cap - st.started
                st.cap = st.started
        takers = [s for s in self.seed_ids if not self.seeds[s].short]
        per_task = max(1, math.floor(self.ratio))
        while missing > 0 and takers and self.spare > 0:
            s = min(takers, key=lambda t: (self.seeds[t].share, self.seed_ids.index(t)))
            st = self.seeds[s]
            grant = min(per_task, self.spare)
            st.share += 1
            st.cap += grant
            self.spare -= grant
            missing -= 1

    def summary(self) -> ScheduleSummary:
        short = {s: {"accepted": st.accepted, "wanted": st.short_of, "attempts": st.started}
                 for s, st in self.seeds.items() if st.short}
        return ScheduleSummary(requested=self.num_tasks, max_attempts=self.max_attempts, attempts=self.finished,
                               accepted=self.accepted, short_seeds=short)
