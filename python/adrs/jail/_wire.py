"""Frames between the judge and the jail: JSON headers and raw arrays, never pickle.

A frame is a 4-byte big-endian header length, the JSON header, then the raw buffers of
the arrays the header's ``arrays`` list describes (name, dtype, shape), in order. The
judge reads what the jail sends with hard size limits and an allow-list of dtypes: a
frame is data, and nothing in it can make the judge run code.
"""

from __future__ import annotations

import json
import math
import os
import select
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# dtypes an array on the wire may have; anything else is refused on both sides
WIRE_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                         "uint32", "uint64", "float16", "float32", "float64"})
DEFAULT_MAX_BYTES = 64 << 20
_CHUNK = 1 << 20


class WireError(Exception):
    """The other side broke the protocol or went away."""


class WireTimeout(WireError):
    """The deadline passed before a whole frame arrived."""


def encode(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> bytes:
    """One frame: ``header`` plus the arrays (C order).

    Raises:
        ValueError: An array of a dtype the wire does not carry, or a header that is not
            JSON data.
    """
    buffers = []
    described = []
    if arrays:
        import numpy as np  # only frames with arrays need it: a zygote may do without
    for name, array in (arrays or {}).items():
        array = np.ascontiguousarray(array)
        if array.dtype.name not in WIRE_DTYPES:
            raise ValueError(f"array {name!r} has dtype {array.dtype}, which the wire does "
                             "not carry")
        described.append({"name": str(name), "dtype": array.dtype.name,
                          "shape": list(array.shape)})
        buffers.append(array.reshape(-1).view(np.uint8))  # joined below: one copy in all
    full = {**header, "arrays": described, "payload": sum(len(b) for b in buffers)}
    head = json.dumps(full, default=_plain, allow_nan=True).encode("utf-8", "surrogatepass")
    return b"".join([struct.pack(">I", len(head)), head, *buffers])


def decode(data: bytes, max_bytes: int = 1 << 40
           ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The frame that ``data`` holds whole (what :func:`encode` made).

    Raises:
        WireError: A malformed or truncated frame.
    """
    reader = FrameReader(-1, max_bytes)
    reader._buffer += data
    frame = reader.frame()
    if frame is None:
        raise WireError("a truncated frame")
    return frame


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()  # a numpy scalar
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write all of ``data`` to ``fd``, waiting while the reader catches up.

    Raises:
        WireError: The reader is gone.
        WireTimeout: The deadline passed (a reader that stopped reading).
    """
    view = memoryview(data)
    while view:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([], [fd], [], wait)[1]:
                raise WireTimeout("the other side stopped reading")
        try:
            view = view[os.write(fd, view[:_CHUNK]):]
        except BlockingIOError:
            continue
        except OSError as exc:
            raise WireError(f"the other side closed the channel ({exc.strerror})") from None


def send(fd: int, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None,
         deadline: float | None = None) -> None:
    """Encode and write one frame."""
    write_all(fd, encode(header, arrays), deadline)


class FrameReader:
    """Reads whole frames from a file descriptor, within limits.

    Args:
        fd: What to read.
        max_bytes: Largest frame accepted (header and arrays together).
    """

    def __init__(self, fd: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self._buffer = bytearray()

    def fill(self) -> bool:
        """Read what is available now (call when ``fd`` is readable); False at EOF."""
        try:
            chunk = os.read(self.fd, _CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            return False
        self._buffer += chunk
        return True

    def frame(self) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """The next whole frame if it has arrived, else None.

        Raises:
            WireError: A malformed or oversized frame.
        """
        if len(self._buffer) < 4:
            return None
        (length,) = struct.unpack(">I", self._buffer[:4])
        if length > self.max_bytes:
            raise WireError(f"a frame header of {length} bytes (limit {self.max_bytes})")
        if len(self._buffer) < 4 + length:
            return None
        try:
            header = json.loads(bytes(self._buffer[4:4 + length]).decode("utf-8", "replace"))
            payload = int(header["payload"])
            described = header["arrays"]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise WireError("a malformed frame header") from None
        if not isinstance(header, dict) or not isinstance(described, list) \
                or not 0 <= payload <= self.max_bytes - length:
            raise WireError("a malformed frame header")
        end = 4 + length + payload
        if len(self._buffer) < end:
            return None
        with memoryview(self._buffer) as view:
            data = bytes(view[4 + length:end])
        del self._buffer[:end]
        return header, _arrays(described, data)

    def read(self, deadline: float | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Block until a whole frame arrived.

        Raises:
            WireTimeout: The deadline passed.
            WireError: EOF, or a malformed frame.
        """
        while True:
            got = self.frame()
            if got is not None:
                return got
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0 or not select.select([self.fd], [], [], wait)[0]:
                    raise WireTimeout("no answer in time")
            if not self.fill():
                raise WireError("the other side closed the channel")


def _arrays(described: Sequence[Any], payload: bytes) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    if not described:
        if payload:
            raise WireError("a frame payload longer than its arrays")
        return arrays
    import numpy as np

    offset = 0
    try:
        for entry in described:
            name = str(entry["name"])
            dtype = str(entry["dtype"])
            if dtype not in WIRE_DTYPES:
                raise WireError(f"array {name!r} has dtype {dtype!r}")
            shape = tuple(int(d) for d in entry["shape"])
            if any(d < 0 for d in shape) or len(shape) > 8:
                raise WireError(f"array {name!r} has shape {list(shape)}")
            count = math.prod(shape)
            size = count * np.dtype(dtype).itemsize
            if offset + size > len(payload):
                raise WireError("a frame payload shorter than its arrays")
            arrays[name] = np.frombuffer(payload, dtype, count, offset).reshape(shape)
            offset += size
    except (KeyError, TypeError, ValueError, OverflowError):
        raise WireError("a malformed array description") from None
    if offset != len(payload):
        raise WireError("a frame payload longer than its arrays")
    return arrays


def send_fds(sock: socket.socket, header: Mapping[str, Any], fds: Sequence[int]) -> None:
    """Send a small JSON message with file descriptors attached (SCM_RIGHTS)."""
    data = encode(header)
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive_with_fds(sock: socket.socket, max_fds: int = 8
                     ) -> tuple[dict[str, Any], list[int]]:
    """Receive one :func:`send_fds` message (a single datagram-sized frame).

    Raises:
        WireError: EOF or a malformed message.
    """
    data, fds, _, _ = socket.recv_fds(sock, 1 << 16, max_fds)
    if not data:
        for fd in fds:
            os.close(fd)
        raise WireError("the other side closed the channel")
    try:
        header, _ = decode(data, DEFAULT_MAX_BYTES)
    except WireError:
        for fd in fds:
            os.close(fd)
        raise
    return header, list(fds)


def clean_text(value: Any, limit: int) -> str:
    """Text from the jail made safe to store and show: a string, valid UTF-8 (lone
    surrogates replaced), at most ``limit`` characters with the cut marked."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    return cap_text(text, limit)


def cap_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if limit <= 0 or len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit:,} more characters cut]"
