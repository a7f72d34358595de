"""Infrastructure failures end any command with one `sandmle: error:` line and exit 2, and
leave nothing half-written."""
from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from sandmle.cli import infrastructure_error
from sandmle.sandbox import SandboxError, isolate

FULL_DISK = """
import os, sys
from sandmle.sandbox import isolate
def small_full_disk(target):
    isolate.unshare(isolate.CLONE_NEWNS)
    isolate.mount(None, "/", None, isolate.MS_REC | isolate.MS_PRIVATE)
    isolate.mount("tmpfs", target, "tmpfs", 0, "size=64k")
    fd = os.open(os.path.join(target, "filler"), os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        os.close(fd)
target = sys.argv[1]
small_full_disk(target)
from sandmle.cli import main
code = main(sys.argv[2:])
left = []
for folder, _, files in os.walk(target):
    left += [os.path.relpath(os.path.join(folder, f), target) for f in files if f != "filler"]
print("left:", sorted(left))
sys.exit(code)
"""


@pytest.mark.skipif(isolate.unavailable_reason() is not None, reason="needs root and mount namespaces")
def test_full_disk_is_one_line_and_leaves_nothing(make_task, tmp_path):
    make_task("auc", task_id="a-task")
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(disk), "eval", "--policy", "scripted",
         "--bank", str(tmp_path / "tasks"), "--out", str(disk / "run"), "--workers", "1"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sandmle: error: No space left on device")
    assert "Traceback" not in proc.stderr and proc.stdout == "left: []\n"


@pytest.mark.parametrize("exc, expected", [
    (OSError(errno.ENOSPC, "No space left on device", "/data/x"),
     "No space left on device: /data/x (errno 28)"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/run"),
     "Permission denied: /root/run (errno 13)"),
    (SandboxError("sandbox worker failed to start: unshare: Operation not permitted"),
     "sandbox: sandbox worker failed to start: unshare: Operation not permitted"),
    (RuntimeError("file write failed: No space left on device"),
     "file write failed: No space left on device"),
])
def test_infrastructure_errors_are_one_line(exc, expected):
    assert infrastructure_error(exc) == expected


def test_an_os_error_behind_a_library_error_is_found():
    try:
        try:
            raise OSError(errno.EROFS, "Read-only file system", "/mnt/ro")
        except OSError as inner:
            raise ValueError("could not save") from inner
    except ValueError as outer:
        assert infrastructure_error(outer) == "Read-only file system: /mnt/ro (errno 30)"


def test_a_bug_is_not_an_infrastructure_error():
    assert infrastructure_error(KeyError("x")) is None


def test_permission_denied_output_folder_is_one_line(make_task, tmp_path):
    if os.geteuid() == 0:
        target = "/proc/sandmle-cannot-create"
    else:
        target = str(tmp_path / "ro" / "run")
        (tmp_path / "ro").mkdir(mode=0o500)
    make_task("auc", task_id="a-task")
    proc = subprocess.run([sys.executable, "-m", "sandmle", "eval", "--policy", "scripted",
                           "--bank", str(tmp_path / "tasks"), "--out", target, "--workers", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("sandmle: error:")
