"""Running a candidate's ``schedule(workload)``: what it is given, loading the program,
and a wall-clock limit per call.

The limit is enforced with ``SIGALRM`` (``setitimer``) when the evaluation runs in the
main thread. When it fires, the handler raises :class:`_TimeUp` (a ``BaseException``, so
``except Exception`` does not swallow it) and line-traces the candidate's frames so that
the next line raises again: a bare ``except:`` that catches the first one has a line of
its own, and the exception leaves it. The alarm repeats every ``_REPEAT_S`` seconds, each
time doing both. What this cannot stop, the evolver's sandbox kills: catch-alls nested
in loops at several levels (CPython drops a trace function once it raises, so each alarm
only climbs one level) and code that never returns to the interpreter (a compiled Numba
loop). Outside the main thread the limit is checked when the call returns. Either way
the measured time decides: a call that took longer than the limit fails.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adrs import _core

PROGRAM_FILENAME = "candidate.py"
_REPEAT_S = 0.25


@dataclass(frozen=True, eq=False)
class Workload:
    """What ``schedule(workload)`` receives.

    Attributes:
        name: ``workload_1``... or the generated workload's name.
        transactions: Op strings in order (``"w-17 r-5 * ..."``); transaction i is entry i.
        model: The native makespan model of this workload (``adrs._core.TxnModel``):
            ``model.makespan(seq)``, ``model.makespans(seqs)``, ``model.state()``...
        time_limit_s: Wall-clock seconds this call may take (None: no limit).
        deadline: ``time.perf_counter()`` value when the limit runs out (inf: none).
    """

    name: str
    transactions: tuple[str, ...]
    model: _core.TxnModel
    time_limit_s: float | None
    deadline: float

    @property
    def num_txns(self) -> int:
        return len(self.transactions)

    def time_left(self) -> float:
        """Seconds left before the limit (inf without one)."""
        return self.deadline - time.perf_counter()


class CandidateError(Exception):
    """The candidate failed; the message says how, for the feedback."""


class _TimeUp(BaseException):
    pass


class _Alarm:
    """The SIGALRM handler of one call: raises, then traces the candidate's frames."""

    def __init__(self, base: Any) -> None:
        self.base = base  # the evaluator's frame: tracing stops there
        self.active = True
        self.expired = False

    def on_signal(self, signum: int, frame: Any) -> None:
        del signum
        if not self.active:
            return
        self.expired = True
        # again at every alarm: CPython drops the trace function once it has raised
        while frame is not None and frame is not self.base:
            frame.f_trace = self.trace
            frame.f_trace_lines = True
            frame = frame.f_back
        sys.settrace(self.trace)
        raise _TimeUp

    def trace(self, frame: Any, event: str, arg: Any) -> Any:
        del frame, arg
        if self.active and event == "line":
            raise _TimeUp
        return self.trace


def call_with_limit(function: Callable[[], Any], limit_s: float | None,
                    what: str) -> tuple[Any, float]:
    """Call ``function()`` under a wall-clock limit.

    Args:
        function: What to run (candidate code).
        limit_s: Seconds allowed; None for no limit.
        what: How to name the call in an error (``"workload_1: schedule"``).

    Returns:
        The result and the seconds it took.

    Raises:
        CandidateError: It raised (the exception and the program's line are named), or
            it ran past the limit.
    """
    use_alarm = limit_s is not None and threading.current_thread() is threading.main_thread()
    alarm = _Alarm(sys._getframe())
    previous_handler: Any = None
    previous_trace = sys.gettrace()
    started = time.perf_counter()
    try:
        try:
            if use_alarm:
                previous_handler = signal.signal(signal.SIGALRM, alarm.on_signal)
                signal.setitimer(signal.ITIMER_REAL, limit_s, _REPEAT_S)
            result = function()
        finally:
            # first, so that a late signal or trace event does nothing (a store runs no
            # handler); then stop the timer and put back what was there
            alarm.active = False
            if use_alarm:
                sys.settrace(previous_trace)
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous_handler)
    except _TimeUp:
        raise CandidateError(f"{what} ran past its time limit of {limit_s:g} s "
                             "(stopped)") from None
    except Exception as exc:  # noqa: BLE001 - candidate code: any failure is a result
        if alarm.expired:
            raise CandidateError(f"{what} ran past its time limit of {limit_s:g} s "
                                 "(stopped)") from None
        raise CandidateError(f"{what} raised {describe_exception(exc)}") from None
    seconds = time.perf_counter() - started
    if limit_s is not None and (seconds > limit_s or alarm.expired):
        raise CandidateError(f"{what} took {seconds:.3f} s, over its time limit of "
                             f"{limit_s:g} s")
    return result, seconds


def describe_exception(exc: BaseException) -> str:
    """``ValueError: message (line 7)``, the line being the innermost one in the program."""
    text = f"{type(exc).__name__}: {exc}"
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == PROGRAM_FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    if line is None and isinstance(exc, SyntaxError) and exc.filename == PROGRAM_FILENAME:
        line = exc.lineno
    return text if line is None else f"{text} (line {line})"


def load_schedule(program: str, limit_s: float | None) -> Callable[[Workload], Any]:
    """Run the program's module code (under the limit) and return its ``schedule``.

    Raises:
        CandidateError: It does not compile, raises, runs past the limit, or defines no
            callable ``schedule``.
    """
    try:
        code = compile(program, PROGRAM_FILENAME, "exec")
    except (SyntaxError, ValueError) as exc:
        raise CandidateError(f"the program does not compile: {describe_exception(exc)}") \
            from None
    namespace: dict[str, Any] = {"__name__": "candidate", "__builtins__": __builtins__}
    call_with_limit(lambda: exec(code, namespace),  # noqa: S102 - sandboxed by the caller
                    limit_s, "the program's module code")
    schedule = namespace.get("schedule")
    if not callable(schedule):
        raise CandidateError("the program defines no function schedule(workload)")
    return schedule

