"""How a judge runs candidates: in jails (:class:`JailRunner`, the default of ``adrs run``
and ``adrs eval``) or, for a person's own trusted code, in its own process
(:class:`InProcessRunner`, ``--no-sandbox``).

Both hand a problem the same :class:`Session` interface (``call``, ``close``,
``load_reply``, ``output``), so a problem's judge code is one path whatever runs the
candidate; the jail's replies are validated the same way either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Protocol

import numpy as np

from adrs.jail import _wire
from adrs.jail._jail import CandidateFailure, Jail, JailError, JailTask, Reply, Session
from adrs.jail._layers import JailLimits, Layers
from adrs.jail.handler import CandidateError, describe, trace_of

if TYPE_CHECKING:
    from typing_extensions import Self


class SessionLike(Protocol):
    load_reply: Reply | None
    output: str
    output_dropped: int

    def call(self, op: str, header: Mapping[str, Any] | None = None,
             arrays: Mapping[str, np.ndarray] | None = None, timeout: float = 60.0,
             doing: str | None = None, cpu: bool = False) -> Reply: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class Runner(Protocol):
    """What a problem's judge code asks for a candidate's process."""

    trusted: bool

    def session(self, task: JailTask, program: str, filename: str = "candidate.py",
                load_timeout: float = 120.0, cpu: bool = False) -> SessionLike:
        """A fresh process for ``program`` with ``task``'s inputs, program loaded
        (``cpu``: measure the load's CPU time).

        Raises:
            CandidateFailure: The program did not load.
            JailError: The jail failed.
        """
        ...


class JailRunner:
    """One jail (zygote) per task key, started on first use and kept warm.

    Args:
        limits: Hard limits of each jailed process.
        isolation: See :class:`~adrs.jail.Jail`.
        log: Where the zygotes' own stderr goes.
        startup_timeout_s: Seconds a zygote may take to start and prepare.
    """

    trusted = False

    def __init__(self, limits: JailLimits | None = None, isolation: str = "auto",
                 log: IO[bytes] | None = None, startup_timeout_s: float = 300.0) -> None:
        self.limits = limits or JailLimits()
        self.isolation = isolation
        self.log = log
        self.startup_timeout_s = startup_timeout_s
        self._jails: dict[str, Jail] = {}
        self._keys: dict[int, tuple[JailTask, str]] = {}
        self._deadline: float | None = None
        self._outputs: list[str] = []
        self._dropped = 0

    @property
    def layers(self) -> Layers:
        """The layers of the first jail started (every jail of a runner has the same)."""
        for jail in self._jails.values():
            return jail.layers
        return Layers()

    def jail(self, task: JailTask) -> Jail:
        """The running jail for ``task``'s key, started (or restarted) when needed.

        Raises:
            JailError: It could not start.
        """
        key = self._key(task)
        jail = self._jails.get(key)
        if jail is not None and not jail.running:
            jail.close()
            jail = None
        if jail is None:
            jail = Jail(task, self.limits, self.isolation, self.startup_timeout_s, self.log)
            jail.start()
            self._jails[key] = jail
        return jail

    def _key(self, task: JailTask) -> str:
        """The task's key plus a digest of everything the zygote is given, so that two
        tasks of the same key but other inputs never share a jail (problems keep their
        task objects: the digest is computed once per object)."""
        known = self._keys.get(id(task))
        if known is not None and known[0] is task:
            return known[1]
        digest = hashlib.sha256(json.dumps(
            [task.handler, task.shared, list(task.paths), list(task.preload),
             dict(task.env)], sort_keys=True, default=str).encode("utf-8", "replace"))
        for name in sorted(task.arrays):
            array = np.ascontiguousarray(task.arrays[name])
            digest.update(f"{name}{array.dtype}{array.shape}".encode())
            digest.update(memoryview(array).cast("B"))
        key = f"{task.key}#{digest.hexdigest()[:16]}"
        if len(self._keys) > 256:  # a problem that makes a task per call: stay bounded
            self._keys.clear()
        self._keys[id(task)] = (task, key)
        return key

    def session(self, task: JailTask, program: str, filename: str = "candidate.py",
                load_timeout: float = 120.0, cpu: bool = False) -> Session:
        jail = self.jail(task)
        try:
            opened = jail.open(program, filename, self._cut(load_timeout), self._deadline,
                               cpu)
        except CandidateFailure as exc:
            self._outputs.append(exc.output)
            raise
        return _Tracked(opened, self)  # type: ignore[return-value]

    def _cut(self, timeout: float) -> float:
        if self._deadline is None:
            return timeout
        return max(0.0, min(timeout, self._deadline - time.monotonic()))

    @contextlib.contextmanager
    def budget(self, seconds: float | None) -> Iterator[None]:
        """Every session opened inside shares one deadline ``seconds`` from now."""
        previous = self._deadline
        self._deadline = None if seconds is None else time.monotonic() + seconds
        try:
            yield
        finally:
            self._deadline = previous

    def take_output(self) -> tuple[str, int]:
        """What the candidates of the sessions closed since the last call printed, and
        the bytes dropped beyond the cap."""
        text = "".join(self._outputs)
        dropped, self._outputs, self._dropped = self._dropped, [], 0
        return text, dropped

    def close(self) -> None:
        for jail in self._jails.values():
            jail.close()
        self._jails.clear()


class _Tracked:
    """A jail session whose output goes to its runner when it closes."""

    def __init__(self, session: Session, runner: JailRunner) -> None:
        self._session = session
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def close(self) -> None:
        if not self._session._closed:
            self._session.close()
            self._runner._outputs.append(self._session.output)
            self._runner._dropped += self._session.output_dropped

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessRunner:
    """Runs the handler, and so the program, in this process: for trusted code only.

    Requests and replies still pass through the wire encoding, so the judge sees the
    same data types as from a jail. Time limits are checked when a call returns (nothing
    can stop code in this process).
    """

    trusted = True

    def __init__(self) -> None:
        self._prepared: dict[int, tuple[JailTask, Any]] = {}

    def prepared(self, task: JailTask) -> tuple[type, Any]:
        import importlib

        module, _, name = task.handler.partition(":")
        handler_class = getattr(importlib.import_module(module), name)
        known = self._prepared.get(id(task))
        if known is None or known[0] is not task:
            header, arrays = _roundtrip(dict(task.shared), dict(task.arrays))
            known = (task, handler_class.prepare(header, arrays))
            self._prepared[id(task)] = known
        return handler_class, known[1]

    def session(self, task: JailTask, program: str, filename: str = "candidate.py",
                load_timeout: float = 120.0, cpu: bool = False) -> InProcessSession:
        handler_class, prepared = self.prepared(task)
        return InProcessSession(handler_class, prepared, program, filename, load_timeout)

    @contextlib.contextmanager
    def budget(self, seconds: float | None) -> Iterator[None]:
        yield

    def take_output(self) -> tuple[str, int]:
        return "", 0

    def close(self) -> None:
        self._prepared.clear()


class InProcessSession:
    """A handler in this process, behind the session interface."""

    output = ""
    output_dropped = 0

    def __init__(self, handler_class: type, prepared: Any, program: str, filename: str,
                 timeout: float) -> None:
        self.filename = filename
        self.load_reply: Reply | None = None
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            self.handler = handler_class(prepared, program, filename)
        except CandidateError as exc:
            raise CandidateFailure(str(exc), exc.trace) from None
        except BaseException as exc:  # noqa: BLE001 - the candidate's failure
            raise CandidateFailure(describe(exc, filename), trace_of(exc)) from None
        self.load_reply = Reply({"op": "loaded"}, {}, time.perf_counter() - wall,
                                time.process_time() - cpu)
        _check_time(self.load_reply, timeout, "loading")

    def call(self, op: str, header: Mapping[str, Any] | None = None,
             arrays: Mapping[str, np.ndarray] | None = None, timeout: float = 60.0,
             doing: str | None = None, cpu: bool = False) -> Reply:
        request, request_arrays = _roundtrip({**(header or {}), "op": op}, dict(arrays or {}))
        try:
            wall, cpu_start = time.perf_counter(), time.process_time()
            out, out_arrays = self.handler.handle(op, request, request_arrays)
            wall, cpu_s = time.perf_counter() - wall, time.process_time() - cpu_start
        except CandidateError as exc:
            raise CandidateFailure(str(exc), exc.trace) from None
        except BaseException as exc:  # noqa: BLE001 - the candidate's failure
            raise CandidateFailure(describe(exc, self.filename), trace_of(exc)) from None
        reply = Reply({**out, "op": "reply"}, {}, wall, cpu_s)
        try:
            back, back_arrays = _roundtrip(dict(reply.header), dict(out_arrays or {}))
        except (TypeError, ValueError) as exc:
            raise CandidateFailure(f"the result is not data the judge accepts: {exc}") \
                from None
        reply = Reply(back, back_arrays, reply.wall_s, reply.cpu_s)
        _check_time(reply, timeout, doing or op)
        return reply

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_time(reply: Reply, timeout: float, doing: str) -> None:
    if reply.wall_s > timeout:
        raise CandidateFailure(f"{doing}: took {reply.wall_s:.3g} s, over its limit of "
                               f"{timeout:.3g} s")


def _roundtrip(header: dict[str, Any], arrays: dict[str, np.ndarray]
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return _wire.decode(_wire.encode(header, arrays))


__all__ = ["CandidateFailure", "InProcessRunner", "InProcessSession", "JailError",
           "JailRunner", "Runner", "SessionLike"]
