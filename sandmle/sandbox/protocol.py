"""The pipe protocol between a pool and its workers, and the sandbox's infrastructure error.

A message is a 4-byte big-endian length and that many bytes of UTF-8 JSON. The pool sends
`{"op": "run", "job": Job.to_json()}`; a worker answers `{"result": JobResult.to_json()}`
or `{"error": "..."}` when the sandbox itself failed (never for a failing job). A worker
announces itself once with `{"ready": true, "pid": ..., "isolation": ..., "reason": ...}`.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Any

_HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


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
