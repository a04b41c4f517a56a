"""One jailed process: its last layers, then the harness that runs the candidate.

The zygote forks this process as the first (init) process of a new PID namespace. Before
anything of the candidate exists it gets a mount and an IPC namespace of its own (the
jail's network namespace has a loopback that reaches nothing else); a private tmpfs on
``/tmp`` capped in bytes and files; a ``/proc`` that shows only itself; stdin from
``/dev/null``, stdout and stderr
into the judge's capture pipe, the judge's channel on fd 3 and no other descriptor; a
clean environment; soft = hard limits; no capabilities (a dedicated uid when adrs runs
as root); ``PR_SET_NO_NEW_PRIVS``; and the seccomp filter. Then it waits for the program.

The harness answers the judge's frames: ``load`` (build the problem's handler around the
program), then any request the handler knows, until the judge stops it. A failure of the
candidate is reported as an ``error`` frame; the judge trusts no frame of this process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import signal
import sys
import tempfile
from collections.abc import Mapping
from typing import Any, NoReturn

from adrs.jail import _linux, _seccomp, _wire, handler
from adrs.jail.handler import CandidateError, describe, trace_of

CHANNEL_FD = 3
SETUP_FAILED = "jail setup failed"


def run(handler_class: Any, prepared: Any, channel_fd: int, output_fd: int,
        config: Mapping[str, Any]) -> NoReturn:  # pragma: no cover - runs in the child
    """Set up the jail, then serve the judge; never returns."""
    state: dict[str, int] = {"channel": channel_fd}
    try:
        setup(channel_fd, output_fd, config, state)
    except BaseException as exc:  # noqa: BLE001 - nothing of the candidate ran yet
        with contextlib.suppress(BaseException):
            _wire.send(state["channel"],
                       {"op": "setup_failed", "message": f"{SETUP_FAILED}: {exc}"})
        os._exit(70)
    serve(handler_class, prepared, int(config["limits"]["result_mb"]) << 20)


def setup(channel_fd: int, output_fd: int, config: Mapping[str, Any],
          state: dict[str, int] | None = None) -> dict[str, str]:
    """Apply this process's layers; returns what each one did.

    Args:
        state: Receives ``channel``, the channel's descriptor once it moved to fd 3.

    Raises:
        OSError: A layer the jail's mode requires could not be set up.
    """
    done: dict[str, str] = {}
    mode = config["mode"]
    limits = config["limits"]
    _linux.die_with_parent()
    if mode == "none":
        os.setsid()  # the zygote kills the whole group
    else:
        # the network (loopback only) and UTS namespaces are the jail's, made at launch:
        # its processes run one at a time and hold nothing there once dead; SysV IPC
        # objects outlive their process, so each gets an IPC namespace of its own
        _linux.unshare(_linux.CLONE_NEWNS | _linux.CLONE_NEWIPC)
        # shown paths under /tmp (a checkout or virtual environment there, a task
        # folder) would vanish under the private tmpfs: held open now, bound again on it
        under_tmp = [(path, os.open(path, os.O_PATH)) for path in config.get("shown", ())
                     if path.startswith("/tmp/")]
        _linux.mount("tmpfs", "/tmp", "tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV,
                     f"size={int(limits['tmp_mb'])}m,nr_inodes={int(limits['tmp_inodes'])},"
                     "mode=1777")
        for path, fd in under_tmp:
            os.makedirs(path, exist_ok=True)
            _linux.mount(f"/proc/self/fd/{fd}", path, None, _linux.MS_BIND | _linux.MS_REC)
            _linux.mount(None, path, None, _linux.MS_BIND | _linux.MS_REMOUNT
                         | _linux.MS_RDONLY | _linux.MS_NOSUID | _linux.MS_NODEV)
            os.close(fd)
        _linux.mount("proc", "/proc", "proc",
                     _linux.MS_NOSUID | _linux.MS_NODEV | _linux.MS_NOEXEC)
        done.update(pid="init of its own PID namespace", net="the jail's: loopback only",
                    mount=f"private /tmp of {limits['tmp_mb']} MB", ipc="its own")
    _descriptors(channel_fd, output_fd)
    if state is not None:
        state["channel"] = CHANNEL_FD
    os.chdir("/tmp" if mode != "none" else _private_tmp(config))
    tmp = os.getcwd()
    if mode == "none":  # in a namespace the zygote's environment is the clean one already
        os.environ.clear()
        os.environ.update({**config["env"], "HOME": tmp, "TMPDIR": tmp})
    tempfile.tempdir = tmp
    handler.PRIVATE_TMP = tmp
    done["clean_env"] = f"{len(os.environ)} variables"
    _set_limits(limits)
    done["rlimits"] = "soft = hard"
    done["uid"] = _drop_privileges(config)
    _linux.set_no_new_privs()
    done["no_new_privs"] = "set"
    if _seccomp.supported():
        _seccomp.install()
        done["seccomp"] = f"{len(_seccomp.REFUSED) + 2} calls refused"
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    return done


def private_tmp_path(config: Mapping[str, Any], pid: int) -> str:
    """Without a mount namespace: the folder of its own a jailed process works in (the
    zygote removes it when the process ends, the judge the whole root when it stops)."""
    return os.path.join(str(config["tmp_root"]), str(pid))


def _private_tmp(config: Mapping[str, Any]) -> str:
    path = private_tmp_path(config, os.getpid())
    os.mkdir(path, 0o700)
    uid = config.get("switch_uid")
    if uid is not None:
        os.chown(path, uid, uid)
    return path


def _descriptors(channel_fd: int, output_fd: int) -> None:
    # moved out of the way first, so that no dup2 below overwrites a source
    channel = fcntl.fcntl(channel_fd, fcntl.F_DUPFD, 64)
    output = fcntl.fcntl(output_fd, fcntl.F_DUPFD, 64)
    null = os.open(os.devnull, os.O_RDONLY)
    null = fcntl.fcntl(null, fcntl.F_DUPFD, 64)
    os.dup2(channel, CHANNEL_FD)
    os.dup2(null, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.closerange(CHANNEL_FD + 1, _max_fd())
    os.set_inheritable(CHANNEL_FD, False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - for the process
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 65536


def _address_space() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _set_limits(limits: Mapping[str, Any]) -> None:
    def hard(which: int, value: int) -> None:
        _, current = resource.getrlimit(which)
        if current != resource.RLIM_INFINITY:
            value = min(value, current)
        resource.setrlimit(which, (value, value))

    hard(resource.RLIMIT_CORE, 0)
    hard(resource.RLIMIT_CPU, max(1, int(-(-float(limits["cpu_s"]) // 1))))
    hard(resource.RLIMIT_FSIZE, int(limits["file_mb"]) << 20)
    hard(resource.RLIMIT_NOFILE, int(limits["max_open_files"]))
    hard(resource.RLIMIT_NPROC, int(limits["max_processes"]))
    hard(resource.RLIMIT_AS, _address_space() + (int(limits["memory_mb"]) << 20))


def prepare_zygote() -> None:
    """What the zygote does once so that its forks need not: no process it starts can
    gain a capability through execve, the C functions are bound, and the seccomp filter
    is packed."""
    _linux.bind_calls()
    if _linux.effective_capabilities():
        _linux.limit_future_privileges()
    if _seccomp.supported():
        _seccomp.compiled()


def _drop_privileges(config: Mapping[str, Any]) -> str:
    uid = config.get("switch_uid")
    if _linux.effective_capabilities() and _linux.prctl(_linux.PR_GET_SECUREBITS) \
            != _linux.SECBITS_LOCKED:
        _linux.limit_future_privileges()  # not done by a zygote (a probe of its own)
    try:
        _linux.drop_privileges(uid)
    except OSError:
        # without namespaces and not root there is nothing to drop; anything else fails
        if uid is not None or _linux.effective_capabilities():
            raise
    if _linux.effective_capabilities():
        raise OSError(1, "capabilities are still effective after dropping them")
    if uid is not None:
        return f"uid {config.get('host_uid', uid)} on the host, no capabilities"
    return f"no capabilities (host uid {config.get('host_uid', os.getuid())})"


def serve(handler_class: Any, prepared: Any, max_bytes: int) -> NoReturn:  # pragma: no cover
    """The harness: load the program, answer requests, exit when told to."""
    # bound before candidate code can rebind anything: the judge ignores what is forged
    send, reader, exit_now = _wire.send, _wire.FrameReader(CHANNEL_FD, max_bytes), os._exit
    try:
        header, _ = reader.read(None)
    except _wire.WireError:
        exit_now(0)
    if header.get("op") != "load":
        exit_now(0)
    filename = str(header.get("filename") or "candidate.py")
    try:
        handler = handler_class(prepared, str(header["program"]), filename)
        reply: dict[str, Any] = {"op": "loaded"}
    except BaseException as exc:  # noqa: BLE001 - the candidate's failure, reported
        reply = _error(exc, filename)
    _send(send, reply, None)
    if reply["op"] == "error":
        exit_now(0)
    while True:
        try:
            header, arrays = reader.read(None)
        except _wire.WireError:
            exit_now(0)
        op = header.get("op")
        if op == "exit":
            exit_now(0)
        try:
            out_header, out_arrays = handler.handle(str(op), header, arrays)
            message, message_arrays = {**out_header, "op": "reply"}, out_arrays
        except BaseException as exc:  # noqa: BLE001 - the candidate's failure, reported
            message, message_arrays = _error(exc, filename), None
        _send(send, message, message_arrays)
        if message["op"] == "error":
            exit_now(0)


def _error(exc: BaseException, filename: str) -> dict[str, Any]:
    if isinstance(exc, CandidateError):
        return {"op": "error", "message": str(exc), "traceback": exc.trace}
    return {"op": "error", "message": describe(exc, filename), "traceback": trace_of(exc)}


def _send(send: Any, header: dict[str, Any], arrays: Any) -> None:  # pragma: no cover
    try:
        send(CHANNEL_FD, header, arrays)
    except MemoryError:
        send(CHANNEL_FD, {"op": "error", "message": "MemoryError: memory limit exceeded "
                                                    "while sending the result"})
    except (TypeError, ValueError) as exc:
        send(CHANNEL_FD, {"op": "error", "message": f"the result is not data the judge "
                                                    f"accepts: {exc}"})
    except _wire.WireError:
        os._exit(0)
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
