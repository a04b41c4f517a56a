"""Headless Chromium over the DevTools protocol, for the report's tests, benchmark and
screenshot: open a page, collect what it logs as errors, evaluate JavaScript, take a
screenshot. A real browser, not a parser; no driver binary is needed.

Needs the ``chromium`` system package and ``websocket-client`` (the ``test`` extra).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable, or None."""
    explicit = os.environ.get("ADRS_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """Chromium did not start, or a command to it failed."""


class Browser:
    """One headless Chromium with one page.

    Args:
        width, height: The window size (CSS pixels).

    Raises:
        BrowserError: No Chromium, or it did not start.
    """

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        import websocket

        executable = find_chromium()
        if executable is None:
            raise BrowserError("no Chromium found (apt-get install chromium)")
        self._profile = tempfile.mkdtemp(prefix="adrs-chromium-")
        args = [executable, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-dev-shm-usage", "--allow-file-access-from-files",
                f"--window-size={width},{height}", f"--user-data-dir={self._profile}",
                "--remote-debugging-port=0", "about:blank"]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            port = self._devtools_port()
            target = self._page_target(port)
            self._ws = websocket.create_connection(target, timeout=60, suppress_origin=True)
        except BaseException:
            self.close()
            raise
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def _devtools_port(self) -> int:
        # Chromium writes the port it chose into the profile once it listens
        marker = Path(self._profile) / "DevToolsActivePort"
        for _ in range(600):
            if marker.is_file():
                lines = marker.read_text().split()
                if lines:
                    return int(lines[0])
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode(errors="replace")[-800:]
                raise BrowserError(f"Chromium exited with {self._process.returncode}: {stderr}")
            time.sleep(0.05)
        raise BrowserError("Chromium did not open its DevTools port in 30 s")

    def _page_target(self, port: int) -> str:
        from urllib.request import urlopen

        for _ in range(100):
            with urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                targets = json.loads(response.read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
            time.sleep(0.05)
        raise BrowserError("Chromium has no page to drive")

    # -- the protocol ---------------------------------------------------------------

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events seen meanwhile are kept).

        Raises:
            BrowserError: The browser answered with an error.
        """
        self._next_id += 1
        ident = self._next_id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return dict(message.get("result", {}))
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if a promise).

        Raises:
            BrowserError: It threw.
        """
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression[:60]}: {text}")
        return result.get("result", {}).get("value")

    def open(self, url: str, ready: str = "window.__adrsReady === true",
             timeout_s: float = 60.0) -> float:
        """Navigate to ``url`` and wait until ``ready`` is true; returns the seconds from
        the start of the navigation to then, as the page's own clock measures them.

        Raises:
            BrowserError: ``ready`` did not become true in time.
        """
        # leave the old page first, so that nothing it still logs counts for the new one
        self.send("Page.navigate", url="about:blank")
        self.evaluate("0")
        self.events.clear()
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.evaluate(f"Boolean({ready})"):
                    return float(self.evaluate("performance.now()")) / 1000.0
            except BrowserError:
                pass  # the old document went away mid-navigation
            time.sleep(0.05)
        raise BrowserError(f"{url}: not ready in {timeout_s:.0f} s; errors: {self.errors()}")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        self.evaluate("0")  # drain the events already sent
        out = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                out.append(details.get("exception", {}).get("description")
                           or details.get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                                 "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", "")))
                                    for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(params["entry"].get("text", "log error"))
        return out

    def screenshot(self, path: str | Path, full_page: bool = False) -> None:
        """Write a PNG of the page (the window, or the whole page)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={
                "x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"],
                "scale": 1})
        data = self.send("Page.captureScreenshot", **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
