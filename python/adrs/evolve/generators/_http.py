"""A small JSON-over-HTTP/1.1 client for plain-``http`` chat-completions endpoints.

The OpenAI SDK spends about a millisecond of the controller per request in its layers
(request building, auth hooks, the httpx transport and its connection pool). Against a
fast endpoint on the local network (vLLM, Ollama, a test server) that was the largest
cost of the search loop after the jail, so such endpoints use this client: one POST of
a JSON body on asyncio streams, kept-alive connections, the whole request under one
timeout. ``https`` endpoints (remote APIs, where a millisecond is nothing against the
network) and endpoints reached through a proxy (``HTTP_PROXY``) keep the SDK.

Failures are raised as :class:`HTTPFailure` subclasses whose ``kind`` is the name the
SDK gives the same failure (``RateLimitError``, ``InternalServerError``,
``APITimeoutError``, ``APIConnectionError``...), so that a call's recorded error reads
the same whichever client made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.request
from typing import Any
from urllib.parse import urlsplit

# the SDK's names for an HTTP status (its exception classes), for the recorded errors
_STATUS_KINDS = {400: "BadRequestError", 401: "AuthenticationError",
                 403: "PermissionDeniedError", 404: "NotFoundError", 409: "ConflictError",
                 422: "UnprocessableEntityError", 429: "RateLimitError"}
_MAX_HEADER_LINES = 200
_MAX_BODY_BYTES = 64 << 20  # a chat reply is far smaller; a runaway server is cut off
_IDLE_CONNECTIONS = 16


class HTTPFailure(Exception):
    """A request that got no usable answer; ``kind`` names it as the SDK would."""

    kind = "APIError"
    retryable = False


class StatusFailure(HTTPFailure):
    """The server answered with an error status.

    Args:
        status: The HTTP status.
        body: The answer's text (shortened).
        retry_after: Seconds from its ``Retry-After`` header, when it has one.
    """

    def __init__(self, status: int, body: str, retry_after: float | None) -> None:
        super().__init__(f"Error code: {status} - {body}")
        self.status_code = status
        self.retry_after = retry_after
        self.kind = _STATUS_KINDS.get(status) or (
            "InternalServerError" if status >= 500 else "APIStatusError")
        self.retryable = status == 429 or status >= 500


class ConnectFailure(HTTPFailure):
    """No connection, or the connection broke before a whole answer arrived."""

    kind = "APIConnectionError"
    retryable = True


class TimeoutFailure(HTTPFailure):
    """No whole answer within the timeout."""

    kind = "APITimeoutError"
    retryable = True

    def __init__(self) -> None:
        super().__init__("Request timed out.")


class _Stale(Exception):
    """A kept-alive connection the server had closed: try once on a fresh one."""


def serves(base_url: str) -> bool:
    """Whether this client is the one for ``base_url``: plain ``http``, not proxied."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    proxies = urllib.request.getproxies()
    if not (proxies.get("http") or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname))


class JSONClient:
    """POST JSON to one endpoint and read its JSON answer.

    Args:
        base_url: ``http://`` URL that paths are appended to.
        api_key: Sent as ``Authorization: Bearer``.
        timeout_s: Seconds each request may take in all (connect, send, answer).

    Raises:
        ValueError: ``base_url`` is not an http URL.
    """

    def __init__(self, base_url: str, api_key: str, timeout_s: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        self.host_header = host if self.port == 80 else f"{host}:{self.port}"
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: Any) -> Any:
        """The decoded JSON answer of ``POST base_url + path`` with ``body``.

        Raises:
            StatusFailure: The answer's status is not 2xx.
            TimeoutFailure: No whole answer within ``timeout_s``.
            ConnectFailure: No connection, or it broke.
            HTTPFailure: The answer is not JSON.
        """
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (f"POST {self.prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
                f"Authorization: Bearer {self.api_key}\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
                f"User-Agent: adrs\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
        try:
            async with asyncio.timeout(self.timeout_s):
                status, headers, data = await self._exchange(head + payload)
        except TimeoutError:
            raise TimeoutFailure() from None
        if not 200 <= status < 300:
            raise StatusFailure(status, data.decode(errors="replace")[:2000],
                                _seconds(headers.get("retry-after")))
        try:
            return json.loads(data)
        except ValueError:
            raise HTTPFailure(f"the answer (HTTP {status}) is not JSON: "
                              f"{data[:200].decode(errors='replace')!r}") from None

    async def _exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        while self._idle:  # a kept-alive connection first; a stale one once, then fresh
            reader, writer = self._idle.pop()
            try:
                return await self._on(reader, writer, request, reused=True)
            except _Stale:
                continue
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise ConnectFailure(f"Connection error: {exc}") from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:  # the request goes out in one segment, at once
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            return await self._on(reader, writer, request, reused=False)
        except _Stale as exc:
            raise ConnectFailure("Connection error: the server closed the connection "
                                 "without answering") from exc

    async def _on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  request: bytes, reused: bool) -> tuple[int, dict[str, str], bytes]:
        keep = False
        try:
            try:
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
            except (ConnectionError, OSError) as exc:
                if reused:
                    raise _Stale() from exc
                raise ConnectFailure(f"Connection error: {exc}") from exc
            if not status_line:
                raise _Stale()
            status, headers, data, keep = await _read_answer(status_line, reader)
            return status, headers, data
        except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError) as exc:
            raise ConnectFailure(f"Connection error: {exc}") from exc
        finally:
            if keep and len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append((reader, writer))
            else:
                writer.close()

    async def aclose(self) -> None:
        """Close the kept-alive connections."""
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _read_answer(status_line: bytes, reader: asyncio.StreamReader
                       ) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers (lower-case names), body, and whether the connection may be
    used again."""
    parts = status_line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ConnectFailure(f"Connection error: not an HTTP answer: {status_line[:80]!r}")
    version, status = parts[0], int(parts[1])
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADER_LINES):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        raise ConnectFailure("Connection error: too many header lines")
    connection = headers.get("connection", "").lower()
    keep = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        data = await _read_chunked(reader)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if not 0 <= length <= _MAX_BODY_BYTES:
            raise ConnectFailure(f"Connection error: a body of {length} bytes")
        data = await reader.readexactly(length)
    else:  # the body ends with the connection
        data = await reader.read(_MAX_BODY_BYTES)
        keep = False
    return status, headers, data, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readline()
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        total += size
        if total > _MAX_BODY_BYTES:
            raise ConnectFailure(f"Connection error: a body over {_MAX_BODY_BYTES} bytes")
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the chunk's CRLF


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
