"""The report opened in a real headless Chromium: it loads with no console error, every
plot draws, the lineage has one node per program from the initial one to the best, and
the numbers on the page are the database's."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.report.conftest import adrs
from tests.report.test_reader import lineage_by_sql, sql

PLOTS = ("plot-progress-seq", "plot-progress-time", "plot-islands", "plot-lineage",
         "plot-population")

DRAWN = """JSON.stringify(Object.fromEntries(Array.from(document.querySelectorAll(
  '.js-plotly-plot')).map(el => [el.id, {svg: el.querySelectorAll('.main-svg').length,
  points: el.querySelectorAll('.scatterlayer .point').length,
  lines: el.querySelectorAll('.scatterlayer path.js-line').length,
  heat: el.querySelectorAll('.heatmaplayer image').length}])))"""


def open_report(browser, run: Path) -> dict:
    done = adrs("report", str(run), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["out"] == str(run / "report.html")
    browser.open((run / "report.html").as_uri())
    assert browser.errors() == []
    return json.loads(browser.evaluate(DRAWN))


def text(browser, element_id: str) -> str:
    return browser.evaluate(f"document.getElementById({element_id!r}).textContent")


@pytest.mark.parametrize("name", ["toy_run", "spot_run"])
def test_real_run_report_draws_every_view(name, request, browser):
    run = request.getfixturevalue(name)
    drawn = open_report(browser, run)
    for plot in PLOTS:
        assert drawn[plot]["svg"] >= 1 and drawn[plot]["points"] + drawn[plot]["lines"] > 0, plot
    islands = sql(run, "SELECT COUNT(DISTINCT island) FROM candidates WHERE status = "
                       "'evaluated' AND error IS NULL")[0][0]
    grids = [k for k in drawn if k.startswith("grid-")]
    assert len(grids) == islands and all(drawn[g]["heat"] == 1 for g in grids)
    best_id, best = sql(run, "SELECT id, score FROM candidates WHERE status = 'evaluated' AND "
                             "error IS NULL ORDER BY score DESC, id LIMIT 1")[0]
    assert drawn["plot-lineage"]["points"] == len(lineage_by_sql(run, best_id)) >= 2
    assert float(text(browser, "hdr-best")) == best
    assert text(browser, "hdr-problem") == name.split("_")[0]
    evaluated = sql(run, "SELECT COUNT(*) FROM candidates WHERE status IN ('evaluated', "
                         "'failed')")[0][0]
    assert drawn["plot-progress-seq"]["points"] == sql(
        run, "SELECT COUNT(*) FROM candidates WHERE status = 'evaluated' AND error IS NULL")[0][0]
    assert evaluated > 0
    # the best program beside the initial one, highlighted
    assert int(text(browser, "best-changed")) > 0
    assert browser.evaluate("document.querySelectorAll('#best-program .tok-kw').length") > 0


def test_page_numbers_equal_the_database(llm_run, browser):
    open_report(browser, llm_run)
    counts = dict(sql(llm_run, "SELECT status, COUNT(*) FROM candidates GROUP BY status"))
    for status in ("queued", "evaluated", "failed", "duplicate", "invalid"):
        assert int(text(browser, f"count-{status}")) == counts.get(status, 0)
    best, test = sql(llm_run, "SELECT score, test_score FROM candidates WHERE status = "
                              "'evaluated' ORDER BY score DESC LIMIT 1")[0]
    assert float(text(browser, "hdr-best")) == best
    assert float(text(browser, "hdr-best-test")) == test
    tokens, cost, calls = sql(llm_run, "SELECT SUM(prompt_tokens + completion_tokens), "
                                       "SUM(cost_usd), COUNT(*) FROM llm_calls")[0]
    assert int(text(browser, "hdr-tokens")) == tokens
    assert float(browser.evaluate("document.getElementById('hdr-cost').dataset.value")) == cost
    assert int(text(browser, "hdr-calls")) == calls
    rows = browser.evaluate("Array.from(document.querySelectorAll('#failures-table tr"
                            "[data-reason]')).map(r => [r.dataset.reason, "
                            "Number(r.children[1].textContent)])")
    assert sorted(rows) == [["crash", 1], ["duplicate", 1], ["invalid reply", 1], ["timeout", 1]]
    assert browser.evaluate("document.querySelectorAll('#models-table tbody tr').length") == 2


def test_a_node_opens_its_program_diff_and_metrics(llm_run, browser):
    open_report(browser, llm_run)
    best_id = sql(llm_run, "SELECT id FROM candidates WHERE status = 'evaluated' ORDER BY "
                           "score DESC LIMIT 1")[0][0]
    browser.evaluate(f"document.querySelector('a.cand[data-cand=\"{best_id}\"]').click()")
    details = browser.evaluate("document.getElementById('details').innerText")
    program, diff = sql(llm_run, "SELECT program, diff FROM candidates WHERE id = ?", best_id)[0]
    assert f"candidate {best_id}" in details
    assert program.strip() in details and diff.splitlines()[1] in details
    assert "feedback 8" in details and "mse" in details
    assert browser.errors() == []


def test_comparison_page(toy_run, llm_run, browser, tmp_path):
    out = tmp_path / "compare.html"
    done = adrs("report", str(toy_run), str(llm_run), "--out", str(out))
    assert done.returncode == 0, done.stderr
    browser.open(out.as_uri())
    assert browser.errors() == []
    drawn = json.loads(browser.evaluate(DRAWN))
    assert drawn["plot-compare"]["lines"] == 2
    rows = browser.evaluate("Array.from(document.querySelectorAll('#compare-table tbody tr'))"
                            ".map(r => [r.children[0].textContent, Number(r.children[3]"
                            ".textContent)])")
    assert rows[1] == ["llm", 2.5]
    with sqlite3.connect(toy_run / "run.sqlite") as conn:
        best = conn.execute("SELECT MAX(score) FROM candidates WHERE status = 'evaluated' "
                            "AND error IS NULL").fetchone()[0]
    assert rows[0][0] == "toy" and rows[0][1] == pytest.approx(best, rel=1e-9)


def test_page_is_self_contained(toy_run, browser):
    """No network: the page loads nothing but its own inlined data."""
    open_report(browser, toy_run)
    loaded = browser.evaluate("performance.getEntriesByType('resource').map(r => r.name)")
    assert all(name.startswith("data:") for name in loaded), loaded
    html = (toy_run / "report.html").read_text()
    assert re.findall(r"""(?:src|href)=["'](?!data:)""", html) == []
