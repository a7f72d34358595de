"""Host device nodes a sandbox job may be given: the NVIDIA GPUs, for full-size evaluation.

    nodes = gpu_device_nodes()          # ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", ...)
    Job(..., devices=nodes)             # bound into the job's /dev under the same names

A job sees only the standard /dev entries (isolate.py); `Job.devices` adds host character
devices to it, read-write, under their own names. The NVIDIA driver's user-space libraries
come with /usr, a pip-installed CUDA runtime with the Python directories, and
/proc/driver/nvidia with the job's own /proc, so binding the nodes is all CUDA needs.
Such a job gets no RLIMIT_AS (limits.py): CUDA reserves far more address space than it
ever uses, so the cap would refuse its initialisation; the cgroup (or the watchdog) still
caps the job's memory. Not covered: GPU memory and time are not divided between jobs, a
job can leave kernels running until it exits, and MIG slices (/dev/nvidia-caps) are not
bound.
"""
from __future__ import annotations

import glob
import os
import stat

from sandmle.errors import UserError

# nvidiactl and nvidia-uvm are needed by every CUDA program; modeset and uvm-tools by some.
NVIDIA_CONTROL = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")


def gpu_device_nodes(dev: str = "/dev") -> tuple[str, ...]:
    """The NVIDIA device nodes present under `dev`: the GPUs (nvidia0, nvidia1 ...) first,
    then the control nodes; () when there is no GPU."""
    gpus = sorted((p for p in glob.glob(os.path.join(dev, "nvidia[0-9]*")) if _is_char_device(p)),
                  key=lambda p: int(os.path.basename(p)[6:]) if os.path.basename(p)[6:].isdigit() else -1)
    control = [os.path.join(dev, n) for n in NVIDIA_CONTROL if _is_char_device(os.path.join(dev, n))]
    return tuple(gpus + control) if gpus else ()


def require_gpu_device_nodes(dev: str = "/dev") -> tuple[str, ...]:
    """`gpu_device_nodes`, or one `UserError` line when there is no GPU to give."""
    nodes = gpu_device_nodes(dev)
    if not nodes:
        raise UserError(f"--gpus: no NVIDIA device nodes under {dev} (expected {dev}/nvidia0 and "
                        f"{dev}/nvidiactl); run without --gpus, or load the NVIDIA driver first")
    if not any(os.path.basename(p) == "nvidiactl" for p in nodes):
        raise UserError(f"--gpus: {dev} has GPU nodes but no {dev}/nvidiactl, which CUDA needs; "
                        "is the NVIDIA driver loaded?")
    return nodes


def _is_char_device(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False
