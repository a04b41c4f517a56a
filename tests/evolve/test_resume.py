"""A real ``adrs run`` killed with SIGKILL mid-run, resumed, killed again, resumed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

BUDGET = 500


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    # run from the log's folder: the workers inherit it, which is how they are found
    with open(log, "ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "adrs.cli", "run", *args],
                                stdout=handle, stderr=subprocess.STDOUT, cwd=log.parent)


def counts(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return dict(conn.execute("SELECT status, COUNT(*) FROM candidates GROUP BY status"))
    except sqlite3.OperationalError:
        return {}  # the schema is not there yet


def kill_when(process: subprocess.Popen[bytes], db: Path, scored: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = counts(db)
        if done.get("evaluated", 0) + done.get("failed", 0) >= scored:
            break
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    else:
        raise AssertionError("the run made no progress")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def table(db: Path) -> dict[int, tuple]:
    with sqlite3.connect(db) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT id, status, program, score, parent_id, eval_seq FROM candidates")}


def workers_gone(folder: Path) -> None:
    # each worker dies with its parent (PR_SET_PDEATHSIG); give the kernel a moment
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = [p for p in os.listdir("/proc") if p.isdigit() and _is_worker(p, folder)]
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"workers survived their controller: {alive}")


def _is_worker(pid: str, out: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return False
    return b"adrs.evolve._worker" in cmdline and cwd == str(out)


def test_sigkill_at_any_time_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    db = out / "run.sqlite"
    log = tmp_path / "log.txt"
    common = ["--workers", "2", "--json"]
    first = start(["toy", "--budget", str(BUDGET), "--out", str(out), "--seed", "5",
                   "--option", "delay_ms=10", *common], log)
    kill_when(first, db, 60)
    snapshot = table(db)
    queued = [cid for cid, row in snapshot.items() if row[0] == "queued"]
    workers_gone(tmp_path)

    second = start(["--resume", "--out", str(out), *common], log)
    kill_when(second, db, 250)
    middle = table(db)
    assert {cid: middle[cid] for cid in snapshot if snapshot[cid][0] != "queued"} == {
        cid: row for cid, row in snapshot.items() if row[0] != "queued"}
    assert all(middle[cid][0] in ("evaluated", "failed", "queued") for cid in queued)

    third = start(["--resume", "--out", str(out), *common], log)
    assert third.wait(timeout=240) == 0, log.read_text()
    final = table(db)
    done = counts(db)
    assert done.get("evaluated", 0) + done.get("failed", 0) == BUDGET
    assert done.get("queued", 0) == 0
    for cid, row in middle.items():  # everything recorded before the kills is still there
        if row[0] != "queued":
            assert final[cid] == row
        else:
            assert final[cid][0] in ("evaluated", "failed")  # re-queued and scored
            assert (final[cid][1], final[cid][3]) == (row[1], row[3])  # same program, parent
    seqs = sorted(r[4] for r in final.values() if r[4] is not None)
    assert seqs == list(range(1, len(seqs) + 1))
    with sqlite3.connect(db) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY id")]
    assert statuses == ["running", "running", "completed"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["evaluated"] + summary["counts"]["failed"] == BUDGET
    assert Path(summary["best_program_path"]).is_file()
