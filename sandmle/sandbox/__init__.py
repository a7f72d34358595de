"""The sandbox: where agent code runs.

`Job` in, `JobResult` out (job.py); `Pool` keeps warm, isolated workers (pool.py, whose
docstring lists what isolation covers and what it does not); `run_job` runs one job in a
one-off worker. Inside: worker.py (the warm worker loop and per-job fork), child.py (the
forked processes), isolate.py (namespaces, the job's root, its uid), limits.py (rlimits,
environments), workdir.py (the work folder on the host), warmup.py (first-use costs paid once
per worker), protocol.py (pool <-> worker), devices.py (host device nodes,
GPUs, a job may be given).
"""
from sandmle.sandbox.job import INPUT_DIRNAME, Job, JobResult, Limits
from sandmle.sandbox.pool import DEFAULT_PRELOAD, TORCH_PRELOAD, Pool, run_job
from sandmle.sandbox.protocol import SandboxError

__all__ = ["DEFAULT_PRELOAD", "INPUT_DIRNAME", "TORCH_PRELOAD", "Job", "JobResult", "Limits",
           "Pool", "SandboxError", "run_job"]
