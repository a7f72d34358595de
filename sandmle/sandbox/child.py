"""What runs in the process a slot forks for one job (template.py).

While idle: the process waits on its `go` pipe. The worker first sends the job's cgroup
(a 4-byte length and a JSON list of cgroup.procs files): the process joins it then, ahead
of the job, because moving a process between cgroups costs ~30 ms on cgroup v1 here. Then
the job itself arrives (a pickled ChildSpec and RootPlan, up to end of file); the process
takes a fresh anonymous session keyring (nothing of the pool starter's) and:
Isolated:  it is PID 1 of a new PID namespace (the slot unshared it for this fork). It
           unshares mount, network, IPC and UTS namespaces, builds its root (isolate.py),
           sets limits, drops to its uid and runs the code. When it exits the kernel kills
           whatever it left behind in the namespace. As for any init process, signals it
           sends itself without a handler installed are ignored (`signal.alarm` needs a
           handler), and orphans it adopts stay zombies until exit.
Plain:     it starts its own session, sets limits and runs the code as the worker's user.
Last, before the code runs: no_new_privs and the seccomp filter (seccomp.py: no key
syscalls, so no keyring state can pass from one job to a later one).

One fork per job on purpose: forking the warm image costs ~10-25 ms here (page tables),
and a copy-on-write child that forks again pays that twice; the fork happens while idle.

Setup failures are reported on a control pipe (`error ...`) before the agent's code runs;
the job closes its end of that pipe first, so the code cannot forge a report. The code runs
as `__main__` with normal interpreter semantics: `sys.argv`, `if __name__ == "__main__":`,
tracebacks that start at the agent's file, `SystemExit` codes, non-daemon threads joined and
`atexit` handlers run before the process exits.
"""
from __future__ import annotations

import atexit
import builtins
import io
import json
import os
import pickle
import random
import signal
import sys
import threading
import traceback
import types
from dataclasses import dataclass
from typing import NoReturn

from sandmle.sandbox import isolate, seccomp
from sandmle.sandbox.job import Job
from sandmle.sandbox.limits import apply_rlimits, job_env

SETUP_FAILED_EXIT = 125
KEYCTL_JOIN_SESSION_KEYRING = 1
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
_NS_FLAGS = isolate.CLONE_NEWNS | isolate.CLONE_NEWNET | isolate.CLONE_NEWIPC | isolate.CLONE_NEWUTS


@dataclass(frozen=True)
class ChildSpec:
    job: Job
    script_path: str                          # the code's path as the job sees it
    work_path: str                            # the job's cwd as it sees it
    uid: int
    gid: int
    image_bytes: int                          # the worker's address space (limits.py)
    nproc_base: int
    python_bin: str
    visible_dirs: tuple[str, ...] | None      # sys.path entries kept (None: all)


def _read_exact(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def cgroup_prelude(procs_files: tuple[str, ...]) -> bytes:
    """What the worker sends a waiting job process first: the cgroup it is to join."""
    body = json.dumps(list(procs_files)).encode()
    return len(body).to_bytes(4, "big") + body


def _fail(ctl_fd: int, stage: str, exc: BaseException) -> NoReturn:
    try:
        os.write(ctl_fd, f"error {stage}: {type(exc).__name__}: {exc}\n".encode())
    finally:
        os._exit(SETUP_FAILED_EXIT)


def _stdio(out_fd: int, err_fd: int, ctl_fd: int) -> None:
    """fd 0 = /dev/null, 1 and 2 = the capture pipes, every other fd but `ctl_fd` closed."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.closerange(3, ctl_fd)
    os.closerange(ctl_fd + 1, 1 << 20)


def spare_main(go_fd: int, out_fd: int, err_fd: int, ctl_fd: int) -> NoReturn:
    """A process forked ahead of its job: waits for a pickled (ChildSpec, RootPlan or None)
    on `go_fd`, then becomes the job. End of file without data: exit quietly."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)     # the worker's handler is not ours
        isolate.die_with_parent()
        header = _read_exact(go_fd, 4)
        if header is None:
            os._exit(0)                                   # discarded without a job
        for path in json.loads(_read_exact(go_fd, int.from_bytes(header, "big")) or b"[]"):
            with open(path, "w") as fh:                  # join the job's cgroup, while idle
                fh.write("0")
        chunks = []
        while chunk := os.read(go_fd, 1 << 16):
            chunks.append(chunk)
        os.close(go_fd)
        if not chunks:
            os._exit(0)
        spec, plan = pickle.loads(b"".join(chunks))
        _fresh_session_keyring()
    except BaseException as exc:
        _fail(ctl_fd, "waiting for the job", exc)
    if plan is not None:
        isolated_child(spec, plan, out_fd, err_fd, ctl_fd)
    plain_child(spec, out_fd, err_fd, ctl_fd)


def isolated_child(spec: ChildSpec, plan: isolate.RootPlan, out_fd: int, err_fd: int,
                   ctl_fd: int) -> NoReturn:
    """The job, as PID 1 of its own PID namespace: when it exits, the kernel kills every
    process left in the namespace, so nothing the job started outlives it."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _stdio(out_fd, err_fd, ctl_fd)
        isolate.unshare(_NS_FLAGS)
        isolate.build_root(plan)
    except BaseException as exc:
        _fail(ctl_fd, "namespace setup", exc)
    _job_process(spec, ctl_fd, isolated=True)


def plain_child(spec: ChildSpec, out_fd: int, err_fd: int, ctl_fd: int) -> NoReturn:
    """The job itself, without namespaces."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _stdio(out_fd, err_fd, ctl_fd)
    except BaseException as exc:
        _fail(ctl_fd, "stdio setup", exc)
    _job_process(spec, ctl_fd, isolated=False)


def _job_process(spec: ChildSpec, ctl_fd: int, isolated: bool) -> NoReturn:
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if isolated:
            apply_rlimits(spec.job.limits, spec.image_bytes, spec.nproc_base,
                          cap_address_space=not spec.job.devices)
            isolate.drop_privileges(spec.uid, spec.gid)
        else:
            os.setsid()
            apply_rlimits(spec.job.limits, spec.image_bytes, spec.nproc_base,
                          cap_address_space=not spec.job.devices)
            isolate.prctl(isolate.PR_SET_NO_NEW_PRIVS, 1)
            isolate.die_with_parent()
        os.chdir(spec.work_path)
        _prepare_interpreter(spec)
        if seccomp.supported():
            seccomp.install()
    except BaseException as exc:
        _fail(ctl_fd, "job setup", exc)
    os.close(ctl_fd)
    code = 1
    try:
        code = run_main(spec.script_path)
        code = _finish(code)
    finally:
        os._exit(code)


def _fresh_session_keyring() -> None:
    """Replace the inherited session keyring with a new anonymous one (where keys exist)."""
    import ctypes
    import platform

    number = _SYS_KEYCTL.get(platform.machine())
    if number is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall(ctypes.c_long(number), ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING),
                 ctypes.c_void_p(None))      # ENOSYS without key support: nothing to hide


def _prepare_interpreter(spec: ChildSpec) -> None:
    job = spec.job
    os.umask(0o022)
    env = job_env(job.limits, job.env, spec.work_path, spec.python_bin, spec.uid)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [spec.script_path, *job.argv]
    rest = [p for p in sys.path[1:] if p and _visible(p, spec.visible_dirs)]
    sys.path[:] = [spec.work_path, *rest]
    sys.dont_write_bytecode = True
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
        errors="backslashreplace", line_buffering=True)
    seed_generators(job.seed)
    _set_threads(job.limits.threads)


def _visible(path: str, dirs: tuple[str, ...] | None) -> bool:
    if dirs is None:
        return True
    real = os.path.realpath(path)
    return any(real == d or real.startswith(d + "/") for d in dirs)


def seed_generators(seed: int | None) -> None:
    """Fresh random state per job: every job is forked from the same worker state."""
    value = seed if seed is not None else int.from_bytes(os.urandom(8), "little")
    random.seed(value)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(value % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(value)


def _set_threads(threads: int) -> None:
    """Workers run with one BLAS/OpenMP thread; other counts are set in the job."""
    if threads != 1:
        import threadpoolctl

        threadpoolctl.threadpool_limits(limits=threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def run_main(path: str) -> int:
    """Run the file at `path` as `__main__`; the exit status a `python path` would give."""
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = builtins
    sys.modules["__main__"] = module
    try:
        with open(path, "rb") as fh:
            source = fh.read()
        exec(compile(source, path, "exec", dont_inherit=True), module.__dict__)
    except SystemExit as exc:
        return _exit_status(exc.code)
    except BaseException as exc:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != path:
            tb = tb.tb_next                   # start the traceback at the agent's file
        traceback.print_exception(type(exc), exc, tb)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    return 0


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _finish(code: int) -> int:
    """Interpreter shutdown as `python` does it, without the cost of finalising modules."""
    try:
        threading._shutdown()                # join non-daemon threads (Py_FinalizeEx does)
        atexit._run_exitfuncs()
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        code = code or 1
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:                    # a closed or broken stream: as python does
            code = code or 120
    return code
