"""The executor survives its workers dying, and a candidate that keeps killing its
evaluator is failed, not re-queued forever."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from adrs.evolve.config import SandboxConfig
from adrs.evolve.controller import Controller
from adrs.evolve.executor import KILLED_ITS_EVALUATOR, EvalJob, LocalExecutor, ProblemSpec
from adrs.problems.toy import INITIAL_PROGRAM

from tests.evolve.conftest import small_config


def _kill_busy_worker(executor: LocalExecutor) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = [w for w in executor._workers if w.busy]
        if busy:
            os.kill(busy[0].process.pid, signal.SIGKILL)
            return
        time.sleep(0.01)
    raise AssertionError("no worker took the job")


def test_a_job_whose_worker_dies_is_retried_once_then_failed() -> None:
    spec = ProblemSpec.registered("toy", delay_ms=1500)
    executor = LocalExecutor(spec, 1, SandboxConfig(timeout_s=30))
    try:
        executor.start()
        executor.submit(EvalJob(7, INITIAL_PROGRAM))
        time.sleep(0.3)
        _kill_busy_worker(executor)  # first death: the job goes to the restarted worker
        done = executor.poll(timeout=60)
        assert [o.job_id for o in done] == [7] and done[0].error is None
        assert done[0].results["train"].ok and executor.restarts == 1
        executor.submit(EvalJob(8, INITIAL_PROGRAM))
        time.sleep(0.3)
        _kill_busy_worker(executor)
        assert executor.poll(timeout=0.5) == []  # noticed: restarted, the job re-sent
        time.sleep(0.3)
        _kill_busy_worker(executor)  # second death: the candidate is failed, with the reason
        done = executor.poll(timeout=60)
        assert [o.job_id for o in done] == [8]
        assert done[0].error.startswith(f"{KILLED_ITS_EVALUATOR}: the evaluation worker "
                                        "died twice while evaluating it")
        assert executor.restarts == 3
        executor.submit(EvalJob(9, INITIAL_PROGRAM))  # the pool goes on
        assert executor.poll(timeout=60)[0].results["train"].ok
    finally:
        executor.close()


def test_a_worker_holds_the_next_job_and_its_death_loses_neither() -> None:
    spec = ProblemSpec.registered("toy", delay_ms=1500)
    executor = LocalExecutor(spec, 1, SandboxConfig(timeout_s=30))
    try:
        executor.start()
        for job_id in (1, 2, 3):
            executor.submit(EvalJob(job_id, INITIAL_PROGRAM))
        worker = executor._workers[0]
        # the one it evaluates and the next, in its pipe; the third waits in the backlog
        assert [job.job_id for job in worker.jobs] == [1, 2]
        assert [job.job_id for job in executor._backlog] == [3]
        time.sleep(0.3)
        _kill_busy_worker(executor)  # while it evaluates job 1: job 2 never started
        done: list = []
        while len(done) < 3:
            got = executor.poll(timeout=60)
            assert got, "a job was lost"
            done += got
        assert [o.job_id for o in done] == [1, 2, 3]
        assert all(o.error is None and o.results["train"].ok for o in done)
        assert executor.restarts == 1 and executor.in_flight == 0
    finally:
        executor.close()


def test_a_candidate_in_flight_when_the_run_died_twice_is_failed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = small_config(budget=3, workers=1, deterministic=True)
    Controller(ProblemSpec.registered("toy"), config, out).run()
    with sqlite3.connect(out / "run.sqlite") as conn:
        conn.execute("UPDATE candidates SET status = 'queued', score = NULL, "
                     "eval_attempts = 2 WHERE id = 3")
    summary = Controller.resume_run(out, budget=4).run()
    with sqlite3.connect(out / "run.sqlite") as conn:
        status, error = conn.execute("SELECT status, error FROM candidates WHERE id = 3"
                                     ).fetchone()
    assert status == "failed"
    assert error == f"{KILLED_ITS_EVALUATOR}: the run stopped twice while evaluating it"
    assert summary.counts["evaluated"] + summary.counts["failed"] == 4
