"""The judge's handle on a jail: start its zygote, open one jailed process per candidate,
talk to it, time it from outside, and kill it.

The judge (a worker, or ``adrs eval``) holds the workloads, validation, timing and
scoring; nothing of it is reachable from the jail. A :class:`Jail` starts the zygote for
one :class:`JailTask` (the problem's handler plus the inputs the candidate may see) and
opens a fresh :class:`Session` per evaluation: a jailed process that loads the program
and answers requests. Every figure the judge keeps about a session it measures itself:
wall time with its own clock, CPU time of every process of that jail from the zygote,
the exit status from the kernel.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from typing_extensions import Self


from adrs.jail import _rootfs, _wire
from adrs.jail._layers import LAYERS, JailLimits, Layer, Layers

ISOLATION_MODES = ("auto", "require", "none")
# configuration variables a candidate's libraries may need; nothing else passes
PASSED_ENV = ("TRITON_INTERPRET", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "TZ")
_THREADS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "NUMBA_NUM_THREADS": "1"}
_TEXT_LIMIT = 20000
_EXIT_WAIT_S = 2.0


@dataclass(frozen=True)
class JailTask:
    """What a jail runs next to candidates, and the inputs it may hold.

    Attributes:
        handler: ``"adrs.module:Class"``, a :class:`~adrs.jail.Handler` subclass.
        key: Names the inputs: jails are shared by tasks of the same key.
        shared: Plain data for ``Handler.prepare``.
        arrays: Arrays for ``Handler.prepare`` (the candidate's inputs).
        paths: Host paths shown read-only besides the interpreter and packages.
        preload: Modules the zygote imports before forking (so candidates start warm).
        env: Environment variables the candidate gets besides the defaults.
    """

    handler: str
    key: str
    shared: Mapping[str, Any] = field(default_factory=dict)
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    paths: tuple[str, ...] = ()
    preload: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


class JailError(Exception):
    """The jail itself failed (could not start, or broke): not the candidate's fault."""


class CandidateFailure(Exception):
    """The candidate failed: it raised, timed out, died or broke the protocol.

    Attributes:
        trace: Traceback lines it reported (untrusted text, capped), or "".
        output: What it printed (capped).
    """

    def __init__(self, message: str, trace: str = "", output: str = "") -> None:
        super().__init__(message)
        self.trace = trace
        self.output = output


@dataclass(frozen=True)
class Reply:
    """One answer of a jailed process, with what the judge measured.

    Attributes:
        header: The reply's header (untrusted data).
        arrays: The reply's arrays (untrusted data, read-only).
        wall_s: Seconds from the request to the answer, by the judge's clock.
        cpu_s: CPU seconds every process of the jail used meanwhile, from the zygote
            (None when not asked for).
    """

    header: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]
    wall_s: float
    cpu_s: float | None


def clean_environment(extra: Mapping[str, str] = ()) -> dict[str, str]:
    """The whole environment of a jail: no variable of the run passes, except the
    configuration variables of :data:`PASSED_ENV`."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
           "TMPDIR": "/tmp", **_THREADS_ENV}
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    env.update(dict(extra))
    return env


class Jail:
    """One zygote and the jailed processes it forks.

    Args:
        task: The problem's handler and inputs.
        limits: Hard limits of every jailed process.
        isolation: ``auto`` (every layer this machine allows, the rest reported),
            ``require`` (refuse to start without PID, network and mount namespaces) or
            ``none`` (no namespaces: for machines without them, and for tests of that mode).
        startup_timeout_s: Seconds the zygote may take to start and prepare.
        log: Where the zygote's own stderr goes (None: kept for error messages only).

    Raises:
        ValueError: Unknown isolation mode.
    """

    def __init__(self, task: JailTask, limits: JailLimits | None = None,
                 isolation: str = "auto", startup_timeout_s: float = 300.0,
                 log: IO[bytes] | None = None) -> None:
        if isolation not in ISOLATION_MODES:
            raise ValueError(f"unknown isolation {isolation!r}; expected one of "
                             f"{', '.join(ISOLATION_MODES)}")
        self.task = task
        self.limits = limits or JailLimits()
        self.isolation = isolation
        self.startup_timeout_s = startup_timeout_s
        self.layers = Layers()
        self.mode = ""
        self.prepare_seconds = 0.0
        self._log = log
        self._own_log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._exits: dict[int, dict[str, Any]] = {}
        self._tmp_root: str | None = None
        self._shown: list[str] = []  # bound paths (those under /tmp are bound again)
        self._ids = itertools.count(1)
        self._why_no_namespaces = ""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Layers:
        """Start the zygote and wait until it is ready.

        Returns:
            The layers that are active, and why any is missing.

        Raises:
            JailError: The zygote could not start or prepare; the message says why.
        """
        modes = {"auto": ["userns", "rootns", "none"], "require": ["userns", "rootns"],
                 "none": ["none"]}[self.isolation]
        if os.geteuid() != 0 and "rootns" in modes:
            modes.remove("rootns")
        if not sys.platform.startswith("linux"):
            self._why_no_namespaces = f"not Linux ({sys.platform})"
            modes = [m for m in modes if m == "none"]
        reasons = []
        for mode in modes:
            try:
                self._spawn(mode)
                break
            except _NoNamespaces as exc:
                reasons.append(f"{mode}: {exc}")
                self._why_no_namespaces = str(exc)
        else:
            raise JailError("the jail needs Linux user (or, as root, PID, network and mount) "
                            "namespaces, which this machine refuses: " + "; ".join(reasons))
        return self.layers

    def _spawn(self, mode: str) -> None:
        self.close()
        self.mode = mode
        if self._log is None:
            self._own_log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        log = self._log or self._own_log
        control, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        init_r, init_w = os.pipe()
        env = clean_environment(self.task.env)
        zygote_argv = [_python(), "-I", "-B", "-m", "adrs.jail._zygote",
                       str(zygote_end.fileno()), str(init_r)]
        keep = [zygote_end.fileno(), init_r]
        status_r = sync_w = -1
        try:
            if mode == "none":
                argv = zygote_argv
            else:
                status_r, status_w = os.pipe()
                sync_r, sync_w = os.pipe()
                view = _rootfs.plan(self.task.paths)
                self._shown = list(view.binds)
                config = {"mode": mode, "status_fd": status_w, "sync_fd": sync_r,
                          "view": view.to_json(), "zygote": zygote_argv, "env": env}
                argv = [_python(), "-I", "-B", "-m", "adrs.jail._launcher",
                        json.dumps(config)]
                keep += [status_w, sync_r]
            self._process = subprocess.Popen(
                argv, pass_fds=keep, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, close_fds=True, start_new_session=True)
        finally:
            zygote_end.close()
            os.close(init_r)
            if mode != "none":
                os.close(status_w)
                os.close(sync_r)
        self._control = control
        try:
            if mode != "none":
                self._enter_namespaces(mode, status_r, sync_w)
            self._send_task(init_w, mode)
            self._await_ready()
        except BaseException:
            self.close()
            raise
        finally:
            with contextlib.suppress(OSError):
                os.close(init_w)
            for fd in (status_r, sync_w):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _enter_namespaces(self, mode: str, status_r: int, sync_w: int) -> None:
        """Follow the launcher: write its uid/gid maps, let it go on, learn the zygote."""
        assert self._process is not None
        deadline = time.monotonic() + 60
        line = _read_line(status_r, deadline)
        if line.startswith("E "):
            self._process.wait()
            raise _NoNamespaces(line[2:])
        if line != "U":
            raise JailError(f"the jail's launcher failed: {line or self._log_tail()}")
        if mode == "userns":
            try:
                self._write_maps(self._process.pid)
            except OSError as exc:
                os.write(sync_w, b"X")
                self._process.wait()
                raise _NoNamespaces(f"writing the uid map: {exc.strerror}") from None
        os.write(sync_w, b"M")
        lines = _read_lines(status_r, deadline)  # to end-of-file: the zygote's exec
        errors = [line[2:] for line in lines if line.startswith("E ")]
        if errors or not any(line.startswith("Z ") for line in lines):
            self._process.wait()
            raise _NoNamespaces(f"building the jail: {errors[0] if errors else lines}")

    def _write_maps(self, pid: int) -> None:
        if os.geteuid() == 0:  # in-jail uid 1 is the dedicated host uid
            uid = gid = self.limits.jail_uid
            uid_map, gid_map = f"0 0 1\n1 {uid} 1\n", f"0 0 1\n1 {gid} 1\n"
        else:
            with open(f"/proc/{pid}/setgroups", "w") as handle:
                handle.write("deny")
            uid_map, gid_map = f"0 {os.getuid()} 1\n", f"0 {os.getgid()} 1\n"
        with open(f"/proc/{pid}/uid_map", "w") as handle:
            handle.write(uid_map)
        with open(f"/proc/{pid}/gid_map", "w") as handle:
            handle.write(gid_map)

    def _child_config(self, mode: str) -> dict[str, Any]:
        switch_uid = None
        if os.geteuid() == 0:
            switch_uid = 1 if mode == "userns" else self.limits.jail_uid
        if mode == "none":  # no private tmpfs: folders under one root of this jail's
            self._tmp_root = tempfile.mkdtemp(prefix="adrs-jail-")
            os.chmod(self._tmp_root, 0o711)
        return {"mode": mode, "limits": self.limits.to_json(), "tmp_root": self._tmp_root,
                "shown": list(self._shown),
                "env": clean_environment(self.task.env), "switch_uid": switch_uid,
                "host_uid": self.limits.jail_uid if os.geteuid() == 0 else os.getuid()}

    def _send_task(self, init_w: int, mode: str) -> None:
        header = {"handler": self.task.handler, "shared": dict(self.task.shared),
                  "preload": list(self.task.preload), **self._child_config(mode)}
        try:
            _wire.send(init_w, header, dict(self.task.arrays),
                       time.monotonic() + self.startup_timeout_s)
        except _wire.WireError:
            raise JailError(f"the jail's zygote died while starting: {self._log_tail()}") \
                from None

    def _await_ready(self) -> None:
        message = self._control_message(time.monotonic() + self.startup_timeout_s)
        if message is None:
            raise JailError(f"the jail's zygote did not start within "
                            f"{self.startup_timeout_s:g} s: {self._log_tail()}")
        if message.get("op") == "failed":
            raise JailError(f"the jail could not prepare {self.task.handler}: "
                            f"{message.get('message')}\n{message.get('traceback', '')}")
        if message.get("op") != "ready":
            raise JailError(f"the jail's zygote sent {message.get('op')!r} while starting")
        self.prepare_seconds = float(message.get("prepare_seconds", 0.0))
        self.layers = self._layers(dict(message.get("layers") or {}))

    def _layers(self, done: Mapping[str, str]) -> Layers:
        mode = self.mode
        why_not = self._why_no_namespaces
        items = []
        for name in LAYERS:
            if name in done:
                items.append(Layer(name, True, str(done[name])))
            elif name == "user" and mode == "userns":
                items.append(Layer(name, True, "its own user namespace"))
            elif name == "user":
                reason = "running as root without one: a dedicated uid instead" \
                    if mode == "rootns" else (why_not or "not available")
                items.append(Layer(name, False, reason))
            elif name in ("pid", "net", "mount", "ipc"):
                items.append(Layer(name, False, why_not or "no namespaces in this mode"))
            elif name == "seccomp":
                items.append(Layer(name, False, "no filter for this architecture"))
            elif name == "no_nested_userns":
                items.append(Layer(name, False, "the kernel let the probe create one"))
            else:
                items.append(Layer(name, False, "not set up"))
        return Layers(tuple(items))

    def close(self) -> None:
        """Kill the zygote and every jailed process (idempotent)."""
        control, self._control = self._control, None
        process, self._process = self._process, None
        if control is not None:
            with contextlib.suppress(OSError):
                control.send(_wire.encode({"op": "stop"}))
            control.close()
        if process is not None:
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._own_log is not None:
            self._own_log.close()
            self._own_log = None
        if self._tmp_root is not None:
            shutil.rmtree(self._tmp_root, ignore_errors=True)
            self._tmp_root = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- control messages ---------------------------------------------------------------

    def _control_message(self, deadline: float | None, fds: list[int] | None = None,
                         exits: bool = False) -> dict[str, Any] | None:
        """The next control message that is not an exit report (those are kept aside;
        with ``exits``, an exit report is returned too), or None when the deadline
        passed."""
        control = self._control
        if control is None:
            raise JailError("the jail is closed")
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([control], [], [], wait)[0]:
                return None
            try:
                message, received = _wire.receive_with_fds(control)
            except (_wire.WireError, OSError):
                raise JailError(f"the jail's zygote died: {self._log_tail()}") from None
            if message.get("op") == "exited":
                self._exits[int(message["id"])] = message
                for fd in received:
                    os.close(fd)
                if exits:
                    return message
                continue
            if fds is not None:
                fds.extend(received)
            else:
                for fd in received:
                    os.close(fd)
            return message

    def _ask(self, message: dict[str, Any], expect: str, fds: list[int] | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        if self._control is None:
            raise JailError("the jail is closed")
        try:
            self._control.send(_wire.encode(message))
        except OSError:
            raise JailError(f"the jail's zygote died: {self._log_tail()}") from None
        reply = self._control_message(time.monotonic() + timeout, fds)
        if reply is None or reply.get("op") != expect or reply.get("id") != message.get("id"):
            raise JailError(f"the jail's zygote did not answer {message['op']!r} "
                            f"(got {None if reply is None else reply.get('op')!r})")
        return reply

    def cpu_seconds(self, session: int) -> float:
        """CPU time of every process of one jail so far, measured by the zygote."""
        return float(self._ask({"op": "cpu", "id": session}, "cpu")["seconds"])

    def kill(self, session: int) -> None:
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.send(_wire.encode({"op": "kill", "id": session}))

    def exit_report(self, session: int, timeout: float = _EXIT_WAIT_S) -> dict[str, Any] | None:
        """The zygote's report of how a jailed process ended (waiting up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        while session not in self._exits and time.monotonic() < deadline:
            if self._control_message(deadline, exits=True) is None:
                break
        return self._exits.pop(session, None)

    def drain_exits(self) -> None:
        """Read pending exit reports (keeps the control socket from filling up)."""
        while self._control is not None and select.select([self._control], [], [], 0)[0]:
            if self._control_message(0.0, exits=True) is None:
                break
        self._exits.clear()

    # -- sessions -----------------------------------------------------------------------

    def open(self, program: str, filename: str = "candidate.py",
             timeout: float = 60.0, deadline: float | None = None,
             cpu: bool = False) -> Session:
        """A fresh jailed process with ``program`` loaded.

        Args:
            program: The candidate's source.
            filename: Its file name, as shown in its errors.
            timeout: Seconds the load (its import) may take.
            deadline: ``time.monotonic()`` after which every call of the session fails.
            cpu: Measure the load's CPU time (``load_reply.cpu_s``; a round trip to the
                zygote before and after).

        Raises:
            CandidateFailure: The program did not load.
            JailError: The jail failed.
        """
        if not self.running:
            raise JailError(f"the jail's zygote is not running: {self._log_tail()}")
        self.drain_exits()
        session = next(self._ids)
        fds: list[int] = []
        reply = self._ask({"op": "open", "id": session}, "opened", fds)
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            raise JailError("the jail's zygote opened a process without its descriptors")
        opened = Session(self, session, int(reply["pid"]), fds[0], fds[1], fds[2], deadline)
        try:
            opened.load(program, filename, timeout, cpu)
        except BaseException:
            opened.close()
            raise
        return opened

    def _log_tail(self, limit: int = 3000) -> str:
        log = self._own_log
        if log is None:
            return "(see the log)"
        try:
            log.flush()
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - limit))
            return log.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""


def _python() -> str:
    # the interpreter by a path that exists inside the jail too: a relative part such as
    # bench/../.venv names a folder the jail does not show
    return os.path.normpath(os.path.abspath(sys.executable))


class _NoNamespaces(Exception):
    """This isolation mode is refused by the machine (the next mode may work)."""


def _read_lines(fd: int, deadline: float) -> list[str]:
    data = b""
    while True:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return [line.strip() for line in data.decode(errors="replace").splitlines()]


def _read_line(fd: int, deadline: float) -> str:
    data = b""
    while not data.endswith(b"\n"):
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            return data.decode(errors="replace").strip()
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


class Session:
    """One jailed process with one candidate program loaded.

    Created by :meth:`Jail.open`; use as a context manager, or call :meth:`close`.
    """

    def __init__(self, jail: Jail, session: int, pid: int, channel: int, output: int,
                 pidfd: int, deadline: float | None) -> None:
        self.jail = jail
        self.id = session
        self.pid = pid
        self.deadline = deadline
        self._channel = channel
        self._output = output
        self._pidfd = pidfd
        self._reader = _wire.FrameReader(channel, jail.limits.result_mb << 20)
        self._captured = bytearray()
        self.output_dropped = 0
        self.load_reply: Reply | None = None
        self._closed = False
        os.set_blocking(channel, False)
        os.set_blocking(output, False)

    @property
    def output(self) -> str:
        """What the candidate printed so far (capped)."""
        return _wire.clean_text(self._captured.decode("utf-8", "replace"), _TEXT_LIMIT)

    def cpu_seconds(self) -> float:
        """CPU seconds every process of this session used so far, measured by the
        zygote (outside the candidate's processes), threads and reaped children included."""
        return self.jail.cpu_seconds(self.id)

    def load(self, program: str, filename: str, timeout: float, cpu: bool = False) -> Reply:
        self.load_reply = self._exchange({"op": "load", "program": program,
                                          "filename": filename}, None, timeout, "loading",
                                         cpu)
        if self.load_reply.header.get("op") != "loaded":
            raise self._protocol(self.load_reply.header, "loading the program")
        return self.load_reply

    def call(self, op: str, header: Mapping[str, Any] | None = None,
             arrays: Mapping[str, np.ndarray] | None = None, timeout: float = 60.0,
             doing: str | None = None, cpu: bool = False) -> Reply:
        """Send one request and wait for the answer.

        Args:
            op: The request (the handler's ``op``).
            header: Plain data of the request.
            arrays: Arrays of the request.
            timeout: Seconds the answer may take (the session deadline may cut it).
            doing: How to name the step in an error (default: ``op``).
            cpu: Measure the CPU time every process of the jail used meanwhile: from
                before the request is sent (nothing of it can have been read) to after
                the whole answer arrived (nothing after it can change it).

        Raises:
            CandidateFailure: It raised, timed out, died or answered nonsense.
            JailError: The jail failed.
        """
        reply = self._exchange({**(header or {}), "op": op}, arrays, timeout, doing or op, cpu)
        if reply.header.get("op") != "reply":
            raise self._protocol(reply.header, doing or op)
        return reply

    def _exchange(self, header: dict[str, Any], arrays: Mapping[str, np.ndarray] | None,
                  timeout: float, doing: str, cpu: bool) -> Reply:
        if self._closed:
            raise JailError("the session is closed")
        limit = timeout
        deadline = time.monotonic() + timeout
        if self.deadline is not None and self.deadline < deadline:
            deadline, limit = self.deadline, max(0.0, self.deadline - time.monotonic())
        try:
            data = _wire.encode(header, arrays)
            cpu_before = self.jail.cpu_seconds(self.id) if cpu else 0.0
            started = time.monotonic()
            self._write(data, deadline)
            frame = self._read(deadline)
            wall = time.monotonic() - started
            cpu_s = self.jail.cpu_seconds(self.id) - cpu_before if cpu else None
        except _wire.WireTimeout:
            self._kill()
            raise CandidateFailure(f"{doing}: timed out after {limit:.3g} s (killed)",
                                   output=self.output) from None
        except _wire.WireError as exc:
            raise self._died(doing, str(exc)) from None
        reply_header, reply_arrays = frame
        if reply_header.get("op") == "error":
            raise CandidateFailure(
                _wire.clean_text(reply_header.get("message", "failed"), _TEXT_LIMIT),
                _wire.clean_text(reply_header.get("traceback", ""), _TEXT_LIMIT),
                self.output)
        if reply_header.get("op") == "setup_failed":
            raise JailError(_wire.clean_text(reply_header.get("message"), 2000))
        return Reply(reply_header, reply_arrays, wall, cpu_s)

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise _wire.WireTimeout("the candidate stopped reading")
            readable, writable, _ = select.select([self._output], [self._channel], [], wait)
            if readable:
                self._drain()
            if writable:
                try:
                    view = view[os.write(self._channel, view[:1 << 20]):]
                except BlockingIOError:
                    continue
                except OSError as exc:
                    raise _wire.WireError(f"the channel closed ({exc.strerror})") from None

    def _read(self, deadline: float) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        reader = self._reader
        while True:
            frame = reader.frame()
            if frame is not None:
                return frame
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise _wire.WireTimeout("no answer in time")
            readable = select.select([self._channel, self._output], [], [], wait)[0]
            if self._output in readable:
                self._drain()
            if self._channel in readable and not reader.fill():
                self._drain()
                raise _wire.WireError("the channel closed")

    def _drain(self) -> None:
        limit = self.jail.limits.output_bytes
        while True:
            try:
                chunk = os.read(self._output, 1 << 16)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            room = max(limit - len(self._captured), 0)
            self._captured += chunk[:room]
            self.output_dropped += len(chunk) - min(room, len(chunk))

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        self.jail.kill(self.id)

    def _died(self, doing: str, detail: str) -> CandidateFailure:
        report = self.jail.exit_report(self.id)
        self._drain()
        if report is None:
            self._kill()
            return CandidateFailure(f"{doing}: the candidate broke the channel ({detail})",
                                    output=self.output)
        return CandidateFailure(f"{doing}: {describe_exit(report, self.jail.limits)}",
                                output=self.output)

    def _protocol(self, header: Mapping[str, Any], doing: str) -> CandidateFailure:
        self._kill()
        op = _wire.clean_text(header.get("op"), 100)
        return CandidateFailure(f"{doing}: the candidate broke the evaluator's protocol "
                                f"(sent {op!r})", output=self.output)

    def close(self) -> None:
        """Kill the jailed process (and everything it started)."""
        if self._closed:
            return
        self._closed = True
        self._drain()
        self._kill()
        for fd in (self._channel, self._output, self._pidfd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe_exit(report: Mapping[str, Any], limits: JailLimits) -> str:
    """How a jailed process ended, as a person would say it."""
    status = int(report.get("status", 0))
    cpu = float(report.get("cpu", 0.0))
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= limits.cpu_s - 0.5):
            return f"CPU time limit exceeded ({limits.cpu_s:g} s)"
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        what = {signal.SIGSEGV: " (segmentation fault)", signal.SIGBUS: " (bus error)",
                signal.SIGABRT: " (abort)", signal.SIGFPE: " (arithmetic error)",
                signal.SIGSYS: " (a system call the jail forbids)"}
        return f"the candidate's process was killed by signal {name}{what.get(number, '')}"
    return (f"the candidate's process exited with status {os.WEXITSTATUS(status)} before "
            "answering")
