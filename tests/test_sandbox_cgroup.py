"""Per-job cgroups: the hierarchy found from /proc's description of it (v1 and v2, read
from files laid out as the kernel writes them), and a real job group where this machine
has one."""
from __future__ import annotations

import os

import pytest

from sandmle.sandbox import cgroup
from sandmle.sandbox.job import Limits

V2_MOUNTINFO = "30 23 0:26 / {root} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
V1_MOUNTINFO = ("35 31 0:32 / {root}/memory rw,relatime - cgroup cgroup rw,memory\n"
                "39 31 0:36 / {root}/pids rw,relatime - cgroup cgroup rw,pids\n")


def _layout(tmp_path, mountinfo: str, cgroup_lines: str):
    (tmp_path / "mountinfo").write_text(mountinfo.format(root=tmp_path / "fs"))
    (tmp_path / "cgroup").write_text(cgroup_lines)
    return str(tmp_path / "mountinfo"), str(tmp_path / "cgroup")


def _v2_group(tmp_path, path: str, controllers: str, subtree: str = "") -> str:
    folder = tmp_path / "fs" / path.lstrip("/")
    folder.mkdir(parents=True)
    (folder / "cgroup.controllers").write_text(controllers + "\n")
    (folder / "cgroup.subtree_control").write_text(subtree + "\n")
    return str(folder)


def test_v2_pool_group_is_made_under_the_own_group(tmp_path):
    base = _v2_group(tmp_path, "/system.slice/runner.service", "cpu memory pids", "memory pids")
    hierarchy, reason = cgroup.setup_pool("t", *_layout(tmp_path, V2_MOUNTINFO,
                                                         "0::/system.slice/runner.service\n"))
    assert reason is None and hierarchy.kind == cgroup.V2
    (_, pool_dir), = hierarchy.pool_dirs
    assert os.path.dirname(pool_dir) == base and os.path.basename(pool_dir).startswith("sandmle-t-")
    assert (open(os.path.join(pool_dir, "cgroup.subtree_control")).read() == "+memory +pids")


def test_v2_without_delegated_memory_says_why(tmp_path):
    _v2_group(tmp_path, "/user.slice/session-1.scope", "cpu io")
    hierarchy, reason = cgroup.setup_pool("t", *_layout(tmp_path, V2_MOUNTINFO,
                                                         "0::/user.slice/session-1.scope\n"))
    assert hierarchy is None
    assert "memory and pids controller is not delegated" in reason


def test_v1_group_is_resolved_against_the_mount_root(tmp_path):
    for controller, path in (("memory", "process_api/abc"), ("pids", "")):
        (tmp_path / "fs" / controller / path).mkdir(parents=True, exist_ok=True)
    hierarchy, reason = cgroup.setup_pool("t", *_layout(
        tmp_path, V1_MOUNTINFO, "8:pids:/\n4:memory:/process_api/abc\n0::/\n"))
    assert reason is None and hierarchy.kind == cgroup.V1
    dirs = dict(hierarchy.pool_dirs)
    assert os.path.dirname(dirs["memory"]) == str(tmp_path / "fs" / "memory" / "process_api" / "abc")
    assert os.path.dirname(dirs["pids"]) == str(tmp_path / "fs" / "pids")


def test_nothing_mounted_means_the_watchdog(tmp_path):
    hierarchy, reason = cgroup.setup_pool("t", *_layout(tmp_path, "", "0::/\n"))
    assert hierarchy is None and "no cgroup" in reason


def test_stale_pool_groups_of_dead_templates_are_removed(tmp_path):
    base = _v2_group(tmp_path, "/svc", "memory pids", "memory pids")
    dead = os.path.join(base, "sandmle-999999999-abcdef")
    os.makedirs(os.path.join(dead, "job-1-1"))
    cgroup.setup_pool("t", *_layout(tmp_path, V2_MOUNTINFO, "0::/svc\n"))
    assert not os.path.exists(dead)


@pytest.fixture
def real_hierarchy():
    hierarchy, reason = cgroup.setup_pool("test")
    if hierarchy is None:
        pytest.skip(f"no usable cgroup here: {reason}")
    yield hierarchy
    cgroup.remove_pool(hierarchy)


def test_real_job_group_is_limited_read_and_removed(real_hierarchy):
    group = cgroup.JobGroup.create(real_hierarchy, "job-test-1", Limits(memory_mb=64, processes=5))
    try:
        usage = group.usage()
        assert usage.oom_kills == 0 and usage.tasks_refused == 0
        assert all(os.path.exists(p) for p in group.procs_files)
    finally:
        assert group.remove()
    assert not any(os.path.exists(p) for p in group.procs_files)
