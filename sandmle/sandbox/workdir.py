"""The job's work folder on the host: prepared before a job, compared and capped after it,
removed when its owner is done with it.

The work folder belongs to the job (hostile by assumption), and this code runs as root
between jobs, so nothing here follows a symlink the job may have planted: folders are
walked through directory file descriptors opened with O_NOFOLLOW (no path is ever longer
than one name, so a tree nested past PATH_MAX is walked like any other), entries are
re-owned with `lchown`, and the code file is unlinked and created with O_EXCL | O_NOFOLLOW.
Whoever reads the job's files afterwards (a grader reading `submission.csv`) should
likewise check that they are regular files.

Caps (`Limits.work_files`, `Limits.work_mb`): the folder may hold at most that many entries
and bytes (apparent sizes, input/ excluded). A job that leaves it over either cap has every
entry it created or changed removed again (`Finished.work_exceeded`); a folder already over
a cap before the job is not run in (`Prepared.over_caps`). Walks stop at the cap, so a
folder of 200,000 files costs one bounded walk per job, not a full listing.

`remove_tree(path)` removes a folder iteratively (Python 3.11's `shutil.rmtree` recurses
once per level and fails on a 3,000-level tree).
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from sandmle.sandbox.job import INPUT_DIRNAME, Job, Limits
from sandmle.sandbox.protocol import SandboxError

CODE_FILE = "main.py"            # where `Job.code` is written; tracebacks name this file
MAX_FILES_LISTED = 10_000        # entries of `files_written` at most ...
MAX_LISTED_BYTES = 256 * 1024    # ... and bytes of their names, all together
MAX_NAME_CHARS = 512             # one listed path longer than this is cut with "..."
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MB = 1024 * 1024

Snapshot = dict[str, tuple[int, int, int]]   # relative path -> (mtime_ns, size, inode)
FOLDER_SIZE = -1                             # the size slot of a folder in a Snapshot


@dataclass(frozen=True)
class Prepared:
    work_dir: str                # real host path of the work folder
    script_name: str             # file name of the code inside it
    before: Snapshot             # every entry (folders too), at most the cap + 1
    over_caps: str | None        # why the folder is already over its caps (job not run)


@dataclass(frozen=True)
class Finished:
    files_written: tuple[str, ...]   # escaped relative paths, sorted, capped (see above)
    files_truncated: bool            # more entries were written than listed
    work_exceeded: str | None        # which cap the job broke; its entries were removed


def display_name(name: str) -> str:
    """A relative path as text that any terminal or JSON reader takes: undecodable bytes
    as `\\xff`, control characters as `\\x1b`, at most MAX_NAME_CHARS characters."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" if ord(c) < 256
                   else f"\\u{ord(c):04x}" for c in text)
    if len(text) > MAX_NAME_CHARS:
        half = MAX_NAME_CHARS // 2 - 2
        text = f"{text[:half]}...{text[-half:]}"
    return text


def _open_dir(name: str, dir_fd: int | None) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        if os.geteuid() == 0:
            raise
        os.chmod(name, 0o700, dir_fd=dir_fd)     # a folder the job made unreadable (not root)
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _same_dir(fd: int, ident: tuple[int, int]) -> None:
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != ident:
        raise SandboxError("a folder was moved while it was being walked")


def _walk(top: str, visit, skip_top: frozenset[str] = frozenset()) -> None:
    """Depth-first walk of `top` through directory fds, one open at a time.

    `visit(dir_fd, rel, entry)` is called for each entry (`rel` its relative path); it
    returns True to descend into a folder, and may raise StopIteration to end the walk.
    After a folder's entries, `visit(parent_fd, rel, None)` is called on leaving it (the
    folder may then be removed). Entries of `top` named in `skip_top` are not visited."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    # One frame per open level: (relative path, its name, (dev, inode), subfolders left).
    st = os.fstat(fd)
    frames: list[tuple[str, str, tuple[int, int], list[str]]] = [("", "", (st.st_dev, st.st_ino), [])]
    try:
        _list(fd, "", frames[-1][3], visit, skip_top)
        while frames:
            rel, name, _ident, todo = frames[-1]
            if todo:
                child = todo.pop()
                child_rel = f"{rel}/{child}" if rel else child
                try:
                    child_fd = _open_dir(child, fd)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                os.close(fd)
                fd = child_fd
                st = os.fstat(fd)
                frames.append((child_rel, child, (st.st_dev, st.st_ino), []))
                _list(fd, child_rel, frames[-1][3], visit, frozenset())
                continue
            frames.pop()
            if not frames:
                break
            parent_fd = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent_fd
            _same_dir(fd, frames[-1][2])
            visit(fd, rel, None)
    except StopIteration:
        pass
    finally:
        os.close(fd)


def _list(fd: int, rel: str, todo: list[str], visit, skip: frozenset[str]) -> None:
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.name in skip:
                continue
            if visit(fd, f"{rel}/{entry.name}" if rel else entry.name, entry):
                todo.append(entry.name)


def remove_tree(path: str | os.PathLike) -> None:
    """Remove `path` and everything under it: iterative (any depth), never following a
    symlink, any file name (non-UTF-8 too). A missing `path` is not an error."""
    path = os.path.abspath(os.fspath(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return

    def remove(dir_fd: int, rel: str, entry) -> bool:
        if entry is None:
            try:
                os.rmdir(os.path.basename(rel), dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            return False
        if entry.is_dir(follow_symlinks=False):
            return True
        try:
            os.unlink(entry.name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        return False

    _walk(path, remove)
    os.rmdir(path)


def _write_fresh(path: str, data: bytes) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        remove_tree(path)             # the code's name is reserved; never follows links
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


def _scan(top: str, owner: tuple[int, int] | None, limits: Limits) -> tuple[Snapshot, str | None]:
    """Every entry under `top` but input/, re-owned to `owner` where it differs; stops once
    past a cap and says which."""
    entries: Snapshot = {}
    total = [0]
    over: list[str] = []
    if owner is not None:
        os.lchown(top, *owner)

    def visit(dir_fd: int, rel: str, entry) -> bool:
        if entry is None:
            return False
        try:
            st = entry.stat(follow_symlinks=False)
            if owner is not None and (st.st_uid, st.st_gid) != owner:
                os.chown(entry.name, *owner, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return False
        is_dir = stat.S_ISDIR(st.st_mode)
        entries[rel] = (st.st_mtime_ns, FOLDER_SIZE if is_dir else st.st_size, st.st_ino)
        total[0] += 0 if is_dir else st.st_size
        if len(entries) > limits.work_files:
            over.append(f"more than {limits.work_files} files and folders")
        elif total[0] > limits.work_mb * _MB:
            over.append(f"more than {limits.work_mb} MB")
        if over:
            raise StopIteration
        return is_dir

    _walk(top, visit, skip_top=frozenset({INPUT_DIRNAME}))
    return entries, (over[0] if over else None)


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
    before, over = _scan(work_dir, owner, job.limits)
    return Prepared(work_dir, name, before, over)


def finish(prepared: Prepared, limits: Limits) -> Finished:
    """What the job created or changed; over a cap, those entries are removed again."""
    after, over = _scan(prepared.work_dir, None, limits)
    if over is not None:
        _remove_new(prepared)
        return Finished((), False, over)
    changed = sorted(name for name, meta in after.items()
                     if meta[1] != FOLDER_SIZE and prepared.before.get(name) != meta)
    listed, size = [], 0
    for name in changed:
        shown = display_name(name)
        size += len(shown) + 4
        if len(listed) >= MAX_FILES_LISTED or size > MAX_LISTED_BYTES:
            break
        listed.append(shown)
    return Finished(tuple(listed), len(listed) < len(changed), None)


def _remove_new(prepared: Prepared) -> None:
    """Remove every entry the job created or changed (compared with `prepared.before`)."""
    before = prepared.before

    def visit(dir_fd: int, rel: str, entry) -> bool:
        if entry is None:
            if rel not in before:
                os.rmdir(os.path.basename(rel), dir_fd=dir_fd)
            return False
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return False
        if stat.S_ISDIR(st.st_mode):
            return True
        if before.get(rel) != (st.st_mtime_ns, st.st_size, st.st_ino):
            os.unlink(entry.name, dir_fd=dir_fd)
        return False

    _walk(prepared.work_dir, visit, skip_top=frozenset({INPUT_DIRNAME, prepared.script_name}))
