"""Evaluate candidates in parallel, each in its own sandboxed child of a warm worker.

:class:`LocalExecutor` starts N worker processes (``python -m adrs.evolve._worker``)
with a scrubbed environment. Each builds the problem from its :class:`ProblemSpec`,
evaluates the initial program once (loading workloads, compiling simulators), and then
forks one sandboxed child per job. Because the workers are fresh interpreters, the
controller may use threads (asyncio, HTTP clients) freely: nothing forks it.

The interface (:class:`Executor`: ``start``, ``submit``, ``results``/``poll``, ``close``)
is what a cluster executor (Ray) implements too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import importlib
import math
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import IO, Any, Protocol

from adrs.evolve._integrity import EvaluatorSnapshot
from adrs.evolve.config import SandboxConfig
from adrs.evolve.sandbox import SandboxLimits, run_sandboxed, secret_names
from adrs.problems._base import EvalResult, Problem, check_split


@dataclass(frozen=True)
class ProblemSpec:
    """How to build a problem in another process.

    Attributes:
        factory: ``"module:callable"`` returning a :class:`Problem`.
        options: Keyword arguments of the factory (plain data).
        label: Name shown to people (``spot``, a folder path...).
    """

    factory: str
    options: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    @classmethod
    def registered(cls, name: str, **options: Any) -> ProblemSpec:
        """A built-in problem of the registry (``adrs.problems.get_problem``)."""
        return cls("adrs.problems:get_problem", {"name": name, **options}, name)

    def build(self) -> Problem:
        """Import the factory and call it.

        Raises:
            ValueError: ``factory`` is not ``module:callable``, or the factory rejects
                the options.
        """
        module_name, _, attribute = self.factory.partition(":")
        if not module_name or not attribute:
            raise ValueError(f"problem factory {self.factory!r} is not 'module:callable'")
        factory = getattr(importlib.import_module(module_name), attribute)
        return factory(**dict(self.options))

    def to_json(self) -> dict[str, Any]:
        return {"factory": self.factory, "options": dict(self.options), "label": self.label}


@dataclass(frozen=True)
class EvalJob:
    """One candidate to evaluate.

    Attributes:
        job_id: The caller's id (the candidate id).
        program: Source text.
        splits: Splits to evaluate in order, in one child (``("quick", "train")``...).
        quick_threshold: With ``quick`` first: go on only when its score reaches this.
    """

    job_id: int
    program: str
    splits: tuple[str, ...] = ("train",)
    quick_threshold: float | None = None


@dataclass(frozen=True)
class EvalOutcome:
    """What came back for one job.

    Attributes:
        job_id: The job's id.
        results: Per split evaluated, the problem's result.
        error: Why the sandbox produced no result (timeout, crash, patched evaluator...);
            None when ``results`` holds the evaluation.
        output: Captured stdout+stderr of the child (capped).
        output_dropped: Bytes of output beyond the cap.
        seconds: Wall time of the child, fork to exit.
    """

    job_id: int
    results: Mapping[str, EvalResult]
    error: str | None = None
    output: str = ""
    output_dropped: int = 0
    seconds: float = 0.0


class Executor(Protocol):
    """Runs evaluation jobs somewhere; the controller's only view of evaluation."""

    capacity: int

    def start(self) -> dict[str, Any]:
        """Bring workers up; returns information about their warm-up."""
        ...

    def submit(self, job: EvalJob) -> None:
        """Queue a job; never blocks."""
        ...

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet returned by ``results``/``poll``."""
        ...

    async def results(self) -> list[EvalOutcome]:
        """Wait until at least one job finished (if any is in flight) and return all
        that did."""
        ...

    def poll(self, timeout: float | None = 0.0) -> list[EvalOutcome]:
        """Finished jobs, waiting up to ``timeout`` seconds for the first one."""
        ...

    def close(self) -> None:
        ...


@dataclass
class _Worker:
    slot: int
    process: subprocess.Popen[bytes]
    conn: Connection
    job: EvalJob | None = None


class LocalExecutor:
    """Worker processes on this machine, one sandboxed child per job.

    Args:
        spec: How each worker builds the problem.
        workers: Number of worker processes (parallel evaluations).
        sandbox: Limits and integrity settings of each child.
        warm_splits: Splits on which each worker evaluates the initial program once.
        secret_env: Extra environment variable names to withhold (each model's
            ``api_key_env``), besides those matching ``sandbox.secret_patterns``.
        log_path: File that receives the workers' own stdout/stderr (None: discarded).
    """

    def __init__(self, spec: ProblemSpec, workers: int, sandbox: SandboxConfig | None = None,
                 warm_splits: Sequence[str] = ("train",), secret_env: Sequence[str] = (),
                 log_path: str | Path | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.spec = spec
        self.capacity = workers
        self.sandbox = sandbox or SandboxConfig()
        self.warm_splits = [check_split(s) for s in warm_splits]
        self.secret_env = tuple(secret_env)
        self.log_path = Path(log_path) if log_path is not None else None
        self._workers: list[_Worker] = []
        self._backlog: collections.deque[EvalJob] = collections.deque()
        self._done: list[EvalOutcome] = []
        self._submitted = 0
        self._returned = 0
        self._log: IO[bytes] | None = None
        self.restarts = 0

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Start every worker and wait until each has built and warmed up the problem.

        Returns:
            The first worker's warm-up report: ``seconds`` and, per warm split, the
            initial program's ``score`` and ``error``.

        Raises:
            ValueError: A worker could not build the problem or warm up in time; the
                message holds its error.
        """
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept for the run
        pending = [self._spawn(slot) for slot in range(self.capacity)]
        reports = [self._await_ready(worker) for worker in pending]
        self._workers = pending
        return reports[0]

    def _spawn(self, slot: int) -> _Worker:
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        for name in secret_names(env, self.sandbox.secret_patterns, self.secret_env):
            del env[name]
        env["PYTHONUNBUFFERED"] = "1"
        stream = self._log if self._log is not None else subprocess.DEVNULL
        process = subprocess.Popen(
            [sys.executable, "-m", "adrs.evolve._worker", str(child_sock.fileno())],
            pass_fds=(child_sock.fileno(),), env=env, stdin=subprocess.DEVNULL,
            stdout=stream, stderr=stream, close_fds=True)
        child_sock.close()
        conn = Connection(parent_sock.detach())
        conn.send({
            "spec": self.spec, "sys_path": list(sys.path), "warm_splits": self.warm_splits,
            "check_integrity": self.sandbox.check_integrity,
            "protect_modules": list(self.sandbox.protect_modules),
            "limits": SandboxLimits.from_config(self.sandbox),
            "secret_patterns": list(self.sandbox.secret_patterns),
        })
        return _Worker(slot, process, conn)

    def _await_ready(self, worker: _Worker) -> dict[str, Any]:
        timeout = self.sandbox.startup_timeout_s
        if not worker.conn.poll(timeout):
            self.close(extra=[worker])
            raise ValueError(f"problem {self.spec.label!r}: an evaluation worker did not "
                             f"start within {timeout:g} s (sandbox.startup_timeout_s)")
        try:
            kind, payload = worker.conn.recv()
        except (EOFError, OSError):
            kind, payload = "failed", (f"the worker exited with status "
                                       f"{worker.process.wait()} while starting")
        if kind != "ready":
            self.close(extra=[worker])
            raise ValueError(f"problem {self.spec.label!r}: an evaluation worker could not "
                             f"build it: {str(payload).strip()}")
        return payload

    def close(self, extra: Sequence[_Worker] = ()) -> None:
        """Stop every worker (idempotent)."""
        for worker in [*self._workers, *extra]:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
            with contextlib.suppress(OSError):
                worker.conn.close()
        for worker in [*self._workers, *extra]:
            try:
                worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        self._workers = []
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- jobs -------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._submitted - self._returned

    @property
    def idle_workers(self) -> int:
        return sum(1 for w in self._workers if w.job is None) - len(self._backlog)

    def submit(self, job: EvalJob) -> None:
        """Queue ``job``; it starts as soon as a worker is free."""
        for split in job.splits:
            check_split(split)
        self._submitted += 1
        self._backlog.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._backlog:
                return
            if worker.job is None:
                worker.job = self._backlog.popleft()
                try:
                    worker.conn.send(worker.job)
                except OSError:
                    self._collect(worker)

    def poll(self, timeout: float | None = 0.0) -> list[EvalOutcome]:
        """Finished jobs, waiting up to ``timeout`` seconds (None: forever) for one."""
        busy = [w for w in self._workers if w.job is not None]
        if not self._done and busy:
            for conn in wait([w.conn for w in busy], timeout):
                self._collect(next(w for w in busy if w.conn is conn))
        else:
            for conn in wait([w.conn for w in busy], 0):
                self._collect(next(w for w in busy if w.conn is conn))
        done, self._done = self._done, []
        self._returned += len(done)
        return done

    async def results(self) -> list[EvalOutcome]:
        """Wait without blocking the event loop until a job finishes."""
        if self._done or self.in_flight == 0:
            return self.poll(0)
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        fds = [w.conn.fileno() for w in self._workers if w.job is not None]
        for fd in fds:
            loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            for fd in fds:
                loop.remove_reader(fd)
        return self.poll(0)

    def _collect(self, worker: _Worker) -> None:
        job = worker.job
        assert job is not None
        try:
            outcome: EvalOutcome = worker.conn.recv()
        except (EOFError, OSError):
            outcome = EvalOutcome(job.job_id, {}, error=(
                f"the evaluation worker died (exit status {worker.process.poll()}); "
                "it was restarted"))
            self._restart(worker)
        worker.job = None
        self._done.append(outcome)
        self._dispatch()

    def _restart(self, worker: _Worker) -> None:
        with contextlib.suppress(OSError):
            worker.conn.close()
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait()
        fresh = self._spawn(worker.slot)
        self._await_ready(fresh)
        worker.process, worker.conn = fresh.process, fresh.conn
        self.restarts += 1


# -- worker side ------------------------------------------------------------------------


def serve_jobs(conn: Connection, problem: Problem, snapshot: EvaluatorSnapshot | None,
               limits: SandboxLimits, secret_patterns: Sequence[str]) -> None:
    """The worker's loop: receive a job, evaluate it in a sandboxed child, send back."""
    check = snapshot.violations if snapshot is not None else None
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        result = run_sandboxed(functools.partial(_evaluate, problem, job), limits,
                               check=check, secret_patterns=secret_patterns)
        results: dict[str, EvalResult] = {}
        error = result.error
        if error is None:
            try:
                results = _parse_results(result.value, job.splits)
            except (ValueError, TypeError) as exc:
                error = f"malformed result from the child: {exc}"
        try:
            conn.send(EvalOutcome(job.job_id, results, error, result.output,
                                  result.output_dropped, result.seconds))
        except OSError:
            return


def _evaluate(problem: Problem, job: EvalJob) -> dict[str, Any]:
    """Runs in the child: evaluate the job's splits, stopping early on a poor quick."""
    out: dict[str, Any] = {}
    for split in job.splits:
        result = problem.evaluate(job.program, split)
        data = result.to_json()
        data.pop("details", None)  # may be large; the search does not use it
        out[split] = data
        if split == "quick" and job.quick_threshold is not None and (
                not result.ok or not result.score >= job.quick_threshold):
            break
    return out


def _parse_results(value: Any, splits: Sequence[str]) -> dict[str, EvalResult]:
    # the child is untrusted: accept only the shape _evaluate produces
    if not isinstance(value, dict) or not value:
        raise ValueError("expected a mapping of splits")
    results = {}
    for split, data in value.items():
        if split not in splits or not isinstance(data, dict):
            raise ValueError(f"unexpected split {split!r}")
        score = data.get("score")
        if score is None:
            score = -math.inf
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise TypeError(f"score of {split} is not a number: {score!r}")
        metrics = _numbers(data.get("metrics"), f"metrics of {split}")
        features = _numbers(data.get("features"), f"features of {split}")
        feedback = data.get("feedback") or ""
        error = data.get("error")
        seconds = data.get("seconds") or 0.0
        if not isinstance(feedback, str) or not (error is None or isinstance(error, str)):
            raise TypeError(f"feedback/error of {split} are not text")
        results[split] = EvalResult(float(score), metrics, features, feedback, error,
                                    seconds=float(seconds))
    return results


def _numbers(value: Any, what: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not a mapping")
    out = {}
    for key, number in value.items():
        if number is None:
            number = math.nan
        if isinstance(number, bool):
            number = float(number)
        if not isinstance(number, (int, float)):
            continue  # a problem may report text here; the search needs numbers only
        out[str(key)] = float(number)
    return out
