"""The Linux system calls the jail is built from, called through ctypes (no extra package).

Every function raises :class:`OSError` naming the call and the errno when the kernel
refuses, so a layer that cannot be set up says why (``adrs doctor`` shows these messages).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import platform
import socket
import struct
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_GET_SECUREBITS = 27
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# securebits: uid 0 gains nothing through execve (NOROOT), a uid change clears the
# capabilities as usual (NO_SETUID_FIXUP off) and keeps none (KEEP_CAPS off), all locked
SECBITS_LOCKED = 0x01 | 0x02 | 0x08 | 0x20

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# system call numbers that glibc does not wrap, per architecture
_SYSCALLS = {
    "x86_64": {"pivot_root": 155},
    "aarch64": {"pivot_root": 41},
}

MACHINE = platform.machine()
IS_LINUX = sys.platform.startswith("linux")

_libc = ctypes.CDLL(None, use_errno=True) if IS_LINUX else None


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _need_libc() -> ctypes.CDLL:
    if _libc is None:
        raise OSError(38, f"namespaces need Linux, this is {sys.platform}")
    return _libc


def bind_calls() -> None:
    """Look up, once, the C functions a jailed process calls: ctypes binds each on first
    use, and a zygote that did so already spares every process it forks the work."""
    if _libc is not None:
        for name in ("unshare", "setns", "mount", "umount", "prctl", "capget", "capset",
                     "syscall"):
            getattr(_libc, name)


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (``unshare(2)``)."""
    _check(_need_libc().unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    """Join the namespace open at ``fd`` (``setns(2)``)."""
    _check(_need_libc().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    """``mount(2)``; the message names the target."""
    _check(_need_libc().mount(_bytes(source), _bytes(target), _bytes(fstype),
                              ctypes.c_ulong(flags), _bytes(data)), f"mount {target}")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    """``umount2(2)``, lazily by default."""
    _check(_need_libc().umount2(_bytes(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    """``pivot_root(2)`` (a raw system call: glibc has no wrapper)."""
    number = _SYSCALLS.get(MACHINE, {}).get("pivot_root")
    if number is None:
        raise OSError(38, f"pivot_root: unsupported architecture {MACHINE}")
    _check(_need_libc().syscall(ctypes.c_long(number), _bytes(new_root), _bytes(put_old)),
           "pivot_root")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """``prctl(2)``; returns its result (some options return a value)."""
    libc = _need_libc()
    result = libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                        ctypes.c_ulong(arg4), ctypes.c_ulong(arg5))
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, f"prctl({option}): {os.strerror(number)}")
    return result


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies."""
    if _libc is not None:
        prctl(PR_SET_PDEATHSIG, 9)


def set_no_new_privs() -> None:
    """``PR_SET_NO_NEW_PRIVS``: no execve can grant privileges again (setuid bits, file
    capabilities); also the precondition of an unprivileged seccomp filter."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 40


def limit_future_privileges() -> None:
    """Empty the bounding and ambient sets and lock the securebits, keeping the
    capabilities this process has now: no process started from here can gain any through
    execve (the zygote calls this once, so its forks need not)."""
    for cap in range(last_capability() + 1):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno != 22:  # EINVAL: a capability this kernel does not know
                raise
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as exc:
        if exc.errno != 22:
            raise
    if prctl(PR_GET_SECUREBITS) != SECBITS_LOCKED:
        prctl(PR_SET_SECUREBITS, SECBITS_LOCKED)


def drop_privileges(uid: int | None = None) -> None:
    """Give up every capability for good, and the uid too when one is given: the uid
    and gid (which need CAP_SETUID/CAP_SETGID, and clear the capabilities as they
    change), then the effective, permitted and inheritable sets. Call after
    :func:`limit_future_privileges` (here or in a parent)."""
    libc = _need_libc()
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def effective_capabilities() -> int:
    """The effective capability mask of this process (``capget(2)``; one system call,
    where reading ``/proc/self/status`` cost each jailed process a file and a parse)."""
    if _libc is None:
        return 0
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), ctypes.byref(data)), "capget")
    return data[0].effective | (data[1].effective << 32)


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def bring_loopback_up() -> None:
    """Set ``lo`` up in this (new) network namespace, so the candidate has a working
    loopback of its own."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def set_hostname(name: str) -> None:
    _check(_need_libc().sethostname(_bytes(name), ctypes.c_size_t(len(name))), "sethostname")


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds of every thread of process ``pid`` (as this process's PID namespace
    numbers it), live or finished, from the kernel's per-process CPU clock."""
    import time

    clock = ((~pid) << 3) | 2  # MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
    return time.clock_gettime(clock)
