"""The memory watchdog: what a job tree holds, sampled from /proc where no cgroup is usable.

A sample adds up, over the job's processes (its first process's descendants and, for a plain
job, every process of its session):
- each process's proportional share of anonymous memory (`Pss_Anon` of smaps_rollup), so
  pages shared between the job's processes count once;
- memfd files the processes hold open (their allocated size, each file once);
- the used space of the job's private /tmp and /dev/shm (tmpfs; isolated jobs only).

What it cannot see: memory allocated and freed between two samples (every `INTERVAL_S`),
files in tmpfs mounts other than /tmp and /dev/shm, a plain job's process that starts its
own session after leaving the tree. Its allowance is the limit plus the anonymous memory the
job's first process shares with its warm worker at the start (a job that forks many children
may hold up to that much more than its limit). The rlimits stay the second line either way.
"""
from __future__ import annotations

import os

INTERVAL_S = 0.1
_KB = 1024


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, session id) of a process."""
    try:
        fields = _read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[3])
    except (OSError, IndexError, ValueError):
        return None


def job_processes(root: int, session: bool) -> list[int]:
    """`root` and its descendants (and with `session`, every process of root's session)."""
    parents, sessions = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(entry)
            if info is not None:
                parents[int(entry)], sessions[int(entry)] = info
    found = {root}
    if session:
        found |= {pid for pid, sid in sessions.items() if sid == root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return sorted(p for p in found if p in parents)


def anon_bytes(pid: int) -> int:
    """Proportional anonymous memory of a process (RssAnon where smaps_rollup is missing)."""
    try:
        text = _read(f"/proc/{pid}/smaps_rollup")
        key = "Pss_Anon:"
    except FileNotFoundError:
        return 0
    except OSError:
        try:
            text, key = _read(f"/proc/{pid}/status"), "RssAnon:"
        except OSError:
            return 0
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * _KB
    return 0


def rss_anon_bytes(pid: int) -> int:
    """Resident anonymous memory of a process (its share of the warm image included)."""
    try:
        for line in _read(f"/proc/{pid}/status").splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * _KB
    except OSError:
        pass
    return 0


def _memfd_bytes(pid: int, seen: set[tuple[int, int]]) -> int:
    total = 0
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        path = f"{folder}/{name}"
        try:
            if not os.readlink(path).startswith("/memfd:"):
                continue
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def _tmpfs_bytes(root: int) -> int:
    total = 0
    for folder in ("tmp", "dev/shm"):
        try:
            st = os.statvfs(f"/proc/{root}/root/{folder}")
        except OSError:
            continue
        total += (st.f_blocks - st.f_bfree) * st.f_frsize
    return total


def sample(root: int, isolated: bool) -> int:
    """Bytes the job tree holds now (see the module docstring)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for pid in job_processes(root, session=not isolated):
        total += anon_bytes(pid) + _memfd_bytes(pid, seen)
    if isolated:
        total += _tmpfs_bytes(root)
    return total
