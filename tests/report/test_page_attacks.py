"""What a candidate wrote is shown on the report as text, never run as page code: a
program, diff, error, feedback, metric name or model name carrying HTML or a script
changes nothing in the reader's browser (the page is opened in a real Chromium and every
candidate's details are opened)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.report.conftest import adrs

PAYLOADS = (
    '<img src="x-pwned" onerror="window.__pwned=1">',
    "</script><script>window.__pwned=2</script>",
    '"><svg onload="window.__pwned=3">',
    "`${window.__pwned=4}`",
)
HOSTILE = " ".join(PAYLOADS)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from adrs.evolve.database import Database
    from adrs.evolve.generators._base import LLMCall

    out = tmp_path_factory.mktemp("report") / "hostile"
    out.mkdir()
    db = Database(out / "run.sqlite")
    db.set_meta_many({
        "problem_spec": {"factory": "adrs.problems:get_problem", "options": {"name": "toy"},
                         "label": "toy"},
        "budget": 3, "seed": 0, "created_at": 1.7e9,
        "config": {"budget": 3, "workers": 1,
                   "generator": {"kind": "llm", "models": [{"name": HOSTILE}]},
                   "archive": {"dims": [{"name": "x", "bins": 2, "range": [0.0, 2.0]}]}},
        "archive_dims": [{"name": "x", "bins": 2, "low": 0.0, "high": 2.0}]})
    db.start_run(["adrs", "run"], 0)
    parent = None
    for n, status in enumerate(("evaluated", "evaluated", "failed")):
        program = f"# {HOSTILE}\ndef f(x):\n    return {n} * x  # {HOSTILE}\n"
        cid = db.add_candidate(
            program=program, parent_id=parent, island=0, generation=n,
            generator="initial" if n == 0 else HOSTILE, status="queued", error=None,
            duplicate_of=None, diff=None if parent is None else f"-{HOSTILE}\n+{HOSTILE}",
            calls=[] if n == 0 else [LLMCall(HOSTILE, 0, 1.7e9 + n, 0.5, 10, 5, 0.001,
                                             HOSTILE)])
        db.record_result(cid, status=status, score=float(n) if status == "evaluated" else None,
                         quick_score=None,
                         metrics={HOSTILE: 1.0, "mse": 1.0} if status == "evaluated" else {},
                         features={"x": float(n % 2)}, feedback=HOSTILE,
                         error=HOSTILE if status == "failed" else None, output=HOSTILE,
                         eval_seconds=0.1, sandbox_seconds=0.1, eval_seq=n + 1)
        parent = cid
    db.finish_run("completed")
    db.close()
    return out


def test_candidate_text_is_shown_never_run(hostile_run, browser):
    done = adrs("report", str(hostile_run), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["out"] == str(hostile_run / "report.html")
    browser.open((hostile_run / "report.html").as_uri())
    assert browser.errors() == []
    ids = browser.evaluate("Array.from(new Set(Array.from(document.querySelectorAll("
                           "'a.cand[data-cand]')).map(a => a.dataset.cand)))")
    assert len(ids) == 3
    for cid in ids:
        browser.evaluate(f"document.querySelector('a.cand[data-cand=\"{cid}\"]').click()")
        details = browser.evaluate("document.getElementById('details').innerText")
        assert PAYLOADS[0] in details  # shown, as text
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    assert browser.evaluate("document.querySelectorAll('img[src=\"x-pwned\"], svg[onload]')"
                            ".length") == 0
    assert browser.errors() == []
