"""A run whose model endpoint fails stops early, with one line naming the endpoint and the
last error, and a non-zero exit status."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest
from adrs.cli import main

from .conftest import Reply, ScriptedServer


def closed_port() -> int:
    with socket.socket() as sock:  # bound, then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def models_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(f"- name: m\n  base_url: {url}\n  api_key_env: null\n")
    return path


def config_file(tmp_path: Path, check: bool) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text("workers: 1\nprogress_interval_s: 3600\n"
                    f"generator: {{retries: 0, backoff_s: 0, check_models: {str(check).lower()}}}\n")
    return path


def run(tmp_path: Path, url: str, check: bool, capsys: pytest.CaptureFixture[str]
        ) -> tuple[int, str]:
    out = tmp_path / "run"
    status = main(["run", "toy", "--models", str(models_file(tmp_path, url)), "--config",
                   str(config_file(tmp_path, check)), "--budget", "1000", "--out", str(out),
                   "--json"])
    return status, json.loads(capsys.readouterr().out)["error"]


def failed_calls(tmp_path: Path) -> int:
    """The model calls the stopped run recorded, all failed."""
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:
        total, failed = db.execute(
            "SELECT COUNT(*), COUNT(error) FROM llm_calls").fetchone()
    assert total == failed
    return failed


def test_a_refused_endpoint_is_named_before_the_first_proposal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    status, error = run(tmp_path, url, True, capsys)
    assert status == 2
    assert error == f"no model answers: model 'm' at {url}: connection refused"
    assert not (tmp_path / "run").exists()


def test_a_run_stops_after_20_failed_calls_in_a_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    status, error = run(tmp_path, url, False, capsys)
    assert status == 2
    assert error == f"model 'm' at {url}: connection refused, 20 calls in a row"
    assert 20 <= failed_calls(tmp_path) <= 20 + 8  # those already in flight come back


def test_a_server_that_answers_500_stops_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ScriptedServer()
    server.fallback = lambda body: Reply(status=500)
    try:
        status, error = run(tmp_path, server.base_url, False, capsys)
        assert status == 2
        assert error.startswith(f"model 'm' at {server.base_url}: HTTP 500: ")
        assert error.endswith(", 20 calls in a row")
        assert 20 <= len(server.requests) <= 20 + 8  # those already in flight come back
        (tmp_path / "again").mkdir()
        with_check, error = run(tmp_path / "again", server.base_url, True, capsys)
        assert with_check == 2 and error.startswith(
            f"no model answers: model 'm' at {server.base_url}: HTTP 500: ")
    finally:
        server.close()
