"""Resource limits, environment and outcome rules for one sandbox job.

- `apply_rlimits`: address space, CPU seconds, file size, open files, processes, no core
  files. The address-space limit is the warm worker's image plus `Limits.memory_mb`: a job
  forked from a worker that preloaded numpy, pandas and sklearn already maps ~0.7 GB
  (~1.2 GB with torch) of mostly shared pages, so `memory_mb` is what the job may add.
- `worker_env` / `job_env`: scrubbed environments (no inherited variables, so no secrets).
  Workers start with one BLAS/OpenMP thread so preloading never starts a thread pool.
- `is_memory_error`: what counts as "memory exceeded" (see its docstring for its limits).
"""
from __future__ import annotations

import math
import os
import re
import resource

from sandmle.sandbox.job import Limits

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS",
               "POLARS_MAX_THREADS", "RAYON_NUM_THREADS")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
MB = 1024 * 1024


def thread_env(threads: int) -> dict[str, str]:
    return {name: str(threads) for name in THREAD_VARS}


def worker_env(python_bin: str) -> dict[str, str]:
    """Environment of a warm worker process: nothing inherited from the caller."""
    env = {"PATH": f"{python_bin}:{SYSTEM_PATH}", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           # polars links jemalloc, whose background threads would start at import
           "_RJEM_MALLOC_CONF": "background_thread:false", "MPLBACKEND": "Agg"}
    env.update(thread_env(1))
    return env


def job_env(limits: Limits, extra: dict[str, str], home: str, python_bin: str,
            uid: int) -> dict[str, str]:
    """The job's whole environment: fixed variables, thread counts, then `Job.env`."""
    env = {
        "PATH": f"{python_bin}:{SYSTEM_PATH}", "HOME": home, "TMPDIR": "/tmp",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "USER": "sandbox", "LOGNAME": "sandbox",
        "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"/tmp/matplotlib-{uid}", "XDG_CACHE_HOME": f"/tmp/cache-{uid}",
        "_RJEM_MALLOC_CONF": "background_thread:false",
    }
    env.update(thread_env(limits.threads))
    env.update(extra)
    return env


def address_space_bytes() -> int:
    """This process's current virtual memory size."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(limits: Limits) -> int:
    return math.ceil(limits.cpu_s if limits.cpu_s is not None else limits.timeout_s + 1)


def apply_rlimits(limits: Limits, image_bytes: int, nproc_base: int = 0,
                  cap_address_space: bool = True) -> None:
    """Set hard and soft limits in the job's process (before dropping privileges).

    `nproc_base` is added to the process limit where RLIMIT_NPROC counts processes the job
    does not own (a shared uid in the plain fallback). Without `cap_address_space` (a job
    given GPUs: CUDA reserves tens of GB of address space it never touches) RLIMIT_AS is
    left unlimited and the cgroup or the watchdog alone caps memory."""
    cpu = cpu_seconds(limits)
    address_space = image_bytes + limits.memory_mb * MB
    fsize = limits.file_size_mb * MB
    nproc = nproc_base + limits.processes
    if not cap_address_space:
        address_space = resource.RLIM_INFINITY
    for kind, soft, hard in (
        (resource.RLIMIT_AS, address_space, address_space),
        (resource.RLIMIT_CPU, cpu, cpu + 1),        # SIGXCPU at soft, SIGKILL at hard
        (resource.RLIMIT_FSIZE, fsize, fsize),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_NPROC, nproc, nproc),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        resource.setrlimit(kind, (soft, hard))


def count_user_tasks(uid: int) -> int:
    """Threads currently owned by `uid` (what RLIMIT_NPROC counts)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                total += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:
            continue
    return total


_MEMORY_LINE = re.compile(r"^(\w+\.)*\w*MemoryError\b")
_MEMORY_TEXT = ("std::bad_alloc", "Cannot allocate memory", "out of memory")


def is_memory_error(stderr_tail: str, exit_code: int | None) -> bool:
    """True when a failed job's stderr shows it ran out of memory: the last line is a
    `...MemoryError` exception, or it mentions `std::bad_alloc` / ENOMEM near its end.

    What this cannot see: a job that catches the error and exits 0, a job the kernel's OOM
    killer ended (a plain SIGKILL), or a job that prints such a message without running out
    of memory. RLIMIT_AS makes allocations fail in the job, so most real cases show up here.
    """
    if exit_code == 0:
        return False
    lines = [line.strip() for line in stderr_tail.splitlines() if line.strip()]
    if not lines:
        return False
    if _MEMORY_LINE.match(lines[-1]):
        return True
    end = "\n".join(lines[-5:])
    return any(text in end for text in _MEMORY_TEXT)
