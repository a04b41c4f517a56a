"""Evaluate candidates in parallel: judge workers, each scoring candidates it runs in jails.

:class:`LocalExecutor` starts N worker processes (``python -m adrs.evolve._worker``)
with a scrubbed environment. Each builds the problem from its :class:`ProblemSpec` (the
judge: workloads, validation, timing, scoring) and starts the jail of the ``train``
split (a zygote holding only the inputs a candidate may see, warm). A job's candidate
runs in a fresh jailed process; the worker validates its outputs and recomputes every
figure. Because the workers are fresh interpreters, the controller may use threads
(asyncio, HTTP clients) freely: nothing forks it.

A job whose worker dies is given to the restarted worker once; if that worker dies too,
the job fails ("killed its evaluator"). A worker that stops answering is killed after
the job's time limit plus a grace period, and counts as dead.

The interface (:class:`Executor`: ``start``, ``submit``, ``results``/``poll``, ``close``)
is what the cluster executor (:class:`adrs.evolve.ray_executor.RayExecutor`) implements
too; both also ``describe()`` themselves for the run's records.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import IO, Any, Protocol

from adrs.evolve.config import SandboxConfig
from adrs.jail import JailLimits
from adrs.problems._base import EvalResult, Problem, check_split

# how long past its time limit a worker may stay silent before it is killed
WATCHDOG_GRACE_S = 60.0
# jobs a worker holds at once: the one it evaluates and the next, waiting in its pipe, so
# that it never idles while the controller is busy elsewhere between two results
WORKER_QUEUE = 2
KILLED_ITS_EVALUATOR = "killed its evaluator"
DESCRIBING_DETAILS = ("split", "data", "traces", "fidelity")


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
        splits: Splits to evaluate in order (``("quick", "train")``...).
        quick_threshold: With ``quick`` first: go on only when its score reaches this.
        attempt: 0 for the first try; 1 when a worker died evaluating it before.
    """

    job_id: int
    program: str
    splits: tuple[str, ...] = ("train",)
    quick_threshold: float | None = None
    attempt: int = 0


@dataclass(frozen=True)
class EvalOutcome:
    """What came back for one job.

    Attributes:
        job_id: The job's id.
        results: Per split evaluated, the problem's result.
        error: Why no result came (the worker died twice, the jail failed...); None
            when ``results`` holds the evaluation (a failed candidate is a result with
            its ``error`` set).
        output: Captured stdout+stderr of the candidate's processes (capped).
        output_dropped: Bytes of output beyond the cap.
        seconds: Wall time of the whole evaluation in the worker.
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
    # sent and not yet answered, in the order the worker evaluates them
    jobs: collections.deque[EvalJob] = field(default_factory=collections.deque)
    since: float = 0.0  # when the first of ``jobs`` started (was sent, or its turn came)

    @property
    def busy(self) -> bool:
        return bool(self.jobs)


class LocalExecutor:
    """Worker processes on this machine, one sandboxed child per job.

    Args:
        spec: How each worker builds the problem.
        workers: Number of worker processes (parallel evaluations).
        sandbox: Limits of each jailed process, time limit, isolation.
        warm_splits: Splits whose jail each worker starts before the first job.
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
            The first worker's warm-up report: ``seconds``, ``layers`` (the jail's, see
            :class:`adrs.jail.Layers`) and ``pid``.

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
        # a variable the user passes to a folder's evaluator by name (--pass-env)
        passed = set(self.spec.options.get("pass_env") or ())
        for name in secret_names(env, self.sandbox.secret_patterns, self.secret_env):
            if name not in passed:
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
            "limits": jail_limits(self.sandbox), "isolation": self.sandbox.isolation,
            "timeout_s": self.sandbox.timeout_s,
            "startup_timeout_s": self.sandbox.startup_timeout_s,
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
            # the first line says what and where; the traceback is in workers.log
            first = str(payload).strip().splitlines()[0] if str(payload).strip() else "?"
            raise ValueError(f"problem {self.spec.label!r}: an evaluation worker could not "
                             f"build it: {first}")
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

    def describe(self) -> dict[str, Any]:
        """The executor and its one node, for ``summary.json`` and the ``runs`` table."""
        return {"kind": "local", "workers": self.capacity,
                "nodes": [{"node": socket.gethostname(), "workers": self.capacity}]}

    # -- jobs -------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._submitted - self._returned

    def submit(self, job: EvalJob) -> None:
        """Queue ``job``; it starts as soon as a worker is free."""
        for split in job.splits:
            check_split(split)
        self._submitted += 1
        self._backlog.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        # idle workers first, then each a second job to hold in its pipe
        for depth in range(WORKER_QUEUE):
            for worker in self._workers:
                if not self._backlog:
                    return
                if len(worker.jobs) != depth:
                    continue
                job = self._backlog.popleft()
                if not worker.jobs:
                    worker.since = time.monotonic()
                worker.jobs.append(job)
                try:
                    worker.conn.send(job)
                except OSError:
                    self._collect(worker)

    def _watchdog_s(self, job: EvalJob) -> float:
        return self.sandbox.timeout_s * len(job.splits) + WATCHDOG_GRACE_S \
            + self.sandbox.startup_timeout_s * ("test" in job.splits)

    def _check_watchdog(self) -> None:
        now = time.monotonic()
        for worker in self._workers:
            if worker.jobs and now - worker.since > self._watchdog_s(worker.jobs[0]):
                worker.process.kill()  # its connection then reads EOF: a dead worker

    def _next_deadline(self, timeout: float | None) -> float | None:
        busy = [w for w in self._workers if w.jobs]
        if not busy:
            return timeout
        until = min(w.since + self._watchdog_s(w.jobs[0]) for w in busy)
        left = max(0.0, until - time.monotonic()) + 0.01
        return left if timeout is None else min(timeout, left)

    def poll(self, timeout: float | None = 0.0) -> list[EvalOutcome]:
        """Finished jobs, waiting up to ``timeout`` seconds (None: forever) for one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._check_watchdog()
            busy = [w for w in self._workers if w.jobs]
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait_for = self._next_deadline(left) if not self._done and busy else 0
            for conn in wait([w.conn for w in busy], wait_for):
                self._collect(next(w for w in busy if w.conn is conn))
            self._check_watchdog()
            if self._done or not busy or (deadline is not None
                                          and time.monotonic() >= deadline):
                break
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

        fds = [w.conn.fileno() for w in self._workers if w.jobs]
        for fd in fds:
            loop.add_reader(fd, wake)
        watchdog = loop.call_later(self._next_deadline(None) or 1.0, wake)
        try:
            await ready
        finally:
            watchdog.cancel()
            for fd in fds:
                loop.remove_reader(fd)
        return self.poll(0)

    def _collect(self, worker: _Worker) -> None:
        assert worker.jobs
        try:
            outcome: EvalOutcome = worker.conn.recv()
        except (EOFError, OSError):
            status = worker.process.poll()
            self._restart(worker)
            job, *waiting = worker.jobs
            worker.jobs.clear()
            # the jobs that waited behind it never started: they go back as they were
            self._backlog.extendleft(reversed(waiting))
            if job.attempt == 0:  # once more, on a fresh worker
                self._backlog.appendleft(replace(job, attempt=1))
                self._dispatch()
                return
            outcome = EvalOutcome(job.job_id, {}, error=(
                f"{KILLED_ITS_EVALUATOR}: the evaluation worker died twice while "
                f"evaluating it (last exit status {status})"))
            self._done.append(outcome)
            self._dispatch()
            return
        finished = worker.jobs.popleft()
        if finished.job_id != outcome.job_id:  # the worker answers in order, or is broken
            raise RuntimeError(f"worker {worker.slot} answered job {outcome.job_id} while "
                               f"job {finished.job_id} was due")
        worker.since = time.monotonic()  # the next one starts now
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


def secret_names(environ: Iterable[str], patterns: Iterable[str],
                 extra: Iterable[str] = ()) -> set[str]:
    """Names of environment variables the workers must not get.

    Args:
        environ: Variable names.
        patterns: Substrings (case-insensitive) that mark a name as secret.
        extra: Names to remove whatever they are called (e.g. each ``api_key_env``).
    """
    upper = [p.upper() for p in patterns]
    names = {n for n in environ if any(p in n.upper() for p in upper)}
    return names | (set(extra) & set(environ))


def jail_limits(sandbox: SandboxConfig) -> JailLimits:
    """The hard limits of each jailed process, from the run's sandbox settings."""
    cpu = sandbox.cpu_s if sandbox.cpu_s is not None else sandbox.timeout_s + 5
    return JailLimits(memory_mb=sandbox.memory_mb, cpu_s=cpu, file_mb=sandbox.file_mb,
                      tmp_mb=sandbox.tmp_mb, tmp_inodes=sandbox.tmp_inodes,
                      max_processes=sandbox.max_processes,
                      max_open_files=sandbox.max_open_files,
                      output_bytes=sandbox.output_bytes, result_mb=sandbox.result_mb,
                      jail_uid=sandbox.jail_uid)


def serve_jobs(conn: Connection, problem: Problem, runner: Any, timeout_s: float) -> None:
    """The worker's loop: receive a job, evaluate it (its candidate in jails), send back."""
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            conn.send(evaluate_job(problem, runner, job, timeout_s))
        except OSError:
            return


def evaluate_job(problem: Problem, runner: Any, job: EvalJob,
                 timeout_s: float) -> EvalOutcome:
    """Evaluate the job's splits within one time limit, stopping early on a poor quick.

    A failure of the judge itself (a jail that cannot start, a bug) is the outcome's
    error, never an exception.
    """
    from adrs.jail import JailError

    started = time.perf_counter()
    results: dict[str, EvalResult] = {}
    error = None
    with runner.budget(timeout_s):
        for split in job.splits:
            try:
                result = problem.evaluate(job.program, split, runner)
            except JailError as exc:
                error = f"the jail failed: {' '.join(str(exc).split())[:2000]}"
                break
            except Exception as exc:  # noqa: BLE001 - a judge bug must not end the worker
                error = (f"the evaluator failed ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:2000]})")
                break
            # the details are large; the search keeps only what says which data scored it
            results[split] = replace(result, details={
                k: v for k, v in result.details.items()
                if k in DESCRIBING_DETAILS and isinstance(v, str)})
            if split == "quick" and job.quick_threshold is not None and (
                    not result.ok or not result.score >= job.quick_threshold):
                break
    output, dropped = runner.take_output()
    return EvalOutcome(job.job_id, results, error, output, dropped,
                       time.perf_counter() - started)


