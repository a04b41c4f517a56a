"""Every built-in problem runs through the same loop: `adrs run` on spot and spot-multi."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adrs.cli import main


@pytest.mark.parametrize(("problem", "initial_score"), [
    ("spot", -106.74569918383592),  # the reference evaluator's score of its seed
    ("spot-multi", -88.37793479456109),
])
def test_run_evolves_a_spot_problem_on_the_real_traces(problem: str, initial_score: float,
                                                       shared_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    out = tmp_path / "run"
    status = main(["run", problem, "--data", str(shared_dir / "data"), "--budget", "10",
                   "--workers", "2", "--out", str(out), "--json"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["initial_train"] == pytest.approx(initial_score, rel=1e-12, abs=0)
    assert summary["best_train"] >= summary["initial_train"]
    assert summary["counts"]["evaluated"] + summary["counts"]["failed"] == 10
    assert summary["best_test"] is not None
    best = (out / "best_program.py").read_text()
    assert "def decide(obs, mem):" in best
