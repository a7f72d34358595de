"""The sandbox pool on a Ray cluster: the local pool's interface, jobs placed on many nodes.

    with RayPool(address="auto") as pool:      # or `open_pool("ray:auto")` (backend.py)
        result = pool.run(Job(...))            # as `Pool.run`: blocking, thread-safe
        result = await pool.arun(job)

Each Ray node with CPUs runs one long-lived actor (`ray_node.NodeServer`, pinned to the
node, reserving the CPUs of its workers) around sandmle's own warm, isolated local `Pool`:
isolation, limits and accounting are the local pool's; Ray only places jobs and moves
bytes. Every node needs the same sandmle installed (the node's pool runs its template).
The nodes are those alive when the pool starts; a node that joins later serves the next
pool (the next command).

Data flow of one job (paths in the `Job` are the driver's):
- the task's public folder is content-addressed (`sync.tree_digest`, recomputed only when
  a file's size, mtime or inode changes) and put in Ray's object store once; a node
  fetches it the first time one of its jobs needs that digest and caches it;
- the work folder persists on the driver. Its copy on the node that ran the previous step
  is kept at a version; the next step ships only what the driver changed since then
  (usually nothing) when it lands on the same node, the whole folder otherwise. Back come
  the job's `JobResult` and its changes to the work folder (`sync.Delta`: the content of
  each new or changed file, the names of removed ones), applied on the driver before
  `run` returns. Cost per step: one stat walk of the folder on each side, the bytes of the
  files the job wrote, and a full copy of the folder when the step moves to another node.

Placement: a job goes to the node with the lowest share of busy workers (the node that
holds its work folder wins a tie), and `run` blocks while every worker of the cluster is
busy, so the driver never queues more jobs than the cluster can run.

Failures: a job's own failures are data, as in the local pool. A node that dies while it
holds a job (its actor killed, its machine lost, no answer `GRACE_S` past the job's
timeout) is an infrastructure failure: the node leaves the pool and the job runs again
from the driver's unchanged work folder on another node, once; `JobResult.infra_failures`
then names what happened. A second loss, or no node left, raises `SandboxError`.

Figures: `stats()` gives per-node jobs done, throughput, p50 latency, busy workers and the
driver's queue; with `report_every_s` a line per node goes to stderr that often while jobs
run, and once more at close.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sandmle.sandbox import sync
from sandmle.sandbox.backend import connect_ray, import_ray
from sandmle.sandbox.job import INPUT_DIRNAME, Job, JobResult
from sandmle.sandbox.pool import DEFAULT_PRELOAD, STARTUP_TIMEOUT_S, _checked
from sandmle.sandbox.protocol import SandboxError

GRACE_S = 120.0               # past the job's timeout (transfers included) before a node is lost
MAX_INFRA_RETRIES = 1         # a job lost with its node runs again elsewhere this many times
MAX_TRACKED_WORK_DIRS = 4096  # driver-side work folder states kept (least recently used go)
MAX_TASK_REFS = 512           # task folders kept in the object store by the driver
LATENCY_WINDOW = 512          # recent jobs per node behind its p50
SKIP = frozenset({INPUT_DIRNAME})


@dataclass(frozen=True)
class NodeStats:
    """One node's figures, measured on the driver (latency: `run` call to reply applied)."""
    name: str                  # host:pid of the node's actor
    alive: bool
    workers: int
    busy: int                  # jobs the driver has on it now
    done: int
    infra_failures: int
    jobs_per_s: float          # done / seconds since the pool started
    p50_s: float | None        # of the last LATENCY_WINDOW jobs
    overhead_p50_s: float | None   # p50 of (latency - the job's own wall time)

    def line(self) -> str:
        p50 = "-" if self.p50_s is None else f"{self.p50_s:.3f} s"
        over = "-" if self.overhead_p50_s is None else f"{1000 * self.overhead_p50_s:.0f} ms"
        state = "" if self.alive else " LOST"
        return (f"{self.name}{state}: {self.busy}/{self.workers} busy, {self.done} done, "
                f"{self.jobs_per_s:.2f} jobs/s, p50 {p50}, overhead p50 {over}, "
                f"{self.infra_failures} infrastructure failures")


class _NodeLost(Exception):
    pass


class _Node:
    def __init__(self, actor, info: dict):
        self.actor = actor
        self.info = info
        self.name = f"{info['host']}:{info['pid']}"
        self.workers: int = info["workers"]
        self.alive = True
        self.busy = 0
        self.done = 0
        self.infra_failures = 0
        self.latency: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self.overhead: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)


@dataclass
class _WorkState:
    id: str
    holder: _Node | None = None
    version: str | None = None
    synced: sync.Manifest | None = None     # the driver's folder as the holder's copy has it


class RayPool:
    """`Pool`'s interface over a Ray cluster; see the module docstring.

    `address`: None starts a private Ray cluster of this machine for this pool (its CPUs,
    on loopback, shut down at close); otherwise as `ray.init(address=...)`: "auto" (the
    cluster `ray start` runs on this machine), "HOST:PORT" (the head's GCS). Used only when
    Ray is not initialised in this process yet (then the caller's cluster is used). `workers_per_node`: sandbox workers on each
    node (default: the node's CPUs, divided by `node_share` when several driver processes
    share the cluster). `num_workers` is then the cluster's total."""

    def __init__(self, address: str | None = None, workers_per_node: int | None = None,
                 preload: tuple[str, ...] = DEFAULT_PRELOAD, isolate: bool = True,
                 cgroups: bool = True, node_share: int = 1,
                 report_every_s: float | None = 30.0):
        if workers_per_node is not None and workers_per_node < 1:
            raise ValueError(f"workers_per_node must be at least 1, got {workers_per_node}")
        if node_share < 1:
            raise ValueError(f"node_share must be at least 1, got {node_share}")
        ray = import_ray()
        from sandmle.sandbox.ray_node import NodeServer

        self._ray = ray
        self._own_ray = connect_ray(ray, address)
        self._closed = False
        self._driver = uuid.uuid4().hex
        self._cond = threading.Condition()
        self._waiting = 0
        self._work: collections.OrderedDict[str, _WorkState] = collections.OrderedDict()
        self._tasks: collections.OrderedDict[tuple, tuple[str, object]] = collections.OrderedDict()
        self._tasks_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self.nodes: list[_Node] = []
        try:
            self._start_nodes(NodeServer, workers_per_node, node_share, preload, isolate, cgroups)
        except BaseException:
            self._shutdown_ray()
            raise
        self.num_workers = sum(n.workers for n in self.nodes)
        self.preload = tuple(preload)
        self._started = time.monotonic()
        self._report_every_s = report_every_s
        self._reported_done = 0
        self._stop = threading.Event()
        self._reporter = None
        if report_every_s:
            self._reporter = threading.Thread(target=self._report_loop, name="ray-pool-report",
                                              daemon=True)
            self._reporter.start()

    # -- start -----------------------------------------------------------------------------
    def _start_nodes(self, server_class, workers_per_node, node_share, preload, isolate, cgroups):
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(server_class)
        actors = []
        for node in ray.nodes():
            cpus = int(node.get("Resources", {}).get("CPU", 0))
            if not node.get("Alive") or cpus < 1:
                continue
            workers = workers_per_node or max(1, cpus // node_share)
            strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            actors.append(remote.options(
                num_cpus=min(workers, cpus), max_concurrency=2 * workers + 4, max_restarts=0,
                max_task_retries=0, scheduling_strategy=strategy,
            ).remote(workers, tuple(preload), isolate, cgroups))
        if not actors:
            raise SandboxError("the Ray cluster has no live node with a CPU")
        pending = {actor.info.remote(): actor for actor in actors}
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=STARTUP_TIMEOUT_S)
        try:
            if len(ready) < len(pending):
                raise SandboxError(
                    f"{len(pending) - len(ready)} of {len(pending)} Ray sandbox nodes did not start "
                    f"within {STARTUP_TIMEOUT_S:.0f} s (are the CPUs they reserve free? "
                    "`ray status` shows what is in use)")
            for ref in ready:
                try:
                    info = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    raise SandboxError(f"a Ray sandbox node failed to start: {_first_line(exc)}") from None
                self.nodes.append(_Node(pending[ref], info))
        except BaseException:
            for actor in actors:
                ray.kill(actor)
            raise
        self.nodes.sort(key=lambda n: n.name)
        modes = {n.info["isolation"] for n in self.nodes}
        if len(modes) != 1:
            self._kill_all()
            raise SandboxError(f"Ray sandbox nodes disagree on isolation: "
                               f"{sorted((n.name, n.info['isolation']) for n in self.nodes)}")
        self.isolation: str = modes.pop()
        self.fallback_reason = self.nodes[0].info["fallback_reason"]
        self.accounting = ",".join(sorted({n.info["accounting"] for n in self.nodes}))

    # -- placement -------------------------------------------------------------------------
    def _acquire(self, prefer: _Node | None) -> _Node:
        """The least-loaded live node with a free worker (blocks while there is none)."""
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    if self._closed:
                        raise SandboxError("the Ray sandbox pool is closed")
                    live = [n for n in self.nodes if n.alive]
                    if not live:
                        raise SandboxError("no Ray sandbox node is left: every node was lost")
                    free = [n for n in live if n.busy < n.workers]
                    if free:
                        node = min(free, key=lambda n: (n.busy / n.workers, n is not prefer))
                        node.busy += 1
                        return node
                    self._cond.wait()
            finally:
                self._waiting -= 1

    def _release(self, node: _Node, latency_s: float | None = None, wall_s: float = 0.0) -> None:
        with self._cond:
            node.busy -= 1
            if latency_s is not None:
                node.done += 1
                node.latency.append(latency_s)
                node.overhead.append(max(0.0, latency_s - wall_s))
            self._cond.notify()

    def _lose(self, node: _Node, why: str) -> None:
        with self._cond:
            node.infra_failures += 1
            was_alive, node.alive = node.alive, False
            self._cond.notify_all()
        if was_alive:
            print(f"sandmle ray: node {node.name} lost ({why}); its jobs run elsewhere",
                  file=sys.stderr, flush=True)
            try:
                self._ray.kill(node.actor)
            except Exception:          # already gone with its node
                pass

    # -- driver-side state -----------------------------------------------------------------
    def _work_state(self, work_dir: str) -> _WorkState:
        with self._cond:
            state = self._work.get(work_dir)
            if state is None:
                digest = hashlib.sha256(f"{self._driver}\0{work_dir}".encode()).hexdigest()[:24]
                state = self._work[work_dir] = _WorkState(digest)
                while len(self._work) > MAX_TRACKED_WORK_DIRS:
                    self._work.popitem(last=False)
            self._work.move_to_end(work_dir)
            return state

    def _task(self, public_dir: str | None):
        """(digest, [object ref]) of a public folder, put in the object store once."""
        if public_dir is None:
            return None
        key = (public_dir, tuple(sorted(sync.snapshot(public_dir).items())))
        with self._tasks_lock:
            if key in self._tasks:
                self._tasks.move_to_end(key)
                return self._tasks[key]
        digest, delta = sync.tree_digest(public_dir)
        entry = (digest, [self._ray.put(delta)])
        with self._tasks_lock:
            self._tasks[key] = entry
            while len(self._tasks) > MAX_TASK_REFS:
                self._tasks.popitem(last=False)
        return entry

    # -- running ---------------------------------------------------------------------------
    def run(self, job: Job) -> JobResult:
        """Run `job` on the least-loaded node; see the module docstring for failures."""
        if self._closed:
            raise SandboxError("the Ray sandbox pool is closed")
        job = _checked(job)
        os.makedirs(job.work_dir, exist_ok=True)
        state = self._work_state(os.path.realpath(job.work_dir))
        task = self._task(job.public_dir)
        script = None
        if job.script is not None:
            with open(job.script, "rb") as fh:
                script = (os.path.basename(job.script), fh.read())
        failures: list[str] = []
        while True:
            node = self._acquire(state.holder)
            start = time.perf_counter()
            try:
                reply = self._call(node, job, state, task, script)
            except _NodeLost as exc:
                self._release(node)
                self._lose(node, str(exc))
                failures.append(f"node {node.name} lost while it held the job: {exc}")
                if len(failures) > MAX_INFRA_RETRIES:
                    raise SandboxError(f"job {job.name} lost twice to Ray node failures: "
                                       + "; ".join(failures)) from None
                continue
            except BaseException:
                self._release(node)
                raise
            try:
                result = JobResult.from_json(reply["result"])
                sync.apply(job.work_dir, reply["delta"])
                state.synced = sync.snapshot(job.work_dir, SKIP)
            except BaseException:
                state.holder = state.synced = None      # the next job sends a full copy
                raise
            finally:
                self._release(node, time.perf_counter() - start, reply["result"]["wall_s"])
            if failures:
                result = dataclasses.replace(result, infra_failures=tuple(failures))
            return result

    def _call(self, node: _Node, job: Job, state: _WorkState, task, script) -> dict:
        ray = self._ray
        same = state.holder is node and state.synced is not None
        if state.holder is not None and not same and state.holder.alive:
            state.holder.actor.forget.remote(state.id)
        version = uuid.uuid4().hex
        for base in ((state.version, state.synced) if same else (None, None), (None, None)):
            delta, _ = sync.diff(job.work_dir, base[1], SKIP)
            request = {"job": job.to_json(), "task": task, "script": script,
                       "work": {"id": state.id, "base": base[0], "version": version, "delta": delta}}
            try:
                reply = ray.get(node.actor.run.remote(request),
                                timeout=job.limits.timeout_s + GRACE_S)
            except ray.exceptions.GetTimeoutError:
                raise _NodeLost(f"no answer {GRACE_S:.0f} s past the job's timeout") from None
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
                    ray.exceptions.NodeDiedError) as exc:   # ActorUnavailableError too
                raise _NodeLost(_first_line(exc)) from None
            if "error" in reply:
                raise SandboxError(f"Ray node {node.name}: {reply['error']}")
            if not reply.get("stale"):
                state.holder, state.version = node, version
                return reply
        raise SandboxError(f"Ray node {node.name} refused a full copy of {job.work_dir}")

    async def arun(self, job: Job) -> JobResult:
        """`run` for asyncio: waits in a thread of the pool's own executor."""
        with self._cond:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.num_workers, thread_name_prefix="ray-pool")
            executor = self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, self.run, job)

    # -- figures ---------------------------------------------------------------------------
    def stats(self) -> tuple[list[NodeStats], int]:
        """(per-node figures, jobs waiting on the driver for a free worker now)."""
        with self._cond:
            elapsed = max(1e-9, time.monotonic() - self._started)
            rows = [NodeStats(n.name, n.alive, n.workers, n.busy, n.done, n.infra_failures,
                              round(n.done / elapsed, 3),
                              statistics.median(n.latency) if n.latency else None,
                              statistics.median(n.overhead) if n.overhead else None)
                    for n in self.nodes]
            return rows, self._waiting

    def report(self) -> str:
        rows, waiting = self.stats()
        busy = sum(r.busy for r in rows)
        head = (f"sandmle ray: {sum(r.alive for r in rows)} nodes, {busy}/{self.num_workers} "
                f"workers busy, {waiting} jobs queued on the driver")
        return "\n".join([head] + [f"  {r.line()}" for r in rows])

    def _report_loop(self) -> None:
        while not self._stop.wait(self._report_every_s):
            done = sum(n.done for n in self.nodes)
            if done != self._reported_done:
                self._reported_done = done
                print(self.report(), file=sys.stderr, flush=True)

    # -- closing ---------------------------------------------------------------------------
    def _kill_all(self) -> None:
        for node in self.nodes:
            try:
                self._ray.kill(node.actor)
            except Exception:
                pass

    def _shutdown_ray(self) -> None:
        if self._own_ray and self._ray.is_initialized():
            self._ray.shutdown()

    def close(self) -> None:
        """Stop every node's pool and actor; running jobs are killed and their `run` raises."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        if self._report_every_s and any(n.done for n in self.nodes):
            print(self.report(), file=sys.stderr, flush=True)
        live = [n for n in self.nodes if n.alive]
        closing = [n.actor.close.remote() for n in live]
        try:
            self._ray.wait(closing, num_returns=len(closing), timeout=30.0)
        finally:
            self._kill_all()
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._shutdown_ray()

    def __enter__(self) -> "RayPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
