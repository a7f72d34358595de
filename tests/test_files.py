"""What sandmle writes is readable as the umask allows: no 0600 file or 0700 folder from
`tempfile` survives into a bank, a report, a run or a model folder."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sandmle.files import atomic_file, atomic_tmp, copy_atomic, current_umask, staging_dir, write_json_atomic


@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    os.umask(old)
    yield set_mask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_atomic_writers_follow_the_umask(mask, tmp_path, umask):
    umask(mask)
    assert current_umask() == mask
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    with atomic_file(tmp_path / "b.bin", "wb") as fh:
        fh.write(b"x")
    with atomic_tmp(tmp_path / "c.png", ".png") as tmp:
        Path(tmp).write_bytes(b"png")
    copy_atomic(tmp_path / "a.json", tmp_path / "d.json")
    staging = staging_dir(tmp_path / "folder")
    for name in ("a.json", "b.bin", "c.png", "d.json"):
        assert _mode(tmp_path / name) == 0o666 & ~mask, name
    assert _mode(staging) == 0o777 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".folder")) == [
        "a.json", "b.bin", "c.png", "d.json"]


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "a.json") as fh:
            fh.write("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def _modes_under(root: Path, skip: tuple[str, ...] = ()) -> dict[str, int]:
    found = {}
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        if rel.parts and rel.parts[0] in skip:
            dirs[:] = []
            continue
        found[str(rel) + "/"] = _mode(folder)
        for name in files:
            found[str(rel / name)] = _mode(Path(folder) / name)
    return found


UMASK_RUN = """
import os, sys
os.umask(int(sys.argv[1], 8))
from sandmle.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_task_bank_and_evaluation_run_follow_the_umask(mask, tmp_path):
    """A bank built from a table (write_task, the leaderboard), an evaluation run (run.json,
    episodes.jsonl, the report, the chart) and an exported bank: files 0666 & ~umask, folders
    0777 & ~umask."""
    from sandmle.sources.sklearn_bank import build_sklearn_bank

    bank = tmp_path / "bank"
    old = os.umask(mask)
    try:
        build_sklearn_bank(bank, names=["sk-iris-f1"])
    finally:
        os.umask(old)
    for argv in (["eval", "--policy", "scripted", "--bank", str(bank), "--out", str(tmp_path / "run"),
                  "--workers", "1", "--json"],
                 ["bank", "export", str(bank), "--format", "mlebench", "--out", str(tmp_path / "exported")]):
        proc = subprocess.run([sys.executable, "-c", UMASK_RUN, oct(mask), *argv],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    for root in (bank, tmp_path / "run", tmp_path / "exported"):
        modes = _modes_under(root, skip=("work",))       # work/: the sandbox's own folders
        assert len(modes) > 3
        wrong = {name: oct(m) for name, m in modes.items()
                 if m != ((0o777 if name.endswith("/") else 0o666) & ~mask)}
        assert not wrong, wrong
