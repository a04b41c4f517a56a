"""Frames between the evaluator and the process running a candidate.

A frame is a 4-byte big-endian header length, a JSON header, then ``header["payload"]``
bytes: the raw buffers of the arrays that ``header["arrays"]`` describes (name, dtype,
shape), in order. JSON and raw numbers only: the evaluator never unpickles what the
candidate's process sends.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

import numpy as np

# dtypes an array on the wire may have; anything else is refused on both sides
WIRE_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                         "uint32", "uint64", "float16", "float32", "float64"})
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 1 << 30


class WireError(Exception):
    """The other side broke the protocol, went away, or ran out of time."""


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """One frame: ``header`` plus the arrays (C order)."""
    buffers = []
    described = []
    for name, array in (arrays or {}).items():
        array = np.ascontiguousarray(array)
        described.append({"name": name, "dtype": array.dtype.name, "shape": list(array.shape)})
        buffers.append(array.tobytes())
    header = {**header, "arrays": described, "payload": sum(len(b) for b in buffers)}
    head = json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + b"".join(buffers)


def write_frame(fd: int, frame: bytes) -> None:
    """Write all of ``frame`` to ``fd``.

    Raises:
        WireError: The reader is gone.
    """
    view = memoryview(frame)
    try:
        while view:
            view = view[os.write(fd, view):]
    except (BrokenPipeError, OSError) as exc:
        raise WireError(f"the other process closed the channel ({exc})") from None


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise WireError("the other process exited")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read one frame.

    Args:
        fd: File descriptor to read.
        deadline: ``time.monotonic()`` value after which to give up, or None.

    Returns:
        The header and its arrays.

    Raises:
        TimeoutError: The deadline passed.
        WireError: A malformed frame, or the writer went away.
    """
    (length,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if length > MAX_HEADER:
        raise WireError(f"frame header of {length} bytes")
    try:
        header = json.loads(_read_exact(fd, length, deadline))
        payload_size = int(header["payload"])
        described = header["arrays"]
    except (ValueError, KeyError, TypeError):
        raise WireError("malformed frame header") from None
    if not isinstance(header, dict) or not 0 <= payload_size <= MAX_PAYLOAD:
        raise WireError("malformed frame header")
    payload = _read_exact(fd, payload_size, deadline)
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    try:
        for entry in described:
            dtype = str(entry["dtype"])
            if dtype not in WIRE_DTYPES:
                raise WireError(f"array {entry['name']!r} has dtype {dtype}")
            shape = tuple(int(d) for d in entry["shape"])
            if any(d < 0 for d in shape):
                raise WireError(f"array {entry['name']!r} has shape {list(shape)}")
            count = int(np.prod(shape, dtype=np.int64))
            size = count * np.dtype(dtype).itemsize
            if offset + size > payload_size:
                raise WireError("frame payload shorter than its arrays")
            arrays[str(entry["name"])] = np.frombuffer(
                payload, dtype, count, offset).reshape(shape)
            offset += size
    except (KeyError, TypeError, ValueError):
        raise WireError("malformed array description") from None
    if offset != payload_size:
        raise WireError("frame payload longer than its arrays")
    return header, arrays
