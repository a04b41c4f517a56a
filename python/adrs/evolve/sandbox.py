"""Run untrusted code in a forked child with limits, and get its result back safely.

:func:`run_sandboxed` forks the calling (warm) process. The child:

- becomes the leader of its own process group and asks the kernel to kill it when its
  parent dies (Linux ``PR_SET_PDEATHSIG``);
- gets stdin from ``/dev/null`` and stdout/stderr into one pipe that the parent drains
  continuously, keeping the first ``output_bytes`` (a candidate printing megabytes
  neither floods the parent nor blocks on a full pipe);
- closes every other inherited file descriptor (a database, sockets, the worker's
  control connection) except the result pipe;
- works in a fresh temporary directory (also ``HOME`` and ``TMPDIR``), removed after;
- runs with RLIMIT_AS (the address space at fork + ``memory_mb``), RLIMIT_CPU,
  RLIMIT_FSIZE, and no core dumps;
- drops environment variables whose name looks secret;
- sends its result as JSON (never pickle: the parent must not unpickle bytes that
  candidate code could have written).

The parent enforces the wall-clock timeout with SIGKILL to the whole process group and
turns every way the child can end (result, exception, signal, ``os._exit``, timeout,
oversized result) into a :class:`SandboxResult`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import resource
import secrets
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from adrs.evolve.config import SandboxConfig

_PR_SET_PDEATHSIG = 1
_RESULT_FD = 3


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one sandboxed call.

    Attributes:
        timeout_s: Wall-clock limit; then the process group gets SIGKILL.
        memory_bytes: Address space the child may add to what it inherited.
        cpu_s: CPU-time limit (soft; the hard limit is one second more).
        output_bytes: Captured stdout+stderr kept; the rest is drained and dropped.
        result_bytes: Largest result accepted.
        file_bytes: Largest file the child may write.
    """

    timeout_s: float = 60.0
    memory_bytes: int = 4096 << 20
    cpu_s: float = 65.0
    output_bytes: int = 65536
    result_bytes: int = 64 << 20
    file_bytes: int = 256 << 20

    @classmethod
    def from_config(cls, config: SandboxConfig) -> SandboxLimits:
        return cls(timeout_s=config.timeout_s, memory_bytes=config.memory_mb << 20,
                   cpu_s=config.cpu_s if config.cpu_s is not None else config.timeout_s + 5,
                   output_bytes=config.output_bytes, result_bytes=config.result_mb << 20,
                   file_bytes=config.file_mb << 20)


@dataclass(frozen=True)
class SandboxResult:
    """How a sandboxed call ended.

    Attributes:
        value: What the function returned (JSON data), None when it failed.
        error: Why it failed: the exception, the signal, the timeout...; None if fine.
        output: Captured stdout+stderr (first ``output_bytes``, decoded leniently).
        output_dropped: Bytes of output beyond the cap that were discarded.
        seconds: Wall time from fork to the end of the child.
    """

    value: Any
    error: str | None
    output: str
    output_dropped: int
    seconds: float


def secret_names(environ: Iterable[str], patterns: Iterable[str],
                 extra: Iterable[str] = ()) -> set[str]:
    """Names of environment variables to remove.

    Args:
        environ: Variable names.
        patterns: Substrings (case-insensitive) that mark a name as secret.
        extra: Names to remove whatever they are called (e.g. each ``api_key_env``).
    """
    upper = [p.upper() for p in patterns]
    names = {n for n in environ if any(p in n.upper() for p in upper)}
    return names | (set(extra) & set(environ))


def run_sandboxed(fn: Callable[[], Any], limits: SandboxLimits,
                  check: Callable[[], list[str]] | None = None,
                  secret_patterns: Iterable[str] = ()) -> SandboxResult:
    """Call ``fn`` in a forked child under ``limits``.

    Call only from a process with no other threads (forking a threaded process can
    deadlock the child).

    Args:
        fn: Returns JSON-serialisable data (numpy scalars and arrays are converted).
        limits: Time, memory, CPU, output and file limits.
        check: Called in the child after ``fn``; a non-empty list of names rejects the
            result with "candidate modified the evaluator: <names>".
        secret_patterns: Environment variable name patterns dropped in the child.

    Returns:
        The outcome; never raises for anything the child does.
    """
    workdir = tempfile.mkdtemp(prefix="adrs-candidate-")
    out_r, out_w = os.pipe()
    res_r, res_w = os.pipe()
    started = time.monotonic()
    address_space = _address_space()  # read here: the child would copy pages to read it
    token = secrets.token_hex(16)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        _child(fn, limits, check, tuple(secret_patterns), workdir, out_w, res_w,
               address_space, token)
    os.close(out_w)
    os.close(res_w)
    try:
        return _supervise(pid, limits, out_r, res_r, started, token)
    finally:
        os.close(out_r)
        os.close(res_r)
        shutil.rmtree(workdir, ignore_errors=True)


def _child(fn: Callable[[], Any], limits: SandboxLimits,
           check: Callable[[], list[str]] | None, patterns: tuple[str, ...], workdir: str,
           out_w: int, res_w: int, address_space: int,
           token: str) -> None:  # pragma: no cover - child
    # bind what the result path needs before candidate code can replace it
    dumps, write, exit_now = json.dumps, os.write, os._exit
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.dup2(res_w, _RESULT_FD)
        os.closerange(_RESULT_FD + 1, _max_fd())
        os.chdir(workdir)
        if patterns:
            for name in secret_names(list(os.environ), patterns):
                del os.environ[name]
        os.environ["TMPDIR"] = workdir
        tempfile.tempdir = workdir
        _set_limits(limits, address_space)
    except BaseException:  # noqa: BLE001 - nothing may escape the child
        exit_now(71)
    try:
        value = fn()
        changed = check() if check is not None else []
        if changed:
            message: dict[str, Any] = {
                "error": "candidate modified the evaluator: " + ", ".join(changed)}
        else:
            message = {"value": value}
    except MemoryError:
        message = {"error": "memory limit exceeded (MemoryError)"}
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
        message = {"error": _exception_text(exc)}
    message["token"] = token
    try:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        try:
            data = dumps(message, default=_jsonable, allow_nan=True).encode()
        except MemoryError:
            data = dumps({"error": "memory limit exceeded while sending the result",
                          "token": token}).encode()
        except BaseException as exc:  # noqa: BLE001 - e.g. a value that is not JSON
            data = dumps({"error": f"result is not JSON data: {_exception_text(exc)}",
                          "token": token}).encode()
        view = memoryview(data)
        while view:
            view = view[write(_RESULT_FD, view):]
    except BaseException:  # noqa: BLE001 - nothing may escape the child
        exit_now(72)
    exit_now(0)


def _supervise(pid: int, limits: SandboxLimits, out_r: int, res_r: int,
               started: float, token: str) -> SandboxResult:
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also done by the child; whoever runs first wins the race
    deadline = started + limits.timeout_s
    pidfd = _pidfd(pid)
    output = bytearray()
    dropped = 0
    result = bytearray()
    open_fds = {out_r, res_r}
    ended: tuple[int, float] | None = None  # (wait status, CPU seconds)
    failure: str | None = None
    try:
        while failure is None:
            now = time.monotonic()
            if ended is not None and not open_fds:
                break
            if now >= deadline:
                failure = f"timeout: still running after {limits.timeout_s:g} s (killed)"
                break
            watch = list(open_fds)
            wait = deadline - now
            if ended is None and pidfd is not None:
                watch.append(pidfd)
            elif ended is None:
                wait = min(wait, 0.002)  # no pidfd: poll waitpid
            else:
                wait = min(wait, 1.0)  # child gone; a killed descendant may hold a pipe
            if watch:
                ready = select.select(watch, [], [], wait)[0]
            else:
                time.sleep(wait)
                ready = []
            if ended is not None and not ready:
                break
            for fd in ready:
                if fd == pidfd:
                    ended = _reap(pid)
                    _kill_group(pid)  # descendants die with it
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    open_fds.discard(fd)
                elif fd == out_r:
                    room = max(limits.output_bytes - len(output), 0)
                    output += chunk[:room]
                    dropped += len(chunk) - min(room, len(chunk))
                else:
                    result += chunk
                    if len(result) > limits.result_bytes:
                        failure = (f"result larger than {limits.result_bytes >> 20} MiB "
                                   "(killed)")
            if ended is None and pidfd is None:
                ended = _reap(pid, block=False)
                if ended is not None:
                    _kill_group(pid)
    finally:
        if ended is None:
            _kill_group(pid)
            ended = _reap(pid)
        if pidfd is not None:
            os.close(pidfd)
    seconds = time.monotonic() - started
    text = output.decode(errors="replace")
    value = None
    if failure is None:
        failure, value = _verdict(ended, bytes(result), limits, token)
    return SandboxResult(value, failure, text, dropped, seconds)


def _verdict(ended: tuple[int, float] | None, result: bytes, limits: SandboxLimits,
             token: str) -> tuple[str | None, Any]:
    status, cpu = ended if ended is not None else (0, 0.0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= limits.cpu_s):
            return f"CPU time limit exceeded ({limits.cpu_s:g} s)", None
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        what = {signal.SIGSEGV: " (segmentation fault)", signal.SIGBUS: " (bus error)",
                signal.SIGABRT: " (abort)", signal.SIGFPE: " (arithmetic error)"}
        return f"crashed: killed by signal {name}{what.get(number, '')}", None
    code = os.WEXITSTATUS(status)
    if not result:
        if code == 71:
            return "sandbox setup failed in the child", None
        return (f"exited with status {code} before returning a result "
                "(os._exit or sys.exit in candidate code, or a closed result pipe)"), None
    try:
        message = json.loads(result)
    except ValueError:
        return f"garbled result from the child (exit status {code})", None
    if not isinstance(message, dict) or set(message) not in ({"value", "token"},
                                                             {"error", "token"}):
        return "malformed result from the child", None
    if message["token"] != token:
        return "forged result: the result message does not carry the sandbox's token", None
    if "error" in message:
        return str(message["error"]), None
    return None, message["value"]


def _exception_text(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    for frame in reversed(frames):
        if frame.filename.startswith("<"):  # candidate code compiled from a string
            where = f" ({frame.filename} line {frame.lineno})"
            break
    text = " ".join(str(exc).split())[:500]
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _set_limits(limits: SandboxLimits, address_space: int) -> None:  # pragma: no cover
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = max(1, math.ceil(limits.cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    total = address_space + limits.memory_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        total = min(total, hard)
    resource.setrlimit(resource.RLIMIT_AS, (total, hard))


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 65536


def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# resolved once in the parent: loading it in each child costs half a millisecond
_PRCTL = _prctl()


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None


def _reap(pid: int, block: bool = True) -> tuple[int, float] | None:
    """Wait for the child; returns (wait status, CPU seconds) or None if still running."""
    try:
        done, status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return (0, 0.0)
    if not done:
        return None
    return status, usage.ru_utime + usage.ru_stime


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)  # in case it never reached its own group
