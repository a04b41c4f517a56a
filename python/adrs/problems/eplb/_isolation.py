"""Run a candidate program in its own interpreter and call it one window at a time.

The candidate runs out of process so it cannot read what it must not see: the windows after
the one it is fitting, the evaluator's state, the scorer. A fresh interpreter, not a fork:
forking a process that has imported torch is unsafe, and the evaluator itself never imports
torch. The evaluator times each call from its ``go`` to the runner's ``done``, so the
candidate cannot fake its own runtime.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from adrs.problems.eplb._wire import WireError, encode, read_frame, write_frame

# variables the candidate's process does not get: where the real workloads are
HIDDEN_VARIABLES = ("ADRS_DATA_DIR",)


class CandidateError(Exception):
    """The candidate failed: raised, returned something else, timed out, or died.

    Attributes:
        trace: The relevant traceback lines, or "".
        output: The tail of what the candidate printed.
    """

    def __init__(self, message: str, trace: str = "", output: str = "") -> None:
        super().__init__(message)
        self.trace = trace
        self.output = output


@dataclass(frozen=True)
class CallResult:
    """What one call returned, unchecked, and how long it took.

    Attributes:
        arrays: ``phy2log``, ``log2phy``, ``logcnt`` as the candidate returned them.
        seconds: Wall time from ``go`` to ``done``, measured by the evaluator.
        self_seconds: The same call timed inside the candidate's process.
    """

    arrays: dict[str, np.ndarray]
    seconds: float
    self_seconds: float


class CandidateProcess:
    """A candidate program loaded in a fresh interpreter.

    Args:
        program: Source text defining ``rebalance_experts``.
        threads: torch CPU threads in the candidate's process (None: torch's default).
        load_timeout: Seconds allowed to start, import torch and load the program.

    Raises:
        CandidateError: The program failed to load (or timed out doing so).
    """

    def __init__(self, program: str, threads: int | None = None,
                 load_timeout: float = 120.0) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._idle = False  # waiting for a request: it can be asked to exit
        self._workdir = tempfile.TemporaryDirectory(prefix="adrs-eplb-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        env = {k: v for k, v in os.environ.items() if k not in HIDDEN_VARIABLES}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "adrs.problems.eplb._runner", str(to_child_r),
                 str(from_child_w)],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL,
                stdout=self._log, stderr=subprocess.STDOUT, cwd=self._workdir.name, env=env,
                start_new_session=True)
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        try:
            self._send({"op": "load", "program": program, "threads": threads})
            header, _ = self._receive(load_timeout, "loading the program")
            if header.get("op") != "loaded":
                self._fail(header)
            self.load_seconds = float(header.get("seconds", 0.0))
            self._idle = True
        except BaseException:
            self.close()
            raise

    def call(self, weight: np.ndarray, args: tuple[int, ...], timeout: float) -> CallResult:
        """Call ``rebalance_experts(weight, *args)`` in the candidate's process.

        Raises:
            CandidateError: It raised, returned something that is not three tensors, took
                longer than ``timeout`` seconds, or its process died.
        """
        self._idle = False
        self._send({"op": "call", "args": list(args)}, {"weight": weight})
        header, _ = self._receive(timeout, "receiving the loads")
        if header.get("op") != "ready":
            self._fail(header)
        started = time.perf_counter()
        self._send({"op": "go"})
        header, _ = self._receive(timeout, "rebalance_experts")
        seconds = time.perf_counter() - started
        if header.get("op") != "done":
            self._fail(header)
        result, arrays = self._receive(timeout, "sending the placement")
        if result.get("op") != "result":
            self._fail(result)
        missing = [n for n in ("phy2log", "log2phy", "logcnt") if n not in arrays]
        if missing:
            raise CandidateError(f"the placement lacks {', '.join(missing)}")
        self._idle = True
        return CallResult(arrays, seconds, float(header.get("seconds", 0.0)))

    def output(self, limit: int = 2000) -> str:
        """The last ``limit`` characters the candidate printed."""
        try:
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - limit))
            return self._log.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""

    def close(self) -> None:
        """Stop the candidate's process (and anything it started) and clean up."""
        process = getattr(self, "_process", None)
        if process is not None and self._idle and process.poll() is None:
            try:
                write_frame(self._to_child, encode({"op": "exit"}))
                process.wait(timeout=2)
            except (WireError, subprocess.TimeoutExpired):
                pass
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: it and its children
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
        for fd in (getattr(self, "_to_child", -1), getattr(self, "_from_child", -1)):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to_child = self._from_child = -1
        self._log.close()
        self._workdir.cleanup()

    def _send(self, header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        try:
            write_frame(self._to_child, encode(header, arrays))
        except WireError:
            raise self._died() from None

    def _receive(self, timeout: float, doing: str) -> tuple[dict[str, Any], dict]:
        try:
            return read_frame(self._from_child, time.monotonic() + timeout)
        except TimeoutError:
            raise CandidateError(f"timed out after {timeout:g} s {doing}",
                                 output=self.output()) from None
        except WireError as exc:
            try:  # a process that exits closes its end of the pipe just before it is reaped
                self._process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                raise CandidateError(f"broke the evaluator's protocol ({exc}) while {doing}",
                                     output=self.output()) from None
            raise self._died() from None

    def _died(self) -> CandidateError:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        return CandidateError(f"the candidate's process {how}", output=self.output())

    def _fail(self, header: dict[str, Any]) -> None:
        if header.get("op") == "error":
            raise CandidateError(str(header.get("message", "failed")),
                                 str(header.get("traceback", "")), self.output())
        raise CandidateError(f"broke the evaluator's protocol (sent {header.get('op')!r})",
                             output=self.output())
