"""The run database: schema, transactions, duplicates, resume queries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from adrs.evolve._program import normalise, program_hash
from adrs.evolve.database import Database
from adrs.evolve.generators import LLMCall


def test_schema_wal_and_rows(tmp_path: Path) -> None:
    db = Database(tmp_path / "run.sqlite")
    assert db._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.start_run(["adrs", "run"], 1)
    first = db.add_candidate(program="x = 1\n", parent_id=None, island=0, generation=0,
                             generator="initial")
    call = LLMCall("m", 0, 1.0, 0.5, prompt_tokens=10, completion_tokens=5, cost_usd=0.01)
    second = db.add_candidate(program="x = 2\n", parent_id=first, island=1, generation=1,
                              generator="m", calls=[call, LLMCall("m", 1, 2.0, 0.1,
                                                                  error="RateLimitError")])
    db.record_result(first, status="evaluated", score=1.5, quick_score=None,
                     metrics={"mse": 0.1}, features={"code_length": 5.0}, feedback="ok",
                     error=None, output="", eval_seconds=0.01, sandbox_seconds=0.02, eval_seq=1)
    assert db.counts() == {"queued": 1, "evaluated": 1, "failed": 0, "duplicate": 0,
                           "invalid": 0}
    assert db.best().id == first and db.best().metrics == {"mse": 0.1}
    assert [c.id for c in db.candidates("queued")] == [second]
    totals = db.llm_totals()
    assert totals["calls"] == 2 and totals["errors"] == 1 and totals["prompt_tokens"] == 10
    assert totals["cost_usd"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="not queued"):
        db.record_result(first, status="failed", score=None, quick_score=None, metrics={},
                         features={}, feedback="", error="x", output="", eval_seconds=None,
                         sandbox_seconds=None, eval_seq=2)
    db.close()
    # reopened: the same rows, and the queued one is still queued
    again = Database(tmp_path / "run.sqlite")
    assert [c.id for c in again.candidates("queued")] == [second]
    assert again.in_evaluation_order()[0].score == 1.5


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "run.sqlite")
    with pytest.raises(sqlite3.IntegrityError):
        # the second call row violates NOT NULL: the candidate row must vanish with it
        db.add_candidate(program="y = 1", parent_id=None, island=0, generation=0,
                         generator="g", calls=[LLMCall(None, 0, 0.0, 0.0)])  # type: ignore[arg-type]
    assert db.candidates() == []


def test_normalised_hash_ignores_comments_and_layout() -> None:
    a = "def f(x):\n    return x+1  # add one\n"
    b = "def f(x):\n\n    # comment\n    return (x + 1)\n"
    assert program_hash(a) == program_hash(b)
    assert program_hash(a) != program_hash("def f(x):\n    return x + 2\n")
    # not Python: whitespace-normalised text
    assert normalise("a  b\n\n c") == normalise("a b\n c")


def test_hashes_map_to_first_evaluable_candidate(tmp_path: Path) -> None:
    db = Database(tmp_path / "run.sqlite")
    first = db.add_candidate(program="x = 1", parent_id=None, island=0, generation=0,
                             generator="g")
    db.add_candidate(program="x = 1", parent_id=first, island=0, generation=1, generator="g",
                     status="duplicate", duplicate_of=first)
    db.add_candidate(program="", parent_id=first, island=0, generation=1, generator="g",
                     status="invalid", error="bad diff")
    assert db.hashes() == {program_hash("x = 1"): first}


def test_not_a_run_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ValueError, match="not a run database"):
        Database(path)
