"""The run database: every candidate and every model call of one run, in SQLite.

One file per run (``<out>/run.sqlite``) in WAL mode. Each write is one transaction, so a
process killed at any moment leaves the file with whole rows only: a candidate is
either absent, ``queued`` (generated, not yet scored: re-queued on resume) or final.
``synchronous=NORMAL`` keeps commits cheap; in WAL mode it survives the death of the
process (what SIGKILL does) and may lose only the last commits on a power cut.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adrs.evolve._candidate import STATUSES, Candidate
from adrs.evolve._program import program_hash
from adrs.evolve.generators._base import LLMCall

SCHEMA_VERSION = 2

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    argv TEXT,
    pid INTEGER,
    status TEXT NOT NULL DEFAULT 'running'
);
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES candidates(id),
    inspiration_ids TEXT NOT NULL DEFAULT '[]',
    island INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    program TEXT NOT NULL,
    diff TEXT,
    program_hash TEXT,
    duplicate_of INTEGER REFERENCES candidates(id),
    score REAL,
    quick_score REAL,
    test_score REAL,
    test_metrics TEXT NOT NULL DEFAULT '{{}}',
    metrics TEXT NOT NULL DEFAULT '{{}}',
    features TEXT NOT NULL DEFAULT '{{}}',
    feedback TEXT NOT NULL DEFAULT '',
    error TEXT,
    output TEXT NOT NULL DEFAULT '',
    generator TEXT NOT NULL,
    generator_meta TEXT NOT NULL DEFAULT '{{}}',
    propose_seconds REAL,
    eval_seconds REAL,
    sandbox_seconds REAL,
    created_at REAL NOT NULL,
    evaluated_at REAL,
    eval_seq INTEGER,
    eval_attempts INTEGER NOT NULL DEFAULT 0,
    run_id INTEGER REFERENCES runs(id)
);
CREATE INDEX IF NOT EXISTS candidates_by_hash ON candidates(program_hash);
CREATE INDEX IF NOT EXISTS candidates_by_status ON candidates(status);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY,
    candidate_id INTEGER REFERENCES candidates(id),
    model TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at REAL NOT NULL,
    latency_s REAL NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    error TEXT,
    run_id INTEGER REFERENCES runs(id)
);
"""

_CANDIDATE_COLUMNS = ("id, program, parent_id, island, generation, status, score, "
                      "quick_score, test_score, metrics, features, feedback, error, "
                      "generator, diff, test_metrics")


class Database:
    """One run's SQLite file.

    Not thread-safe: one process, one thread writes (the controller's).
    """

    def __init__(self, path: str | Path) -> None:
        """Open or create the database at ``path``.

        Raises:
            ValueError: The file exists but is not a run database of this version.
        """
        self.path = Path(path)
        self._conn = sqlite3.connect(str(self.path), isolation_level=None)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValueError(f"{self.path}: not a run database: {exc}") from None
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif version == 1:  # version 2 counts evaluation attempts, keeps test metrics
            with self.transaction() as conn:
                conn.execute("ALTER TABLE candidates ADD COLUMN eval_attempts INTEGER "
                             "NOT NULL DEFAULT 0")
                conn.execute("ALTER TABLE candidates ADD COLUMN test_metrics TEXT "
                             "NOT NULL DEFAULT '{}'")
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             ("schema_version", json.dumps(SCHEMA_VERSION)))
        elif version != SCHEMA_VERSION:
            self._conn.close()
            raise ValueError(f"{self.path}: schema version {version}, expected {SCHEMA_VERSION}")
        # added after version 2, without a version of its own: where each session
        # evaluated (an older file gains the column, and NULL in its old rows)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
        if "executor" not in columns:
            self._conn.execute("ALTER TABLE runs ADD COLUMN executor TEXT")
        self._run_id: int | None = None

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a group of writes atomically."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    # -- meta and runs --------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        """The JSON value stored under ``key``, or None."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         (key, json.dumps(value)))

    def set_meta_many(self, values: dict[str, Any]) -> None:
        """Store several meta values in one transaction."""
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             [(k, json.dumps(v)) for k, v in values.items()])

    def start_run(self, argv: Sequence[str], pid: int,
                  executor: Mapping[str, Any] | None = None) -> int:
        """Record that a process started (or resumed) the run; returns the run id.

        Args:
            executor: Where this session evaluates (kind, workers, a cluster's nodes).
        """
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (started_at, argv, pid, executor) VALUES (?, ?, ?, ?)",
                (time.time(), json.dumps(list(argv)), pid,
                 json.dumps(dict(executor)) if executor is not None else None))
        self._run_id = cursor.lastrowid
        return self._run_id

    def finish_run(self, status: str) -> None:
        """Mark the current process's run row finished with ``status``."""
        if self._run_id is None:
            return
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished_at = ?, status = ? WHERE id = ?",
                         (time.time(), status, self._run_id))

    # -- candidates -----------------------------------------------------------------

    def add_candidate(self, *, program: str, parent_id: int | None, island: int,
                      generation: int, generator: str, status: str = "queued",
                      diff: str | None = None, inspiration_ids: Sequence[int] = (),
                      duplicate_of: int | None = None, error: str | None = None,
                      generator_meta: Mapping[str, Any] | None = None,
                      propose_seconds: float | None = None,
                      calls: Sequence[LLMCall] = (), hash_: str | None = None,
                      attempts: int = 0) -> int:
        """Insert a new candidate and the model calls that made it, atomically.

        Args:
            status: ``queued`` (to be evaluated), ``duplicate`` or ``invalid``.
            hash_: The normalised hash when the caller already computed it.
            attempts: Evaluations already started (1 when it is submitted at once).

        Returns:
            The new candidate id.

        Raises:
            ValueError: ``status`` is not one a new candidate may have.
        """
        if status not in ("queued", "duplicate", "invalid"):
            raise ValueError(f"new candidate cannot have status {status!r}")
        digest = hash_ if hash_ is not None else (program_hash(program) if program else None)
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO candidates (parent_id, inspiration_ids, island, generation, "
                "status, program, diff, program_hash, duplicate_of, error, generator, "
                "generator_meta, propose_seconds, created_at, run_id, eval_attempts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (parent_id, json.dumps(list(inspiration_ids)), island, generation, status,
                 program, diff, digest, duplicate_of, error, generator,
                 json.dumps(dict(generator_meta or {})), propose_seconds, time.time(),
                 self._run_id, attempts))
            candidate_id = int(cursor.lastrowid)
            self._insert_calls(conn, candidate_id, calls)
        return candidate_id

    def add_calls(self, calls: Sequence[LLMCall], candidate_id: int | None = None) -> None:
        """Record model calls that produced no candidate row."""
        with self.transaction() as conn:
            self._insert_calls(conn, candidate_id, calls)

    def _insert_calls(self, conn: sqlite3.Connection, candidate_id: int | None,
                      calls: Sequence[LLMCall]) -> None:
        conn.executemany(
            "INSERT INTO llm_calls (candidate_id, model, attempt, started_at, latency_s, "
            "prompt_tokens, completion_tokens, cost_usd, error, run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(candidate_id, c.model, c.attempt, c.started_at, c.latency_s, c.prompt_tokens,
              c.completion_tokens, c.cost_usd, c.error, self._run_id) for c in calls])

    def record_result(self, candidate_id: int, *, status: str, score: float | None,
                      quick_score: float | None, metrics: Mapping[str, float],
                      features: Mapping[str, float], feedback: str, error: str | None,
                      output: str, eval_seconds: float | None, sandbox_seconds: float | None,
                      eval_seq: int) -> None:
        """Store the evaluation of a queued candidate.

        Args:
            status: ``evaluated`` or ``failed``.
            eval_seq: Order of completion, used to replay the archive on resume.

        Raises:
            ValueError: Bad status, or the candidate is not queued.
        """
        if status not in ("evaluated", "failed"):
            raise ValueError(f"evaluation cannot end with status {status!r}")
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE candidates SET status = ?, score = ?, quick_score = ?, metrics = ?, "
                "features = ?, feedback = ?, error = ?, output = ?, eval_seconds = ?, "
                "sandbox_seconds = ?, evaluated_at = ?, eval_seq = ? "
                "WHERE id = ? AND status = 'queued'",
                (status, _finite(score), _finite(quick_score), _dumps(metrics),
                 _dumps(features), feedback, error, output, eval_seconds, sandbox_seconds,
                 time.time(), eval_seq, candidate_id))
            if cursor.rowcount != 1:
                raise ValueError(f"candidate {candidate_id} is not queued")

    def count_attempt(self, candidate_id: int) -> int:
        """Record that a queued candidate is about to be evaluated; returns how many
        evaluations of it were started, this one included (a run that died while
        evaluating it leaves the count behind)."""
        with self.transaction() as conn:
            conn.execute("UPDATE candidates SET eval_attempts = eval_attempts + 1 "
                         "WHERE id = ?", (candidate_id,))
            row = conn.execute("SELECT eval_attempts FROM candidates WHERE id = ?",
                               (candidate_id,)).fetchone()
        return int(row[0]) if row else 0

    def set_test_score(self, candidate_id: int, score: float | None,
                       metrics: Mapping[str, float] | None = None) -> None:
        """Store a candidate's held-out test score (and its metrics there)."""
        with self.transaction() as conn:
            conn.execute("UPDATE candidates SET test_score = ?, test_metrics = ? WHERE id = ?",
                         (_finite(score), _dumps(metrics or {}), candidate_id))

    # -- queries --------------------------------------------------------------------

    def get(self, candidate_id: int) -> Candidate:
        """The candidate with that id.

        Raises:
            ValueError: No such candidate.
        """
        row = self._conn.execute(f"SELECT {_CANDIDATE_COLUMNS} FROM candidates WHERE id = ?",
                                 (candidate_id,)).fetchone()
        if row is None:
            raise ValueError(f"{self.path}: no candidate {candidate_id}")
        return _candidate(row)

    def candidates(self, status: str | None = None) -> list[Candidate]:
        """Every candidate (with that status), in id order."""
        if status is None:
            rows = self._conn.execute(f"SELECT {_CANDIDATE_COLUMNS} FROM candidates ORDER BY id")
        else:
            rows = self._conn.execute(
                f"SELECT {_CANDIDATE_COLUMNS} FROM candidates WHERE status = ? ORDER BY id",
                (status,))
        return [_candidate(row) for row in rows]

    def in_evaluation_order(self) -> list[Candidate]:
        """Evaluated and failed candidates in the order their results were recorded."""
        rows = self._conn.execute(
            f"SELECT {_CANDIDATE_COLUMNS} FROM candidates "
            "WHERE status IN ('evaluated', 'failed') ORDER BY eval_seq")
        return [_candidate(row) for row in rows]

    def hashes(self) -> dict[str, int]:
        """Normalised hash -> first candidate id, over candidates that were or will be
        evaluated (queued, evaluated, failed)."""
        rows = self._conn.execute(
            "SELECT program_hash, MIN(id) FROM candidates "
            "WHERE status IN ('queued', 'evaluated', 'failed') AND program_hash IS NOT NULL "
            "GROUP BY program_hash")
        return {digest: int(cid) for digest, cid in rows}

    def counts(self) -> dict[str, int]:
        """Number of candidates per status (every status present, zeros included)."""
        counts = dict.fromkeys(STATUSES, 0)
        for status, n in self._conn.execute(
                "SELECT status, COUNT(*) FROM candidates GROUP BY status"):
            counts[status] = int(n)
        return counts

    def max_eval_seq(self) -> int:
        row = self._conn.execute("SELECT MAX(eval_seq) FROM candidates").fetchone()
        return int(row[0]) if row[0] is not None else 0

    def llm_totals(self) -> dict[str, float]:
        """Totals over ``llm_calls``: calls, errors, prompt/completion tokens, cost."""
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(error IS NOT NULL), 0), "
            "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
            "COALESCE(SUM(cost_usd), 0) FROM llm_calls").fetchone()
        return {"calls": int(row[0]), "errors": int(row[1]), "prompt_tokens": int(row[2]),
                "completion_tokens": int(row[3]), "cost_usd": float(row[4])}

    def best(self) -> Candidate | None:
        """The evaluated candidate with the highest train score (lowest id on ties)."""
        row = self._conn.execute(
            f"SELECT {_CANDIDATE_COLUMNS} FROM candidates WHERE status = 'evaluated' "
            "AND score IS NOT NULL AND error IS NULL ORDER BY score DESC, id ASC LIMIT 1"
        ).fetchone()
        return None if row is None else _candidate(row)


def _candidate(row: tuple[Any, ...]) -> Candidate:
    (cid, program, parent_id, island, generation, status, score, quick_score, test_score,
     metrics, features, feedback, error, generator, diff, test_metrics) = row
    return Candidate(
        id=int(cid), program=program, parent_id=parent_id, island=int(island),
        generation=int(generation), status=status, score=score, quick_score=quick_score,
        test_score=test_score, metrics=json.loads(metrics), features=json.loads(features),
        feedback=feedback, error=error, generator=generator, diff=diff,
        test_metrics=json.loads(test_metrics))


def _finite(value: float | None) -> float | None:
    # SQLite stores NaN as NULL anyway; infinities would sort above every real score
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _dumps(values: Mapping[str, Any]) -> str:
    return json.dumps({k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                       for k, v in values.items()})
