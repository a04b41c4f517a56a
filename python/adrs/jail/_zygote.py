"""The zygote: a warm interpreter inside the jail that forks one process per candidate.

Started (by :mod:`adrs.jail._launcher`, or directly when no namespace is available) as
``python -I -B -m adrs.jail._zygote CONTROL_FD INIT_FD``. It reads the task from
``INIT_FD`` (the problem's handler and the inputs it may see), imports the handler and
calls its ``prepare`` (trusted code: loads simulators, warms compilers), then serves the
judge on the control socket. It never runs candidate code.

Each jailed process is forked ahead of time (a spare, fully set up and waiting for its
program) as the init process of a PID namespace of its own, so a candidate sees no other
process, and everything it starts dies with it. Control messages (SOCK_SEQPACKET, one
frame each):

- ``open {id}``: hand the next spare to the judge: ``opened {id, pid}`` with its channel,
  its output pipe and a pidfd attached;
- ``cpu {id}``: ``cpu {id, seconds}``, the CPU time of every process of that jail;
- ``kill {id}``: SIGKILL its init process (the kernel then kills the rest);
- ``stop``: kill everything and exit.

When a jailed process ends: ``exited {id, status, cpu}``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import select
import shutil
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adrs.jail import _child, _linux, _wire

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class _Process:
    pid: int
    pidfd: int
    channel: socket.socket | None  # the judge's end until handed over
    output: int  # the judge's end of the capture pipe until handed over
    session: int | None = None
    namespace: str = ""


class Zygote:
    """The zygote's state: the handler, the spare, the open sessions."""

    def __init__(self, control: socket.socket, init: Mapping[str, Any],
                 arrays: Mapping[str, Any]) -> None:
        self.control = control
        self.config = init
        self.mode = init["mode"]
        module, _, name = str(init["handler"]).partition(":")
        if not module.startswith("adrs."):
            raise ValueError(f"handler {init['handler']!r} is not one of adrs's")
        for preload in init.get("preload", ()):
            importlib.import_module(preload)
        self.handler_class = getattr(importlib.import_module(module), name)
        _child.prepare_zygote()
        started = time.perf_counter()
        self.prepared = self.handler_class.prepare(init.get("shared") or {}, arrays)
        self.prepare_seconds = time.perf_counter() - started
        self.own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) \
            if self.mode != "none" else -1
        self.spares: list[_Process] = []
        self.sessions: dict[int, _Process] = {}
        self.by_pidfd: dict[int, _Process] = {}

    # -- processes ----------------------------------------------------------------------

    def fork(self) -> _Process:
        """Fork one jailed process (it sets itself up and waits for its program)."""
        judge_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        output_r, output_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        if self.mode != "none":
            _linux.unshare(_linux.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the jailed process
            try:
                self.control.close()
                judge_end.close()
                os.close(output_r)
                for process in [*self.spares, *self.sessions.values()]:
                    _close_quietly(process)
            except BaseException:  # noqa: BLE001
                os._exit(70)
            _child.run(self.handler_class, self.prepared, child_end.fileno(), output_w,
                       self.config)
        if self.mode != "none":
            _linux.setns(self.own_pid_ns, _linux.CLONE_NEWPID)
        child_end.close()
        os.close(output_w)
        process = _Process(pid, os.pidfd_open(pid), judge_end, output_r)
        with contextlib.suppress(OSError):
            process.namespace = os.readlink(f"/proc/{pid}/ns/pid")
        self.by_pidfd[process.pidfd] = process
        return process

    def open(self, session: int) -> None:
        # one session at a time: every earlier one is dead and reaped before the next
        # candidate starts, so none can meet another in the jail's loopback
        for earlier in list(self.sessions.values()):
            _signal(earlier, signal.SIGKILL)
            self.reap(earlier.pidfd)
        process = self.spares.pop(0) if self.spares else self.fork()
        process.session = session
        self.sessions[session] = process
        assert process.channel is not None
        _wire.send_fds(self.control, {"op": "opened", "id": session, "pid": process.pid},
                       [process.channel.fileno(), process.output, process.pidfd])
        process.channel.close()
        process.channel = None
        os.close(process.output)
        process.output = -1

    def cpu(self, session: int) -> float:
        """CPU seconds of every process in that jail (its PID namespace)."""
        process = self.sessions.get(session)
        if process is None:
            return 0.0
        if self.mode == "none":
            return _tree_cpu(process.pid)
        total = 0.0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                if pid != process.pid and os.readlink(f"/proc/{pid}/ns/pid") \
                        != process.namespace:
                    continue
            except OSError:
                continue
            total += _process_cpu(pid)
        return total

    def kill(self, session: int) -> None:
        process = self.sessions.get(session)
        if process is not None:
            _signal(process, signal.SIGKILL)

    def reap(self, pidfd: int) -> None:
        process = self.by_pidfd.pop(pidfd)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except ChildProcessError:
            status, usage = 0, None
        if self.mode == "none":  # no namespace kills the rest or drops its tmp
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            shutil.rmtree(_child.private_tmp_path(self.config, process.pid),
                          ignore_errors=True)
        os.close(pidfd)
        if process in self.spares:
            self.spares.remove(process)
            _close_quietly(process)
            return
        if process.session is not None:
            self.sessions.pop(process.session, None)
            cpu = usage.ru_utime + usage.ru_stime if usage is not None else 0.0
            _wire.send_fds(self.control, {"op": "exited", "id": process.session,
                                          "status": status, "cpu": cpu}, [])

    def stop(self) -> None:
        for process in [*self.spares, *self.sessions.values()]:
            _signal(process, signal.SIGKILL)
        for process in [*self.spares, *self.sessions.values()]:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(process.pid, 0)

    # -- the loop -----------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            watched = [self.control.fileno(), *self.by_pidfd]
            # the next spare is forked while nothing waits for an answer, so that the
            # judge's requests are never queued behind a fork
            ready, _, _ = select.select(watched, [], [], 0 if not self.spares else None)
            if not ready and not self.spares:
                self.spares.append(self.fork())
                continue
            for fd in ready:
                if fd == self.control.fileno():
                    if not self.command():
                        self.stop()
                        return
                elif fd in self.by_pidfd:
                    self.reap(fd)

    def command(self) -> bool:
        """Handle one control message; False when the judge is gone or says stop."""
        try:
            message, fds = _wire.receive_with_fds(self.control)
        except (_wire.WireError, OSError):
            return False
        for fd in fds:
            os.close(fd)
        op = message.get("op")
        session = int(message.get("id", -1))
        if op == "open":
            self.open(session)
        elif op == "cpu":
            _wire.send_fds(self.control, {"op": "cpu", "id": session,
                                          "seconds": self.cpu(session)}, [])
        elif op == "kill":
            self.kill(session)
        elif op == "stop":
            return False
        return True


def _close_quietly(process: _Process) -> None:
    with contextlib.suppress(OSError):
        if process.channel is not None:
            process.channel.close()
        if process.output >= 0:
            os.close(process.output)


def _signal(process: _Process, number: int) -> None:
    with contextlib.suppress(OSError):
        signal.pidfd_send_signal(process.pidfd, number)


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        text = handle.read()
    return text[text.rindex(")") + 2:].split()  # the command name may hold spaces


def _process_cpu(pid: int) -> float:
    """CPU of a process: all its threads (precise), plus the children it reaped."""
    try:
        fields = _stat_fields(pid)
    except (OSError, ValueError):
        return 0.0
    reaped = (int(fields[13]) + int(fields[14])) / _TICKS  # cutime, cstime
    try:
        own = _linux.process_cpu_seconds(pid)
    except OSError:  # already a zombie: its counters still hold its own time
        own = (int(fields[11]) + int(fields[12])) / _TICKS
    return own + reaped


def _tree_cpu(root: int) -> float:
    """Without a PID namespace: the processes of the jail's session (it called setsid)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(_stat_fields(int(entry))[3]) == root:  # session id
                    total += _process_cpu(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return total


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    control = socket.socket(fileno=int(args[0]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the judge decides when this ends
    try:
        header, arrays = _wire.FrameReader(int(args[1]), 1 << 40).read(None)
        os.close(int(args[1]))
        zygote = Zygote(control, header, arrays)
        report = _probe(zygote)
    except BaseException as exc:  # noqa: BLE001 - tell the judge, then stop
        import traceback

        with contextlib.suppress(BaseException):
            _wire.send_fds(control, {"op": "failed", "message": f"{type(exc).__name__}: {exc}",
                                     "traceback": traceback.format_exc()[-4000:]}, [])
        return 1
    gc.collect()
    gc.freeze()  # spares copy fewer pages when the collector leaves these objects alone
    _wire.send_fds(control, {"op": "ready", "pid": os.getpid(), "layers": report,
                             "prepare_seconds": zygote.prepare_seconds}, [])
    zygote.serve()
    return 0


def _probe(zygote: Zygote) -> dict[str, str]:
    """Set up one throwaway jailed process and report what each layer did there."""
    read_fd, write_fd = os.pipe()
    if zygote.mode != "none":
        _linux.unshare(_linux.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the probe
        os.close(read_fd)
        state = {"channel": write_fd}
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            done = _child.setup(write_fd, null, zygote.config, state)
            done.update(_nested_userns(done))
            os.write(state["channel"], _wire.encode({"op": "probe", "done": done}))
        except BaseException as exc:  # noqa: BLE001
            os.write(state["channel"], _wire.encode({"op": "probe", "error": f"{exc}"}))
        os._exit(0)
    if zygote.mode != "none":
        _linux.setns(zygote.own_pid_ns, _linux.CLONE_NEWPID)
    os.close(write_fd)
    header, _ = _wire.FrameReader(read_fd).read(time.monotonic() + 30)
    os.close(read_fd)
    os.waitpid(pid, 0)
    if "error" in header:
        raise OSError(f"{_child.SETUP_FAILED}: {header['error']}")
    return dict(header["done"])


def _nested_userns(done: Mapping[str, str]) -> dict[str, str]:  # pragma: no cover - probe
    try:
        _linux.unshare(_linux.CLONE_NEWUSER)
    except OSError as exc:
        return {"no_nested_userns": f"refused ({exc.strerror})"}
    return {}


if __name__ == "__main__":  # pragma: no cover - started by the launcher
    sys.exit(main())
