"""``adrs report`` and ``adrs serve`` on good and bad input: bad input (no run, a corrupt
database, an older schema, a missing extra) gives one line and writes nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report.conftest import adrs


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def older_schema(folder: Path) -> None:
    from adrs.evolve.database import Database

    db = Database(folder / "run.sqlite")
    db.close()
    with sqlite3.connect(folder / "run.sqlite") as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()


BAD = {
    "no folder": (None, "{d}/missing: no such run folder"),
    "no run": (lambda d: None, "{d}: no run here (run.sqlite is missing)"),
    "corrupt": (lambda d: (d / "run.sqlite").write_bytes(b"this is not sqlite " * 300),
                "{d}/run.sqlite: not a run database: file is not a database"),
    "older schema": (older_schema,
                     ("{d}/run.sqlite: schema version 1, this adrs reads 2 (continue the run "
                      "once with 'adrs run --resume --out {d}' to upgrade it)")),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("command", ["report", "serve"])
def test_bad_input_gives_one_line_and_writes_nothing(case, command, tmp_path):
    make, message = BAD[case]
    folder = tmp_path / "missing" if make is None else tmp_path
    if make is not None:
        make(folder)
    before = snapshot(tmp_path)
    extra = ["--port", "0"] if command == "serve" else []
    done = adrs(command, str(folder), *extra, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"adrs {command}: error: "
                                        + message.format(d=tmp_path)]
    as_json = adrs(command, str(folder), *extra, "--json", cwd=tmp_path)
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout) == {"error": message.format(d=tmp_path)}
    assert snapshot(tmp_path) == before


def test_report_writes_the_page_where_asked(toy_run, tmp_path):
    default = adrs("report", str(toy_run), "--json")
    assert default.returncode == 0, default.stderr
    out = json.loads(default.stdout)
    page = toy_run / "report.html"
    assert out["out"] == str(page) and out["bytes"] == page.stat().st_size
    with sqlite3.connect(toy_run / "run.sqlite") as conn:
        best_id, best = conn.execute("SELECT id, score FROM candidates WHERE status = "
                                     "'evaluated' AND error IS NULL ORDER BY score DESC, id "
                                     "LIMIT 1").fetchone()
    assert (out["best_id"], out["best_score"]) == (best_id, best)
    chosen = tmp_path / "mine.html"
    text = adrs("report", str(toy_run), "--out", str(chosen))
    assert text.stdout.strip() == (f"wrote {chosen} ({chosen.stat().st_size / 1e6:.2f} MB); "
                                   "open it in a browser")
    assert chosen.read_text().startswith("<!doctype html>")
    refused = adrs("report", str(toy_run), "--out", str(tmp_path / "nope" / "x.html"))
    assert refused.stderr.strip() == (f"adrs report: error: --out {tmp_path}/nope/x.html: no "
                                      f"such folder {tmp_path}/nope")


def test_comparison_names_each_run(toy_run, llm_run, tmp_path):
    done = adrs("report", str(toy_run), str(llm_run), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["out"] == "comparison.html" and (tmp_path / "comparison.html").is_file()
    assert [r["run_dir"] for r in out["runs"]] == [str(toy_run), str(llm_run)]
    assert out["runs"][1]["best_train"] == 2.5 and out["runs"][1]["best_test"] == 2.375
    bad = adrs("report", str(toy_run), str(tmp_path / "none"), cwd=tmp_path)
    assert bad.stderr.strip() == f"adrs report: error: {tmp_path}/none: no such run folder"


def test_missing_extra_says_how_to_install(toy_run, tmp_path):
    out = tmp_path / "page.html"
    code = ("import sys; sys.modules['plotly'] = None; sys.modules['plotly.offline'] = None; "
            "from adrs.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "report", str(toy_run), "--out",
                           str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == ("adrs report: error: the report needs Plotly: pip install "
                                   "'adrs[report]' (Plotly and Jinja2)")
    assert not out.exists()
