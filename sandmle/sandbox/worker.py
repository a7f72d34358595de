"""A warm sandbox worker: `python -m sandmle.sandbox.worker CONFIG_JSON`.

The worker imports a preload set once (numpy, pandas, sklearn ...), then serves jobs read
from stdin, one at a time: it forks per job (see `child`; the fork for the next job is made
while idle, after each reply, and the job is handed to it through a pipe, so the ~10-25 ms
fork of the warm image is off the job's path), captures stdout/stderr through
pipes with byte caps (reading on and discarding past the cap, so a job printing gigabytes
neither blocks nor grows memory), enforces the wall-clock timeout by killing the whole
process tree, and answers with a `JobResult` on stdout (framing in `protocol`).

The worker is single-threaded: it starts with one BLAS/OpenMP thread and jemalloc's
background threads off, so forking is safe. (polars 1.x/2.x starts one idle cleanup
thread at import; it does not exist in the forked job, and polars works there.)

Isolation: with `isolate` on and root available, each job gets its own PID, mount,
network, IPC and UTS namespaces and the uid 100000 + worker pid; a probe job at startup
checks that this works. Otherwise the worker runs jobs as plain forks with rlimits
("rlimits") and says why in its ready message.
"""
from __future__ import annotations

import gc
import importlib
import json
import math
import os
import pickle
import select
import shutil
import signal
import stat
import sys
import tempfile
import time
from dataclasses import dataclass

from sandmle.sandbox import child, isolate, protocol, workdir
from sandmle.sandbox.job import Job, JobResult, Limits
from sandmle.sandbox.limits import address_space_bytes, count_user_tasks, is_memory_error
from sandmle.sandbox.protocol import SandboxError

NAMESPACES = "namespaces"
RLIMITS = "rlimits"
UID_BASE = 100_000
DRAIN_S = 0.5            # after the job ends, how long to wait for its pipes to close
READ_BYTES = 1 << 16


class _PoolGone(Exception):
    """The pool closed its end of the request pipe while a job ran."""


class _Tail:
    """The last `cap` bytes of a stream, and whether anything was dropped."""

    def __init__(self, cap: int):
        self.cap = cap
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.cap:
            del self.data[: len(self.data) - self.cap]
            self.truncated = True

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class _Spare:
    """A forked process waiting for its job on the `go_w` pipe, and its capture pipes."""

    pid: int
    go_w: int
    out_r: int
    err_r: int
    ctl_r: int


@dataclass(frozen=True)
class _Outcome:
    status: int              # wait status of the job
    cpu_s: float
    wall_s: float
    timed_out: bool
    out: _Tail
    err: _Tail


class Worker:
    """Runs jobs by forking from this (warm) process."""

    def __init__(self, isolate_jobs: bool, request_fd: int):
        self.request_fd = request_fd
        self.pid = os.getpid()
        self.uid = UID_BASE + self.pid
        self.python_bin = os.path.dirname(sys.executable)
        self.python_dirs = isolate.python_dirs(
            (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix))
        self.root_dir = ""
        self.running: int | None = None
        self.spare: _Spare | None = None
        self.mode, self.reason = RLIMITS, "isolation switched off (isolate=False)"
        if isolate_jobs:
            self.reason = isolate.unavailable_reason()
            if self.reason is None:
                try:
                    self.root_dir = _root_mount_point()
                except (SandboxError, OSError) as exc:
                    self.reason = str(exc)
            if self.reason is None:
                self.pid_ns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
                self.mode = NAMESPACES
                self.reason = self._probe()
                if self.reason is not None:
                    self.mode = RLIMITS

    def _probe(self) -> str | None:
        """Run a trivial job isolated; why it failed, or None."""
        probe_dir = tempfile.mkdtemp(prefix="sandmle-probe-")
        try:
            result = self.execute(Job(work_dir=probe_dir, code="pass",
                                      limits=Limits(timeout_s=30.0)))
        except (SandboxError, OSError) as exc:
            return f"namespace probe failed: {exc}"
        finally:
            shutil.rmtree(probe_dir, ignore_errors=True)
        if not result.ok:
            return f"namespace probe job failed: {result.stderr_tail.strip()[-300:]}"
        return None

    def close(self) -> None:
        self._discard_spare()

    def on_term(self, signum, frame) -> None:
        """SIGTERM from the pool: take the running job (and the spare) down with this worker."""
        for pid in (self.running, self.spare.pid if self.spare else None):
            if pid is not None:
                self._kill(pid)
        os._exit(0)

    def _kill(self, pid: int) -> None:
        """SIGKILL the job's whole tree. `pid` is this worker's unreaped child: no reuse."""
        os.kill(pid, signal.SIGKILL)          # isolated: PID 1, whose death ends the namespace
        if self.mode == RLIMITS:
            try:
                os.killpg(pid, signal.SIGKILL)    # the job's session / process group
            except ProcessLookupError:
                pass

    def _fork(self) -> int:
        if self.mode == NAMESPACES:
            isolate.unshare(isolate.CLONE_NEWPID)     # applies to the next fork only ...
        try:
            return os.fork()
        finally:
            if self.mode == NAMESPACES and os.getpid() == self.pid:
                isolate.setns(self.pid_ns_fd, isolate.CLONE_NEWPID)   # ... then undone

    def refill(self) -> None:
        """Fork the next job's process now, while idle, so a job does not wait for the fork."""
        if self.spare is not None and os.waitpid(self.spare.pid, os.WNOHANG)[0] != 0:
            for fd in (self.spare.go_w, self.spare.out_r, self.spare.err_r, self.spare.ctl_r):
                os.close(fd)                  # it died while waiting (killed from outside)
            self.spare = None
        if self.spare is None:
            self.spare = self._fork_spare()

    def _fork_spare(self) -> _Spare:
        go_r, go_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = self._fork()
        except OSError:
            for fd in (go_r, go_w, out_r, out_w, err_r, err_w, ctl_r, ctl_w):
                os.close(fd)
            raise
        if pid == 0:
            try:
                for fd in (go_w, out_r, err_r, ctl_r):
                    os.close(fd)
                child.spare_main(go_r, out_w, err_w, ctl_w)
            finally:
                os._exit(child.SETUP_FAILED_EXIT)
        for fd in (go_r, out_w, err_w, ctl_w):
            os.close(fd)
        return _Spare(pid, go_w, out_r, err_r, ctl_r)

    def _discard_spare(self) -> None:
        spare, self.spare = self.spare, None
        if spare is None:
            return
        os.close(spare.go_w)                  # end of file: the spare exits without running
        os.waitpid(spare.pid, 0)
        for fd in (spare.out_r, spare.err_r, spare.ctl_r):
            os.close(fd)

    def execute(self, job: Job) -> JobResult:
        isolated = self.mode == NAMESPACES
        prepared = workdir.prepare(job, mount_input=isolated,
                                   owner=(self.uid, self.uid) if isolated else None)
        work_path = isolate.SANDBOX_WORK if isolated else prepared.work_dir
        spec = child.ChildSpec(
            job=job, script_path=os.path.join(work_path, prepared.script_name),
            work_path=work_path, uid=self.uid, gid=self.uid,
            image_bytes=address_space_bytes(),
            nproc_base=0 if isolated or os.geteuid() == 0 else count_user_tasks(os.getuid()),
            python_bin=self.python_bin, visible_dirs=self.python_dirs if isolated else None)
        plan = None
        if isolated:
            plan = isolate.RootPlan(
                new_root=self.root_dir, python_dirs=self.python_dirs, work_dir=prepared.work_dir,
                public_dir=os.path.realpath(job.public_dir) if job.public_dir else None,
                uid=self.uid, gid=self.uid, tmp_mb=max(64, job.limits.file_size_mb))
        payload = pickle.dumps((spec, plan))
        self.refill()
        spare, self.spare = self.spare, None
        start = time.monotonic()
        self.running = spare.pid
        try:
            try:
                _write_all(spare.go_w, payload)
            except OSError as exc:
                self._kill(spare.pid)
                os.waitpid(spare.pid, 0)
                os.close(spare.ctl_r)
                raise SandboxError(f"the job's process died before it started: {exc}") from exc
            finally:
                os.close(spare.go_w)
            outcome = self._supervise(spare.pid, spare.out_r, spare.err_r, start, job.limits)
        finally:
            self.running = None
            for fd in (spare.out_r, spare.err_r):
                os.close(fd)
        report = _read_available(spare.ctl_r)
        os.close(spare.ctl_r)
        errors = [line[6:] for line in report.splitlines() if line.startswith("error ")]
        if errors:
            raise SandboxError(errors[0])
        code = os.waitstatus_to_exitcode(outcome.status)
        exit_code, sig = (code, None) if code >= 0 else (None, -code)
        stderr_tail = outcome.err.text()
        return JobResult(
            exit_code=exit_code, signal=sig, timed_out=outcome.timed_out,
            memory_exceeded=not outcome.timed_out and is_memory_error(stderr_tail, exit_code),
            wall_s=round(outcome.wall_s, 4), cpu_s=round(outcome.cpu_s, 4),
            stdout_tail=outcome.out.text(), stderr_tail=stderr_tail,
            files_written=workdir.files_written(prepared), isolation=self.mode,
            output_truncated=outcome.out.truncated or outcome.err.truncated)

    def _supervise(self, pid: int, out_r: int, err_r: int, start: float,
                   limits: Limits) -> _Outcome:
        tails = {out_r: _Tail(limits.output_bytes), err_r: _Tail(limits.output_bytes)}
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        for fd in (out_r, err_r, pidfd, self.request_fd):
            poller.register(fd, select.POLLIN)
        open_pipes = {out_r, err_r}
        deadline = start + limits.timeout_s
        exited_at: float | None = None
        timed_out = False
        try:
            while True:
                now = time.monotonic()
                if exited_at is None and not timed_out and now >= deadline:
                    self._kill(pid)
                    timed_out = True
                if exited_at is None:
                    wait_s = 1.0 if timed_out else deadline - now
                elif not open_pipes or now >= exited_at + DRAIN_S:
                    break
                else:
                    wait_s = exited_at + DRAIN_S - now
                for fd, _ in poller.poll(max(0, math.ceil(wait_s * 1000))):
                    if fd == pidfd:
                        exited_at = time.monotonic()
                        poller.unregister(pidfd)
                        if self.mode == RLIMITS:
                            self._kill(pid)       # what is left of its process group
                    elif fd == self.request_fd:
                        self._kill(pid)
                        raise _PoolGone
                    else:
                        chunk = os.read(fd, READ_BYTES)
                        if chunk:
                            tails[fd].add(chunk)
                        else:
                            poller.unregister(fd)
                            open_pipes.discard(fd)
        finally:
            os.close(pidfd)
        _, status, usage = os.wait4(pid, 0)
        return _Outcome(status=status, cpu_s=usage.ru_utime + usage.ru_stime,
                        wall_s=exited_at - start, timed_out=timed_out,
                        out=tails[out_r], err=tails[err_r])


def _root_mount_point() -> str:
    """The empty host directory each job mounts its tmpfs root on, in its own mount
    namespace (so one directory serves every worker and nothing is left behind)."""
    path = os.path.join(tempfile.gettempdir(), "sandmle-root")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise SandboxError(f"{path} must be a directory owned by uid {os.geteuid()}")
    return path


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_available(fd: int) -> str:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, READ_BYTES)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _thread_names() -> list[str]:
    names = []
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/comm") as fh:
            names.append(fh.read().strip())
    return names


def preload(entry: str) -> None:
    """Import a module, or with "module:function" import it and call the function."""
    name, _, function = entry.partition(":")
    module = importlib.import_module(name)
    if function:
        getattr(module, function)()


def main(argv: list[str] | None = None) -> int:
    config = json.loads((argv if argv is not None else sys.argv[1:])[0])
    request_fd, reply_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)                 # stray prints go to stderr, never into the protocol
    try:
        for entry in config["preload"]:
            preload(entry)
    except Exception as exc:
        protocol.send(reply_fd, {"error": f"preloading failed: {type(exc).__name__}: {exc}"})
        return 1
    child.seed_generators(0)      # a first numpy seeding can cost ~10 ms: pay it here, not per job
    gc.collect()
    gc.freeze()                   # keep forked jobs' garbage collector off the shared pages
    worker = Worker(bool(config["isolate"]), request_fd)
    signal.signal(signal.SIGTERM, worker.on_term)
    worker.refill()
    protocol.send(reply_fd, {"ready": True, "pid": worker.pid, "isolation": worker.mode,
                             "reason": worker.reason, "threads": _thread_names()})
    try:
        while True:
            message = protocol.recv(request_fd)
            if message is None:
                return 0
            try:
                result = worker.execute(Job.from_json(message["job"]))
                reply = {"result": result.to_json()}
            except _PoolGone:
                return 0
            except Exception as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            protocol.send(reply_fd, reply)
            worker.refill()
    finally:
        worker.close()


if __name__ == "__main__":
    sys.exit(main())
