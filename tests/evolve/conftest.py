"""Fixtures of the evolver tests: a scripted OpenAI-compatible server, small configs."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from adrs.evolve.config import RunConfig, config_from_mapping


@dataclass
class Reply:
    """One scripted answer of the fake server."""

    content: str = ""
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 100
    completion_tokens: int = 50


class ScriptedServer:
    """An OpenAI-compatible chat-completions endpoint on 127.0.0.1 that answers from a
    script (then from ``fallback``), and records every request body."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.fallback: Callable[[dict[str, Any]], Reply] = lambda body: Reply("no script")
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append(body)
                    reply = server.script.popleft() if server.script else None
                if reply is None:
                    reply = server.fallback(body)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status == 200:
                    payload = {
                        "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion",
                        "created": 0, "model": body.get("model", "m"),
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {
                            "role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": reply.prompt_tokens,
                                  "completion_tokens": reply.completion_tokens,
                                  "total_tokens": reply.prompt_tokens + reply.completion_tokens},
                    }
                else:
                    payload = {"error": {"message": f"scripted {reply.status}",
                                         "type": "scripted", "code": reply.status}}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    fake = ScriptedServer()
    yield fake
    fake.close()


def small_config(**overrides: Any) -> RunConfig:
    """A configuration sized for tests: 2 workers, 2 islands, short timeouts."""
    data: dict[str, Any] = {
        "budget": 40, "seed": 3, "workers": 2, "progress_interval_s": 3600.0,
        "islands": {"count": 2, "migration_interval": 10},
        "sandbox": {"timeout_s": 20.0, "memory_mb": 1024},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return config_from_mapping(data, "test config")
