"""Folders between a Ray driver and a node: a task's public folder once per node, a job's
work folder as a delta per job (`sandmle.sandbox.ray_pool`).

    manifest = snapshot(top)                  # every entry: kind, mode, size, mtime, inode
    delta = diff(top, base)                   # what changed since `base` (None: everything)
    apply(other_top, delta)                   # make `other_top` match `top`
    digest = tree_digest(public_folder)       # content address of a folder

A `Delta` carries the bytes of new and changed regular files, the folders and symlinks
that are new or changed, and the top-most entries that are gone. Regular files are
compared by (size, mtime, inode, mode): a file rewritten in place with the same size and
its old mtime set back is not seen (as in the pool's own `files_written`). FIFOs, sockets
and devices are never read or shipped: they stay where the job made them.

Both sides' folders hold hostile files (a job wrote them), so, as in workdir.py, nothing
here follows a symlink: walks go through directory descriptors opened with O_NOFOLLOW, a
file is read only after fstat says it is regular, and `apply` moves one descriptor down
and up the tree (never a path longer than one name: a 3,000-level tree a job left is
shipped like any other). Files are created with O_EXCL | O_NOFOLLOW, their permission bits
kept but setuid, setgid and sticky dropped (the receiving side runs as root). A name that
is empty, "." or ".." or holds "/" or NUL in a component is refused (`SyncError`).

Cost: a delta holds the whole content of each changed file, and nothing of unchanged ones;
a full copy (`base=None`) is every file. The work folder's caps (`Limits.work_files`,
`work_mb`) bound both.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field

from sandmle.sandbox.protocol import SandboxError
from sandmle.sandbox.workdir import _walk, remove_tree

FILE, FOLDER, LINK = "f", "d", "l"
Entry = tuple[str, int, int, int, int]      # (kind, mode, size, mtime_ns, inode)
Manifest = dict[str, Entry]                 # relative path ("/"-separated) -> Entry
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_KEPT_MODE = 0o777                          # no setuid, setgid or sticky bit is ever made


class SyncError(SandboxError):
    """A folder could not be shipped or applied (a bad name, a file that went away)."""


@dataclass(frozen=True)
class Delta:
    """Changes that turn one copy of a folder into another. Paths are relative, "/"-separated."""
    removed: tuple[str, ...] = ()                            # top-most entries that are gone
    folders: tuple[tuple[str, int], ...] = ()                # (path, mode), new or changed
    links: tuple[tuple[str, str], ...] = ()                  # (path, target)
    files: tuple[tuple[str, int, int, bytes], ...] = ()      # (path, mode, mtime_ns, content)
    full: bool = False                                       # a whole copy, not a change

    @property
    def num_bytes(self) -> int:
        """Bytes of file content carried (what a transfer costs, names aside)."""
        return sum(len(f[3]) for f in self.files)

    @property
    def num_entries(self) -> int:
        return len(self.removed) + len(self.folders) + len(self.links) + len(self.files)


@dataclass
class _Walker:
    base: Manifest | None
    read: bool
    manifest: Manifest = field(default_factory=dict)
    folders: list = field(default_factory=list)
    links: list = field(default_factory=list)
    files: list = field(default_factory=list)

    def visit(self, dir_fd: int, rel: str, entry) -> bool:
        if entry is None:
            return False
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return False
        mode = stat.S_IMODE(st.st_mode) & _KEPT_MODE
        if stat.S_ISDIR(st.st_mode):
            meta: Entry = (FOLDER, mode, 0, 0, 0)
        elif stat.S_ISLNK(st.st_mode):
            meta = (LINK, 0, st.st_size, st.st_mtime_ns, st.st_ino)
        elif stat.S_ISREG(st.st_mode):
            meta = (FILE, mode, st.st_size, st.st_mtime_ns, st.st_ino)
        else:
            return False                      # FIFOs, sockets, devices: never shipped
        self.manifest[rel] = meta
        if self.read and (self.base is None or self.base.get(rel) != meta):
            if meta[0] == FOLDER:
                self.folders.append((rel, mode))
            elif meta[0] == LINK:
                self.links.append((rel, os.readlink(entry.name, dir_fd=dir_fd)))
            else:
                self.files.append((rel, mode, st.st_mtime_ns, _read_regular(entry.name, dir_fd)))
        return meta[0] == FOLDER


def _read_regular(name: str, dir_fd: int) -> bytes:
    fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SyncError(f"{name!r} changed while it was read")
        os.set_blocking(fd, True)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def snapshot(top: str, skip_top: frozenset[str] = frozenset()) -> Manifest:
    """Every folder, regular file and symlink under `top` (not `top` itself, not the
    top-level names in `skip_top`)."""
    walker = _Walker(base=None, read=False)
    _walk(top, walker.visit, skip_top=skip_top)
    return walker.manifest


def diff(top: str, base: Manifest | None, skip_top: frozenset[str] = frozenset()
         ) -> tuple[Delta, Manifest]:
    """(what turns a copy at `base` into `top` now, `top`'s manifest now). `base=None`:
    a full copy (applied to an empty folder)."""
    walker = _Walker(base=base, read=True)
    _walk(top, walker.visit, skip_top=skip_top)
    removed: list[str] = []
    if base is not None:
        gone = {rel for rel in base if rel not in walker.manifest
                or (base[rel][0] == FOLDER) != (walker.manifest[rel][0] == FOLDER)}
        removed = sorted(rel for rel in gone if not _under_any(rel, gone))
    return Delta(tuple(removed), tuple(sorted(walker.folders, key=_depth_key)), tuple(walker.links),
                 tuple(walker.files), full=base is None), walker.manifest


def _under_any(rel: str, paths: set[str]) -> bool:
    parent = rel.rpartition("/")[0]
    while parent:
        if parent in paths:
            return True
        parent = parent.rpartition("/")[0]
    return False


def _depth_key(item) -> list[str]:
    return item[0].split("/")


def _parts(rel: str) -> list[str]:
    parts = rel.split("/")
    for part in parts:
        if part in ("", ".", "..") or "\0" in part:
            raise SyncError(f"refusing the path {rel!r}")
    return parts


class _Cursor:
    """One open folder of a tree, moved name by name (down with O_NOFOLLOW, up through
    ".." checked against the folder's identity), so no path is ever resolved whole."""

    def __init__(self, top: str):
        self.fd = os.open(top, _DIR_FLAGS)
        self.parts: list[str] = []
        self.idents = [self._ident()]

    def _ident(self) -> tuple[int, int]:
        st = os.fstat(self.fd)
        return st.st_dev, st.st_ino

    def goto(self, parts: list[str]) -> int:
        """The descriptor of folder `parts` (made, mode 0o755, where missing)."""
        common = 0
        while common < min(len(parts), len(self.parts)) and parts[common] == self.parts[common]:
            common += 1
        while len(self.parts) > common:
            parent = os.open("..", _DIR_FLAGS, dir_fd=self.fd)
            os.close(self.fd)
            self.fd = parent
            self.parts.pop()
            self.idents.pop()
            if self._ident() != self.idents[-1]:
                raise SyncError("a folder was moved while a delta was applied")
        for name in parts[common:]:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
            except FileNotFoundError:
                os.mkdir(name, 0o755, dir_fd=self.fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
            except OSError as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                _remove_entry(self.fd, name)          # a file or a link where a folder goes
                os.mkdir(name, 0o755, dir_fd=self.fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
            os.close(self.fd)
            self.fd = child
            self.parts.append(name)
            self.idents.append(self._ident())
        return self.fd

    def close(self) -> None:
        os.close(self.fd)


def _remove_entry(dir_fd: int, name: str) -> None:
    """Remove `name` in `dir_fd`, whatever it is (a folder with everything under it)."""
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        remove_tree(f"/proc/self/fd/{dir_fd}/{name}")
    else:
        os.unlink(name, dir_fd=dir_fd)


def apply(top: str, delta: Delta) -> None:
    """Make the folder `top` (created if missing) match the side `delta` was taken from.
    A full delta first empties `top`."""
    os.makedirs(top, exist_ok=True)
    cursor = _Cursor(top)
    try:
        if delta.full:
            for name in os.listdir(cursor.fd):
                _remove_entry(cursor.fd, name)
        for rel in delta.removed:
            *parent, name = _parts(rel)
            _remove_entry(cursor.goto(parent), name)
        for rel, mode in delta.folders:
            *parent, name = _parts(rel)
            fd = cursor.goto(parent)
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                st = None
            if st is not None and not stat.S_ISDIR(st.st_mode):
                os.unlink(name, dir_fd=fd)
                st = None
            if st is None:
                os.mkdir(name, 0o755, dir_fd=fd)
            os.chmod(name, mode & _KEPT_MODE, dir_fd=fd, follow_symlinks=False)
        for rel, target in delta.links:
            *parent, name = _parts(rel)
            fd = cursor.goto(parent)
            _remove_entry(fd, name)
            os.symlink(target, name, dir_fd=fd)
        for rel, mode, mtime_ns, content in delta.files:
            *parent, name = _parts(rel)
            fd = cursor.goto(parent)
            _remove_entry(fd, name)
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o600, dir_fd=fd)
            try:
                view = memoryview(content)
                while view:
                    view = view[os.write(out, view):]
                os.fchmod(out, mode & _KEPT_MODE)
                os.utime(out, ns=(mtime_ns, mtime_ns))
            finally:
                os.close(out)
    except OSError as exc:
        raise SyncError(f"could not apply a folder delta to {top}: {exc}") from exc
    finally:
        cursor.close()


def tree_digest(top: str) -> tuple[str, Delta]:
    """(sha256 of the folder's names, kinds, modes and contents, its full `Delta`)."""
    delta, _ = diff(top, None)
    digest = hashlib.sha256()
    for rel, mode in delta.folders:
        digest.update(b"d\0" + os.fsencode(rel) + b"\0" + str(mode).encode() + b"\0")
    for rel, target in sorted(delta.links):
        digest.update(b"l\0" + os.fsencode(rel) + b"\0" + os.fsencode(target) + b"\0")
    for rel, mode, _mtime, content in sorted(delta.files, key=lambda f: f[0]):
        digest.update(b"f\0" + os.fsencode(rel) + b"\0" + str(mode).encode() + b"\0"
                      + str(len(content)).encode() + b"\0")
        digest.update(content)
    return digest.hexdigest(), delta
