"""The sandbox's plain data: a job to run and the result it produced.

Both are frozen, JSON-serialisable dataclasses (`to_json` / `from_json`), so a distributed
backend can ship jobs to other machines and bring results back unchanged.

Inside the sandbox the job's working directory is its work folder (read-write, where
`submission.csv` goes) and the task's public folder is visible read-only as `input/` in
that working directory. Agent failures (crash, timeout, memory, too many processes or
files) are data in `JobResult`.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

INPUT_DIRNAME = "input"   # the public folder, as the job sees it: ./input/train.csv
MAX_OUTPUT_BYTES = 16 * 1024 * 1024      # Limits.output_bytes at most (replies stay small)
RESERVED_DEV_NAMES = ("null", "zero", "full", "random", "urandom", "fd", "stdin", "stdout", "stderr", "shm")


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 300.0          # wall clock, whole process tree (REFERENCE §5: 300 s/step)
    memory_mb: int = 4096             # the whole job tree: resident + swap + tmpfs/memfd pages
                                      # (cgroup); per process also address space over the
                                      # worker's image (RLIMIT_AS)
    cpu_s: float | None = None        # RLIMIT_CPU per process; None = timeout_s + 1
    file_size_mb: int = 256           # RLIMIT_FSIZE; also the size of the job's /tmp, /dev/shm
    open_files: int = 256             # RLIMIT_NOFILE
    processes: int = 64               # tasks (processes and threads) of the whole job tree
    threads: int = 1                  # OMP/OPENBLAS/MKL thread counts for the job
    output_bytes: int = 64 * 1024     # tail kept of stdout and of stderr
    work_files: int = 10_000          # entries the work folder may hold after the job ...
    work_mb: int = 2048               # ... and their bytes (workdir.py: over either, the
                                      # job's new and changed entries are removed)

    def __post_init__(self) -> None:
        for name in ("timeout_s", "memory_mb", "file_size_mb", "processes", "threads",
                     "work_files", "work_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)}")
        if self.cpu_s is not None and self.cpu_s <= 0:
            raise ValueError(f"Limits.cpu_s must be positive or None, got {self.cpu_s}")
        if self.open_files < 8:
            raise ValueError(f"Limits.open_files must be at least 8, got {self.open_files}")
        if not 0 <= self.output_bytes <= MAX_OUTPUT_BYTES:
            raise ValueError(f"Limits.output_bytes must be in [0, {MAX_OUTPUT_BYTES}], "
                             f"got {self.output_bytes}")


@dataclass(frozen=True)
class Job:
    work_dir: str                     # host path; created if missing; the job's cwd
    public_dir: str | None = None     # host path of a task's public/ folder, seen as ./input
    code: str | None = None           # Python source, run as __main__ ...
    script: str | None = None         # ... or a host path of a .py file (copied into work_dir)
    argv: tuple[str, ...] = ()        # sys.argv[1:]
    limits: Limits = field(default_factory=Limits)
    env: dict[str, str] = field(default_factory=dict)   # extra variables (scrubbed env otherwise)
    seed: int | None = None           # seeds random/numpy in the job; None = fresh entropy
    name: str = "job"                 # label for logs and benchmark rows
    devices: tuple[str, ...] = ()     # host character devices bound into the job's /dev under
                                      # their own names, read-write (GPUs: devices.py); such a
                                      # job has no RLIMIT_AS (CUDA reserves address space)

    def __post_init__(self) -> None:
        if (self.code is None) == (self.script is None):
            raise ValueError("a Job needs exactly one of code and script")
        names = [os.path.basename(d) for d in self.devices]
        for device, name in zip(self.devices, names):
            if not os.path.isabs(device) or name in RESERVED_DEV_NAMES or name in ("", ".", ".."):
                raise ValueError(f"Job.devices entries must be absolute paths of device nodes whose "
                                 f"names are not one of /dev's own entries, got {device!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"Job.devices names must differ, got {list(self.devices)}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        data["devices"] = list(self.devices)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Job":
        data = dict(data)
        data["limits"] = Limits(**data["limits"])
        data["argv"] = tuple(data.get("argv", ()))
        data["devices"] = tuple(data.get("devices", ()))
        return cls(**data)


@dataclass(frozen=True)
class JobResult:
    """What a job did. `memory_exceeded`, `processes_exceeded`, `cpu_s` and `memory_peak_mb`
    come from the job's cgroup (the whole tree: every process, tmpfs and memfd pages) when
    `accounting` is "cgroup-v1" or "cgroup-v2", from the RSS watchdog's samples when it is
    "watchdog"; `memory_exceeded` also covers a MemoryError from the per-process rlimit."""

    exit_code: int | None             # None when killed by a signal
    signal: int | None
    timed_out: bool
    memory_exceeded: bool
    wall_s: float
    cpu_s: float                      # CPU seconds of the whole job tree
    stdout_tail: str
    stderr_tail: str
    files_written: tuple[str, ...]    # paths relative to work_dir, sorted, escaped (workdir.py)
    isolation: str                    # "namespaces" or "rlimits" (plain subprocess fallback)
    output_truncated: bool = False
    processes_exceeded: bool = False  # a fork or thread start was refused at Limits.processes
    work_exceeded: bool = False       # the work folder went over Limits.work_files/work_mb
    files_truncated: bool = False     # files_written lists only the first entries
    memory_peak_mb: float | None = None
    accounting: str = "none"          # "cgroup-v1", "cgroup-v2", "watchdog"
    infra_failures: tuple[str, ...] = ()   # what the infrastructure lost before this run of
                                      # the job (a Ray node that died mid-job, ray_pool.py);
                                      # never the job's doing, and not part of `ok`

    @property
    def ok(self) -> bool:
        return (self.exit_code == 0 and not self.timed_out and not self.memory_exceeded
                and not self.work_exceeded)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["files_written"] = list(self.files_written)
        data["infra_failures"] = list(self.infra_failures)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "JobResult":
        data = dict(data)
        data["files_written"] = tuple(data["files_written"])
        data["infra_failures"] = tuple(data.get("infra_failures", ()))
        return cls(**data)
