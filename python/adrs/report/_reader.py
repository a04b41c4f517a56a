"""Read one run folder into the plain data the report page draws.

The run database is opened with ``query_only``, so reading beside a running ``adrs run``
never changes it and never blocks it: SQLite's WAL mode lets a reader see the last
committed state while the writer goes on. Nothing here creates, migrates or
repairs a file; a folder that is not a run of this schema version is refused in words.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sqlite3
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from adrs.evolve._candidate import STATUSES
from adrs.evolve.database import SCHEMA_VERSION

DB_NAME = "run.sqlite"
SUMMARY_NAME = "summary.json"

# population nodes drawn in full up to this count; above it a fixed-seed sample (the
# best lineage is always kept whole)
MAX_POPULATION_NODES = 2000
# scored candidates drawn as points on the best-score curves, at most (SVG stays quick)
MAX_CURVE_POINTS = 1000
# characters of program text embedded for lineage nodes, in total; past it only diffs
PROGRAM_BUDGET_CHARS = 1_200_000
# characters kept of any one text (diff, feedback, error) in the page
MAX_TEXT_CHARS = 12_000
# the other drawn nodes' details: each text cut to this, and this much text in total
LIGHT_TEXT_CHARS = 1_500
LIGHT_BUDGET_CHARS = 1_500_000


class RunReadError(ValueError):
    """The folder holds no readable run of this version (one line for the user)."""


def read_run(run_dir: str | Path, *, detail_ids: bool = True) -> dict[str, Any]:
    """Everything the report shows about one run, as JSON-safe data.

    Args:
        run_dir: The run folder (holding ``run.sqlite``).
        detail_ids: Embed the details (program, diff, metrics, feedback, error) of the
            lineage, the best, the initial program and one example per failure reason.

    Raises:
        RunReadError: No run there, a file that is not a run database, or another
            schema version.
    """
    folder = Path(run_dir)
    with _open(folder) as conn:
        return _RunReader(folder, conn).read(detail_ids)


def read_candidate(run_dir: str | Path, candidate_id: int) -> dict[str, Any]:
    """The details of one candidate (for the live page, which fetches them on demand).

    Raises:
        RunReadError: No run there, or no such candidate.
    """
    folder = Path(run_dir)
    with _open(folder) as conn:
        found = _details(conn, [candidate_id], program_budget=MAX_TEXT_CHARS * 10)
    if candidate_id not in found:
        raise RunReadError(f"{folder}: no candidate {candidate_id}")
    return found[candidate_id]


class _Connection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _open(folder: Path) -> _Connection:
    """A read-only connection to the folder's run database, checked.

    Raises:
        RunReadError: What is wrong, in one line.
    """
    if not folder.is_dir():
        raise RunReadError(f"{folder}: no such run folder")
    path = folder / DB_NAME
    if not path.is_file():
        raise RunReadError(f"{folder}: no run here ({DB_NAME} is missing)")
    # query_only forbids every change to the database. The connection is read-write
    # where the folder allows it only so that, when it is the last one to close, SQLite
    # removes the -wal and -shm files it made to read a WAL database (a mode=ro
    # connection would leave them behind in a finished run's folder); beside a running
    # run it is not the last, and it leaves them to the writer.
    writable = os.access(path, os.W_OK) and os.access(folder, os.W_OK)
    mode = "rw" if writable else "ro"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True,
                               isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise RunReadError(f"{path}: cannot open: {exc}") from None
    try:
        conn.execute("PRAGMA query_only=ON")
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"meta", "runs", "candidates", "llm_calls"} <= tables:
            raise RunReadError(f"{path}: not a run database (tables missing)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = None if row is None else json.loads(row[0])
        if version != SCHEMA_VERSION:
            raise RunReadError(
                f"{path}: schema version {version}, this adrs reads {SCHEMA_VERSION} "
                "(continue the run once with 'adrs run --resume --out "
                f"{folder}' to upgrade it)")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise RunReadError(f"{path}: not a run database: {exc}") from None
    except RunReadError:
        conn.close()
        raise
    return _Connection(conn)


class _RunReader:
    def __init__(self, folder: Path, conn: sqlite3.Connection) -> None:
        self.folder = folder
        self.conn = conn
        self.meta = {key: json.loads(value) for key, value in
                     conn.execute("SELECT key, value FROM meta")}
        self.summary = _load_summary(folder)

    def read(self, detail_ids: bool) -> dict[str, Any]:
        rows = self.conn.execute(
            "SELECT id, parent_id, island, generation, status, score, test_score, generator, "
            "error, evaluated_at, eval_seq, features, metrics FROM candidates ORDER BY id"
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        best = self.conn.execute(
            "SELECT id, score, test_score, generation FROM candidates "
            "WHERE status = 'evaluated' AND score IS NOT NULL AND error IS NULL "
            "ORDER BY score DESC, id ASC LIMIT 1").fetchone()
        initial = next((r for r in rows if r[7] == "initial"), None)
        lineage = _lineage(by_id, best[0]) if best else []
        header = self._header(rows)
        failures = _failures(self.conn)
        data: dict[str, Any] = {
            "kind": "run",
            "generated_at": time.time(),
            "header": header,
            "best": None if best is None else {
                "id": best[0], "score": best[1], "test_score": best[2],
                "generation": best[3]},
            "initial": None if initial is None else {
                "id": initial[0], "score": initial[5], "test_score": initial[6]},
            "baselines": self._baselines(),
            "curve": _curve(rows, header["started_at"]),
            "islands": _island_curves(rows),
            "grid": self._grid(rows),
            "lineage": lineage,
            "population": _population(rows, set(lineage)),
            "models": _models(self.conn, by_id),
            "failures": failures,
            "metrics": None,
            "best_program": None,
            "details": {},
        }
        if best is not None:
            data["metrics"] = self._metrics(best[0], None if initial is None else initial[0])
            data["best_program"] = _best_program(self.conn, best[0],
                                                 None if initial is None else initial[0])
        if detail_ids:
            wanted = list(dict.fromkeys(
                lineage + [r[0] for r in rows if r[7] == "initial"]
                + [f["example"]["id"] for f in failures if f["example"]]))
            details = _details(self.conn, wanted)
            # every other drawn node opens too, without its program (the file stays small)
            rest = [cid for cid in data["population"]["id"] if cid not in details]
            details.update(_details(self.conn, rest, program_budget=0,
                                    text_limit=LIGHT_TEXT_CHARS,
                                    total_budget=LIGHT_BUDGET_CHARS))
            data["details"] = {str(k): v for k, v in details.items()}
        return data

    # -- the header ------------------------------------------------------------------

    def _header(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        meta = self.meta
        runs = self.conn.execute(
            "SELECT started_at, finished_at, status, pid FROM runs ORDER BY id").fetchall()
        now = time.time()
        wall = sum((finished if finished is not None else now) - started
                   for started, finished, _, _ in runs)
        status = runs[-1][2] if runs else "not started"
        if runs and runs[-1][1] is None and not _alive(runs[-1][3]):
            status = "stopped (its process is gone; resume it with adrs run --resume)"
        counts = dict.fromkeys(STATUSES, 0)
        for r in rows:
            counts[r[4]] += 1
        done = counts["evaluated"] + counts["failed"]
        llm = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(error IS NOT NULL), 0), "
            "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
            "COALESCE(SUM(cost_usd), 0) FROM llm_calls").fetchone()
        config = meta.get("config") or {}
        spec = meta.get("problem_spec") or {}
        sandbox = config.get("sandbox") or {}
        workers = config.get("workers") or 0
        executor = (f"local, {workers} worker{'s' if workers != 1 else ''}" if workers
                    else "local, one worker per core")
        return {
            "problem": spec.get("label", "?"),
            "run_dir": str(self.folder),
            "budget": meta.get("budget", config.get("budget")),
            "status": status,
            "started_at": runs[0][0] if runs else meta.get("created_at"),
            "sessions": len(runs),
            "wall_seconds": wall,
            "rate_per_hour": done / wall * 3600.0 if wall > 0 else 0.0,
            "counts": counts,
            "done": done,
            "llm": {"calls": int(llm[0]), "errors": int(llm[1]),
                    "prompt_tokens": int(llm[2]), "completion_tokens": int(llm[3]),
                    "tokens": int(llm[2]) + int(llm[3]), "cost_usd": float(llm[4])},
            "generator": _generator_kind(config),
            "executor": (f"{executor}, isolation {sandbox.get('isolation', 'auto')}, "
                         f"timeout {sandbox.get('timeout_s', '?')} s per candidate"),
            "sandbox": list(meta.get("sandbox_layers") or []),
            "data": meta.get("data"),
            "seed": meta.get("seed"),
            "adrs_version": meta.get("adrs_version"),
        }

    def _baselines(self) -> list[dict[str, Any]]:
        """Published programs the run was scored against (the summary's comparison)."""
        rows = (self.summary or {}).get("comparison") or []
        return [{"name": r.get("program") or r["role"], "train": r.get("train"),
                 "test": r.get("test")} for r in rows if r.get("role") == "state of the art"]

    # -- the grid --------------------------------------------------------------------

    def _grid(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        """Best score per cell per island, on the run's archive axes."""
        dims = self._dims(rows)
        if not dims:
            return {"dims": [], "islands": []}
        cells: dict[int, dict[tuple[int, ...], tuple[float, int]]] = defaultdict(dict)
        for r in rows:
            if r[4] != "evaluated" or r[5] is None or r[8] is not None:
                continue
            features, metrics = json.loads(r[11]), json.loads(r[12])
            key = tuple(_bin(dim, features.get(dim["name"], metrics.get(dim["name"])))
                        for dim in dims)
            current = cells[r[2]].get(key)
            if current is None or r[5] > current[0]:
                cells[r[2]][key] = (r[5], r[0])
        return {"dims": dims, "islands": [
            {"island": island, "cells": [[*key, score, cid] for key, (score, cid)
                                         in sorted(cells[island].items())]}
            for island in sorted(cells)]}

    def _dims(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        stored = self.meta.get("archive_dims")
        if stored and not any(d.get("adaptive") for d in stored):
            return [dict(d, observed=False) for d in stored]
        # adaptive axes, and runs from before the axes were stored: configured ranges,
        # else the defaults, else the range the candidates span
        if stored:
            specs = [{"name": d["name"], "bins": d["bins"],
                      "range": None if d.get("adaptive") else [d["low"], d["high"]]}
                     for d in stored]
        else:
            specs = ((self.meta.get("config") or {}).get("archive") or {}).get("dims") or []
        out = []
        for dim in specs:
            name, bins, value_range = dim["name"], int(dim.get("bins", 10)), dim.get("range")
            observed = False
            if value_range is None and name == "ast_distance":
                value_range = [0.0, 1.0]
            if value_range is None and name == "code_length":
                value_range = [0.0, max(2.0 * self._initial_region_length(), 1.0)]
            if value_range is None:
                values = [v for r in rows if r[4] == "evaluated"
                          for v in [json.loads(r[11]).get(name, json.loads(r[12]).get(name))]
                          if isinstance(v, (int, float)) and math.isfinite(v)]
                if not values:
                    continue
                value_range = [min(values), max(values) if max(values) > min(values)
                               else min(values) + 1.0]
                observed = True
            out.append({"name": name, "bins": bins, "low": float(value_range[0]),
                        "high": float(value_range[1]), "observed": observed})
        return out

    def _initial_region_length(self) -> int:
        from adrs.evolve._program import region_text

        row = self.conn.execute("SELECT program FROM candidates WHERE generator = 'initial' "
                                "ORDER BY id LIMIT 1").fetchone()
        return len(region_text(row[0])) if row else 0

    # -- metrics of the best beside the others ---------------------------------------

    def _metrics(self, best_id: int, initial_id: int | None) -> dict[str, Any]:
        """Per metric, the best's and the initial program's values on train and test,
        and the state of the art's where the summary holds them."""
        columns = []
        for label, cid in (("best", best_id), ("initial program", initial_id)):
            if cid is None:
                continue
            metrics, test_metrics = self.conn.execute(
                "SELECT metrics, test_metrics FROM candidates WHERE id = ?", (cid,)).fetchone()
            columns.append({"label": label, "id": cid, "train": json.loads(metrics),
                            "test": json.loads(test_metrics)})
        for row in (self.summary or {}).get("comparison") or []:
            if row.get("role") != "state of the art":
                continue
            nested = {k: v for k, v in row.items() if isinstance(v, dict)}
            columns.append({"label": f"state of the art: {row.get('program')}", "id": None,
                            "train": {k: v.get("train") for k, v in nested.items()},
                            "test": {k: v.get("test") for k, v in nested.items()}})
        names = sorted({k for c in columns for split in ("train", "test") for k in c[split]})
        return {"names": names, "columns": columns}


# -- pieces, one query or pass each ------------------------------------------------------


def _load_summary(folder: Path) -> dict[str, Any] | None:
    path = folder / SUMMARY_NAME
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # a run in progress has none yet; a broken one is not worth a stop
    return value if isinstance(value, dict) else None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, not ours
    return True


def _generator_kind(config: dict[str, Any]) -> str:
    generator = config.get("generator") or {}
    models = [m.get("name") for m in generator.get("models") or []]
    if models and generator.get("kind", "auto") != "mutator":
        return "models: " + ", ".join(str(m) for m in models)
    return "offline mutator"


def _lineage(by_id: dict[int, tuple[Any, ...]], best_id: int) -> list[int]:
    """Ids from the initial program (or the oldest known ancestor) down to the best."""
    chain, seen = [], set()
    current: int | None = best_id
    while current is not None and current in by_id and current not in seen:
        seen.add(current)
        chain.append(current)
        current = by_id[current][1]
    return chain[::-1]


def _curve(rows: list[tuple[Any, ...]], started_at: float | None) -> dict[str, list[Any]]:
    """The best score so far, as steps (each evaluation where it rose, and the last), and
    every scored candidate as a point (a fixed-seed sample above :data:`MAX_CURVE_POINTS`,
    every step kept), by evaluation count and by seconds since the start."""
    done = sorted((r for r in rows if r[4] in ("evaluated", "failed") and r[10] is not None),
                  key=lambda r: r[10])
    start = started_at if started_at is not None else (done[0][9] if done else 0.0)
    steps: dict[str, list[Any]] = {"seq": [], "t": [], "best": [], "id": []}
    points: list[tuple[int, float, float, int]] = []
    best = None
    for n, r in enumerate(done, start=1):
        score = r[5] if (r[4] == "evaluated" and r[8] is None) else None
        t = round((r[9] or start) - start, 3)
        if score is None:
            continue
        points.append((n, t, score, r[0]))
        if best is None or score > best:
            best = score
            for key, value in zip(("seq", "t", "best", "id"), (n, t, score, r[0])):
                steps[key].append(value)
    if done and steps["seq"] and steps["seq"][-1] != len(done):  # the line runs to the end
        last = done[-1]
        steps["seq"].append(len(done))
        steps["t"].append(round((last[9] or start) - start, 3))
        steps["best"].append(best)
        steps["id"].append(steps["id"][-1])
    if len(points) > MAX_CURVE_POINTS:
        import random

        keep = set(steps["id"])
        picked = set(random.Random(0).sample(range(len(points)), MAX_CURVE_POINTS))
        points = [p for k, p in enumerate(points) if k in picked or p[3] in keep]
    return {**steps, "evaluated": len(done), "points": {
        "seq": [p[0] for p in points], "t": [p[1] for p in points],
        "score": [p[2] for p in points], "id": [p[3] for p in points]},
        "points_sampled": len(points) < sum(1 for r in done if r[4] == "evaluated"
                                            and r[5] is not None and r[8] is None)}


def _island_curves(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Per island, its best score so far, at the run's evaluation count where it rose."""
    done = sorted((r for r in rows if r[4] in ("evaluated", "failed") and r[10] is not None),
                  key=lambda r: r[10])
    curves: dict[int, dict[str, list[Any]]] = {}
    best: dict[int, float] = {}
    for n, r in enumerate(done, start=1):
        curve = curves.setdefault(r[2], {"seq": [], "best": []})
        score = r[5] if (r[4] == "evaluated" and r[8] is None) else None
        if score is not None and (r[2] not in best or score > best[r[2]]):
            best[r[2]] = score
            curve["seq"].append(n)
            curve["best"].append(score)
    total = len(done)
    out = []
    for island in sorted(curves):
        curve = curves[island]
        if curve["seq"] and curve["seq"][-1] != total:  # the line runs to the end
            curve["seq"].append(total)
            curve["best"].append(curve["best"][-1])
        out.append({"island": island, **curve})
    return out


def _bin(dim: dict[str, Any], value: Any) -> int:
    # the same rule as adrs.evolve.archive.Dimension.index
    if not isinstance(value, (int, float)) or not math.isfinite(value) or dim["bins"] == 1:
        return 0
    position = (value - dim["low"]) / (dim["high"] - dim["low"]) * dim["bins"]
    return min(dim["bins"] - 1, max(0, int(position)))


def _population(rows: list[tuple[Any, ...]], keep: set[int]) -> dict[str, Any]:
    """Every candidate as columns (id, parent, score, status, island, generation), sampled
    with a fixed seed above :data:`MAX_POPULATION_NODES` (the best lineage always kept)."""
    chosen = rows
    if len(rows) > MAX_POPULATION_NODES:
        import random

        rest = [r for r in rows if r[0] not in keep]
        picked = set(random.Random(0).sample(range(len(rest)),
                                             max(0, MAX_POPULATION_NODES - len(keep))))
        chosen = sorted([r for r in rows if r[0] in keep]
                        + [r for n, r in enumerate(rest) if n in picked], key=lambda r: r[0])
    return {"total": len(rows), "sampled": len(chosen) < len(rows),
            "id": [r[0] for r in chosen], "parent": [r[1] for r in chosen],
            "score": [r[5] if r[8] is None else None for r in chosen],
            "status": [r[4] for r in chosen], "island": [r[2] for r in chosen],
            "generation": [r[3] for r in chosen], "generator": [r[7] for r in chosen]}


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _models(conn: sqlite3.Connection, by_id: dict[int, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Per model (and per generator that made candidates without a model call): calls,
    errors, latency percentiles, tokens, cost, and the share of its scored candidates
    that beat their parent."""
    calls: dict[str, dict[str, Any]] = {}
    for model, latency, prompt, completion, cost, error in conn.execute(
            "SELECT model, latency_s, prompt_tokens, completion_tokens, cost_usd, error "
            "FROM llm_calls ORDER BY id"):
        entry = calls.setdefault(model, {"latency": [], "errors": 0, "prompt_tokens": 0,
                                         "completion_tokens": 0, "cost_usd": 0.0})
        entry["latency"].append(float(latency))
        entry["errors"] += error is not None
        entry["prompt_tokens"] += int(prompt)
        entry["completion_tokens"] += int(completion)
        entry["cost_usd"] += float(cost)
    made: Counter[str] = Counter()
    scored: Counter[str] = Counter()
    improved: Counter[str] = Counter()
    for r in by_id.values():
        if r[7] == "initial":
            continue
        made[r[7]] += 1
        if r[4] == "evaluated" and r[5] is not None and r[8] is None:
            scored[r[7]] += 1
            parent = by_id.get(r[1]) if r[1] is not None else None
            if parent is not None and parent[5] is not None and r[5] > parent[5]:
                improved[r[7]] += 1
    out = []
    for name in sorted(set(calls) | set(made)):
        entry = calls.get(name)
        latency = sorted(entry["latency"]) if entry else []
        out.append({
            "model": name, "calls": len(latency), "errors": entry["errors"] if entry else 0,
            "latency_p50": _percentile(latency, 50), "latency_p90": _percentile(latency, 90),
            "latency_p99": _percentile(latency, 99),
            "prompt_tokens": entry["prompt_tokens"] if entry else 0,
            "completion_tokens": entry["completion_tokens"] if entry else 0,
            "cost_usd": entry["cost_usd"] if entry else 0.0,
            "candidates": made[name], "scored": scored[name], "improved": improved[name],
            "improved_share": improved[name] / scored[name] if scored[name] else None})
    return out


_REASONS = (  # (reason, words in the error that name it), first match wins
    ("timeout", ("timed out", "timeout", "time limit")),
    ("killed its evaluator", ("killed its evaluator",)),
    ("memory", ("memoryerror", "out of memory", "memory limit")),
    ("rejected output", ("rejected", "invalid output", "not a valid", "must return",
                         "must be", "expected")),
    ("syntax error", ("syntaxerror", "indentationerror")),
    ("crash", ("error", "exception", "traceback", "exit", "signal", "crash")),
)


def failure_reason(status: str, error: str | None) -> str:
    """The family a failed, duplicate or unusable candidate falls in, for the counts."""
    if status == "duplicate":
        return "duplicate"
    if status == "invalid":
        return "invalid reply"
    text = (error or "").lower()
    for reason, words in _REASONS:
        if any(word in text for word in words):
            return reason
    return "other"


def _failures(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Counts of failed, duplicate and unusable candidates by reason, one example each."""
    groups: dict[str, dict[str, Any]] = {}
    for cid, status, error, duplicate_of in conn.execute(
            "SELECT id, status, error, duplicate_of FROM candidates "
            "WHERE status IN ('failed', 'duplicate', 'invalid') ORDER BY id"):
        reason = failure_reason(status, error)
        group = groups.setdefault(reason, {"reason": reason, "count": 0, "example": None})
        group["count"] += 1
        if group["example"] is None:
            text = error or (f"same program as candidate {duplicate_of}"
                             if duplicate_of is not None else "")
            group["example"] = {"id": cid, "status": status, "error": _cut(text, 2000)}
    return sorted(groups.values(), key=lambda g: (-g["count"], g["reason"]))


def _details(conn: sqlite3.Connection, ids: list[int],
             program_budget: int = PROGRAM_BUDGET_CHARS, text_limit: int = MAX_TEXT_CHARS,
             total_budget: int | None = None) -> dict[int, dict[str, Any]]:
    """Program (within ``program_budget``), diff, metrics, feedback and error of these ids,
    each text cut to ``text_limit``; stops once ``total_budget`` characters of text (when
    given) are taken."""
    out: dict[int, dict[str, Any]] = {}
    left = program_budget
    for cid in ids:
        if total_budget is not None and total_budget <= 0:
            break
        row = conn.execute(
            "SELECT id, parent_id, status, score, quick_score, test_score, metrics, "
            "test_metrics, feedback, error, generator, diff, program, generation, island, "
            "eval_seconds FROM candidates WHERE id = ?", (cid,)).fetchone()
        if row is None:
            continue
        program = row[12] or ""
        keep = len(program) <= left
        left -= len(program) if keep else 0
        out[cid] = {
            "id": row[0], "parent": row[1], "status": row[2], "score": row[3],
            "quick_score": row[4], "test_score": row[5], "metrics": json.loads(row[6]),
            "test_metrics": json.loads(row[7]), "feedback": _cut(row[8], text_limit),
            "error": _cut(row[9], text_limit), "generator": row[10],
            "diff": _cut(row[11], text_limit), "program": program if keep else None,
            "generation": row[13], "island": row[14], "eval_seconds": row[15]}
        if total_budget is not None:
            total_budget -= sum(len(out[cid][k] or "") for k in ("feedback", "error", "diff"))
    return out


def _best_program(conn: sqlite3.Connection, best_id: int,
                  initial_id: int | None) -> dict[str, Any]:
    """The best program beside the initial one, as side-by-side diff rows
    ``[kind, left number, left text, right number, right text]``."""
    best = conn.execute("SELECT program FROM candidates WHERE id = ?", (best_id,)).fetchone()[0]
    initial = "" if initial_id is None else conn.execute(
        "SELECT program FROM candidates WHERE id = ?", (initial_id,)).fetchone()[0]
    left, right = initial.splitlines(), best.splitlines()
    rows: list[list[Any]] = []
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [["same", i + 1, left[i], j + 1, right[j]]
                     for i, j in zip(range(i1, i2), range(j1, j2))]
            continue
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            i, j = i1 + k, j1 + k
            rows.append([tag, i + 1 if i < i2 else None, left[i] if i < i2 else None,
                         j + 1 if j < j2 else None, right[j] if j < j2 else None])
    return {"best_id": best_id, "initial_id": initial_id, "rows": rows,
            "changed": sum(r[0] != "same" for r in rows)}


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters]"

