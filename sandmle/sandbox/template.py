"""The pool's template process: `python -m sandmle.sandbox.template CONFIG_JSON CONTROL_FD`.

One template per pool imports the preload set once (numpy, pandas, sklearn ...), sets up
the pool's cgroup (cgroup.py), then only forks; it never sees a job's code, paths,
environment or output. The process tree of a pool:

    pool (the caller)
     └─ template          preloaded, clean: forks one slot per worker on request   main()
         └─ slot          a fork server, clean: forks the worker once, then jobs   serve_slot()
             ├─ worker    talks to the pool, prepares folders, supervises jobs    worker.py
             └─ job       forked from the slot's clean image, ahead of time        child.py

Imports are paid once per pool, a replacement worker is a fork (milliseconds, not a new
Python), and a job's memory holds the preloaded modules and nothing of earlier jobs: the
worker that handled them is its sibling, not its ancestor.

Slot <-> worker, over a SOCK_SEQPACKET socket pair (small JSON messages, descriptors passed
with SCM_RIGHTS):
- worker -> slot: b"N" (fork a job process in a new PID namespace) or b"P" (plain fork);
- slot -> worker: {"spare": pid} with [pidfd, go_w, out_r, err_r, ctl_r] (child.py's pipes);
- slot -> worker: {"exit": pid, "status": wait status, "cpu_s": seconds} once a job
  process has ended and the slot (its parent) has reaped it. A plain job's process group is
  killed before it is reaped, so nothing it started outlives it unnoticed.
Pool -> template, over CONTROL_FD (SOCK_SEQPACKET): {"op": "slot"} with the worker's pool
channel as one descriptor; the template answers {"slot": pid} or {"error": ...}.
"""
from __future__ import annotations

import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import traceback

from sandmle.sandbox import cgroup, child, isolate
from sandmle.sandbox.protocol import recv_packet as recv, send_packet as send
from sandmle.sandbox.protocol import SandboxError



def preload(entry: str) -> None:
    """Import a module, or with "module:function" import it and call the function."""
    name, _, function = entry.partition(":")
    module = importlib.import_module(name)
    if function:
        getattr(module, function)()


def _keep_only(keep: set[int]) -> None:
    """Close every descriptor of this process except `keep` (a forked child's first act)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    config, control_fd = json.loads(args[0]), int(args[1])
    control = socket.socket(fileno=control_fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)                 # stray prints go to stderr, never into a protocol
    # No parent-death signal here: it follows the pool's thread that started the template,
    # not the pool. A pool that dies (even by kill -9) closes CONTROL_FD, and the loop below
    # then ends the slots and removes the cgroups; so does SIGTERM.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        for entry in config["preload"]:
            preload(entry)
    except Exception as exc:
        send(control, {"error": f"preloading failed: {type(exc).__name__}: {exc}"})
        return 1
    child.seed_generators(0)      # a first numpy seeding can cost ~10 ms: pay it here, not per job
    hierarchy, reason = None, "cgroups switched off (cgroups=False)"
    if config["cgroups"]:
        hierarchy, reason = cgroup.setup_pool(f"{os.getpid()}")
    gc.collect()
    gc.freeze()                   # keep forked processes' garbage collector off shared pages
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)      # slots are reaped by the kernel
    slots: list[int] = []                               # their pidfds
    send(control, {"ready": True, "pid": os.getpid(),
                   "accounting": hierarchy.kind if hierarchy else "watchdog",
                   "accounting_reason": reason})
    try:
        while True:
            message, fds = recv(control, 1)
            if message is None:
                return 0
            if message.get("op") != "slot" or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                send(control, {"error": f"unknown request {message!r}"})
                continue
            try:
                pid = os.fork()
            except OSError as exc:
                os.close(fds[0])
                send(control, {"error": f"cannot fork a worker: {exc}"})
                continue
            if pid == 0:
                code = 1
                try:
                    control.close()
                    code = serve_slot(fds[0], config, hierarchy)
                except BaseException:
                    traceback.print_exc()
                finally:
                    os._exit(code)
            os.close(fds[0])
            slots.append(os.pidfd_open(pid))
            send(control, {"slot": pid})
    finally:
        for pidfd in slots:                 # each slot's worker and jobs die with it
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if hierarchy is not None:
            cgroup.remove_pool(hierarchy)


class _Slot:
    """The fork server of one worker: forks the worker, then job processes on request."""

    def __init__(self, sock: socket.socket, isolate_ok: bool):
        self.sock = sock
        self.jobs: dict[int, tuple[int, bool]] = {}      # pid -> (pidfd, plain)
        self.pid_ns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY) if isolate_ok else None

    def fork_job(self, namespaced: bool) -> int:
        """Fork a job process, hand its pipes and a pidfd to the worker; its pidfd here."""
        pipes = [os.pipe() for _ in range(4)]          # go, out, err, ctl
        child_ends = {pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]}
        me = os.getpid()
        try:
            if namespaced:
                isolate.unshare(isolate.CLONE_NEWPID)   # applies to the next fork only ...
            try:
                pid = os.fork()
            finally:
                if namespaced and os.getpid() == me:
                    isolate.setns(self.pid_ns_fd, isolate.CLONE_NEWPID)   # ... then undone
        except OSError:
            for pair in pipes:
                for fd in pair:
                    os.close(fd)
            raise
        if pid == 0:
            try:
                _keep_only(child_ends)
                child.spare_main(pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1])
            finally:
                os._exit(child.SETUP_FAILED_EXIT)
        for fd in child_ends:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.jobs[pid] = (pidfd, not namespaced)
        ends = [pidfd, pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0]]
        send(self.sock, {"spare": pid}, ends)
        for fd in ends[1:]:
            os.close(fd)
        return pidfd

    def reap(self, pid: int) -> None:
        pidfd, plain = self.jobs.pop(pid)
        if plain:
            try:
                os.killpg(pid, signal.SIGKILL)        # what is left of its session's group
            except (ProcessLookupError, PermissionError):
                pass
        _, status, usage = os.wait4(pid, 0)
        os.close(pidfd)
        send(self.sock, {"exit": pid, "status": status,
                         "cpu_s": usage.ru_utime + usage.ru_stime})

    def kill_all(self) -> None:
        for pid, (pidfd, _) in list(self.jobs.items()):
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass


def serve_slot(pool_fd: int, config: dict, hierarchy: cgroup.Hierarchy | None) -> int:
    """A slot: fork the worker (which talks to the pool on `pool_fd`), then serve it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)     # this process reaps its children
    isolate.die_with_parent()
    slot_sock, worker_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    worker_pid = os.fork()
    if worker_pid == 0:
        code = 1
        try:
            slot_sock.close()
            from sandmle.sandbox import worker

            code = worker.main(pool_fd, worker_sock, config, hierarchy)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(pool_fd)
    worker_sock.close()
    worker_pidfd = os.pidfd_open(worker_pid)
    slot = _Slot(slot_sock, config["isolate"] and isolate.unavailable_reason() is None)
    poller = select.poll()
    poller.register(slot_sock, select.POLLIN)
    poller.register(worker_pidfd, select.POLLIN)
    try:
        while True:
            for fd, _ in poller.poll():
                if fd == worker_pidfd:
                    return 0                              # the worker is gone: so is the slot
                if fd == slot_sock.fileno():
                    try:
                        request = slot_sock.recv(16)
                    except OSError:
                        request = b""
                    if not request:
                        return 0
                    try:
                        poller.register(slot.fork_job(namespaced=request == b"N"), select.POLLIN)
                    except (OSError, SandboxError) as exc:
                        send(slot_sock, {"error": f"cannot fork a job process: {exc}"})
                else:
                    pid = next(p for p, (f, _) in slot.jobs.items() if f == fd)
                    poller.unregister(fd)
                    slot.reap(pid)
    finally:
        slot.kill_all()


if __name__ == "__main__":
    sys.exit(main())
