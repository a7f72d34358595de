"""The protocols between a pool, its template, slots and workers, and the sandbox's
infrastructure error.

Pool <-> worker (`send` / `recv`, a stream): a message is a 4-byte big-endian length and
that many bytes of UTF-8 JSON. The pool sends `{"op": "run", "job": Job.to_json()}`; a
worker answers `{"result": JobResult.to_json()}` or `{"error": "..."}` when the sandbox
itself failed (never for a failing job). A worker announces itself once with
`{"ready": true, "pid": ..., "isolation": ..., "reason": ..., "accounting": ...}`.

Pool <-> template and slot <-> worker (`send_packet` / `recv_packet`, SOCK_SEQPACKET): one
small JSON message per packet, with descriptors passed alongside (template.py lists them).
"""
from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

_HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
PACKET_BYTES = 4096


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the job): a worker could not start or set up a job."""


def send(fd: int, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()
    payload = _HEADER.pack(len(data)) + data
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(fd: int) -> dict[str, Any] | None:
    """The next message, or None at end of file."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE_BYTES:
        raise SandboxError(f"protocol message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
    data = _read_exact(fd, size)
    if data is None:
        return None
    return json.loads(data)


def send_packet(sock: socket.socket, message: dict[str, Any], fds: list[int] = ()) -> None:
    socket.send_fds(sock, [json.dumps(message).encode()], list(fds))


def recv_packet(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """The next packet's message and descriptors; (None, []) at end of file."""
    data, fds, _, _ = socket.recv_fds(sock, PACKET_BYTES, max_fds)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data), list(fds)
