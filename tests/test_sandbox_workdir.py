"""The host-side work folder handling: never follows what a job planted; memory rules."""
from __future__ import annotations

import os

import pytest

from sandmle.sandbox import Job, SandboxError
from sandmle.sandbox.limits import is_memory_error
from sandmle.sandbox.workdir import CODE_FILE, finish, prepare


def test_planted_symlink_at_code_path_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("host file")
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(victim, work / CODE_FILE)
    prepare(Job(work_dir=str(work), code="print(1)"), mount_input=True, owner=None)
    assert victim.read_text() == "host file"
    assert not (work / CODE_FILE).is_symlink() and (work / CODE_FILE).read_text() == "print(1)"


def test_planted_input_symlink_is_replaced_by_a_mount_point(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    os.symlink("/etc", work / "input")
    prepare(Job(work_dir=str(work), public_dir=str(public), code="1"), mount_input=True, owner=None)
    assert (work / "input").is_dir() and not (work / "input").is_symlink()


def test_plain_mode_links_input_to_public(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    work = tmp_path / "work"
    prepare(Job(work_dir=str(work), public_dir=str(public), code="1"), mount_input=False, owner=None)
    assert os.readlink(work / "input") == str(public.resolve())


def test_non_empty_input_is_refused(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    (tmp_path / "work" / "input").mkdir(parents=True)
    (tmp_path / "work" / "input" / "x").write_text("1")
    with pytest.raises(SandboxError):
        prepare(Job(work_dir=str(tmp_path / "work"), public_dir=str(public), code="1"),
                mount_input=True, owner=None)


def test_files_written_sees_symlinks_without_following(tmp_path):
    work = tmp_path / "work"
    prepared = prepare(Job(work_dir=str(work), code="1"), mount_input=True, owner=None)
    os.symlink("/", work / "escape")
    (work / "new.txt").write_text("x")
    assert finish(prepared, Job(work_dir=str(work), code="1").limits).files_written == ("escape", "new.txt")


@pytest.mark.parametrize("stderr, exit_code, expected", [
    ("Traceback (most recent call last):\n  ...\nMemoryError\n", 1, True),
    ("numpy.core._exceptions._ArrayMemoryError: Unable to allocate 8.00 GiB\n", 1, True),
    ("terminate called after throwing an instance of 'std::bad_alloc'\n", None, True),
    ("OSError: [Errno 12] Cannot allocate memory\n", 1, True),
    ("MemoryError\n", 0, False),
    ("ValueError: bad\n", 1, False),
    ("", None, False),
])
def test_is_memory_error(stderr, exit_code, expected):
    assert is_memory_error(stderr, exit_code) is expected


def test_count_user_tasks_counts_this_process():
    from sandmle.sandbox.limits import count_user_tasks

    assert count_user_tasks(os.getuid()) >= 1


def test_directory_at_code_path_is_replaced(tmp_path):
    work = tmp_path / "work"
    (work / CODE_FILE / "inner").mkdir(parents=True)
    prepare(Job(work_dir=str(work), code="print(2)"), mount_input=True, owner=None)
    assert (work / CODE_FILE).read_text() == "print(2)"


def test_remove_tree_takes_any_depth_and_any_name(tmp_path):
    from sandmle.sandbox.workdir import remove_tree

    top = tmp_path / "tree"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir(b"\xff\xfe", dir_fd=fd)
        child = os.open(b"\xff\xfe", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open(b"leaf\x1b", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.close(fd)
    remove_tree(top)
    assert not top.exists()


def test_remove_tree_never_follows_a_symlink(tmp_path):
    from sandmle.sandbox.workdir import remove_tree

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("host")
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    os.symlink(outside, top / "sub" / "link")
    remove_tree(top)
    assert not top.exists() and (outside / "keep.txt").read_text() == "host"


def test_display_name_escapes_what_a_terminal_would_run():
    from sandmle.sandbox.workdir import MAX_NAME_CHARS, display_name

    assert display_name(os.fsdecode(b"a\xffb")) == "a\\xffb"
    assert display_name("x\x1b[31my") == "x\\x1b[31my"
    assert len(display_name("d/" * 1000)) <= MAX_NAME_CHARS
