"""The plain-http JSON client of the LLM ensemble, against servers that speak raw bytes
(kept-alive, chunked, close-delimited, a connection the server dropped), and the choice
between it and the OpenAI SDK (https and proxied endpoints keep the SDK)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from adrs.evolve.config import ModelConfig
from adrs.evolve.generators import _http
from adrs.evolve.generators._http import (
    ConnectFailure,
    HTTPFailure,
    JSONClient,
    StatusFailure,
    TimeoutFailure,
    serves,
)

from .conftest import Reply, ScriptedServer
from .test_openai_ensemble import DIFF, ensemble, propose


class RawServer:
    """A TCP server on 127.0.0.1 that reads each request (headers and Content-Length
    body) and writes what ``answer(index, request)`` returns, byte for byte; it counts the
    connections it accepted and closes one when the answer says so."""

    def __init__(self, answer: Callable[[int, bytes], tuple[bytes, bool]]) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        stream = conn.makefile("rb")
        with conn:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = stream.readline()
                    if not line:
                        return
                    head += line
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + stream.read(length)
                self.requests.append(request)
                data, close = self.answer(len(self.requests) - 1, request)
                conn.sendall(data)
                if close:
                    return

    def close(self) -> None:
        self.listener.close()


def _ok(body: dict[str, Any], extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


@pytest.fixture
def raw() -> Iterator[Callable[..., RawServer]]:
    made: list[RawServer] = []

    def make(answer: Callable[[int, bytes], tuple[bytes, bool]]) -> RawServer:
        made.append(RawServer(answer))
        return made[-1]
    yield make
    for server in made:
        server.close()


def _post_all(client: JSONClient, bodies: list[Any]) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return [await client.post("/chat/completions", body) for body in bodies]
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_requests_share_one_kept_alive_connection(raw: Callable[..., RawServer]) -> None:
    server = raw(lambda i, request: (_ok({"n": i}), False))
    answers = _post_all(JSONClient(server.url, "sk-x", 5.0), [{"a": 1}, {"a": 2}, {"a": 3}])
    assert answers == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert server.connections == 1
    head, _, body = server.requests[1].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions HTTP/1.1"
    assert "Authorization: Bearer sk-x" in lines
    assert f"Host: 127.0.0.1:{server.listener.getsockname()[1]}" in lines
    assert json.loads(body) == {"a": 2}


def test_chunked_and_close_delimited_answers(raw: Callable[..., RawServer]) -> None:
    def answer(i: int, request: bytes) -> tuple[bytes, bool]:
        if i == 0:
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"4\r\n{\"k\"\r\n5;ext=1\r\n: 42}\r\n0\r\n\r\n"), False
        return b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[1, 2]", True
    server = raw(answer)
    assert _post_all(JSONClient(server.url, "k", 5.0), [{}, {}]) == [{"k": 42}, [1, 2]]


def test_a_connection_the_server_dropped_is_replaced_once(
        raw: Callable[..., RawServer]) -> None:
    # the first answer says keep-alive, then the server closes: the next request finds
    # the kept connection dead and goes again on a fresh one
    server = raw(lambda i, request: (_ok({"n": i}), i == 0))
    assert _post_all(JSONClient(server.url, "k", 5.0), [{}, {}]) == [{"n": 0}, {"n": 1}]
    assert server.connections == 2


def test_failures_are_named_as_the_sdk_names_them(raw: Callable[..., RawServer]) -> None:
    answers = [(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 4\r\n"
                b"\r\nslow"), b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n",
               b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
               _ok({}).replace(b"{}", b"{]")]
    server = raw(lambda i, request: (answers[i], False))
    client = JSONClient(server.url, "k", 5.0)
    failures: list[HTTPFailure] = []

    async def go() -> None:
        for _ in answers:
            try:
                await client.post("/x", {})
            except HTTPFailure as exc:
                failures.append(exc)
        await client.aclose()
    asyncio.run(go())
    limited, unavailable, missing, garbled = failures
    assert isinstance(limited, StatusFailure) and limited.kind == "RateLimitError"
    assert (limited.status_code, limited.retry_after, limited.retryable) == (429, 7.0, True)
    assert str(limited) == "Error code: 429 - slow"
    assert (unavailable.kind, unavailable.retryable) == ("InternalServerError", True)
    assert (missing.kind, missing.retryable) == ("NotFoundError", False)
    assert str(garbled) == "the answer (HTTP 200) is not JSON: '{]'"


def test_refused_connections_and_timeouts(raw: Callable[..., RawServer]) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    silent = raw(lambda i, request: (b"", False))  # reads the request, never answers

    async def fail(client: JSONClient) -> HTTPFailure:
        try:
            await client.post("/x", {})
        except HTTPFailure as exc:
            return exc
        finally:
            await client.aclose()
        raise AssertionError("no failure")

    refused = asyncio.run(fail(JSONClient(f"http://127.0.0.1:{port}", "k", 5.0)))
    assert isinstance(refused, ConnectFailure) and refused.kind == "APIConnectionError"
    assert isinstance(refused.__cause__, ConnectionRefusedError)
    late = asyncio.run(fail(JSONClient(silent.url, "k", 0.3)))
    assert isinstance(late, TimeoutFailure) and str(late) == "Request timed out."


def test_which_client_serves_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert serves("http://127.0.0.1:8000/v1") and serves("http://gpu-box:8000/v1")
    assert not serves("https://api.openai.com/v1") and not serves("")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "gpu-box")
    assert not serves("http://10.0.0.5:8000/v1")  # proxied: the SDK tunnels it
    assert serves("http://gpu-box:8000/v1")


def test_a_proxied_endpoint_goes_through_the_sdk(server: ScriptedServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # the scripted server stands in for the proxy: the SDK sends it the request, and its
    # request line names the endpoint (absolute form), which only a proxy receives
    seen: list[str] = []
    original = _http.JSONClient.post

    async def spy(self: JSONClient, path: str, body: Any) -> Any:
        seen.append(path)
        return await original(self, path, body)

    monkeypatch.setattr(_http.JSONClient, "post", spy)
    monkeypatch.setenv("HTTP_PROXY", server.base_url.removesuffix("/v1"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    models = (ModelConfig("fake-model", base_url="http://llm.invalid:9/v1",
                          api_key_env="FAKE_LLM_KEY", timeout_s=5.0),)
    server.script.append(Reply(DIFF))
    proposal = propose(ensemble(server, monkeypatch, models=models))
    assert proposal.error is None and "if x > 0.7:" in proposal.program
    assert seen == []  # not this client
    assert server.requests[0]["model"] == "fake-model"
