"""The report's data equals the database's: every figure is checked against SQL run
here, or against the project's own archive rules."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from adrs.evolve._candidate import Candidate
from adrs.evolve.archive import Dimension
from adrs.report import _reader, read_run

from tests.report.conftest import BEST_INDEX, BEST_TEST, SYNTHETIC, adrs


def sql(run: Path, query: str, *args: object) -> list[tuple]:
    with sqlite3.connect(run / "run.sqlite") as conn:
        return conn.execute(query, args).fetchall()


def lineage_by_sql(run: Path, best_id: int) -> list[int]:
    rows = sql(run, "WITH RECURSIVE up(id, parent_id) AS (SELECT id, parent_id FROM candidates "
                    "WHERE id = ? UNION ALL SELECT c.id, c.parent_id FROM candidates c "
                    "JOIN up ON c.id = up.parent_id) SELECT id FROM up", best_id)
    return [r[0] for r in rows][::-1]


@pytest.mark.parametrize("name", ["toy_run", "llm_run"])
def test_header_numbers_equal_the_database(name, request):
    run = request.getfixturevalue(name)
    data = read_run(run)
    best = sql(run, "SELECT id, score, test_score FROM candidates WHERE status = 'evaluated' "
                    "AND error IS NULL AND score IS NOT NULL ORDER BY score DESC, id LIMIT 1")[0]
    assert (data["best"]["id"], data["best"]["score"], data["best"]["test_score"]) == best
    counts = dict(sql(run, "SELECT status, COUNT(*) FROM candidates GROUP BY status"))
    assert {k: v for k, v in data["header"]["counts"].items() if v} == counts
    calls, errors, prompt, completion, cost = sql(
        run, "SELECT COUNT(*), COALESCE(SUM(error IS NOT NULL), 0), COALESCE(SUM(prompt_tokens),"
             " 0), COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_usd), 0) "
             "FROM llm_calls")[0]
    llm = data["header"]["llm"]
    assert (llm["calls"], llm["errors"], llm["tokens"], llm["cost_usd"]) == \
        (calls, errors, prompt + completion, cost)
    assert data["lineage"] == lineage_by_sql(run, best[0])
    assert data["header"]["status"] == "completed"


def test_synthetic_run_in_known_numbers(llm_run):
    ids = json.loads((llm_run / "ids.json").read_text())
    data = read_run(llm_run)
    assert data["best"] == {"id": ids[BEST_INDEX], "score": 2.5, "test_score": BEST_TEST,
                            "generation": 4}
    assert data["lineage"] == [ids[0], ids[1], ids[3], ids[6], ids[8]]
    assert data["header"]["counts"] == {"queued": 0, "evaluated": 6, "failed": 2,
                                        "duplicate": 1, "invalid": 1}
    assert data["header"]["llm"]["tokens"] == sum(p + c for *_, calls in SYNTHETIC
                                                  for p, c, *_ in calls) == 1075
    assert data["header"]["generator"] == "models: model-a, model-b"
    assert data["header"]["executor"].startswith("local, 2 workers, isolation auto")
    # evaluation order: 1.0 1.5 0.5 2.25 (fail) (fail) 2.0 2.5; best so far rises at 1 2 4 8
    assert (data["curve"]["seq"], data["curve"]["best"]) == ([1, 2, 4, 8], [1.0, 1.5, 2.25, 2.5])
    assert data["curve"]["points"]["score"] == [1.0, 1.5, 0.5, 2.25, 2.0, 2.5]
    assert data["curve"]["points"]["seq"] == [1, 2, 3, 4, 7, 8]
    assert data["curve"]["evaluated"] == 8 and not data["curve"]["points_sampled"]
    reasons = {f["reason"]: (f["count"], f["example"]["id"]) for f in data["failures"]}
    assert reasons == {"timeout": (1, ids[4]), "crash": (1, ids[5]),
                       "invalid reply": (1, ids[7]), "duplicate": (1, ids[9])}
    # every drawn node opens; the lineage's and the failure examples' with their
    # programs, the others (here only candidate 2) without
    details = data["details"]
    assert set(details) == {str(i) for i in ids}
    assert [i for i in ids if details[str(i)]["program"] is None] == [ids[2]]
    assert details[str(ids[8])]["test_metrics"] == {"mse": 0.5}
    assert details[str(ids[4])]["error"] == "timed out after 60 s"
    assert details[str(ids[2])]["diff"] == "-    return 0 * x\n+    return 2 * x"


def test_models_table(llm_run):
    models = {m["model"]: m for m in read_run(llm_run)["models"]}
    a, b = models["model-a"], models["model-b"]
    assert (a["calls"], a["errors"], b["calls"], b["errors"]) == (6, 1, 4, 0)
    assert a["cost_usd"] == pytest.approx(0.0125 + 0.0100 + 0.0150 + 0.0090 + 0.0060 + 0.0070)
    assert (a["prompt_tokens"], a["completion_tokens"]) == (440, 165)
    # nearest-rank percentiles of model-a's latencies 0.6 1.1 1.5 1.9 2.5 3.5
    assert (a["latency_p50"], a["latency_p90"], a["latency_p99"]) == (1.5, 3.5, 3.5)
    # model-a: candidates 1 (1.5 > 1.0) and 3 (2.25 > 1.5) improved, of 2 scored
    assert (a["candidates"], a["scored"], a["improved"], a["improved_share"]) == (5, 2, 2, 1.0)
    # model-b: 2 (0.5 < 1.0) no, 6 (2.0 < 2.25) no, 8 (2.5 > 2.0) yes
    assert (b["candidates"], b["scored"], b["improved"]) == (4, 3, 1)
    assert "initial" not in models


def test_grid_cells_follow_the_archive_rule(toy_run):
    data = read_run(toy_run)
    dims = [Dimension(d["name"], d["bins"], d["low"], d["high"]) for d in data["grid"]["dims"]]
    assert [d.name for d in dims] == ["code_length", "ast_distance"]
    with sqlite3.connect(toy_run / "run.sqlite") as conn:
        rows = conn.execute("SELECT id, island, score, features FROM candidates WHERE "
                            "status = 'evaluated' AND error IS NULL AND score IS NOT NULL")
        expected: dict[tuple[int, tuple[int, ...]], tuple[float, int]] = {}
        for cid, island, score, features in rows:
            features = json.loads(features)
            key = (island, tuple(d.index(features.get(d.name)) for d in dims))
            candidate = Candidate(id=cid, program="", score=score, features=features)
            assert key[1] == tuple(d.index(candidate.features.get(d.name)) for d in dims)
            if key not in expected or score > expected[key][0]:
                expected[key] = (score, cid)
    got = {(g["island"], tuple(c[:2])): (c[2], c[3]) for g in data["grid"]["islands"]
           for c in g["cells"]}
    assert got == expected and got


def test_population_is_sampled_but_never_the_lineage(llm_run, monkeypatch):
    monkeypatch.setattr(_reader, "MAX_POPULATION_NODES", 6)
    monkeypatch.setattr(_reader, "MAX_CURVE_POINTS", 2)
    data = read_run(llm_run)
    points = data["curve"]["points"]
    assert data["curve"]["points_sampled"] and len(points["id"]) < 6
    assert set(data["curve"]["id"]) <= set(points["id"])  # every rise of the best is drawn
    population = data["population"]
    assert population["sampled"] and population["total"] == 10
    assert len(population["id"]) == 6
    assert set(data["lineage"]) <= set(population["id"])


def test_best_program_side_by_side(toy_run):
    data = read_run(toy_run)
    rows = data["best_program"]["rows"]
    initial = sql(toy_run, "SELECT program FROM candidates WHERE generator = 'initial'")[0][0]
    best = sql(toy_run, "SELECT program FROM candidates WHERE id = ?", data["best"]["id"])[0][0]
    assert [r[2] for r in rows if r[2] is not None] == initial.splitlines()
    assert [r[4] for r in rows if r[4] is not None] == best.splitlines()
    assert data["best_program"]["changed"] == sum(r[0] != "same" for r in rows) > 0


def test_reading_changes_nothing_in_the_folder(tmp_path):
    # a run of its own: the session's toy run may hold the -wal/-shm files of a reader
    # another test stopped hard, which a clean close of SQLite's then tidies away
    run = tmp_path / "toy"
    done = adrs("run", "toy", "--budget", "8", "--out", str(run))
    assert done.returncode == 0, done.stderr
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert "run.sqlite" in before and "run.sqlite-wal" not in before
    read_run(run)
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before
