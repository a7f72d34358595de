"""Linux isolation for one sandbox job: namespaces, a minimal root and an unprivileged uid.

Python 3.11 has no `os.unshare`, `os.setns` or mount calls, so they come from libc through
ctypes. The job's view of the file system is assembled in a fresh tmpfs and made its root
with `pivot_root`; the old root is detached, so nothing that is not bound in is reachable:

    /usr /bin /sbin /lib*         read-only binds of the system directories
    /etc                          a few read-only files (ld.so cache, time zone, certificates)
                                  plus a generated passwd/group/hosts
    <python prefixes>             read-only binds at their real paths (sys.prefix,
                                  sys.base_prefix ...), parent directories recreated 0755
    /dev                          null, zero, full, random, urandom; a private tmpfs /dev/shm;
                                  the job's `devices` (GPUs: devices.py)
    /proc                         a fresh proc of the job's own PID namespace
    /tmp                          a private tmpfs
    /sandbox/work                 the job's work folder, read-write (the cwd)
    /sandbox/work/input           the task's public folder, read-only

All of this runs as root in a forked child that is PID 1 of a new PID namespace; the job
itself is forked from it and drops to its own uid (`drop_privileges`).
"""
from __future__ import annotations

import ctypes
import os
import platform
import signal
import stat
from dataclasses import dataclass

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())

SANDBOX_WORK = "/sandbox/work"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
               "nsswitch.conf", "ssl", "ca-certificates", "fonts", "alternatives",
               "mime.types", "protocols", "services")
DEVICES = ("null", "zero", "full", "random", "urandom")   # job.RESERVED_DEV_NAMES holds these

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    ret = _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
    _check(ret, f"mount {target}")


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    if _SYS_PIVOT_ROOT is None:
        raise OSError(f"pivot_root: unknown syscall number on {platform.machine()}")
    ret = _libc.syscall(ctypes.c_long(_SYS_PIVOT_ROOT), _b(new_root), _b(put_old))
    _check(ret, "pivot_root")


def prctl(option: int, arg: int) -> None:
    ret = _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                      ctypes.c_ulong(0), ctypes.c_ulong(0))
    _check(ret, "prctl")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here (None when they can be tried)."""
    if platform.system() != "Linux":
        return f"namespaces need Linux, this is {platform.system()}"
    if os.geteuid() != 0:
        return "namespaces, mounts and per-job uids need root (running as uid %d)" % os.geteuid()
    if _SYS_PIVOT_ROOT is None:
        return f"pivot_root syscall number unknown on {platform.machine()}"
    return None


def python_dirs(paths: tuple[str, ...]) -> tuple[str, ...]:
    """Real paths of the Python installation directories, without nested duplicates."""
    real = sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)})
    kept: list[str] = []
    for path in real:
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return tuple(kept)


@dataclass(frozen=True)
class RootPlan:
    """Everything the new root needs; paths are host paths."""

    new_root: str                  # an empty host directory the tmpfs root is mounted on
    python_dirs: tuple[str, ...]   # exposed read-only at the same path
    work_dir: str                  # bound read-write at SANDBOX_WORK
    public_dir: str | None         # bound read-only at SANDBOX_WORK/input
    uid: int
    gid: int
    tmp_mb: int                    # size of the private /tmp (and /dev/shm)
    devices: tuple[str, ...] = ()  # host device nodes bound at /dev/<name> (Job.devices)


def _bind(src: str, dst: str, readonly: bool, extra: int = MS_NOSUID | MS_NODEV) -> None:
    mount(src, dst, None, MS_BIND)
    flags = MS_REMOUNT | MS_BIND | extra | (MS_RDONLY if readonly else 0)
    mount(None, dst, None, flags)


def _expose(root: str, host: str, covered: list[str]) -> None:
    """Make `host` visible read-only at the same path under `root`."""
    if not os.path.lexists(host):
        return
    if any(host == c or host.startswith(c + "/") for c in covered):
        return
    dst = root + host
    os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
    if os.path.islink(host):
        os.symlink(os.readlink(host), dst)
        return
    if os.path.isdir(host):
        os.mkdir(dst, 0o755)
    else:
        with open(dst, "wb"):
            pass
    _bind(host, dst, readonly=True)
    covered.append(host)


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def build_root(plan: RootPlan) -> None:
    """Assemble the job's root and pivot into it. Call in a fresh mount namespace, as root,
    as PID 1 of a fresh PID namespace (for /proc). Leaves the cwd at SANDBOX_WORK."""
    os.umask(0o022)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = plan.new_root
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m,nr_inodes=4096")
    # The private /tmp comes first: a Python installation under /tmp (a CI clone, say) is
    # then exposed inside it rather than colliding with it.
    os.mkdir(root + "/tmp", 0o755)
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
          f"mode=1777,size={plan.tmp_mb}m,nr_inodes=16384")
    covered: list[str] = []
    for host in SYSTEM_DIRS + plan.python_dirs:
        _expose(root, host, covered)
    os.makedirs(root + "/etc", 0o755, exist_ok=True)
    for name in ETC_ENTRIES:
        _expose(root, "/etc/" + name, covered)
    _write(root + "/etc/passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\n"
           f"sandbox:x:{plan.uid}:{plan.gid}:sandbox:{SANDBOX_WORK}:/bin/sh\n")
    _write(root + "/etc/group", f"root:x:0:\nsandbox:x:{plan.gid}:\n")
    _write(root + "/etc/hosts", "127.0.0.1 localhost sandbox\n::1 localhost\n")

    dev = root + "/dev"
    os.mkdir(dev, 0o755)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=64")
    for name in DEVICES:
        with open(f"{dev}/{name}", "wb"):
            pass
        _bind(f"/dev/{name}", f"{dev}/{name}", readonly=False, extra=MS_NOSUID | MS_NOEXEC)
    for host in plan.devices:
        if not stat.S_ISCHR(os.stat(host).st_mode):
            raise OSError(f"{host} is not a character device")
        target = f"{dev}/{os.path.basename(host)}"
        with open(target, "wb"):
            pass
        _bind(host, target, readonly=False, extra=MS_NOSUID | MS_NOEXEC)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(dev + "/shm", 0o755)
    mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV,
          f"mode=1777,size={plan.tmp_mb}m,nr_inodes=4096")

    os.mkdir(root + "/proc", 0o555)
    work = root + SANDBOX_WORK
    os.makedirs(work, 0o755)
    _bind(plan.work_dir, work, readonly=False)
    if plan.public_dir is not None:
        _bind(plan.public_dir, work + "/input", readonly=True,
              extra=MS_NOSUID | MS_NODEV | MS_NOEXEC)

    os.chdir(root)
    pivot_root(".", ".")
    umount2(".", MNT_DETACH)          # the old root, stacked on "/" by pivot_root(".", ".")
    os.chdir("/")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    sethostname("sandbox")
    os.chdir(SANDBOX_WORK)


def drop_privileges(uid: int, gid: int) -> None:
    """Become `uid`/`gid` with no supplementary groups, no capabilities (the kernel clears
    them on leaving uid 0) and no way to regain privileges through execve."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (set after any uid change, which clears it)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
