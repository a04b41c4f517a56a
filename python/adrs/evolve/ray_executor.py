"""Evaluate candidates on a Ray cluster: long-lived actors, each a judge like a local worker.

:class:`RayExecutor` implements the :class:`~adrs.evolve.executor.Executor` protocol with
Ray actors (:class:`adrs.evolve._ray_actor.EvalActor`). Each builds the problem once
from its :class:`~adrs.evolve.executor.ProblemSpec`, warms the ``train`` jail, and scores
candidates through the same judge/jail path as a local worker; the controller, the
database and the model calls stay on the driver, and only ``EvalJob`` and ``EvalOutcome``
cross the wire. One job per actor at a time, so a dead actor has exactly one victim.

Faults: an actor that dies (its node lost, OOM, killed) is replaced, and its job is
given to a worker once more; a job whose second evaluator dies too fails ("killed its
evaluator"), as locally. When the cluster itself is gone (no replacement can start,
Ray's connection is lost) the executor raises :class:`ClusterLost`; the run then stops
with status ``interrupted`` and resumes on any executor.

Ray is optional (``pip install -e '.[ray]'``): nothing here imports it before
:meth:`RayExecutor.start`, which says how to install it when it is missing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adrs.evolve.config import SandboxConfig
from adrs.evolve.executor import (
    KILLED_ITS_EVALUATOR,
    WATCHDOG_GRACE_S,
    EvalJob,
    EvalOutcome,
    ProblemSpec,
    jail_limits,
    secret_names,
)
from adrs.problems._base import check_split

INSTALL_HINT = ("the Ray executor needs the 'ray' package: pip install 'adrs[ray]' "
                "(in a checkout: pip install -e '.[ray]')")
# a private Ray instance listens on loopback only (DESIGN.md: Ray binds to every
# interface unless this is set)
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# how long a replacement actor may wait for a node before the cluster counts as lost
REPLACEMENT_TIMEOUT_S = 120.0
# how often the driver checks that the cluster's head still answers: with its GCS gone a
# Ray driver learns of nothing (no result, no death) and ends itself after 60 s
HEAD_CHECK_INTERVAL_S = 2.0
# how long a start waits for an explicit address to accept a connection
CONNECT_CHECK_S = 10.0


class ClusterLost(ConnectionError):
    """The Ray cluster is gone (or cannot host a worker any more): the run stops."""


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        ValueError: Ray is not installed; the message says how to install it.
    """
    try:
        import ray
    except ImportError:
        raise ValueError(f"--executor ray: {INSTALL_HINT}") from None
    return ray


@contextlib.contextmanager
def _environment(remove: Sequence[str], add: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` without ``remove`` and with ``add`` while Ray starts its processes
    (they inherit it: the run's API keys must not reach the judges)."""
    saved = {name: os.environ.get(name) for name in {*remove, *add}}
    try:
        for name in remove:
            os.environ.pop(name, None)
        os.environ.update(add)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class _Slot:
    """One actor of the pool and what it is doing."""

    index: int
    actor: Any
    ready_ref: Any = None  # set while the actor builds the problem
    since: float = 0.0  # when it was created, or when its job was sent
    job: EvalJob | None = None
    ref: Any = None
    node: str = "?"
    pid: int = 0
    report: dict[str, Any] = field(default_factory=dict)


class RayExecutor:
    """Evaluation actors on a Ray cluster.

    Args:
        spec: How each actor builds the problem (its factory must import on every node).
        workers: Actors (parallel evaluations); 0: the cluster's CPUs divided by
            ``num_cpus_per_worker``.
        sandbox: Limits of each jailed process, time limit, isolation.
        warm_splits: Splits whose jail each actor starts before the first job.
        secret_env: Environment variable names to keep from a private Ray instance
            (each model's ``api_key_env``), besides those matching
            ``sandbox.secret_patterns``.
        address: ``auto``, ``ray://host:port``, ``host:port``, or empty: a private Ray
            instance on this machine, bound to 127.0.0.1.
        num_cpus_per_worker: CPUs each actor reserves.
        num_gpus_per_worker: GPUs each actor reserves.
        runtime_env: Ray ``runtime_env`` of the actors.
        ship_data: Ship the spec's ``data`` path once per node through the object store
            (else every node must hold the path).
        resources: Custom Ray resources each actor reserves (e.g. a node label).
        log_path: File that says where the actors' own output is (each node's Ray logs).
    """

    def __init__(self, spec: ProblemSpec, workers: int = 0,
                 sandbox: SandboxConfig | None = None,
                 warm_splits: Sequence[str] = ("train",), secret_env: Sequence[str] = (), *,
                 address: str = "", num_cpus_per_worker: float = 1.0,
                 num_gpus_per_worker: float = 0.0,
                 runtime_env: Mapping[str, Any] | None = None, ship_data: bool = True,
                 resources: Mapping[str, float] | None = None,
                 log_path: str | Path | None = None) -> None:
        if workers < 0:
            raise ValueError(f"workers must be 0 (the cluster's CPUs) or more, got {workers}")
        self.spec = spec
        self.workers = workers
        self.capacity = max(workers, 1)
        self.sandbox = sandbox or SandboxConfig()
        self.warm_splits = [check_split(s) for s in warm_splits]
        self.secret_env = tuple(secret_env)
        self.address = address
        self.num_cpus_per_worker = num_cpus_per_worker
        self.num_gpus_per_worker = num_gpus_per_worker
        self.runtime_env = dict(runtime_env or {})
        self.ship_data = ship_data
        self.resources = dict(resources or {})
        self.log_path = Path(log_path) if log_path is not None else None
        self.restarts = 0
        self.data_ships = 0  # actors that unpacked shipped data (one per node)
        self._ray: Any = None
        self._owns_ray = False
        self._slots: list[_Slot] = []
        self._backlog: collections.deque[EvalJob] = collections.deque()
        self._done: list[EvalOutcome] = []
        self._submitted = 0
        self._returned = 0
        self._futures: dict[Any, asyncio.Future[Any]] = {}
        self._init: dict[str, Any] = {}
        self._actor_class: Any = None
        self._head: tuple[str, int] | None = None
        self._head_checked = 0.0
        self._lost = False

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Connect to (or start) Ray, start every actor and wait until each has built
        the problem and warmed its jail.

        Returns:
            The first actor's warm-up report: ``seconds``, ``layers``, ``pid``, ``node``.

        Raises:
            ValueError: Ray is not installed, or an actor could not build the problem
                (the message names its node), or none started in time.
            ClusterLost: The cluster at ``address`` cannot be reached.
        """
        ray = self._ray = import_ray()
        self._connect(ray)
        self._head = _head_endpoint(ray, self.address)
        if self.workers == 0:
            cpus = float(ray.cluster_resources().get("CPU", 1.0))
            per = self.num_cpus_per_worker or 1.0
            self.capacity = max(1, int(cpus // per))
        self._init = {
            "spec": self.spec, "sys_path": [p for p in sys.path if p],
            "warm_splits": self.warm_splits, "limits": jail_limits(self.sandbox),
            "isolation": self.sandbox.isolation, "timeout_s": self.sandbox.timeout_s,
            "startup_timeout_s": self.sandbox.startup_timeout_s, "data": self._data(ray)}
        from adrs.evolve._ray_actor import EvalActor

        options: dict[str, Any] = {"num_cpus": self.num_cpus_per_worker,
                                   "num_gpus": self.num_gpus_per_worker,
                                   "max_restarts": 0, "max_task_retries": 0,
                                   # one node's loss takes as few workers as it can
                                   "scheduling_strategy": "SPREAD"}
        if self.resources:
            options["resources"] = self.resources
        if self.runtime_env:
            options["runtime_env"] = self.runtime_env
        self._actor_class = ray.remote(EvalActor).options(**options)
        self._slots = [self._spawn(index) for index in range(self.capacity)]
        deadline = time.monotonic() + self.sandbox.startup_timeout_s
        reports = []
        for slot in self._slots:
            left = max(0.0, deadline - time.monotonic())
            try:
                kind, payload = ray.get(slot.ready_ref, timeout=left)
            except ray.exceptions.GetTimeoutError:
                self.close()
                raise ValueError(
                    f"problem {self.spec.label!r}: a Ray worker did not start within "
                    f"{self.sandbox.startup_timeout_s:g} s (sandbox.startup_timeout_s; does "
                    "the cluster have the CPUs/GPUs each worker asks for?)") from None
            except ray.exceptions.RayError as exc:
                self.close()
                raise ValueError(f"problem {self.spec.label!r}: a Ray worker died while "
                                 f"starting: {_first_line(exc)}") from None
            self._ready(slot, kind, payload)
            reports.append(slot.report)
        if self.log_path is not None:
            with open(self.log_path, "a") as log:
                log.write(f"{len(self._slots)} Ray workers on "
                          f"{', '.join(sorted({s.node for s in self._slots}))} (pids "
                          f"{', '.join(str(s.pid) for s in self._slots)}): their own output "
                          "is in each node's Ray logs (<ray temp dir>/session_latest/logs)\n")
        return reports[0]

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():
            return  # the caller's Ray (a test's, a notebook's)
        names = secret_names(os.environ, self.sandbox.secret_patterns, self.secret_env)
        common = {"include_dashboard": False, "log_to_driver": False,
                  "logging_level": "WARNING", "namespace": "adrs"}
        endpoint = _address_endpoint(self.address)
        if endpoint is not None:
            # Ray itself retries an unreachable address for minutes: ask the head first
            try:
                socket.create_connection(endpoint, timeout=CONNECT_CHECK_S).close()
            except OSError as exc:
                raise ClusterLost(f"cannot reach the Ray cluster at {self.address}: "
                                  f"{exc.strerror or exc}") from None
        try:
            if self.address:
                if _loopback(self.address):
                    _keep_to_loopback(ray)
                ray.init(address=self.address, **common)
            else:
                _keep_to_loopback(ray)
                with _environment(sorted(names), {}):
                    ray.init(_node_ip_address="127.0.0.1", num_cpus=os.cpu_count() or 1,
                             **common)
        except ConnectionError as exc:
            raise ClusterLost(f"cannot reach the Ray cluster at {self.address}: "
                              f"{_first_line(exc)}") from None
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"cannot start Ray (address {self.address or 'local'!r}): "
                             f"{_first_line(exc)}") from None
        self._owns_ray = True

    def _data(self, ray: Any) -> dict[str, Any] | None:
        """The ``data`` entry of the actors' init: shipped once, or a path each node has."""
        path = self.spec.options.get("data")
        if not isinstance(path, str) or not path:
            return None
        if not self.ship_data:
            return {"path": path}
        from adrs.evolve._ray_actor import pack_data

        blob, digest = pack_data(path)
        # inside a list: an actor that finds its node's copy never fetches the bytes
        return {"ref": [ray.put(blob)], "digest": digest, "name": Path(path).name,
                "path": path}

    def _spawn(self, index: int) -> _Slot:
        actor = self._actor_class.remote(self._init)
        return _Slot(index, actor, ready_ref=actor.ready.remote(), since=time.monotonic())

    def _ready(self, slot: _Slot, kind: str, payload: Any) -> None:
        if kind != "ready":
            node = self._node_addresses().get(payload.get("node_id"), "?")
            self.close()
            raise ValueError(f"problem {self.spec.label!r}: an evaluation worker on node "
                             f"{node} could not build it: {payload['error']}")
        slot.ready_ref = None
        slot.report = dict(payload)
        # the cluster's name of the node (an actor sees only its default route's address)
        slot.node = self._node_addresses().get(payload.get("node_id"), payload.get("node", "?"))
        slot.report["node"] = slot.node
        slot.pid = int(payload.get("pid", 0))
        self.data_ships += bool(payload.get("unpacked_data"))

    def _node_addresses(self) -> dict[str, str]:
        """Node id -> the name shown for it: the address the cluster knows it by, with
        the start of its id where several nodes share one address (one machine)."""
        try:
            nodes = [(n["NodeID"], n["NodeManagerAddress"]) for n in self._ray.nodes()
                     if n.get("Alive")]
        except Exception:  # noqa: BLE001 - only a label: the actor's own guess will do
            return {}
        shared = collections.Counter(address for _, address in nodes)
        return {node: address if shared[address] == 1 else f"{address}/{node[:8]}"
                for node, address in nodes}

    def close(self) -> None:
        """Stop every actor, and the private Ray instance if this executor started it
        (idempotent)."""
        ray = self._ray
        if ray is None:
            return
        for slot in self._slots if not self._lost else ():  # no GCS to ask: they died
            with contextlib.suppress(Exception):
                ray.kill(slot.actor, no_restart=True)
        self._slots = []
        for future in self._futures.values():
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: asyncio does not print it at exit
            else:
                future.cancel()
        self._futures.clear()
        if self._owns_ray or self._lost:
            with contextlib.suppress(Exception):
                ray.shutdown()
            self._owns_ray = False
        self._ray = None

    # -- what it is -------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The executor and the cluster's nodes, for ``summary.json`` and the ``runs``
        table."""
        nodes: dict[str, int] = collections.Counter(s.node for s in self._slots)
        cluster = []
        with contextlib.suppress(Exception):
            for node in self._ray.nodes():
                if node.get("Alive"):
                    resources = node.get("Resources", {})
                    cluster.append({"node": node.get("NodeManagerAddress"),
                                    "node_id": node.get("NodeID"),
                                    "cpus": resources.get("CPU", 0.0),
                                    "gpus": resources.get("GPU", 0.0)})
        return {"kind": "ray", "address": self.address or "local (127.0.0.1)",
                "workers": len(self._slots),
                "workers_per_node": dict(sorted(nodes.items())), "nodes": cluster,
                "data_ships": self.data_ships, "restarts": self.restarts}

    def node_load(self) -> dict[str, tuple[int, int]]:
        """Per node: actors busy and actors in all."""
        load: dict[str, list[int]] = {}
        for slot in self._slots:
            entry = load.setdefault(slot.node, [0, 0])
            entry[0] += slot.job is not None
            entry[1] += 1
        return {node: (busy, total) for node, (busy, total) in sorted(load.items())}

    # -- jobs -------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._submitted - self._returned

    def submit(self, job: EvalJob) -> None:
        """Queue ``job``; it is sent as soon as an actor is free."""
        for split in job.splits:
            check_split(split)
        self._submitted += 1
        self._backlog.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        for slot in self._slots:
            if not self._backlog:
                return
            if slot.job is None and slot.ready_ref is None:
                slot.job = self._backlog.popleft()
                slot.since = time.monotonic()
                slot.ref = slot.actor.evaluate.remote(slot.job)

    def _watchdog_s(self, job: EvalJob) -> float:
        return self.sandbox.timeout_s * len(job.splits) + WATCHDOG_GRACE_S \
            + self.sandbox.startup_timeout_s * ("test" in job.splits)

    def _check_head(self, now_too: bool = False) -> None:
        """Raise :class:`ClusterLost` when the cluster's head no longer accepts a
        connection (checked at most every ``HEAD_CHECK_INTERVAL_S``, unless
        ``now_too``)."""
        now = time.monotonic()
        if self._head is None or (not now_too
                                  and now - self._head_checked < HEAD_CHECK_INTERVAL_S):
            return
        self._head_checked = now
        try:
            socket.create_connection(self._head, timeout=HEAD_CHECK_INTERVAL_S).close()
        except OSError as exc:
            self._lost = True
            host, port = self._head
            raise ClusterLost(f"lost the Ray cluster: its head at {host}:{port} does not "
                              f"answer ({exc.strerror or exc})") from None

    def _check_watchdog(self) -> None:
        self._check_head()
        now = time.monotonic()
        for slot in self._slots:
            if slot.job is not None and now - slot.since > self._watchdog_s(slot.job):
                with contextlib.suppress(Exception):
                    self._ray.kill(slot.actor, no_restart=True)  # its ref then fails
            if slot.ready_ref is not None and now - slot.since > REPLACEMENT_TIMEOUT_S:
                raise ClusterLost(f"no node of the Ray cluster could start a replacement "
                                  f"worker within {REPLACEMENT_TIMEOUT_S:g} s")

    def _waited(self) -> dict[Any, _Slot]:
        refs = {}
        for slot in self._slots:
            if slot.ref is not None:
                refs[slot.ref] = slot
            elif slot.ready_ref is not None:
                refs[slot.ready_ref] = slot
        return refs

    def _next_deadline(self, timeout: float | None) -> float:
        ends = [s.since + self._watchdog_s(s.job) for s in self._slots if s.job is not None]
        ends += [s.since + REPLACEMENT_TIMEOUT_S for s in self._slots
                 if s.ready_ref is not None]
        left = max(0.0, min(ends) - time.monotonic()) + 0.01 if ends else 1.0
        left = min(left, HEAD_CHECK_INTERVAL_S)
        return left if timeout is None else min(timeout, left)

    def poll(self, timeout: float | None = 0.0) -> list[EvalOutcome]:
        """Finished jobs, waiting up to ``timeout`` seconds (None: forever) for one.

        Raises:
            ClusterLost: The cluster is gone.
        """
        ray = self._ray
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._check_watchdog()
            waited = self._waited()
            if waited:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                wait_for = 0.0 if self._done else self._next_deadline(left)
                try:
                    ready, _ = ray.wait(list(waited), num_returns=1, timeout=wait_for)
                    if ready:
                        ready, _ = ray.wait(list(waited), num_returns=len(waited), timeout=0)
                except Exception as exc:  # noqa: BLE001 - Ray's connection is gone
                    raise ClusterLost(f"lost the Ray cluster: {_first_line(exc)}") from None
                for ref in ready:
                    self._collect(waited[ref], ref)
            self._check_watchdog()
            busy = any(s.job is not None or s.ready_ref is not None for s in self._slots)
            if self._done or not busy or (deadline is not None
                                          and time.monotonic() >= deadline):
                break
        done, self._done = self._done, []
        self._returned += len(done)
        return done

    async def results(self) -> list[EvalOutcome]:
        """Wait without blocking the event loop until a job finishes (Ray object refs
        as asyncio futures)."""
        if self._done or self.in_flight == 0:
            return self.poll(0)
        waited = self._waited()
        for ref in waited:
            if ref not in self._futures:
                self._futures[ref] = asyncio.wrap_future(ref.future())
        if waited:
            await asyncio.wait([self._futures[ref] for ref in waited],
                               timeout=self._next_deadline(None),
                               return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(0.01)
        return self.poll(0)

    def _collect(self, slot: _Slot, ref: Any) -> None:
        ray = self._ray
        future = self._futures.pop(ref, None)
        if future is not None and future.done():
            future.exception()  # retrieved: no "exception was never retrieved" warning
        if slot.ready_ref is not None:  # a replacement that finished starting
            try:
                kind, payload = ray.get(ref)
            except ray.exceptions.RayError as exc:
                self._restart(slot, f"the replacement died while starting: "
                                    f"{_first_line(exc)}")
                return
            self._ready(slot, kind, payload)
            self._dispatch()
            return
        job = slot.job
        assert job is not None
        try:
            outcome: EvalOutcome = ray.get(ref)
        except ray.exceptions.RayError as exc:
            slot.job = slot.ref = None
            reason = _first_line(exc)
            self._restart(slot, reason)
            if job.attempt == 0:  # once more, on a fresh actor
                self._backlog.appendleft(replace(job, attempt=1))
            else:
                self._done.append(EvalOutcome(job.job_id, {}, error=(
                    f"{KILLED_ITS_EVALUATOR}: the Ray worker died twice while evaluating "
                    f"it (last: {reason})")))
            self._dispatch()
            return
        slot.job = slot.ref = None
        self._done.append(outcome)
        self._dispatch()

    def _restart(self, slot: _Slot, reason: str) -> None:
        """Replace a dead actor; it takes jobs again once it has built the problem."""
        ray = self._ray
        # actors die with their cluster: creating one without a head would block this
        # driver until Ray ends it, so look first
        self._check_head(now_too=True)
        with contextlib.suppress(Exception):
            ray.kill(slot.actor, no_restart=True)
        if not ray.is_initialized():
            raise ClusterLost(f"lost the Ray cluster ({reason})")
        try:
            fresh = self._spawn(slot.index)
        except Exception as exc:  # noqa: BLE001 - no cluster to create it on
            raise ClusterLost(f"lost the Ray cluster: {_first_line(exc)} "
                              f"(after: {reason})") from None
        slot.actor, slot.ready_ref, slot.since = fresh.actor, fresh.ready_ref, fresh.since
        slot.job = slot.ref = None
        self.restarts += 1


def _head_endpoint(ray: Any, address: str) -> tuple[str, int] | None:
    """The host and port of the cluster's head (its GCS; the Ray Client server for a
    ``ray://`` address), or None when Ray does not say."""
    if address.startswith("ray://"):
        return _address_endpoint(address)
    try:
        return _address_endpoint(str(ray.get_runtime_context().gcs_address))
    except Exception:  # noqa: BLE001 - an older Ray: no check of the head
        return None


def _address_endpoint(address: str) -> tuple[str, int] | None:
    """The host and port an explicit ``HOST:PORT`` or ``ray://HOST:PORT`` address names;
    None for ``auto``, empty, or anything else Ray resolves itself."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _keep_to_loopback(ray: Any) -> None:
    """Keep this process's Ray (and the processes it starts) on 127.0.0.1.

    Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, at import; unset, it binds a
    new instance to every interface and turns a ``127.0.0.1:port`` address into this
    machine's outward address, where a cluster bound to loopback does not listen. The
    variable is set for good (child processes read it), and the imported constant too.
    """
    os.environ.update(LOOPBACK_ENV)
    with contextlib.suppress(Exception):
        ray._private.ray_constants.ENABLE_RAY_CLUSTER = False


def _loopback(address: str) -> bool:
    """Whether a Ray address names this machine's loopback interface."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:500]

