"""Per-job resource accounting with a cgroup: memory (resident, swap, tmpfs and memfd pages,
kernel memory), tasks and CPU time of a job's whole process tree.

`setup_pool(tag)` runs once per pool and picks the hierarchy, read from /proc/self/cgroup
and /proc/self/mountinfo:

- cgroup v1 (the `memory` controller mounted, `pids` and `cpuacct` used when mounted): the
  pool's group is made under the group this process is already in, one per controller.
- cgroup v2 (`memory` and `pids` listed in the own group's cgroup.controllers): the pool's
  group is made under the own group, which must hand both controllers down
  (cgroup.subtree_control). v2 lets a group with processes hand down nothing (the "no
  internal processes" rule), so when the own group holds processes and every one of them is
  this process or its descendants, they are moved into a leaf child `sandmle-leaf` first (as
  nsjail and container init processes do); a group shared with other programs is left
  alone: delegate one (`systemd-run --scope -p Delegate=yes ...`) to get cgroups there.

Neither usable: `setup_pool` returns None and why; the pool then watches memory with the
watchdog (watchdog.py). A job gets its own group (`JobGroup.create`) with memory+swap
capped at `Limits.memory_mb` and tasks at `Limits.processes`; the job's first process joins
it before it runs anything (`JobGroup.join`), so every descendant is in it; after the job,
`usage()` reads what the group saw, `kill()` ends what is left, `remove()` deletes it.

Measured here (cgroup v1, 2 cores, load ~7): moving a process into a v1 group takes 1-30 ms
(an RCU grace period per hierarchy), so a job process joins its group while it waits for
its job (worker.py keeps two such processes ready); making, limiting, reading and removing
the groups costs ~1 ms per job.
"""
from __future__ import annotations

import errno
import os
import secrets
import signal
import time
from dataclasses import dataclass

from sandmle.sandbox.job import Limits

V1 = "cgroup-v1"
V2 = "cgroup-v2"
V1_CONTROLLERS = ("memory", "pids", "cpuacct")
LEAF = "sandmle-leaf"
MB = 1024 * 1024


@dataclass(frozen=True)
class Hierarchy:
    kind: str                          # V1 or V2
    pool_dirs: tuple[tuple[str, str], ...]   # (controller, the pool's group folder); v2: ("", dir)

    @property
    def counts_tasks(self) -> bool:
        return self.kind == V2 or "pids" in dict(self.pool_dirs)


@dataclass(frozen=True)
class Usage:
    memory_peak_mb: float | None
    memory_limit_hits: int             # times usage reached the limit (reclaim or OOM)
    oom_kills: int
    tasks_refused: int                 # forks and thread starts refused at the tasks limit
    cpu_s: float | None                # the whole tree's CPU time


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _field(text: str, key: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


def _mounts(mountinfo: str) -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount root, mount point, super options) of cgroup mounts."""
    out = []
    for line in _read(mountinfo).splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4].replace("\\040", " ")
        out.append((rest[0], fields[3], point, set(rest[2].split(","))))
    return out


def _group_dir(point: str, mount_root: str, path: str) -> str | None:
    if mount_root != "/":
        if path != mount_root and not path.startswith(mount_root + "/"):
            return None
        path = path[len(mount_root):] or "/"
    return os.path.normpath(point + path)


def _own_groups(cgroup_file: str) -> tuple[dict[str, str], str | None]:
    """v1 controller -> own group path, and the v2 path ("0::PATH") if any."""
    v1, v2 = {}, None
    for line in _read(cgroup_file).splitlines():
        hid, controllers, path = line.split(":", 2)
        if hid == "0" and controllers == "":
            v2 = path
        for name in controllers.split(","):
            if name:
                v1[name] = path
    return v1, v2


def setup_pool(tag: str, mountinfo: str = "/proc/self/mountinfo",
               cgroup_file: str = "/proc/self/cgroup") -> tuple[Hierarchy | None, str | None]:
    """The pool's groups (named sandmle-TAG), or None and why no cgroup can be used."""
    try:
        mounts = _mounts(mountinfo)
        v1_paths, v2_path = _own_groups(cgroup_file)
    except (OSError, ValueError) as exc:
        return None, f"cannot read the cgroup layout: {exc}"
    name = f"sandmle-{tag}-{secrets.token_hex(3)}"
    reasons = []
    v1_mounts = {c: (root, point) for kind, root, point, opts in mounts if kind == "cgroup"
                 for c in V1_CONTROLLERS if c in opts}
    if "memory" in v1_mounts and "memory" in v1_paths:
        made = []
        try:
            for controller in V1_CONTROLLERS:
                if controller not in v1_mounts or controller not in v1_paths:
                    continue
                root, point = v1_mounts[controller]
                base = _group_dir(point, root, v1_paths[controller])
                if base is None:
                    if controller == "memory":
                        raise OSError(f"own memory group is outside the {point} mount")
                    continue
                _remove_stale(base)
                pool_dir = os.path.join(base, name)
                os.mkdir(pool_dir, 0o755)
                made.append((controller, pool_dir))
            return Hierarchy(V1, tuple(made)), None
        except OSError as exc:
            for _, path in made:
                _rmdir(path)
            reasons.append(f"cgroup v1 memory controller not usable: {exc}")
    v2_mounts = [(root, point) for kind, root, point, _ in mounts if kind == "cgroup2"]
    if v2_path is not None and v2_mounts:
        root, point = v2_mounts[0]
        base = _group_dir(point, root, v2_path)
        try:
            if base is None:
                raise OSError(f"own group {v2_path} is outside the {point} mount")
            return _setup_v2(base, name), None
        except OSError as exc:
            reasons.append(f"cgroup v2 at {base}: {exc}")
    if not reasons:
        reasons.append("no cgroup v1 memory controller or cgroup v2 hierarchy is mounted")
    return None, "; ".join(reasons)


def _setup_v2(base: str, name: str) -> Hierarchy:
    available = _read(os.path.join(base, "cgroup.controllers")).split()
    missing = [c for c in ("memory", "pids") if c not in available]
    if missing:
        raise OSError(f"the {' and '.join(missing)} controller is not delegated here "
                      f"(cgroup.controllers: {' '.join(available) or 'none'})")
    _enable(base)
    _remove_stale(base)
    pool_dir = os.path.join(base, name)
    os.mkdir(pool_dir, 0o755)
    try:
        _write(os.path.join(pool_dir, "cgroup.subtree_control"), "+memory +pids")
    except OSError:
        _rmdir(pool_dir)
        raise
    return Hierarchy(V2, (("", pool_dir),))


def _enable(base: str) -> None:
    """Have `base` hand memory and pids down, moving its processes to a leaf if they are ours."""
    control = os.path.join(base, "cgroup.subtree_control")
    if {"memory", "pids"} <= set(_read(control).split()):
        return
    try:
        _write(control, "+memory +pids")
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
    ours = _own_tree()
    for _ in range(5):
        procs = [int(p) for p in _read(os.path.join(base, "cgroup.procs")).split()]
        foreign = [p for p in procs if p not in ours]
        if foreign:
            raise OSError(f"the group also holds processes of other programs ({foreign[:5]}); "
                          "delegate a group of its own to sandmle")
        leaf = os.path.join(base, LEAF)
        os.makedirs(leaf, exist_ok=True)
        for pid in procs:
            try:
                _write(os.path.join(leaf, "cgroup.procs"), str(pid))
            except ProcessLookupError:
                continue
        try:
            _write(control, "+memory +pids")
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
    raise OSError("processes kept arriving in the group while moving them to a leaf")


def _own_tree() -> set[int]:
    """This process's parent (the pool), this process and every descendant of the parent."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_read(f"/proc/{entry}/stat").rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    top = os.getppid()
    ours = {top}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                changed = True
    return ours


def _remove_stale(base: str) -> None:
    """Remove the groups of pools whose template died without cleaning up (SIGKILL)."""
    try:
        names = [e.name for e in os.scandir(base) if e.name.startswith("sandmle-")
                 and e.name != LEAF and e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for name in names:
        pid = name.split("-")[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            remove_pool(Hierarchy(V1, (("", os.path.join(base, name)),)))


def remove_pool(hierarchy: Hierarchy) -> None:
    """Delete the pool's groups and any job group a killed worker left in them."""
    for controller, path in hierarchy.pool_dirs:
        try:
            names = [e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for name in names:
            JobGroup(hierarchy, ((controller, os.path.join(path, name)),)).remove()
        _rmdir(path)


def _rmdir(path: str, attempts: int = 50) -> bool:
    """Remove a group folder, waiting briefly for its last processes to be gone."""
    for _ in range(attempts):
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return False
        time.sleep(0.01)
    return False


@dataclass(frozen=True)
class JobGroup:
    hierarchy: Hierarchy
    dirs: tuple[tuple[str, str], ...]      # (controller, the job's group folder)

    @classmethod
    def create(cls, hierarchy: Hierarchy, name: str, limits: Limits | None = None) -> "JobGroup":
        """Make the job's groups; with `limits`, set them too (else `set_limits` later)."""
        made = []
        try:
            for controller, pool_dir in hierarchy.pool_dirs:
                path = os.path.join(pool_dir, name)
                _rmdir(path)                       # a leftover of a killed worker
                os.mkdir(path, 0o755)
                made.append((controller, path))
            group = cls(hierarchy, tuple(made))
            if limits is not None:
                group.set_limits(limits)
            return group
        except BaseException:
            for _, path in made:
                _rmdir(path, attempts=1)
            raise

    def set_limits(self, limits: Limits) -> None:
        self._limit(limits.memory_mb * MB, limits.processes)

    def _path(self, controller: str, file: str) -> str | None:
        key = controller if self.hierarchy.kind == V1 else ""
        folder = dict(self.dirs).get(key)
        return None if folder is None else os.path.join(folder, file)

    def _limit(self, memory: int, tasks: int) -> None:
        if self.hierarchy.kind == V1:
            _write(self._path("memory", "memory.limit_in_bytes"), str(memory))
            memsw = self._path("memory", "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):                  # swap accounting on: no swap either
                _write(memsw, str(memory))
            pids = self._path("pids", "pids.max")
            if pids is not None:
                _write(pids, str(tasks))
            return
        _write(self._path("", "memory.max"), str(memory))
        for file, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            path = self._path("", file)
            if os.path.exists(path):
                _write(path, value)
        _write(self._path("", "pids.max"), str(tasks))

    @property
    def procs_files(self) -> tuple[str, ...]:
        """Where the job's first process writes "0" to join (before it runs anything)."""
        return tuple(os.path.join(path, "cgroup.procs") for _, path in self.dirs)

    def usage(self) -> Usage:
        if self.hierarchy.kind == V1:
            mem = "memory.memsw" if os.path.exists(self._path("memory", "memory.memsw.failcnt")) else "memory"
            peak = int(_read(self._path("memory", f"{mem}.max_usage_in_bytes")))
            hits = int(_read(self._path("memory", f"{mem}.failcnt")))
            ooms = _field(_read(self._path("memory", "memory.oom_control")), "oom_kill")
            pids = self._path("pids", "pids.events")
            refused = _field(_read(pids), "max") if pids is not None else 0
            cpu_file = self._path("cpuacct", "cpuacct.usage")
            cpu = int(_read(cpu_file)) / 1e9 if cpu_file is not None else None
        else:
            events = _read(self._path("", "memory.events"))
            peak_file = self._path("", "memory.peak")
            peak = int(_read(peak_file)) if os.path.exists(peak_file) else None
            hits, ooms = _field(events, "max"), _field(events, "oom_kill")
            refused = _field(_read(self._path("", "pids.events")), "max")
            cpu = _field(_read(self._path("", "cpu.stat")), "usage_usec") / 1e6
        return Usage(memory_peak_mb=None if peak is None else round(peak / MB, 1),
                     memory_limit_hits=hits, oom_kills=ooms, tasks_refused=refused, cpu_s=cpu)

    def kill(self) -> None:
        """SIGKILL every process left in the group (a plain-mode job's escaped daemons)."""
        if self.hierarchy.kind == V2:
            kill_file = self._path("", "cgroup.kill")
            if os.path.exists(kill_file):
                _write(kill_file, "1")
                return
        for path in self.procs_files:
            for _ in range(20):
                pids = [int(p) for p in _read(path).split()]
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.005)

    def remove(self) -> bool:
        """Delete the group; False when it could not be removed (still busy)."""
        done = True
        for _, path in self.dirs:
            if not _rmdir(path):
                self.kill()
                done = _rmdir(path) and done
        return done
