"""A warm, isolated pool of sandbox workers for untrusted (hostile) agent code.

    with Pool() as pool:                     # one worker per CPU core, sklearn & co. preloaded
        result = pool.run(Job(work_dir=..., public_dir=task.public_dir, code=src))
        result = await pool.arun(job)        # from asyncio
    result = run_job(job)                    # one-shot: a single worker, nothing preloaded

The pool starts one template process (template.py) that imports the preload set once;
workers and jobs are forked from it, so a job pays ~tens of ms instead of the ~1.3 s a
fresh Python with sklearn costs (REFERENCE §9), a pool of N workers pays its imports once,
and a job's memory holds nothing of earlier jobs. `run` is blocking and thread-safe; many
threads and coroutines may run jobs at once, each with its own limits and timeout. A job's
failure (crash, timeout, memory, tasks, work-folder caps) is data in its `JobResult`; a
worker that dies is replaced by a fork (in the call that saw it die) and its job reported as
failed. `SandboxError` is raised only when the sandbox itself fails. Paths in a `Job` are
host paths; one job at a time per work folder.

Isolation (`pool.isolation == "namespaces"`, Linux as root): per job, new PID, mount,
network (no interfaces up: no network at all), IPC and UTS namespaces; a tmpfs root with
read-only system and Python directories, the work folder read-write and the task's public
folder read-only (nothing else of the host: not the task's private folder, other tasks,
other jobs, the repository, /root); private /tmp and /dev/shm; an unprivileged uid (one per
work folder) with no capabilities and no_new_privs; a fresh session keyring and a seccomp
filter denying the key syscalls and a few kernel surfaces (seccomp.py); a wall-clock
timeout that kills the whole PID namespace; a scrubbed environment; stdin from /dev/null;
stdout/stderr tails capped. Where this is unavailable (not root, not Linux, namespaces
refused), or with `isolate=False`, jobs run as plain forks with rlimits
(`isolation == "rlimits"`, in every result, with one warning on stderr per process): they
then see the file system and network the pool's user sees and run as that user (so, as
root, RLIMIT_NPROC does not apply).

Accounting (`pool.accounting`, cgroup.py): each job runs in its own cgroup, made for it and
removed after it: memory (resident, swap, tmpfs and memfd pages) capped at
`Limits.memory_mb` for the whole tree, tasks at `Limits.processes`, CPU time of the tree
measured; `memory_exceeded`, `processes_exceeded`, `memory_peak_mb` and `cpu_s` report
what the cgroup saw. cgroup v1 and v2 are detected at start. Where neither can be used (or
with `cgroups=False`) the pool says why once and a watchdog samples each job tree's memory
every 0.1 s (watchdog.py lists what it cannot see). The rlimits (address space, CPU per
process, file size, open files, processes) stay as a second line in every mode.

Files the job leaves in its work folder are the job's: a grader must not follow them. A
`submission.csv` that is a symlink to a host path (say the task's private answers) is
harmless inside the sandbox but would be read by a host-side grader that follows it; check
`os.lstat(path)` is a regular file first (`sandmle exec` does). The folder is capped in
entries and bytes (`Limits.work_files`, `work_mb`; workdir.py).

What the pool does NOT cover:
- beyond the seccomp deny list the kernel's syscall surface is reachable, so kernel
  exploits (and user namespaces, which jobs may still create) are out of scope;
- side channels (timing, cache, /proc/stat and other global kernel counters, host paths
  shown in /proc/self/mountinfo) and covert channels between concurrent jobs;
- GPUs only when a job asks (`Job.devices`, devices.py), and then no GPU isolation: GPU
  memory and time are shared with every other job given the same device;
- no CPU shares between concurrent jobs (the cgroup measures CPU, it does not divide it);
- the job is a fork of the preloaded template: it can read the preloaded modules' memory
  (never job data, but never put secrets in a preload function either);
- the job is PID 1 of its namespace: signals it sends itself without a handler are
  ignored (as for any init), and orphans it adopts stay zombies until it exits.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandmle.sandbox import protocol
from sandmle.sandbox.job import Job, JobResult
from sandmle.sandbox.limits import worker_env
from sandmle.sandbox.protocol import SandboxError

DEFAULT_PRELOAD = (
    "numpy", "scipy", "scipy.stats", "pandas", "polars", "threadpoolctl", "sklearn",
    "sklearn.linear_model", "sklearn.ensemble", "sklearn.model_selection",
    "sklearn.preprocessing", "sklearn.metrics", "sklearn.tree", "sklearn.neighbors",
    "sklearn.svm", "sklearn.pipeline", "sklearn.impute", "sklearn.compose",
    "sklearn.decomposition", "sklearn.feature_extraction.text",
    "sandmle.sandbox.warmup:warm_sklearn",
)
TORCH_PRELOAD = DEFAULT_PRELOAD + ("torch", "torch.nn")
# Entries are module names; "module:function" also calls a warm-up function (warmup.py).
STARTUP_TIMEOUT_S = 300.0
GRACE_S = 30.0           # beyond the job's own timeout before a silent worker is replaced
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


@functools.lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    print(f"sandmle sandbox: WARNING: {message}", file=sys.stderr, flush=True)


class _WorkerDied(Exception):
    pass


def _recv_within(fd: int, timeout_s: float) -> dict | None:
    readable, _, _ = select.select([fd], [], [], timeout_s)
    if not readable:
        return None
    return protocol.recv(fd)


class _Template:
    """The pool's template process (template.py) and its control socket."""

    def __init__(self, preload: tuple[str, ...], isolate: bool, cgroups: bool):
        config = json.dumps({"preload": list(preload), "isolate": isolate, "cgroups": cgroups})
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sandmle.sandbox.template", config, str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=_PACKAGE_PARENT,
                env=worker_env(os.path.dirname(sys.executable)), pass_fds=(theirs.fileno(),),
                start_new_session=True)             # a terminal's Ctrl-C reaches the pool only
        finally:
            theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        message = self._answer(STARTUP_TIMEOUT_S)
        if message is None or "error" in message:
            self.kill()
            why = message["error"] if message else "exited during startup"
            raise SandboxError(f"sandbox template failed to start: {why}")
        self.ready = message

    def _answer(self, timeout_s: float) -> dict | None:
        readable, _, _ = select.select([self.sock], [], [], timeout_s)
        if not readable:
            return None
        message, _ = protocol.recv_packet(self.sock)
        return message

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def new_channel(self) -> socket.socket:
        """Fork a slot and its worker; the pool's end of the worker's channel."""
        ours, theirs = socket.socketpair()
        try:
            with self.lock:
                try:
                    protocol.send_packet(self.sock, {"op": "slot"}, [theirs.fileno()])
                except OSError as exc:
                    raise SandboxError(f"the sandbox template is gone: {exc}") from exc
                answer = self._answer(STARTUP_TIMEOUT_S)
        finally:
            theirs.close()
        if answer is None or "error" in answer:
            ours.close()
            raise SandboxError("could not start a sandbox worker: "
                               f"{answer['error'] if answer else 'the template is gone'}")
        return ours

    def stop(self, timeout_s: float = 10.0) -> None:
        self.sock.close()                   # end of file: the template ends its slots, exits
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        self.sock.close()
        self.proc.kill()
        self.proc.wait()


class _Worker:
    """One worker (forked by the template's slot) and its channel; used by one thread at a time."""

    def __init__(self, template: _Template):
        self.channel = template.new_channel()
        self.fd = self.channel.fileno()
        self.ready: dict = {}
        self.pid = -1

    def wait_ready(self) -> dict:
        message = _recv_within(self.fd, STARTUP_TIMEOUT_S)
        if message is None or "error" in message:
            self.kill()
            why = message["error"] if message else "exited during startup"
            raise SandboxError(f"sandbox worker failed to start: {why}")
        self.ready = message
        self.pid = message["pid"]
        return message

    def call(self, job: Job) -> dict:
        try:
            protocol.send(self.fd, {"op": "run", "job": job.to_json()})
        except OSError as exc:
            raise _WorkerDied(f"could not send the job: {exc}") from exc
        try:
            message = _recv_within(self.fd, job.limits.timeout_s + GRACE_S)
        except (OSError, SandboxError) as exc:
            raise _WorkerDied(f"unreadable reply: {exc}") from exc
        if message is None:
            raise _WorkerDied("the worker exited or stopped answering")
        return message

    def stop(self) -> None:
        """Close the channel: the worker exits, killing any running job."""
        self.channel.close()

    def kill(self) -> None:
        self.channel.close()
        if self.pid > 0:
            try:
                os.kill(self.pid, signal.SIGKILL)   # its slot then kills the running job
            except ProcessLookupError:
                pass


def _checked(job: Job) -> Job:
    """`job` with absolute paths (workers run elsewhere), after checking they exist."""
    if job.script is not None and not os.path.isfile(job.script):
        raise ValueError(f"script {job.script} is not a file")
    if job.public_dir is not None and not os.path.isdir(job.public_dir):
        raise ValueError(f"public_dir {job.public_dir} is not a directory")
    return dataclasses.replace(
        job, work_dir=os.path.abspath(job.work_dir),
        public_dir=os.path.abspath(job.public_dir) if job.public_dir is not None else None,
        script=os.path.abspath(job.script) if job.script is not None else None)


def _died_result(why: str, wall_s: float, isolation: str) -> JobResult:
    return JobResult(exit_code=None, signal=None, timed_out=False, memory_exceeded=False,
                     wall_s=round(wall_s, 4), cpu_s=0.0, stdout_tail="",
                     stderr_tail=f"sandbox: the worker running this job died ({why}); "
                                 "it was replaced", files_written=(), isolation=isolation)


class Pool:
    """Warm workers that run `Job`s; see the module docstring."""

    def __init__(self, num_workers: int | None = None,
                 preload: tuple[str, ...] = DEFAULT_PRELOAD, isolate: bool = True,
                 cgroups: bool = True):
        self.num_workers = num_workers if num_workers is not None else (os.cpu_count() or 1)
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {self.num_workers}")
        self.preload = tuple(preload)
        self.isolate = isolate
        self.cgroups = cgroups
        self._cond = threading.Condition()
        self._idle: collections.deque[_Worker] = collections.deque()
        self._all: list[_Worker] = []
        self._closed = False
        self._starting = 0                  # replacement workers being started
        self._executor: ThreadPoolExecutor | None = None
        self._template_lock = threading.Lock()
        self._template = _Template(self.preload, isolate, cgroups)
        self.accounting: str = self._template.ready["accounting"]
        self.accounting_reason: str | None = self._template.ready["accounting_reason"]
        if cgroups and self.accounting == "watchdog":
            _warn_once(f"no cgroup for per-job memory, task and CPU accounting "
                       f"({self.accounting_reason}): a watchdog samples each job's memory "
                       "from /proc instead")
        workers: list[_Worker] = []
        try:
            for _ in range(self.num_workers):
                workers.append(_Worker(self._template))
            for worker in workers:
                worker.wait_ready()
        except BaseException:
            for worker in workers:
                worker.kill()
            self._template.kill()
            raise
        modes = {w.ready["isolation"] for w in workers}
        if len(modes) != 1:
            for worker in workers:
                worker.kill()
            self._template.kill()
            raise SandboxError(f"sandbox workers disagree on isolation: {sorted(modes)}")
        self.isolation: str = modes.pop()
        self.fallback_reason: str | None = workers[0].ready["reason"]
        if isolate and self.isolation != "namespaces":
            _warn_once(f"jobs run WITHOUT namespace isolation (rlimits only): "
                       f"{self.fallback_reason}")
        self._all = list(workers)
        self._idle.extend(workers)

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in self._all]

    def _acquire(self) -> _Worker:
        with self._cond:
            while not self._idle and not self._closed and (self._all or self._starting):
                self._cond.wait()
            if self._closed:
                raise SandboxError("the sandbox pool is closed")
            if not self._idle:
                raise SandboxError("the sandbox pool has no workers left (replacements failed)")
            return self._idle.popleft()

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if self._closed:
                worker.stop()
                return
            self._idle.append(worker)
            self._cond.notify()

    def _replace(self, dead: _Worker) -> None:
        """Start a worker in place of `dead` (in the calling thread: a worker's startup)."""
        dead.kill()
        with self._cond:
            if dead in self._all:
                self._all.remove(dead)
            if self._closed:
                return
            self._starting += 1
        try:
            fresh = _Worker(self._live_template())
            fresh.wait_ready()
        finally:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
        with self._cond:
            self._all.append(fresh)
        self._release(fresh)

    def _live_template(self) -> _Template:
        """The template, started again if it died (then every worker has died with it)."""
        with self._template_lock:
            if not self._template.alive:
                self._template.kill()
                self._template = _Template(self.preload, self.isolate, self.cgroups)
            return self._template

    def run(self, job: Job) -> JobResult:
        """Run `job` to completion on a free worker (blocks while all are busy)."""
        job = _checked(job)
        worker = self._acquire()
        start = time.monotonic()
        try:
            reply = worker.call(job)
        except _WorkerDied as exc:
            if self._closed:
                raise SandboxError("the sandbox pool was closed while the job ran") from exc
            self._replace(worker)
            return _died_result(str(exc), time.monotonic() - start, self.isolation)
        except BaseException:
            self._replace(worker)
            raise
        self._release(worker)
        if "error" in reply:
            raise SandboxError(reply["error"])
        return JobResult.from_json(reply["result"])

    async def arun(self, job: Job) -> JobResult:
        """`run` for asyncio: waits in a thread of the pool's own executor."""
        with self._cond:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.num_workers,
                                                    thread_name_prefix="sandbox-pool")
            executor = self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, self.run, job)

    def close(self) -> None:
        """Stop every worker; running jobs are killed and their `run` calls raise."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            workers, idle = list(self._all), list(self._idle)
            self._idle.clear()
            self._cond.notify_all()
        for worker in idle:
            worker.stop()
        for worker in workers:
            if worker not in idle:
                worker.kill()
        self._template.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()


def run_job(job: Job, isolate: bool = True, preload: tuple[str, ...] = ()) -> JobResult:
    """Run one job in a one-off worker (nothing preloaded by default: like a fresh python)."""
    with Pool(num_workers=1, preload=preload, isolate=isolate) as pool:
        return pool.run(job)
