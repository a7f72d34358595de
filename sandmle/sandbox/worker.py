"""A sandbox worker: runs the jobs the pool sends it, one at a time.

A worker is forked by its slot (template.py) and talks to the pool over its own channel
(framing in `protocol`). For each job it prepares the work folder, makes the job's cgroup,
hands the job to a process its slot forked ahead of time from the clean preloaded image
(the worker's own memory, which holds the requests and replies of earlier jobs, is never
copied into a job), captures stdout/stderr through pipes with byte caps (reading on and
discarding past the cap, so a job printing gigabytes neither blocks nor grows memory),
enforces the wall-clock timeout by killing the whole process tree, reads what the cgroup
(or the memory watchdog) saw, checks the work folder's caps and answers with a `JobResult`.

Isolation: with `isolate` on and root available, each job gets its own PID, mount,
network, IPC and UTS namespaces and a uid of its own work folder (100000 + a hash of its
path, so files keep their owner from step to step); a probe job at startup checks that
this works. Otherwise the worker runs jobs as plain forks with rlimits ("rlimits") and says
why in its ready message.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import os
import pickle
import select
import signal
import socket
import stat
import sys
import tempfile
import time
from dataclasses import dataclass

from sandmle.sandbox import cgroup, child, isolate, protocol, watchdog, workdir
from sandmle.sandbox.job import Job, JobResult, Limits
from sandmle.sandbox.limits import address_space_bytes, count_user_tasks, is_memory_error
from sandmle.sandbox.protocol import SandboxError

NAMESPACES = "namespaces"
RLIMITS = "rlimits"
UID_BASE = 100_000
DRAIN_S = 0.5            # after the job ends, how long to wait for its pipes to close
READ_BYTES = 1 << 16
MB = 1024 * 1024
SPARE_FDS = 5            # pidfd, go_w, out_r, err_r, ctl_r (template.py)
SPARES = 2               # job processes kept forked ahead: back-to-back jobs wait for none


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
    """A job process the slot forked, waiting for its job on `go_w`, and its pipes."""

    pid: int
    pidfd: int
    go_w: int
    out_r: int
    err_r: int
    ctl_r: int
    group: cgroup.JobGroup | None = None     # the group it joined while waiting



@dataclass(frozen=True)
class _Outcome:
    status: int              # wait status of the job
    cpu_s: float             # of the job process and the children it reaped
    wall_s: float
    timed_out: bool
    out: _Tail
    err: _Tail
    watchdog_peak: int | None    # bytes, when the watchdog sampled
    watchdog_killed: bool


class _SlotClient:
    """The worker's side of its slot's socket: spares on request (answered asynchronously),
    exit statuses as they come."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.exits: dict[int, tuple[int, float]] = {}
        self.arrived: list[_Spare] = []
        self.requested = 0

    def request(self, namespaced: bool) -> None:
        self.sock.send(b"N" if namespaced else b"P")
        self.requested += 1

    def _read(self, timeout_s: float | None) -> bool:
        """Take in one message if one comes within `timeout_s` (None: wait); whether one did."""
        if timeout_s is not None and not select.select([self.sock], [], [], timeout_s)[0]:
            return False
        message, fds = protocol.recv_packet(self.sock, SPARE_FDS)
        if message is None:
            raise SandboxError("the worker's slot process is gone")
        if "spare" in message:
            self.requested -= 1
            self.arrived.append(_Spare(message["spare"], *fds))
        elif "error" in message:
            self.requested -= 1
            raise SandboxError(message["error"])
        elif "exit" in message:
            self.exits[message["exit"]] = (message["status"], message["cpu_s"])
        return True

    def take_arrived(self, block: bool) -> list[_Spare]:
        """Spares that have arrived (with `block`, at least one if any was requested)."""
        while self._read(0):
            pass
        while block and not self.arrived and self.requested:
            self._read(None)
        arrived, self.arrived = self.arrived, []
        return arrived

    def wait_exit(self, pid: int) -> tuple[int, float]:
        """(wait status, CPU seconds) of an ended job process, once its slot reaped it."""
        while pid not in self.exits:
            self._read(None)
        return self.exits.pop(pid)


def job_uid(work_dir: str) -> int:
    """The uid of every job in `work_dir`: stable per folder, so its files keep their owner."""
    return UID_BASE + int.from_bytes(hashlib.sha1(os.fsencode(work_dir)).digest()[:3], "big")


class Worker:
    """Runs jobs in processes its slot forks from the clean template image."""

    def __init__(self, isolate_jobs: bool, request_fd: int, slot: _SlotClient,
                 hierarchy: cgroup.Hierarchy | None):
        self.request_fd = request_fd
        self.slot = slot
        self.hierarchy = hierarchy
        self.pid = os.getpid()
        self.jobs = 0
        self.python_bin = os.path.dirname(sys.executable)
        self.python_dirs = isolate.python_dirs(
            (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix))
        self.root_dir = ""
        self.running: _Spare | None = None
        self.spares: collections.deque[_Spare] = collections.deque()
        self.retired: list[cgroup.JobGroup] = []
        self.mode, self.reason = RLIMITS, "isolation switched off (isolate=False)"
        if isolate_jobs:
            self.reason = isolate.unavailable_reason()
            if self.reason is None:
                try:
                    self.root_dir = _root_mount_point()
                except (SandboxError, OSError) as exc:
                    self.reason = str(exc)
            if self.reason is None:
                self.mode = NAMESPACES
                self.reason = self._probe()
                if self.reason is not None:
                    self._discard_spares()
                    self.mode = RLIMITS

    @property
    def accounting(self) -> str:
        return self.hierarchy.kind if self.hierarchy is not None else "watchdog"

    def _probe(self) -> str | None:
        """Run a trivial job isolated; why it failed, or None."""
        probe_dir = tempfile.mkdtemp(prefix="sandmle-probe-")
        try:
            result = self.execute(Job(work_dir=probe_dir, code="pass",
                                      limits=Limits(timeout_s=30.0)))
        except (SandboxError, OSError) as exc:
            return f"namespace probe failed: {exc}"
        finally:
            workdir.remove_tree(probe_dir)
        if not result.ok:
            return f"namespace probe job failed: {result.stderr_tail.strip()[-300:]}"
        return None

    def close(self) -> None:
        """At exit: end the spares without waiting to hear of them (the slot may be gone)."""
        while self.spares:
            spare = self.spares.pop()
            _kill(spare)
            for fd in (spare.pidfd, spare.go_w, spare.out_r, spare.err_r, spare.ctl_r):
                os.close(fd)

    def on_term(self, signum, frame) -> None:
        """SIGTERM from the pool: take the running job (and the spare) down with this worker."""
        for spare in (self.running, *self.spares):
            if spare is not None:
                _kill(spare)
        os._exit(0)

    def refill(self, block: bool = False) -> None:
        """While idle: remove the last job's cgroup and keep SPARES job processes forked and
        moved into their own new groups, so a job waits for neither (a cgroup v1 move takes
        ~1-30 ms here, a fork of the warm image ~10-25 ms)."""
        while self.retired:
            self.retired.pop().remove()
        dead = [s for s in self.spares if select.select([s.pidfd], [], [], 0)[0]]
        for spare in dead:                    # died while waiting (killed from outside)
            self.spares.remove(spare)
            self._discard(spare)
        for spare in self.slot.take_arrived(block and not self.spares):
            adopted = self._adopt(spare)
            if adopted is not None:
                self.spares.append(adopted)
        while len(self.spares) + self.slot.requested < SPARES:
            self.slot.request(self.mode == NAMESPACES)
        if block and not self.spares:
            self.refill(block=True)

    def _adopt(self, spare: _Spare) -> _Spare | None:
        """Give a new spare its job's cgroup to join (it joins while it waits); None when
        the spare died before it could be told (killed from outside)."""
        group = None
        try:
            if self.hierarchy is not None:
                self.jobs += 1
                group = cgroup.JobGroup.create(self.hierarchy, f"job-{self.pid}-{self.jobs}")
            _write_all(spare.go_w, child.cgroup_prelude(group.procs_files if group else ()))
        except BaseException as exc:
            self._discard(dataclasses.replace(spare, group=group))
            if isinstance(exc, BrokenPipeError):
                return None
            raise
        return dataclasses.replace(spare, group=group)

    def _discard_spares(self) -> None:
        while self.spares:
            self._discard(self.spares.pop())

    def _discard(self, spare: _Spare) -> None:
        os.close(spare.go_w)                  # end of file: the spare exits without running
        self.slot.wait_exit(spare.pid)
        for fd in (spare.pidfd, spare.out_r, spare.err_r, spare.ctl_r):
            os.close(fd)
        if spare.group is not None:
            spare.group.remove()

    def execute(self, job: Job) -> JobResult:
        isolated = self.mode == NAMESPACES
        os.makedirs(job.work_dir, exist_ok=True)
        uid = job_uid(os.path.realpath(job.work_dir))
        prepared = workdir.prepare(job, mount_input=isolated, owner=(uid, uid) if isolated else None)
        if prepared.over_caps is not None:
            return _refused(job, prepared.over_caps, self.mode, self.accounting)
        work_path = isolate.SANDBOX_WORK if isolated else prepared.work_dir
        spec = child.ChildSpec(
            job=job, script_path=os.path.join(work_path, prepared.script_name),
            work_path=work_path, uid=uid, gid=uid, image_bytes=address_space_bytes(),
            nproc_base=_nproc_base(job.limits, self.hierarchy, isolated),
            python_bin=self.python_bin, visible_dirs=self.python_dirs if isolated else None)
        plan = None
        if isolated:
            plan = isolate.RootPlan(
                new_root=self.root_dir, python_dirs=self.python_dirs, work_dir=prepared.work_dir,
                public_dir=os.path.realpath(job.public_dir) if job.public_dir else None,
                uid=uid, gid=uid, tmp_mb=max(64, job.limits.file_size_mb), devices=job.devices)
        self.refill(block=True)
        spare = self.spares.popleft()
        group, usage = spare.group, None
        try:
            if group is not None:
                group.set_limits(job.limits)
            outcome, report = self._run(spare, spec, plan, job.limits)
            if group is not None:
                usage = group.usage()
                group.kill()                  # a plain job's escaped daemons
        finally:
            if group is not None:
                self.retired.append(group)    # removed after the reply (refill)
        errors = [line[6:] for line in report.splitlines() if line.startswith("error ")]
        if errors:
            raise SandboxError(errors[0])
        finished = workdir.finish(prepared, job.limits)
        return _result(outcome, usage, finished, self.mode, self.accounting)

    def _run(self, spare: _Spare, spec: child.ChildSpec, plan,
             limits: Limits) -> tuple[_Outcome, str]:
        payload = pickle.dumps((spec, plan))
        watch = spare.group is None
        baseline = watchdog.rss_anon_bytes(spare.pid) if watch else 0
        start = time.monotonic()
        self.running = spare
        try:
            try:
                _write_all(spare.go_w, payload)
            except OSError as exc:
                _kill(spare)
                self.slot.wait_exit(spare.pid)
                raise SandboxError(f"the job's process died before it started: {exc}") from exc
            finally:
                os.close(spare.go_w)
            allowance = baseline + limits.memory_mb * MB if watch else None
            outcome = self._supervise(spare, start, limits, allowance)
        finally:
            self.running = None
            for fd in (spare.out_r, spare.err_r, spare.pidfd):
                os.close(fd)
        report = _read_available(spare.ctl_r)
        os.close(spare.ctl_r)
        return outcome, report

    def _supervise(self, spare: _Spare, start: float, limits: Limits,
                   allowance: int | None) -> _Outcome:
        tails = {spare.out_r: _Tail(limits.output_bytes), spare.err_r: _Tail(limits.output_bytes)}
        poller = select.poll()
        for fd in (spare.out_r, spare.err_r, spare.pidfd, self.request_fd):
            poller.register(fd, select.POLLIN)
        open_pipes = {spare.out_r, spare.err_r}
        deadline = start + limits.timeout_s
        next_sample = start + watchdog.INTERVAL_S
        exited_at: float | None = None
        timed_out = watched_out = False
        peak = 0 if allowance is not None else None
        while True:
            now = time.monotonic()
            if exited_at is None and not (timed_out or watched_out):
                if now >= deadline:
                    _kill(spare)
                    timed_out = True
                elif allowance is not None and now >= next_sample:
                    used = watchdog.sample(spare.pid, self.mode == NAMESPACES)
                    peak = max(peak, used)
                    next_sample = now + watchdog.INTERVAL_S
                    if used > allowance:
                        _kill(spare)
                        watched_out = True
            if exited_at is None:
                wait_s = 1.0 if (timed_out or watched_out) else deadline - now
                if allowance is not None and not watched_out:
                    wait_s = min(wait_s, max(0.0, next_sample - now))
            elif not open_pipes or now >= exited_at + DRAIN_S:
                break
            else:
                wait_s = exited_at + DRAIN_S - now
            for fd, _ in poller.poll(max(0, math.ceil(wait_s * 1000))):
                if fd == spare.pidfd:
                    exited_at = time.monotonic()
                    poller.unregister(spare.pidfd)
                elif fd == self.request_fd:
                    _kill(spare)
                    raise _PoolGone
                else:
                    chunk = os.read(fd, READ_BYTES)
                    if chunk:
                        tails[fd].add(chunk)
                    else:
                        poller.unregister(fd)
                        open_pipes.discard(fd)
        status, cpu_s = self.slot.wait_exit(spare.pid)
        return _Outcome(status=status, cpu_s=cpu_s, wall_s=exited_at - start,
                        timed_out=timed_out, out=tails[spare.out_r], err=tails[spare.err_r],
                        watchdog_peak=peak, watchdog_killed=watched_out)


def _nproc_base(limits: Limits, hierarchy: cgroup.Hierarchy | None, isolated: bool) -> int:
    """What RLIMIT_NPROC adds to Limits.processes: with a tasks cgroup the rlimit is a looser
    second line (so the cgroup, which reports, is what stops a fork bomb); a plain job's uid
    is shared, so the tasks it already has are added."""
    if hierarchy is not None and hierarchy.counts_tasks:
        return limits.processes
    return 0 if isolated or os.geteuid() == 0 else count_user_tasks(os.getuid())


def _kill(spare: _Spare) -> None:
    """SIGKILL the job's process (PID 1 of its namespace, whose death ends the namespace;
    a plain job's process group is killed by its slot as it reaps it)."""
    try:
        signal.pidfd_send_signal(spare.pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _refused(job: Job, why: str, mode: str, accounting: str) -> JobResult:
    return JobResult(
        exit_code=None, signal=None, timed_out=False, memory_exceeded=False, wall_s=0.0,
        cpu_s=0.0, stdout_tail="",
        stderr_tail=f"sandbox: the job was not run: its work folder holds {why} "
                    f"(limits: {job.limits.work_files} entries, {job.limits.work_mb} MB)\n",
        files_written=(), isolation=mode, work_exceeded=True, accounting=accounting)


def _result(outcome: _Outcome, usage: cgroup.Usage | None, finished: workdir.Finished,
            mode: str, accounting: str) -> JobResult:
    code = os.waitstatus_to_exitcode(outcome.status)
    exit_code, sig = (code, None) if code >= 0 else (None, -code)
    stderr_tail = outcome.err.text()
    succeeded = exit_code == 0 and not outcome.timed_out
    if usage is not None:
        memory = usage.oom_kills > 0 or (not succeeded and usage.memory_limit_hits > 0)
        peak_mb, cpu_s, refused = usage.memory_peak_mb, usage.cpu_s, usage.tasks_refused > 0
    else:
        memory = outcome.watchdog_killed
        peak_mb = round(outcome.watchdog_peak / MB, 1) if outcome.watchdog_peak else None
        cpu_s, refused = None, False
    memory = memory or (not outcome.timed_out and is_memory_error(stderr_tail, exit_code))
    if finished.work_exceeded:
        stderr_tail += (f"\nsandbox: the work folder went over its limit ({finished.work_exceeded}); "
                        "the files this job created or changed were removed\n")
    return JobResult(
        exit_code=exit_code, signal=sig, timed_out=outcome.timed_out, memory_exceeded=memory,
        wall_s=round(outcome.wall_s, 4),
        cpu_s=round(cpu_s if cpu_s is not None else outcome.cpu_s, 4),
        stdout_tail=outcome.out.text(), stderr_tail=stderr_tail,
        files_written=finished.files_written, isolation=mode,
        output_truncated=outcome.out.truncated or outcome.err.truncated,
        processes_exceeded=refused, work_exceeded=finished.work_exceeded is not None,
        files_truncated=finished.files_truncated, memory_peak_mb=peak_mb, accounting=accounting)


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


def main(pool_fd: int, slot_sock: socket.socket, config: dict,
         hierarchy: cgroup.Hierarchy | None) -> int:
    """Serve the pool's requests on `pool_fd` until it closes the channel."""
    isolate.die_with_parent()
    worker = Worker(bool(config["isolate"]), pool_fd, _SlotClient(slot_sock), hierarchy)
    signal.signal(signal.SIGTERM, worker.on_term)
    try:
        worker.refill()
        protocol.send(pool_fd, {"ready": True, "pid": worker.pid, "isolation": worker.mode,
                                "reason": worker.reason, "accounting": worker.accounting})
        while True:
            message = protocol.recv(pool_fd)
            if message is None:
                return 0
            try:
                result = worker.execute(Job.from_json(message["job"]))
                reply = {"result": result.to_json()}
            except _PoolGone:
                return 0
            except Exception as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            protocol.send(pool_fd, reply)
            worker.refill()
    except (SandboxError, OSError) as exc:    # the slot is gone (the pool is closing)
        try:
            protocol.send(pool_fd, {"error": str(exc)})
        except OSError:
            pass
        return 1
    finally:
        worker.close()
