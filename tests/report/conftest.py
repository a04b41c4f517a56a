"""Fixtures of the report tests: real runs made by the command line, a synthetic run with
model calls made through the project's own Database API, and one headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("plotly", reason="the report extra is not installed: pip install -e "
                    "'.[report]' (.ci/run installs it)")
pytest.importorskip("jinja2", reason="the report extra is not installed: pip install -e "
                    "'.[report]' (.ci/run installs it)")


def adrs(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``adrs ARGS`` as a user runs it: a real process."""
    return subprocess.run([sys.executable, "-m", "adrs.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished real ``adrs run toy`` (offline mutator)."""
    out = tmp_path_factory.mktemp("report") / "toy"
    done = adrs("run", "toy", "--budget", "60", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def spot_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished real ``adrs run spot`` with a small budget (synthetic traces)."""
    out = tmp_path_factory.mktemp("report") / "spot"
    done = adrs("run", "spot", "--budget", "20", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


# The synthetic run with model calls: (generator, parent index, score or None, error,
# status, calls as (prompt tokens, completion tokens, cost, latency, error)). Index 0
# is the initial program; parents refer to earlier indices.
SYNTHETIC = [
    ("initial", None, 1.0, None, "evaluated", []),
    ("model-a", 0, 1.5, None, "evaluated", [(100, 40, 0.0125, 1.5, None)]),
    ("model-b", 0, 0.5, None, "evaluated", [(120, 30, 0.0031, 0.4, None)]),
    ("model-a", 1, 2.25, None, "evaluated", [(90, 10, 0.0100, 2.5, "HTTP 429"),
                                             (90, 50, 0.0150, 3.5, None)]),
    ("model-b", 1, None, "timed out after 60 s", "failed", [(80, 20, 0.0020, 0.9, None)]),
    ("model-a", 3, None, "ValueError: bad plan", "failed", [(70, 25, 0.0090, 1.1, None)]),
    ("model-b", 3, 2.0, None, "evaluated", [(60, 60, 0.0040, 0.7, None)]),
    ("model-a", 3, None, "no code block in the reply", "invalid", [(50, 5, 0.0060, 0.6, None)]),
    ("model-b", 6, 2.5, None, "evaluated", [(55, 45, 0.0035, 0.8, None)]),
    ("model-a", 6, None, None, "duplicate", [(40, 35, 0.0070, 1.9, None)]),
]
BEST_INDEX = 8
BEST_TEST = 2.375


@pytest.fixture(scope="session")
def llm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder written with :class:`adrs.evolve.database.Database`, as the controller
    writes one, with model calls, failures of each kind and a held-out test score."""
    from adrs.evolve.database import Database
    from adrs.evolve.generators._base import LLMCall

    out = tmp_path_factory.mktemp("report") / "llm"
    out.mkdir()
    db = Database(out / "run.sqlite")
    db.set_meta_many({
        "problem_spec": {"factory": "adrs.problems:get_problem", "options": {"name": "toy"},
                         "label": "toy"},
        "budget": 8, "seed": 0, "created_at": 1.7e9,
        "config": {"budget": 8, "workers": 2, "sandbox": {"isolation": "auto",
                                                          "timeout_s": 60.0},
                   "generator": {"kind": "llm", "models": [{"name": "model-a"},
                                                           {"name": "model-b"}]},
                   "archive": {"dims": [{"name": "x", "bins": 4, "range": [0.0, 4.0]}]}},
        "sandbox_layers": [{"name": "pid", "active": True, "detail": "own"}],
        "archive_dims": [{"name": "x", "bins": 4, "low": 0.0, "high": 4.0}]})
    db.start_run(["adrs", "run"], 0)
    ids: list[int] = []
    seq = 0
    for n, (generator, parent, score, error, status, calls) in enumerate(SYNTHETIC):
        program = f"def f(x):\n    return {n} * x\n"
        if status == "duplicate":
            program = f"def f(x):\n    return {6} * x\n"
        cid = db.add_candidate(
            program=program if status != "invalid" else "",
            parent_id=None if parent is None else ids[parent], island=n % 2,
            generation=0 if parent is None else 1 + SYNTHETIC_GEN[parent],
            generator=generator, status="queued" if status in ("evaluated", "failed")
            else status, error=error if status == "invalid" else None,
            duplicate_of=ids[6] if status == "duplicate" else None,
            diff=None if parent is None else f"-    return {parent} * x\n+    return {n} * x",
            calls=[LLMCall(generator, k, 1.7e9 + n, lat, p, c, cost, err)
                   for k, (p, c, cost, lat, err) in enumerate(calls)])
        if status in ("evaluated", "failed"):
            seq += 1
            db.record_result(cid, status=status, score=score, quick_score=None,
                             metrics={"mse": 1.0 / (1 + n)} if score is not None else {},
                             features={"x": float(n % 4)}, feedback=f"feedback {n}",
                             error=error, output="", eval_seconds=0.1, sandbox_seconds=0.1,
                             eval_seq=seq)
        ids.append(cid)
    db.set_test_score(ids[BEST_INDEX], BEST_TEST, {"mse": 0.5})
    db.finish_run("completed")
    db.close()
    (out / "ids.json").write_text(json.dumps(ids))
    return out


def _generations() -> list[int]:
    gens: list[int] = []
    for _, parent, *_ in SYNTHETIC:
        gens.append(0 if parent is None else gens[parent] + 1)
    return gens


SYNTHETIC_GEN = _generations()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (skipped, saying why, where there is none)."""
    from adrs.report.browser import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        pytest.skip("websocket-client is not installed (pip install -e '.[test]')")
    with Browser() as chromium:
        yield chromium
