"""Files sandmle writes: atomically (a temporary path beside the target, then a rename) and
with the permissions the process's umask allows, as `open()` and `mkdir()` would give.

    atomic_file(path, mode="w")     a context manager yielding an open temporary file;
                                    renamed onto `path` when the block ends without error
    write_text_atomic(path, text)   / write_json_atomic(path, data) / copy_atomic(src, dest)
    staging_dir(dest)               a temporary folder beside `dest` (mode 0777 & ~umask)
    staged_folder(dest)             a context manager: a staging folder that replaces `dest`
    atomic_tmp(path)                a temporary path beside `path` for a library that writes by
                                    name (matplotlib's savefig), unlinked when it fails
    file_mode() / dir_mode()        0666 & ~umask and 0777 & ~umask

and the check every reader makes of a path it is given (one UserError line, the same words
for every command):

    existing_folder(path, "task folder")    "task folder X does not exist" / "... is a file, not a folder"
    existing_file(path, "data file")        "data file X does not exist" / "... is a folder, not a file"

Why not plain `tempfile`: `mkstemp` creates 0600 files and `mkdtemp` 0700 folders, whatever
the umask; renamed into place they would leave a bank, a report or a model folder that no
other user or container uid can read. Each temporary file is chmod-ed to what the umask
allows before anything is written to it.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

_UMASK_LOCK = threading.Lock()


def existing_folder(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path when it is a folder; else UserError "WHAT PATH does not exist" or
    "WHAT PATH is a file, not a folder"."""
    return _existing(Path(path), what, folder=True)


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path when it is a file; else UserError "WHAT PATH does not exist" or
    "WHAT PATH is a folder, not a file"."""
    return _existing(Path(path), what, folder=False)


def _existing(path: Path, what: str, folder: bool) -> Path:
    from sandmle.errors import UserError

    if path.is_dir() if folder else path.is_file():
        return path
    other = "is a file, not a folder" if folder else "is a folder, not a file"
    wrong_kind = path.exists() if folder else path.is_dir()
    raise UserError(f"{what} {path} {other if wrong_kind else 'does not exist'}")


def current_umask() -> int:
    """The process's umask, read without changing it where Linux reports it
    (/proc/self/status, Linux >= 4.7); elsewhere set and restored under a lock."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    return 0o777 & ~current_umask()


def _temp_file(path: Path, suffix: str) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.fchmod(fd, file_mode())
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Yield a file open for writing beside `path`; rename it onto `path` on success, remove
    it on any error (a killed process leaves only a hidden `.NAME.*.tmp`)."""
    path = Path(path)
    fd, tmp = _temp_file(path, ".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_tmp(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield the name of an empty temporary file beside `path` for a writer that takes a file
    name; it is renamed onto `path` when the block ends, removed on an error."""
    path = Path(path)
    fd, tmp = _temp_file(path, suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write text to a temporary file beside `path`, then rename it into place."""
    with atomic_file(path) as fh:
        fh.write(text)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write JSON (indented) to a temporary file beside `path`, then rename it into place."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def copy_atomic(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Copy `src`'s bytes to `dest` through a temporary file beside it."""
    with atomic_tmp(dest) as tmp:
        shutil.copyfile(src, tmp)


@contextmanager
def staged_folder(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging folder beside `dest` to fill; when the block ends without error it
    replaces `dest` (a folder already there is removed first), else it is removed."""
    dest = Path(dest)
    staging = staging_dir(dest)
    try:
        yield staging
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def staging_dir(dest: str | os.PathLike, suffix: str = ".partial") -> Path:
    """A new temporary folder beside `dest` with the umask's folder mode, to be filled and
    renamed onto `dest` (the caller removes it when filling fails)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=suffix))
    os.chmod(staging, dir_mode())
    return staging
