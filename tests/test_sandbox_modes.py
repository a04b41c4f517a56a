"""Where candidates run: ``adrs eval`` jails them by default (``--no-sandbox`` is for your
own trusted file), and a run refuses model-generated candidates it cannot isolate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from adrs.cli import main

from tests.attacks.conftest import isolation_or_skip
from tests.evolve.conftest import Reply, ScriptedServer

# predict() is 1 inside a jail (the init of its own PID namespace), 0 in this process
WHERE = "import os\n\ndef predict(x):\n    return float(os.getpid() == 1)\n"


def test_eval_runs_the_program_in_the_jail_unless_told_not_to(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    isolation_or_skip()
    program = tmp_path / "where.py"
    program.write_text(WHERE)
    from adrs.problems.toy import ToyProblem, _target

    xs = ToyProblem()._splits["quick"]
    expected = {True: -float(((1.0 - _target(xs)) ** 2).mean()),
                False: -float(((0.0 - _target(xs)) ** 2).mean())}
    assert main(["eval", "toy", str(program), "--split", "quick", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == pytest.approx(expected[True])
    assert main(["eval", "toy", str(program), "--split", "quick", "--json",
                 "--no-sandbox"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == pytest.approx(expected[False])


def test_errors_name_the_users_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "my_policy.py"
    program.write_text("def predict(x):\n    return 1 / 0\n")
    assert main(["eval", "toy", str(program), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == (
        "predict raised ZeroDivisionError: division by zero (line 2)")
    program.write_text("def predict(x)\n")
    assert main(["eval", "toy", str(program), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == (
        "syntax error in my_policy.py at line 1: expected ':'")


def _models(tmp_path: Path, server: ScriptedServer) -> Path:
    models = tmp_path / "models.yaml"
    models.write_text(f"- name: m\n  base_url: {server.base_url}\n  api_key_env: null\n")
    return models


def test_a_model_run_refuses_to_start_without_isolation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = ScriptedServer()
    counter = iter(range(10**6))
    server.fallback = lambda body: Reply(
        f"```python\ndef predict(x):\n    return {next(counter)}.0\n```")
    try:
        config = tmp_path / "none.yaml"
        config.write_text("sandbox: {isolation: none}\nworkers: 1\nprogress_interval_s: 3600\n")
        out = tmp_path / "run"
        base = ["run", "toy", "--models", str(_models(tmp_path, server)), "--config",
                str(config), "--budget", "3", "--out", str(out), "--json"]
        assert main(base) == 2
        error = json.loads(capsys.readouterr().out)["error"]
        assert error.startswith("candidates from a model cannot be isolated on this machine "
                                "(pid: no namespaces in this mode; net: no namespaces in this "
                                "mode; mount: no namespaces in this mode)")
        assert error.endswith("run 'adrs doctor', or pass --unsafe-no-sandbox to run them "
                              "anyway")
        assert not (out / "run.sqlite").exists()
        assert main([*base, "--unsafe-no-sandbox"]) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out)["counts"]["evaluated"] == 3
    finally:
        server.close()


def test_the_offline_mutator_runs_unisolated_with_a_warning(tmp_path: Path) -> None:
    import subprocess

    config = tmp_path / "none.yaml"
    config.write_text("sandbox: {isolation: none}\nworkers: 1\nprogress_interval_s: 3600\n")
    done = subprocess.run([sys.executable, "-m", "adrs.cli", "run", "toy", "--config",
                           str(config), "--budget", "5", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "MISSING: user (" in done.stderr and "pid (no namespaces in this mode)" in done.stderr
    assert "warning: candidates are NOT isolated from this run (see 'adrs doctor')" in \
        done.stderr
