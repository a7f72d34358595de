"""The job's work folder on the host: prepared before a job, compared after it.

The work folder belongs to the job (hostile by assumption), and this code runs as root
between jobs, so nothing here follows a symlink the job may have planted: entries are
listed with `lstat`, re-owned with `lchown`, and the code file is unlinked and created
with O_EXCL | O_NOFOLLOW. Whoever reads the job's files afterwards (a grader reading
`submission.csv`) should likewise check that they are regular files.
"""
from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass

from sandmle.sandbox.job import INPUT_DIRNAME, Job
from sandmle.sandbox.protocol import SandboxError

CODE_FILE = "main.py"            # where `Job.code` is written; tracebacks name this file
MAX_FILES_LISTED = 10_000

Snapshot = dict[str, tuple[int, int, int]]


@dataclass(frozen=True)
class Prepared:
    work_dir: str                # real host path of the work folder
    script_name: str             # file name of the code inside it
    before: Snapshot             # (mtime_ns, size, inode) of every non-directory entry


def _write_fresh(path: str, data: bytes) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        shutil.rmtree(path)           # the code's name is reserved; rmtree never follows links
    elif mode is not None:
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _prepare_input(work_dir: str, public_dir: str, mount_input: bool) -> None:
    """An empty directory to mount the public folder on, or (plain mode) a symlink to it."""
    path = os.path.join(work_dir, INPUT_DIRNAME)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        if not mount_input and os.readlink(path) == public_dir:
            return
        os.unlink(path)
    elif st is not None and stat.S_ISDIR(st.st_mode):
        if os.listdir(path):
            raise SandboxError(f"{path} must not exist or be empty: the task's public "
                               "folder is shown there")
        if mount_input:
            os.chown(path, 0, 0)
            os.chmod(path, 0o755)
            return
        os.rmdir(path)
    elif st is not None:
        os.unlink(path)
    if mount_input:
        os.mkdir(path, 0o755)
    else:
        os.symlink(public_dir, path)


def _scan(top: str, owner: tuple[int, int] | None) -> Snapshot:
    """Every non-directory entry under `top` except input/, re-owned to `owner` if given."""
    entries: Snapshot = {}
    if owner is not None:
        os.lchown(top, *owner)
    pending = [""]
    while pending:
        rel = pending.pop()
        try:
            listing = list(os.scandir(os.path.join(top, rel) if rel else top))
        except OSError:
            if not rel:
                raise
            continue                  # a tree the job made too deep to name: not listed
        for entry in listing:
            name = f"{rel}/{entry.name}" if rel else entry.name
            if name == INPUT_DIRNAME:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if owner is not None:
                    os.lchown(entry.path, *owner)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                pending.append(name)
            else:
                entries[name] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return entries


def prepare(job: Job, mount_input: bool, owner: tuple[int, int] | None) -> Prepared:
    """Create the work folder, put the job's code in it, give it to `owner`, snapshot it."""
    os.makedirs(job.work_dir, exist_ok=True)
    work_dir = os.path.realpath(job.work_dir)
    if job.code is not None:
        name, data = CODE_FILE, job.code.encode()
    else:
        name = os.path.basename(job.script)
        with open(job.script, "rb") as fh:
            data = fh.read()
    if name == INPUT_DIRNAME:
        raise SandboxError(f"the script may not be named {INPUT_DIRNAME!r}")
    _write_fresh(os.path.join(work_dir, name), data)
    if job.public_dir is not None:
        _prepare_input(work_dir, os.path.realpath(job.public_dir), mount_input)
    return Prepared(work_dir, name, _scan(work_dir, owner))


def files_written(prepared: Prepared) -> tuple[str, ...]:
    """Entries created or changed by the job (relative paths, sorted, at most 10,000)."""
    after = _scan(prepared.work_dir, None)
    changed = [name for name, meta in after.items() if prepared.before.get(name) != meta]
    return tuple(sorted(changed)[:MAX_FILES_LISTED])
