"""A seccomp filter for sandbox jobs: a short deny list, everything else allowed.

Denied with EPERM: the kernel key syscalls (`add_key`, `request_key`, `keyctl`), whose
keyrings belong to a uid and outlive every process, so one job could leave a key for the
next job of that uid or read the pool starter's session keyring; and kernel surfaces no ML
job needs (`bpf`, `perf_event_open`, `userfaultfd`, `kexec_*`, `*_module`). Calls of
another ABI than the native one (i386 through `int 0x80`, x32 on x86_64), which would
reach the same calls under other numbers, fail with ENOSYS.

The filter is a classic-BPF program built here and installed with
`prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`: it is under twenty instructions, and the
libseccomp bindings would add a system library the project cannot install from PyPI.
It needs no_new_privs (set before it) and is inherited by every child; it cannot be
removed. Linux on x86_64 and aarch64 only (`supported()`).
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
_LD_W_ABS = 0x20            # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15               # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35               # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06               # BPF_RET | BPF_K
_X32_BIT = 0x40000000

DENIED = ("add_key", "request_key", "keyctl", "bpf", "perf_event_open", "userfaultfd",
          "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module")
# (AUDIT_ARCH, syscall numbers of DENIED, whether x32 numbers exist)
_ARCHES = {
    "x86_64": (0xC000003E, (248, 249, 250, 321, 298, 323, 246, 320, 175, 313, 176), True),
    "aarch64": (0xC00000B7, (217, 218, 219, 280, 241, 282, 104, 294, 105, 273, 106), False),
}


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def supported() -> bool:
    return platform.system() == "Linux" and platform.machine() in _ARCHES


def program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions for `machine` (default: this one)."""
    arch, numbers, x32 = _ARCHES[machine or platform.machine()]
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    foreign = SECCOMP_RET_ERRNO | errno.ENOSYS
    checks = [(_JEQ_K, n) for n in numbers]
    # Layout: load arch, check it, load nr, [x32 check], one JEQ per number, ALLOW, DENY, FOREIGN.
    body = len(checks) + (1 if x32 else 0)
    out = [(_LD_W_ABS, 0, 0, 4),                        # seccomp_data.arch
           (_JEQ_K, 1, 0, arch),                        # native: skip the next instruction
           (_RET_K, 0, 0, foreign),
           (_LD_W_ABS, 0, 0, 0)]                        # seccomp_data.nr
    if x32:
        out.append((_JGE_K, body + 1, 0, _X32_BIT))      # to FOREIGN
    for i, (code, number) in enumerate(checks):
        left = len(checks) - i - 1                      # checks after this one
        out.append((code, left + 1, 0, number))          # to DENY
    out += [(_RET_K, 0, 0, SECCOMP_RET_ALLOW), (_RET_K, 0, 0, deny), (_RET_K, 0, 0, foreign)]
    return out


def install() -> None:
    """Install the filter on this thread and its future children (needs no_new_privs)."""
    instructions = program()
    array = (_Filter * len(instructions))(*[_Filter(*ins) for ins in instructions])
    prog = _Program(len(instructions), array)
    libc = ctypes.CDLL(None, use_errno=True)
    ret = libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                     ctypes.byref(prog), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter: {os.strerror(err)}")
