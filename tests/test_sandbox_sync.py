"""Work and task folders shipped as deltas (sandmle.sandbox.sync): a mirror kept up to date
by `diff` + `apply` equals its source, and hostile trees are shipped without being followed."""
from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandmle.sandbox import sync
from sandmle.sandbox.workdir import remove_tree


def tree(top) -> dict:
    """Everything under `top` as {relative path: ("d", mode) | ("l", target) | ("f", mode, bytes)},
    walked through descriptors (deep trees too)."""
    out = {}

    def visit(dir_fd, rel, entry):
        if entry is None:
            return False
        st_ = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st_.st_mode):
            out[rel] = ("d", stat.S_IMODE(st_.st_mode))
            return True
        if stat.S_ISLNK(st_.st_mode):
            out[rel] = ("l", os.readlink(entry.name, dir_fd=dir_fd))
        elif stat.S_ISREG(st_.st_mode):
            fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as fh:
                out[rel] = ("f", stat.S_IMODE(st_.st_mode), fh.read())
        return False

    from sandmle.sandbox.workdir import _walk

    _walk(str(top), visit)
    return out


def mirror(source, target, base=None):
    delta, manifest = sync.diff(str(source), base)
    sync.apply(str(target), delta)
    return delta, manifest


def test_full_copy_then_deltas_keep_a_mirror_equal(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "b" / "x.csv").write_text("id\n1\n")
    (src / "top.txt").write_bytes(b"\x00\xff" * 100)
    os.symlink("/etc/passwd", src / "link")
    delta, base = mirror(src, dst)
    assert delta.full and tree(dst) == tree(src)

    (src / "top.txt").write_text("changed")
    (src / "a" / "b" / "x.csv").unlink()
    (src / "a" / "new").mkdir()
    (src / "link").unlink()
    (src / "link").mkdir()                                # a link became a folder
    (src / "link" / "inside").write_text("y")
    delta, base = mirror(src, dst, base)
    assert not delta.full and tree(dst) == tree(src)
    assert {f[0] for f in delta.files} == {"top.txt", "link/inside"}
    assert "a/b/x.csv" in delta.removed

    delta, base = mirror(src, dst, base)                  # nothing changed: nothing shipped
    assert delta.num_entries == 0


def test_a_removed_folder_is_one_entry(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "gone" / "deep").mkdir(parents=True)
    (src / "gone" / "deep" / "f").write_text("x")
    _, base = mirror(src, dst)
    remove_tree(src / "gone")
    delta, _ = mirror(src, dst, base)
    assert delta.removed == ("gone",) and tree(dst) == tree(src) == {}


def test_setuid_bits_are_dropped_and_permissions_kept(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "tool").write_text("#!/bin/sh\n")
    os.chmod(src / "tool", 0o6755)
    (src / "private").write_text("x")
    os.chmod(src / "private", 0o600)
    mirror(src, dst)
    assert stat.S_IMODE(os.lstat(dst / "tool").st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(dst / "private").st_mode) == 0o600


def test_a_symlink_on_the_receiving_side_is_replaced_not_followed(tmp_path):
    """A job left `out -> /outside` on one side; the other side ships a folder `out/` with a
    file: the link is removed and nothing is written where it pointed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "out").mkdir(parents=True)
    (src / "out" / "payload").write_text("x")
    dst.mkdir()
    os.symlink(outside, dst / "out")
    sync.apply(str(dst), sync.diff(str(src), {"out": ("d", 0o755, 0, 0, 0)})[0])
    assert os.listdir(outside) == []
    assert (dst / "out").is_dir() and not (dst / "out").is_symlink()
    assert (dst / "out" / "payload").read_text() == "x"


def test_fifos_and_sockets_are_not_read(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "pipe")                   # reading it would block forever
    (src / "f").write_text("x")
    delta, manifest = sync.diff(str(src), None)
    assert [f[0] for f in delta.files] == ["f"] and "pipe" not in manifest


@pytest.mark.parametrize("bad", ["../escape", "/abs", "a/../../b", "a//b", "."])
def test_paths_that_leave_the_folder_are_refused(tmp_path, bad):
    delta = sync.Delta(files=((bad, 0o644, 0, b"x"),))
    with pytest.raises(sync.SyncError, match="refusing"):
        sync.apply(str(tmp_path / "dst"), delta)
    assert not (tmp_path / "escape").exists()


def test_a_tree_3000_levels_deep_is_shipped_and_removed(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    fd = os.open(src, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    with os.fdopen(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as fh:
        fh.write("deep")
    os.close(fd)
    delta, base = mirror(src, dst)
    assert len(delta.folders) == 3000 and tree(dst) == tree(src)
    remove_tree(src / "d")
    mirror(src, dst, base)
    assert os.listdir(dst) == []


def test_undecodable_names_round_trip(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    name = b"\xff\xfe\x1b[31m\xe9"
    with open(os.path.join(os.fsencode(src), name), "wb") as fh:
        fh.write(b"x")
    mirror(src, dst)
    assert os.listdir(os.fsencode(dst)) == [name]


def test_tree_digest_is_the_content_address(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for top in (a, b):
        (top / "sub").mkdir(parents=True)
        (top / "sub" / "train.csv").write_text("id,x\n1,2\n")
    assert sync.tree_digest(str(a))[0] == sync.tree_digest(str(b))[0]
    os.utime(b / "sub" / "train.csv", ns=(0, 0))             # times are not content
    assert sync.tree_digest(str(a))[0] == sync.tree_digest(str(b))[0]
    (b / "sub" / "train.csv").write_text("id,x\n1,3\n")
    assert sync.tree_digest(str(a))[0] != sync.tree_digest(str(b))[0]


NAMES = st.sampled_from(["a", "b", "c.csv"])
OPS = st.lists(st.tuples(st.sampled_from(["file", "dir", "link", "remove"]),
                         st.lists(NAMES, min_size=1, max_size=3), st.binary(max_size=20)),
               max_size=12)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(OPS, min_size=1, max_size=4))
def test_random_edits_keep_the_mirror_equal(tmp_path_factory, steps):
    root = tmp_path_factory.mktemp("sync")
    src, dst = root / "src", root / "dst"
    src.mkdir()
    base = None
    for ops in steps:
        for kind, parts, data in ops:
            path = src.joinpath(*parts)
            try:
                if kind == "remove":
                    remove_tree(path)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                remove_tree(path)
                if kind == "file":
                    path.write_bytes(data)
                elif kind == "dir":
                    path.mkdir()
                else:
                    os.symlink(data.hex() or "x", path)
            except (NotADirectoryError, FileExistsError, FileNotFoundError):
                pass                                   # a parent is a file or a link
        _, base = mirror(src, dst, base)
        assert tree(dst) == tree(src)
