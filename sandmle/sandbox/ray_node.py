"""One Ray node's side of the Ray backend: a long-lived actor around sandmle's own pool.

`NodeServer` is a plain class; `sandmle.sandbox.ray_pool` makes it a Ray actor (one per
node, pinned there, its CPUs reserved) and is its only caller. It owns a warm local `Pool`
(the template, slots, namespaces, cgroups and seccomp of pool.py: isolation on a node is
exactly the local pool's) and a folder of its own:

    <tmp>/sandmle-ray/<pid>.<start>/tasks/<digest>/   task public folders, by content
                                     work/<id>/        copies of drivers' work folders
                                     scripts/          `Job.script` files, per job

A task's public folder reaches the node once: the driver sends its digest with an object
reference that is fetched only when the digest is not cached here (then it is unpacked
into a temporary folder and renamed into place). A work folder copy is kept between a
driver's jobs at a version the driver names: a job carries the driver's changes since
that version (`sync.Delta`), or a full copy; a copy at another version (or none: evicted,
or this actor restarted) answers `{"stale": true}` and the driver sends a full copy. The
reply carries the job's result and the work folder's changes (`sync.diff`). Caches are
bounded (`TASK_CACHE_MB`, `MAX_WORK_COPIES`; least recently used first, never one in
use), and folders left by an actor that died (kill -9, a lost node) are removed when the
next one starts on the node.
"""
from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from sandmle.sandbox import sync
from sandmle.sandbox.job import INPUT_DIRNAME, Job
from sandmle.sandbox.pool import Pool
from sandmle.sandbox.protocol import SandboxError
from sandmle.sandbox.workdir import remove_tree

TASK_CACHE_MB = 4096          # task public folders kept per node
MAX_WORK_COPIES = 256         # work folder copies kept per node (an episode in flight holds one)
SKIP = frozenset({INPUT_DIRNAME})


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _remove_dead_roots(parent: Path) -> None:
    """Folders of node servers whose process is gone (their name: pid.start_ticks)."""
    for entry in parent.iterdir():
        pid, _, ticks = entry.name.partition(".")
        if not pid.isdigit() or _start_ticks(int(pid)) != ticks:
            remove_tree(entry)


class _Lru:
    """Keys in least-recently-used order, with a size each and an in-use count."""

    def __init__(self) -> None:
        self.sizes: OrderedDict[str, int] = OrderedDict()
        self.in_use: dict[str, int] = {}

    def touch(self, key: str, size: int | None = None) -> None:
        self.sizes[key] = size if size is not None else self.sizes.get(key, 0)
        self.sizes.move_to_end(key)

    def hold(self, key: str) -> None:
        self.in_use[key] = self.in_use.get(key, 0) + 1

    def release(self, key: str) -> None:
        self.in_use[key] -= 1
        if not self.in_use[key]:
            del self.in_use[key]

    def evictable(self, over) -> list[str]:
        """Least recently used keys not in use, removed from the order while `over()`."""
        out = []
        for key in list(self.sizes):
            if not over():
                break
            if key not in self.in_use:
                out.append(key)
                del self.sizes[key]
        return out


class NodeServer:
    """The node's pool and caches; every method is called through Ray by `RayPool`."""

    def __init__(self, workers: int, preload: tuple[str, ...], isolate: bool, cgroups: bool):
        parent = Path(tempfile.gettempdir()) / "sandmle-ray"
        parent.mkdir(mode=0o700, exist_ok=True)
        _remove_dead_roots(parent)
        self.root = parent / f"{os.getpid()}.{_start_ticks(os.getpid())}"
        for sub in ("tasks", "work", "scripts"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.pool = Pool(num_workers=workers, preload=preload, isolate=isolate, cgroups=cgroups)
        self.lock = threading.Lock()
        self.task_locks: dict[str, threading.Lock] = {}
        self.tasks = _Lru()
        self.copies = _Lru()
        self.versions: dict[str, str] = {}       # work copy id -> the version it holds
        self.counts = {"jobs": 0, "running": 0, "max_running": 0, "task_fetches": 0}

    def info(self) -> dict:
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
                "address": ray.util.get_node_ip_address(), "pid": os.getpid(),
                "workers": self.pool.num_workers, "isolation": self.pool.isolation,
                "fallback_reason": self.pool.fallback_reason, "accounting": self.pool.accounting}

    # -- task folders ----------------------------------------------------------------------
    def _task_dir(self, digest: str, ref_box: list) -> str:
        path = self.root / "tasks" / digest
        with self.lock:
            lock = self.task_locks.setdefault(digest, threading.Lock())
        with lock:                                  # one fetch per digest, however many jobs
            if not path.is_dir():
                import ray

                delta = ray.get(ref_box[0])
                with self.lock:
                    self.counts["task_fetches"] += 1
                partial = self.root / "tasks" / f".{digest}.{uuid.uuid4().hex}"
                try:
                    sync.apply(str(partial), delta)
                    os.rename(partial, path)
                finally:
                    remove_tree(partial)
                with self.lock:
                    self.tasks.touch(digest, delta.num_bytes)
            with self.lock:
                self.tasks.touch(digest)
                self.tasks.hold(digest)
        return str(path)

    def _evict(self) -> None:
        with self.lock:
            budget = TASK_CACHE_MB * 1024 * 1024
            tasks = self.tasks.evictable(lambda: sum(self.tasks.sizes.values()) > budget)
            copies = self.copies.evictable(lambda: len(self.copies.sizes) > MAX_WORK_COPIES)
            for work_id in copies:
                self.versions.pop(work_id, None)
        for digest in tasks:
            remove_tree(self.root / "tasks" / digest)
        for work_id in copies:
            remove_tree(self.root / "work" / work_id)

    # -- jobs ------------------------------------------------------------------------------
    def run(self, request: dict) -> dict:
        """Run one job: `request` holds "job" (Job.to_json, host paths of the driver),
        "work" {"id", "base", "version", "delta"}, "task" (digest, [ref]) or None, and
        "script" (name, bytes) or None. Returns {"stale": True}, {"error": "..."}
        (the sandbox failed or the job was refused) or {"result", "delta", "node_s"}."""
        start = time.perf_counter()
        work = request["work"]
        work_id = work["id"]
        with self.lock:
            if work["base"] is not None and self.versions.get(work_id) != work["base"]:
                return {"stale": True}
            self.versions.pop(work_id, None)        # mid-update until the reply is built
            self.copies.touch(work_id)
            self.copies.hold(work_id)
        digest = None                                # set once its folder is held
        script_dir = None
        try:
            work_dir = str(self.root / "work" / work_id)
            sync.apply(work_dir, work["delta"])
            public_dir = None
            if request["task"] is not None:
                public_dir = self._task_dir(*request["task"])
                digest = request["task"][0]
            job = Job.from_json(request["job"])
            script = None
            if request["script"] is not None:
                name, content = request["script"]
                script_dir = self.root / "scripts" / uuid.uuid4().hex
                script_dir.mkdir()
                script = str(script_dir / name)
                Path(script).write_bytes(content)
            base = sync.snapshot(work_dir, SKIP)
            with self.lock:
                self.counts["running"] += 1
                self.counts["max_running"] = max(self.counts["max_running"], self.counts["running"])
            try:
                result = self.pool.run(replace(job, work_dir=work_dir, public_dir=public_dir, script=script))
            finally:
                with self.lock:
                    self.counts["running"] -= 1
                    self.counts["jobs"] += 1
            delta, _ = sync.diff(work_dir, base, SKIP)
            with self.lock:
                self.versions[work_id] = work["version"]
            return {"result": result.to_json(), "delta": delta,
                    "node_s": time.perf_counter() - start - result.wall_s}
        except (SandboxError, ValueError, OSError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            if script_dir is not None:
                remove_tree(script_dir)
            with self.lock:
                self.copies.release(work_id)
                if digest is not None:
                    self.tasks.release(digest)
            self._evict()

    def forget(self, work_id: str) -> None:
        """Drop a work folder copy the driver has moved to another node."""
        with self.lock:
            if work_id in self.copies.in_use:
                return
            self.versions.pop(work_id, None)
            self.copies.sizes.pop(work_id, None)
        remove_tree(self.root / "work" / work_id)

    def pid(self) -> int:
        return os.getpid()

    def counters(self) -> dict:
        """Jobs run, running now and at most at once, task folders fetched, copies kept."""
        with self.lock:
            return {**self.counts, "work_copies": len(self.copies.sizes), "root": str(self.root)}

    def close(self) -> None:
        self.pool.close()
        remove_tree(self.root)
