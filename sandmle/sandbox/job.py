"""The sandbox's plain data: a job to run and the result it produced.

Both are frozen, JSON-serialisable dataclasses (`to_json` / `from_json`), so a distributed
backend can ship jobs to other machines and bring results back unchanged.

Inside the sandbox the job's working directory is its work folder (read-write, where
`submission.csv` goes) and the task's public folder is visible read-only as `input/` in
that working directory. Agent failures (crash, timeout, memory) are data in `JobResult`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

INPUT_DIRNAME = "input"   # the public folder, as the job sees it: ./input/train.csv


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 300.0          # wall clock, whole process tree (REFERENCE §5: 300 s/step)
    memory_mb: int = 4096             # address space the job may add to its worker's image (RLIMIT_AS)
    cpu_s: float | None = None        # RLIMIT_CPU; None = timeout_s + 1
    file_size_mb: int = 256           # RLIMIT_FSIZE
    open_files: int = 256             # RLIMIT_NOFILE
    processes: int = 64               # RLIMIT_NPROC for the job's uid
    threads: int = 1                  # OMP/OPENBLAS/MKL thread counts for the job
    output_bytes: int = 64 * 1024     # tail kept of stdout and of stderr

    def __post_init__(self) -> None:
        for name in ("timeout_s", "memory_mb", "file_size_mb", "processes", "threads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)}")
        if self.cpu_s is not None and self.cpu_s <= 0:
            raise ValueError(f"Limits.cpu_s must be positive or None, got {self.cpu_s}")
        if self.open_files < 8:
            raise ValueError(f"Limits.open_files must be at least 8, got {self.open_files}")
        if self.output_bytes < 0:
            raise ValueError(f"Limits.output_bytes must be >= 0, got {self.output_bytes}")


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

    def __post_init__(self) -> None:
        if (self.code is None) == (self.script is None):
            raise ValueError("a Job needs exactly one of code and script")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Job":
        data = dict(data)
        data["limits"] = Limits(**data["limits"])
        data["argv"] = tuple(data.get("argv", ()))
        return cls(**data)


@dataclass(frozen=True)
class JobResult:
    exit_code: int | None             # None when killed by a signal
    signal: int | None
    timed_out: bool
    memory_exceeded: bool
    wall_s: float
    cpu_s: float
    stdout_tail: str
    stderr_tail: str
    files_written: tuple[str, ...]    # paths relative to work_dir, sorted
    isolation: str                    # "namespaces" or "rlimits" (plain subprocess fallback)
    output_truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.memory_exceeded

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["files_written"] = list(self.files_written)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "JobResult":
        data = dict(data)
        data["files_written"] = tuple(data["files_written"])
        return cls(**data)
