"""``adrs serve``: the report page, live from the run database, over HTTP.

Read-only: only GET and HEAD, and the database is opened ``query_only`` for each
request, so it is safe beside a running ``adrs run`` (SQLite's WAL lets readers see the
last commit while the writer goes on). Files are served only from inside the run
folder; any path that resolves outside it (``..``, an absolute path, a symbolic link)
is refused. It binds 127.0.0.1 unless told otherwise, and there refuses requests whose
``Host`` is not a loopback name (a page elsewhere cannot read it through DNS rebinding).
"""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from adrs.report._page import render_page, to_json
from adrs.report._reader import RunReadError, read_candidate, read_run

DEFAULT_PORT = 8765
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


class ReportServer:
    """Serves one run folder's report live.

    Routes: ``/`` (the page), ``/api/data`` (the page's data as JSON),
    ``/api/candidate/ID`` (one candidate's program, diff, metrics, feedback, error),
    ``/files/NAME`` (a file of the run folder, such as ``best_program.py``).

    Args:
        run_dir: The run folder (it may not hold a database yet: the page waits).
        host: Address to bind.
        port: Port to bind (0: any free one).

    Raises:
        OSError: The address cannot be bound (port in use...).
    """

    def __init__(self, run_dir: str | Path, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.host = host
        handler = type("Handler", (_Handler,), {"report": self})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def start(self) -> ReportServer:
        """Serve from a background thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, name="adrs-serve",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    # -- content --------------------------------------------------------------------

    def data(self) -> dict[str, Any]:
        try:
            return read_run(self.run_dir, detail_ids=False)
        except RunReadError as exc:
            # a run that has not written its database yet: the page says so and waits
            return {"kind": "waiting", "generated_at": time.time(), "message": str(exc)}

    def page(self) -> str:
        data = self.data()
        problem = data.get("header", {}).get("problem", "run")
        return render_page(data, title=f"adrs run: {problem}", subtitle=str(self.run_dir),
                           live=True)

    def file(self, relative: str) -> Path:
        """The file of the run folder at ``relative``.

        Raises:
            PermissionError: It resolves outside the run folder.
            FileNotFoundError: No such file.
        """
        target = (self.run_dir / relative.lstrip("/")).resolve()
        if target != self.run_dir and self.run_dir not in target.parents:
            raise PermissionError(f"{relative}: outside the run folder")
        if not target.is_file():
            raise FileNotFoundError(f"{relative}: no such file in the run folder")
        return target


class _Handler(BaseHTTPRequestHandler):
    report: ReportServer
    server_version = "adrs-serve"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the run's own progress shares the terminal

    def do_HEAD(self) -> None:
        self.do_GET(body=False)

    def do_GET(self, body: bool = True) -> None:
        if not self._host_allowed():
            return self._send_error(HTTPStatus.FORBIDDEN, "host not allowed", body)
        path = unquote(urlsplit(self.path).path)
        try:
            if path in ("/", "/index.html"):
                return self._send(HTTPStatus.OK, "text/html; charset=utf-8",
                                  self.report.page().encode(), body)
            if path == "/api/data":
                return self._send(HTTPStatus.OK, "application/json",
                                  to_json(self.report.data()).encode(), body)
            if path.startswith("/api/candidate/"):
                word = path.rsplit("/", 1)[1]
                if not word.isdigit():
                    return self._send_error(HTTPStatus.BAD_REQUEST, "not a candidate id", body)
                found = read_candidate(self.report.run_dir, int(word))
                return self._send(HTTPStatus.OK, "application/json",
                                  to_json(found).encode(), body)
            if path.startswith("/files/"):
                target = self.report.file(path[len("/files/"):])
                return self._send(HTTPStatus.OK, "text/plain; charset=utf-8",
                                  target.read_bytes(), body)
            if ".." in path.split("/"):
                raise PermissionError(f"{path}: outside the run folder")
        except PermissionError as exc:
            return self._send_error(HTTPStatus.FORBIDDEN, str(exc), body)
        except (FileNotFoundError, RunReadError) as exc:
            return self._send_error(HTTPStatus.NOT_FOUND, str(exc), body)
        except ValueError as exc:  # a path no file system takes (a NUL byte...)
            return self._send_error(HTTPStatus.BAD_REQUEST, str(exc), body)
        return self._send_error(HTTPStatus.NOT_FOUND, f"{path}: no such page", body)

    def _refuse(self) -> None:
        self._send_error(HTTPStatus.METHOD_NOT_ALLOWED, "read-only: GET and HEAD only", True)

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def _host_allowed(self) -> bool:
        if self.report.host not in ("127.0.0.1", "localhost", "::1"):
            return True
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0] if not (
            self.headers.get("Host") or "").startswith("[") else \
            (self.headers.get("Host") or "").split("]")[0] + "]"
        return host in _LOOPBACK_NAMES

    def _send_error(self, status: HTTPStatus, message: str, body: bool) -> None:
        self._send(status, "application/json", json.dumps({"error": message}).encode(), body)

    def _send(self, status: HTTPStatus, kind: str, payload: bytes, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self.wfile.write(payload)
