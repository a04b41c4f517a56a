"""The end of a run says how the result compares with the published state of the art, on
train and held-out test, at what constraint cost, and on which data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adrs.cli import main
from adrs.problems import get_problem


def test_a_spot_run_compares_with_uniform_progress(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["run", "spot", "--budget", "8", "--workers", "1", "--out", str(out)]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["data"] == "synthetic traces (seed 0), reference fidelity"
    best, initial, sota = summary["comparison"]
    assert [r["role"] for r in (best, initial, sota)] == ["best", "initial", "state of the art"]
    problem = get_problem("spot")
    for split in ("train", "test"):
        reference = problem.evaluate_baseline("uniform_progress", split)
        assert sota[split] == reference.score
        assert sota["deadline_missed"][split] == reference.metrics["deadline_missed"]
        seed = problem.evaluate_baseline("greedy", split)
        assert initial[split] == seed.score
        assert initial["deadline_missed"][split] == seed.metrics["deadline_missed"]
        assert best["deadline_missed"][split] is not None
    assert (best["train"], best["test"]) == (summary["best_train"], summary["best_test"])
    assert summary["beats_state_of_the_art"] == {
        split: best[split] > sota[split] for split in ("train", "test")}
    saved = json.loads((out / "summary.json").read_text())
    assert saved["comparison"] == summary["comparison"]


def test_the_text_says_it_in_words(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   shared_dir: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", "spot", "--budget", "4", "--workers", "1", "--out", str(out),
                 "--data", str(shared_dir / "data")]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[1].split() == ["train", "held-out", "test", "deadline_missed", "(train", "/",
                                "test)"]
    assert lines[4].startswith("  state of the art: uniform_progress")
    assert "-101.042" in lines[4]  # published Uniform Progress on the real traces
    assert lines[5].startswith("  on held-out test the best program ")
    assert "the state of the art (" in lines[5]
    label, path, fidelity = lines[6].replace(", ", ": ").split(": ")
    assert (label, fidelity) == ("  scores on", "reference fidelity")
    assert Path(path).resolve() == (shared_dir / "data" / "spot_traces.tar.gz").resolve()


def test_the_problems_words_on_the_gain_reach_the_summary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    # llm-sql says "speed only" this way; the toy problem stands in, so that the run has
    # a gain to explain whatever the machine's speed
    from adrs.problems.toy import ToyProblem

    def explain(self, best, initial):
        return f"mse {initial['mse']:.3f} -> {best['mse']:.3f}"

    monkeypatch.setattr(ToyProblem, "explain_gain", explain)
    out = tmp_path / "run"
    assert main(["run", "toy", "--budget", "30", "--workers", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    best, initial = summary["comparison"][:2]
    assert best["train"] > initial["train"]
    notes = summary["notes"]
    assert notes[0].startswith("on train: mse ")
    assert all(n.startswith(("on train: mse ", "on test: mse ")) for n in notes)
    assert [f"  note {n}" for n in notes] == [
        line for line in text.splitlines() if line.startswith("  note ")]


def test_run_takes_fidelity_and_resume_keeps_it(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    args = ["run", "spot", "--budget", "3", "--workers", "1", "--out", out, "--json"]
    assert main([*args, "--fidelity", "corrected"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["data"] == "synthetic traces (seed 0), corrected fidelity"
    sota = summary["comparison"][-1]
    assert sota["train"] == get_problem("spot", fidelity="corrected").evaluate_baseline(
        "uniform_progress").score
    assert main(["run", "--resume", "--out", out, "--fidelity", "reference", "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == {"error": (
        "--fidelity=reference cannot change the run being resumed (it has "
        "fidelity='corrected')")}
    assert main(["run", "toy", "--fidelity", "corrected", "--out", str(tmp_path / "t"),
                 "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == {"error": (
        "problem 'toy' takes no option --fidelity; its options: points, delay_ms, busy_ms")}


def test_a_search_that_starts_from_the_state_of_the_art_scores_it_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # llm-sql starts from GGR, its state of the art: the comparison's row is the initial
    # program's own measurement, not a second (noisy) one
    out = tmp_path / "run"
    assert main(["run", "llm-sql", "--budget", "2", "--workers", "1", "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    initial, sota = summary["comparison"][1:]
    assert (sota["role"], sota["program"]) == ("state of the art", "ggr")
    assert (sota["train"], sota["test"]) == (initial["train"], initial["test"])
    assert initial["test"] is not None
