"""Choosing the sandbox backend (sandmle.sandbox.backend): `--sandbox local|ray[:ADDRESS]`
on the command line and `rollout.sandbox` in recipes, checked once, and one clear line when
Ray is asked for and missing or its cluster does not answer. No Ray cluster is started here
(tests/test_sandbox_ray.py starts one)."""
from __future__ import annotations

import socket
import sys
from types import SimpleNamespace

import pytest

from sandmle.cli import main
from sandmle.errors import UserError
from sandmle.sandbox.backend import SandboxSpec, _check_reachable, open_pool, parse_sandbox
from sandmle.sandbox.protocol import SandboxError


@pytest.mark.parametrize("text, spec", [
    ("local", SandboxSpec("local")),
    ("ray", SandboxSpec("ray")),
    ("ray:auto", SandboxSpec("ray", "auto")),
    ("ray:10.0.0.1:6379", SandboxSpec("ray", "10.0.0.1:6379")),
    (None, SandboxSpec("local")),
])
def test_sandbox_forms_parse(text, spec):
    assert parse_sandbox(text) == spec
    assert parse_sandbox(str(spec)) == spec


@pytest.mark.parametrize("bad", ["slurm", "ray:", "local:x", "", "Ray"])
def test_unknown_sandbox_forms_are_refused_with_the_accepted_ones(bad):
    with pytest.raises(ValueError, match="use local, ray or ray:ADDRESS"):
        parse_sandbox(bad)


def test_a_bad_sandbox_on_the_command_line_is_one_line(tmp_path, capsys):
    code = main(["eval", "--policy", "scripted:strong", "--bank", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--sandbox", "slurm"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("sandmle: error:") and "ray:ADDRESS" in err


def test_a_bad_sandbox_in_a_recipe_names_the_section():
    from sandmle.train.config import RolloutSection

    with pytest.raises(UserError, match=r"\[rollout\] sandbox 'k8s' is unknown"):
        RolloutSection(sandbox="k8s")
    assert RolloutSection(sandbox="ray:auto").sandbox == "ray:auto"


def test_ray_asked_for_without_ray_installed_is_one_line(make_task, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)          # `import ray` raises ImportError
    with pytest.raises(UserError, match=r"pip install 'sandmle\[ray\]'"):
        open_pool("ray:auto")
    task = make_task("auc", task_id="no-ray")
    script = tmp_path / "solve.py"
    script.write_text("print('never runs')\n")
    code = main(["exec", str(task.root), str(script), "--sandbox", "ray"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == "sandmle: error: the Ray backend needs the ray package: pip install 'sandmle[ray]'"


def _listener(host: str) -> socket.socket:
    server = socket.socket()
    server.bind((host, 0))
    server.listen(1)
    return server


def test_a_cluster_address_that_does_not_answer_fails_fast():
    server = _listener("127.0.0.1")
    port = server.getsockname()[1]
    server.close()                                         # nothing listens there now
    resolver = SimpleNamespace(util=SimpleNamespace(get_node_ip_address=lambda: "127.0.0.1"))
    with pytest.raises(SandboxError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        _check_reachable(resolver, f"127.0.0.1:{port}", timeout_s=2.0)


def test_a_loopback_only_head_is_named_as_such():
    """Ray dials a loopback address at the machine's own address; a head bound to 127.0.0.1
    alone does not answer there (127.0.0.2 stands for that address here)."""
    server = _listener("127.0.0.1")
    try:
        port = server.getsockname()[1]
        resolver = SimpleNamespace(util=SimpleNamespace(get_node_ip_address=lambda: "127.0.0.2"))
        with pytest.raises(SandboxError, match="listens on loopback only"):
            _check_reachable(resolver, f"127.0.0.1:{port}", timeout_s=2.0)
        answering = SimpleNamespace(util=SimpleNamespace(get_node_ip_address=lambda: "127.0.0.1"))
        _check_reachable(answering, f"localhost:{port}", timeout_s=2.0)      # answers: no error
    finally:
        server.close()


def test_gpus_with_the_ray_backend_is_refused(tmp_path, capsys):
    code = main(["eval", "--policy", "scripted:strong", "--bank", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--gpus", "--sandbox", "ray:auto"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("sandmle: error: --gpus binds this machine's GPUs")
