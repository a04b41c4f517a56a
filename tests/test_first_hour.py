"""What a new user meets first: every mistake gets one line naming their own thing."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adrs import __version__
from adrs.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"adrs {__version__}"


@pytest.mark.parametrize(("argv", "error"), [
    (["run", "toy", "--option", "foo=1", "--budget", "2"],
     "problem 'toy' takes no option --option foo; its options: points, delay_ms, busy_ms"),
    (["eval", "toy", "--baseline", "optimum", "--option", "points=many"],
     "--option points=many: expected an integer (default 64)"),
    (["run", "toy", "--option", "delay_ms=slow", "--budget", "2"],
     "--option delay_ms=slow: expected a number (default 0.0)"),
    (["eval", "toy", "--split", "nope"],
     ("adrs eval: error: argument --split: invalid choice: 'nope' (choose from 'train', "
      "'test', 'quick')")),
    (["run", "--bogus"], "adrs: error: unrecognized arguments: --bogus"),
])
def test_mistakes_are_one_json_line(argv: list[str], error: str, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == {"error": error}
    assert list(tmp_path.iterdir()) == []  # no run folder left behind


def test_bad_data_is_one_line_and_leaves_no_folder(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "spot", "--data", str(tmp_path / "garbage"), "--budget", "2",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"adrs run: error: problem 'spot': an evaluation worker could not build "
                   f"it: trace path not found: {tmp_path / 'garbage'}\n")
    assert not out.exists()


def test_baselines_name_the_split_and_whole_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baselines", "toy", "--split", "quick"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "toy baselines on quick (built-in points)"



def test_corrected_fidelity_reports_its_late_penalty(shared_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "spot", "--baseline", "uniform_progress", "--split", "quick", "--data",
            str(shared_dir / "data"), "--json"]
    assert main(argv + ["--fidelity", "corrected"]) == 0
    corrected = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    reference = json.loads(capsys.readouterr().out)
    assert corrected["metrics"]["late_penalty_usd"] == 0.0  # on time: nothing added
    assert corrected["metrics"]["deadline_missed"] == 0
    assert "late_penalty_usd" not in reference["metrics"]

def test_ctrl_c_says_where_the_run_is_and_how_to_go_on(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "adrs.cli", "run", "toy", "--budget",
                                "100000", "--workers", "1", "--out", str(out), "--option",
                                "delay_ms=20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{out / 'run.sqlite'}?mode=ro", uri=True) as conn:
                if conn.execute("SELECT COUNT(*) FROM candidates WHERE status = 'evaluated'"
                                ).fetchone()[0] >= 3:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert err.splitlines()[-1] == (f"adrs run: error: interrupted; the run is in {out} "
                                    f"(continue with: adrs run --resume --out {out})")
    with sqlite3.connect(out / "run.sqlite") as conn:
        assert conn.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
