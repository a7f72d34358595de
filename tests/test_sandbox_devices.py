"""Device nodes given to sandbox jobs (GPUs for full-size evaluation): discovery, the one-line
error when asked for and absent, the bind into an isolated job's /dev, and the address-space
cap lifted for such a job only. Stand-in GPU nodes are real character devices made with
mknod (the null device's numbers), so the bind path is the one a real /dev/nvidia0 takes."""
from __future__ import annotations

import json
import os
import stat

import pytest

from sandmle.errors import UserError
from sandmle.sandbox import Job, Pool, isolate
from sandmle.sandbox.devices import gpu_device_nodes, require_gpu_device_nodes

PROBE = """
import json, os, resource
seen = sorted(n for n in os.listdir("/dev") if n.startswith("nvidia"))
with open("/dev/nvidia0", "w") if "nvidia0" in seen else open(os.devnull, "w") as fh:
    fh.write("x")
print(json.dumps({"seen": seen, "as": resource.getrlimit(resource.RLIMIT_AS)[0]}))
"""


def _fake_gpus(root, names=("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm")):
    root.mkdir(exist_ok=True)
    for name in names:
        os.mknod(root / name, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(root / name, 0o666)         # as the NVIDIA driver makes them, past the umask
    return root


def test_no_gpu_nodes_is_one_clear_line(tmp_path):
    assert gpu_device_nodes(str(tmp_path)) == ()
    with pytest.raises(UserError, match="no NVIDIA device nodes") as info:
        require_gpu_device_nodes(str(tmp_path))
    assert "\n" not in str(info.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_discovery_lists_gpus_in_order_then_control_nodes(tmp_path):
    dev = _fake_gpus(tmp_path / "dev", ("nvidia10", "nvidia2", "nvidiactl", "nvidia-uvm"))
    (dev / "nvidia3").write_text("a regular file is not a device")
    names = [os.path.basename(p) for p in gpu_device_nodes(str(dev))]
    assert names == ["nvidia2", "nvidia10", "nvidiactl", "nvidia-uvm"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_gpu_nodes_without_nvidiactl_are_refused(tmp_path):
    dev = _fake_gpus(tmp_path / "dev", ("nvidia0",))
    with pytest.raises(UserError, match="nvidiactl"):
        require_gpu_device_nodes(str(dev))


def test_eval_with_gpus_on_a_machine_without_them_is_one_line(tmp_path, capsys):
    if gpu_device_nodes():
        pytest.skip("this machine has NVIDIA device nodes")
    from sandmle.cli import main

    code = main(["eval", "--policy", "scripted:strong", "--bank", str(tmp_path), "--out",
                 str(tmp_path / "run"), "--gpus"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--gpus" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("device", ["relative/nvidia0", "/dev/null", "/tmp/shm", "/x/"])
def test_job_refuses_device_paths_that_are_not_extra_nodes(device, tmp_path):
    with pytest.raises(ValueError, match="Job.devices"):
        Job(work_dir=str(tmp_path), code="pass", devices=(device,))


@pytest.mark.skipif(isolate.unavailable_reason() is not None, reason="no namespaces")
def test_isolated_job_sees_exactly_the_devices_it_was_given(tmp_path):
    dev = _fake_gpus(tmp_path / "dev")
    nodes = gpu_device_nodes(str(dev))
    with Pool(num_workers=1, preload=()) as pool:
        assert pool.isolation == "namespaces"
        given = pool.run(Job(work_dir=str(tmp_path / "a"), code=PROBE, devices=nodes))
        plain = pool.run(Job(work_dir=str(tmp_path / "b"), code=PROBE))
    assert given.ok, given.stderr_tail
    shown = json.loads(given.stdout_tail)
    assert shown["seen"] == sorted(os.path.basename(p) for p in nodes)
    assert shown["as"] == -1            # RLIM_INFINITY: CUDA reserves address space it never uses
    assert plain.ok, plain.stderr_tail
    hidden = json.loads(plain.stdout_tail)
    assert hidden["seen"] == [] and hidden["as"] > 0
