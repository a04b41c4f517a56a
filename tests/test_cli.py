"""The command line, run as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from adrs.problems import problem_names

PROGRAMS = Path(__file__).resolve().parents[1] / "python" / "adrs" / "problems" / "spot" / "programs"


def adrs(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adrs.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, check=False)


def test_problems_lists_the_spot_problems():
    listing = adrs("problems")
    assert listing.returncode == 0
    assert listing.stdout.splitlines()[0].startswith("spot        Schedule a deadline-bound job")
    names = [p["name"] for p in json.loads(adrs("problems", "--json").stdout)["problems"]]
    assert names[:2] == ["spot", "spot-multi"]


def test_eval_prints_score_table_and_time(shared_dir):
    out = adrs("eval", "spot", str(PROGRAMS / "uniform_progress.py"), "--data",
               str(shared_dir / "data"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1] == "score -101.04191088799374"
    assert "Mean cost ($) per scenario (duration:deadline:overhead hours) and zone:" in lines
    assert lines[-1].startswith("time ") and "compile" in lines[-1] and "cpp)" in lines[-1]


def test_eval_json_has_every_run(shared_dir):
    out = adrs("eval", "spot-multi", "--baseline", "multi_seed", "--data",
               str(shared_dir / "data"), "--json")
    data = json.loads(out.stdout)
    assert data["score"] == pytest.approx(-88.37793479456109, rel=1e-12)
    assert len(data["details"]["runs"]) == 34
    assert data["details"]["runs"][0]["cost"] == 143.23740166666835  # spec 6.6 case 12


def test_eval_own_traces_and_scenarios(shared_dir, tmp_path):
    out = adrs("eval", "spot", "--baseline", "greedy", "--traces",
               str(shared_dir / "data" / "spot_traces.tar.gz"), "--scenario", "48:52:0.02",
               "--json")
    data = json.loads(out.stdout)
    assert data["details"]["split"] == "custom"
    assert len(data["details"]["runs"]) == 3300  # every trace of the archive, one scenario


@pytest.mark.parametrize("args, message", [
    (["eval", "spot", "missing.py"], "adrs eval: error: program not found: missing.py"),
    (["eval", "spot"], "adrs eval: error: give a PROGRAM.py or --baseline NAME (one of the two)"),
    (["eval", "nope", "--baseline", "x"],
     f"adrs eval: error: unknown problem 'nope'; known: {', '.join(problem_names())}"),
    (["eval", "spot", "--baseline", "greedy", "--traces", "/no/such/traces", "--scenario",
      "48:52:0.2"], "adrs eval: error: trace path not found: /no/such/traces"),
    (["eval", "spot", "--baseline", "greedy", "--traces", ".", "--scenario", "48:44:1"],
     ("adrs eval: error: impossible scenario '48:44:1': duration 48 h plus restart overhead "
     "1 h exceeds the deadline 44 h")),
    (["baselines", "spot", "--scenario", "48:52:1"],
     "adrs baselines: error: scenarios apply to your own traces: give traces too"),
])
def test_bad_input_is_one_line(args, message):
    out = adrs(*args)
    assert out.returncode == 2
    assert out.stderr.strip() == message
    assert out.stdout == ""


def test_malformed_trace_names_the_file(tmp_path):
    (tmp_path / "bad.json").write_text('{"metadata": {"gap_seconds": 600}, "data": [0, 1')
    out = adrs("eval", "spot", "--baseline", "greedy", "--traces", str(tmp_path / "bad.json"),
               "--scenario", "1:2:0", "--json")
    assert out.returncode == 2
    error = json.loads(out.stdout)["error"]
    assert error.startswith(f"{tmp_path / 'bad.json'}: ") and "JSON" in error


def test_failing_candidate_is_a_result_not_a_traceback(tmp_path, shared_dir):
    program = tmp_path / "bad_policy.py"
    program.write_text("def decide(obs, mem):\n    return 1.5\n")
    out = adrs("eval", "spot", str(program), "--split", "quick", "--data",
               str(shared_dir / "data"))
    assert out.returncode == 1
    assert out.stdout.splitlines()[-1] == (
        "FAILED (score -100000): decide() returns float64, not an integer action "
        "(return 0 NONE, 1 SPOT or 2 ON_DEMAND as an int)")
    assert "Traceback" not in out.stderr


def test_baselines_side_by_side(shared_dir):
    out = adrs("baselines", "spot", "--data", str(shared_dir / "data"), "--json")
    rows = {b["name"]: b["score"] for b in json.loads(out.stdout)["baselines"]}
    assert rows["greedy"] == pytest.approx(-106.74569918383592, rel=1e-12)
    assert rows["uniform_progress"] == pytest.approx(-101.04191088799374, rel=1e-12)
    assert rows["always_on_demand"] < rows["greedy"] < rows["uniform_progress"]
    text = adrs("baselines", "spot-multi", "--data", str(shared_dir / "data")).stdout
    assert "multi_uniform_progress" in text and "-77.334193" in text
