"""``adrs serve`` and ``adrs run --serve`` beside a real run in progress: the data
endpoint grows as the run goes on, the live page draws and refreshes in Chromium, and
nothing outside the run folder (nor any write) is served."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DEADLINE_S = 180  # bounds on waiting for the run, never asserted on


def wait_for(predicate, what: str):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def get(url: str, path: str, host: str | None = None,
        method: str = "GET") -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        # the path goes out exactly as written: no client-side normalisation of '..'
        conn.putrequest(method, path, skip_host=host is not None)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def done_count(url: str) -> int:
    status, body = get(url, "/api/data")
    assert status == 200
    data = json.loads(body)
    return 0 if data["kind"] == "waiting" else data["header"]["done"]


def url_in(path: Path, prefix: str) -> str | None:
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if prefix in line:
            return line.split(prefix, 1)[1].split()[0]
    return None


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A long ``adrs run toy --serve`` in progress and an ``adrs serve`` of the same folder."""
    base = tmp_path_factory.mktemp("serve")
    out = base / "run"
    run_log, serve_log = base / "run.log", base / "serve.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(run_log, "w") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "adrs.cli", "run", "toy", "--budget", "100000", "--out",
             str(out), "--serve", "--port", "0", "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    server = None
    try:
        run_url = wait_for(lambda: url_in(run_log, "live report: "), "adrs run --serve's URL")
        wait_for(lambda: (out / "run.sqlite").exists() and done_count(run_url) > 0,
                 "the first evaluated candidate")
        with open(serve_log, "w") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "adrs.cli", "serve", str(out), "--port", "0", "--json"],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        serve_url = wait_for(lambda: json.loads(serve_log.read_text().splitlines()[0])["url"]
                             if serve_log.read_text().strip() else None, "adrs serve's URL")
        yield {"out": out, "run_url": run_url, "serve_url": serve_url, "runner": runner,
               "server": server, "serve_log": serve_log}
    finally:
        for process in (server, runner):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def test_both_servers_print_a_loopback_url(live):
    for key in ("run_url", "serve_url"):
        assert urlsplit(live[key]).hostname == "127.0.0.1"
        assert urlsplit(live[key]).port > 0


@pytest.mark.parametrize("which", ["serve_url", "run_url"])
def test_the_data_endpoint_grows_with_the_run(live, which):
    first = done_count(live[which])
    def grown() -> int | None:
        count = done_count(live[which])
        return count if count > first else None

    second = wait_for(grown, "a second reading with more candidates")
    assert second > first > 0
    assert live["runner"].poll() is None  # it was a run in progress all along


def test_a_candidate_endpoint_returns_the_stored_program(live):
    status, body = get(live["serve_url"], "/api/candidate/1")
    assert status == 200
    import sqlite3

    with sqlite3.connect(f"{(live['out'] / 'run.sqlite').as_uri()}?mode=ro", uri=True) as conn:
        program = conn.execute("SELECT program FROM candidates WHERE id = 1").fetchone()[0]
    assert json.loads(body)["program"] == program
    assert get(live["serve_url"], "/api/candidate/999999999")[0] == 404
    assert get(live["serve_url"], "/api/candidate/x")[0] == 400


@pytest.mark.parametrize("path", [
    "/files/../../../../etc/passwd",
    "/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/files/..%2f..%2f..%2fetc%2fpasswd",
    "/../../etc/passwd",
    "/files/escape",  # a symbolic link in the run folder pointing out of it
])
def test_paths_outside_the_run_folder_are_refused(live, path):
    link = live["out"] / "escape"
    if not link.is_symlink():
        link.symlink_to("/etc/passwd")
    status, body = get(live["serve_url"], path)
    assert status == 403
    assert json.loads(body)["error"].endswith("outside the run folder")
    assert b"root:" not in body


def test_a_path_no_file_system_takes_is_a_bad_request(live):
    assert get(live["serve_url"], "/files/a%00b")[0] == 400


def test_files_inside_the_run_folder_are_served(live):
    status, body = get(live["serve_url"], "/files/best_program.py")
    assert status == 200 and body == (live["out"] / "best_program.py").read_bytes()
    assert get(live["serve_url"], "/files/nope.txt")[0] == 404


def test_it_is_read_only_and_loopback_only(live):
    status, body = get(live["serve_url"], "/api/data", method="POST")
    assert status == 405 and json.loads(body)["error"] == "read-only: GET and HEAD only"
    assert get(live["serve_url"], "/api/data", host="attacker.example:80")[0] == 403
    assert get(live["serve_url"], "/api/data", host="localhost")[0] == 200


def test_live_page_draws_and_refreshes_in_chromium(live, browser):
    browser.open(live["serve_url"])
    assert browser.errors() == []
    assert browser.evaluate("document.querySelectorAll('#plot-population .main-svg').length") > 0
    first = int(browser.evaluate("document.getElementById('count-evaluated').textContent"))
    wait_for(lambda: browser.evaluate("(window.__adrsRefreshes || 0) >= 2"), "two refreshes")
    later = int(browser.evaluate("document.getElementById('count-evaluated').textContent"))
    assert later > first
    assert browser.evaluate("document.getElementById('status-line').textContent") \
        .startswith("live: refreshed ")
    # a node whose details the page does not hold is fetched from the server
    browser.evaluate("document.querySelector('#header-table a.cand').click()")
    wait_for(lambda: browser.evaluate("document.getElementById('details-title') !== null"),
             "the best's details")
    assert "def predict" in browser.evaluate("document.getElementById('details').innerText")
    assert browser.errors() == []


def test_serve_stops_on_ctrl_c(live):
    server = live["server"]
    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=60) == 0
    lines = live["serve_log"].read_text().splitlines()
    assert json.loads(lines[-1]) == {"url": live["serve_url"], "stopped": True}
