"""Which pool runs a command's sandbox jobs: `--sandbox local` (default) or `--sandbox ray[:ADDRESS]`.

    spec = parse_sandbox("ray:auto")                  # SandboxSpec("ray", "auto")
    with open_pool(spec, num_workers=None, preload=DEFAULT_PRELOAD) as pool:
        pool.run(job)                                 # Pool and RayPool: the same interface

"local" is this machine's warm isolated `Pool` (pool.py). "ray" is `RayPool`
(ray_pool.py): one such pool per Ray node, jobs placed on the least-loaded one; ADDRESS
is what `ray.init(address=...)` takes: "auto" (the cluster `ray start` runs on this
machine) or "HOST:PORT" (the head node's GCS); plain "ray" starts a private one-machine
cluster on loopback for the command (what `sandmle bench sandbox --sandbox ray` compares).
Ray is the optional extra `sandmle[ray]`, imported only here when asked for.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass

from sandmle.errors import UserError
from sandmle.sandbox.pool import DEFAULT_PRELOAD
from sandmle.sandbox.protocol import SandboxError

KINDS = ("local", "ray")
RAY_MISSING = "the Ray backend needs the ray package: pip install 'sandmle[ray]'"
LOOPBACK = "127.0.0.1"
CONNECT_TIMEOUT_S = 10.0      # a cluster address that does not answer TCP within this fails


@dataclass(frozen=True)
class SandboxSpec:
    kind: str = "local"               # "local" | "ray"
    address: str | None = None        # ray only: the cluster's address, None = Ray's default

    def __str__(self) -> str:
        return self.kind if self.address is None else f"{self.kind}:{self.address}"


def parse_sandbox(text: str | SandboxSpec | None) -> SandboxSpec:
    """"local", "ray" or "ray:ADDRESS" -> SandboxSpec; ValueError naming the accepted forms."""
    if text is None:
        return SandboxSpec()
    if isinstance(text, SandboxSpec):
        return text
    kind, sep, address = text.strip().partition(":")
    if kind not in KINDS or (sep and (kind != "ray" or not address)):
        raise ValueError(f"sandbox {text!r} is unknown: use local, ray or ray:ADDRESS "
                         "(e.g. ray:auto, ray:10.0.0.1:6379)")
    return SandboxSpec(kind, address or None)


def open_pool(spec: str | SandboxSpec | None, num_workers: int | None = None,
              preload: tuple[str, ...] = DEFAULT_PRELOAD, isolate: bool = True,
              cgroups: bool = True, node_share: int = 1):
    """A started pool for `spec` (a context manager; close it). `num_workers`: the local
    pool's workers, or with Ray each node's (None: the CPU count; on Ray each node's CPUs
    divided by `node_share`, the number of driver processes sharing the cluster)."""
    spec = parse_sandbox(spec)
    if spec.kind == "ray":
        from sandmle.sandbox.ray_pool import RayPool

        return RayPool(spec.address, workers_per_node=num_workers, preload=preload,
                       isolate=isolate, cgroups=cgroups, node_share=node_share)
    from sandmle.sandbox.pool import Pool

    return Pool(num_workers=num_workers, preload=preload, isolate=isolate, cgroups=cgroups)


def import_ray():
    """`ray`, or `UserError` with the one line that says how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


def connect_ray(ray, address: str | None) -> bool:
    """Connect this process to the Ray cluster at `address` (None: start a private one of
    this machine alone, on loopback, without a dashboard); True when this call did (the
    caller then shuts it down), False when Ray was already initialised here (that cluster
    is used). An address nothing answers at is a `SandboxError` within seconds."""
    if ray.is_initialized():
        return False
    if address is None:
        options = {"address": "local", "_node_ip_address": LOOPBACK, "include_dashboard": False}
    else:
        _check_reachable(ray, address)
        options = {"address": address}
    try:
        # log_to_driver=False: the actors' own output would otherwise be copied onto this
        # process's stdout, where `--json` results go; jobs' output comes back in results.
        ray.init(**options, logging_level="warning", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SandboxError(f"cannot reach the Ray cluster at {address or 'a private local cluster'}: "
                           f"{first}") from None
    return True


def _check_reachable(ray, address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """SandboxError within `timeout_s` when nothing answers at the cluster's HOST:PORT
    ("auto" and other forms are left to Ray): `ray.init` itself retries for minutes.

    Ray's driver dials a loopback host at this machine's own address instead
    (ray-project/ray#59110), where a head started with `--node-ip-address=127.0.0.1` does
    not listen; that case gets its own message."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or address.startswith(("ray://", "local")):
        return
    host, port_number = host.strip("[]"), int(port)
    dialled = host
    if host in ("localhost", "::1") or host.startswith("127."):
        dialled = ray.util.get_node_ip_address()
    if _answers(dialled, port_number, timeout_s):
        return
    if dialled != host and _answers(host, port_number, timeout_s):
        raise SandboxError(
            f"the Ray cluster at {address} listens on loopback only, and Ray's driver dials "
            f"{dialled}:{port} instead: start the head without --node-ip-address=127.0.0.1 "
            "(then ray:auto), or give no ADDRESS for a private one-machine cluster")
    raise SandboxError(f"cannot reach the Ray cluster at {address}: nothing answers at {dialled}:{port} "
                       "(is `ray start --head` running there, and the port open?)")


def _answers(host: str, port: int, timeout_s: float) -> bool:
    """Whether a TCP connection to host:port opens within `timeout_s`."""
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError:
        return False
    return True
