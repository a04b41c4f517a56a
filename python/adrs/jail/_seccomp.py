"""A small seccomp filter for the candidate's process: refuse the system calls that could
reach past the jail's other layers.

Every other system call is allowed; the ones refused (with ``EPERM``, so programs see a
plain error) are those that either create kernel objects the other layers do not bound
or change the process's view of the system:

- ``memfd_create``: anonymous files that bypass the size cap of the private ``/tmp``;
- ``keyctl``, ``add_key``, ``request_key``: the kernel keyrings are shared with the
  user's session across namespaces;
- ``unshare``, ``setns``, ``mount``, ``umount2``, ``pivot_root``, and ``clone`` with
  ``CLONE_NEWUSER``: new namespaces or mounts (``clone3`` answers ``ENOSYS``, whose
  arguments a filter cannot read, and libc then falls back to ``clone``);
- ``ptrace``, ``process_vm_readv``/``writev``, ``perf_event_open``, ``bpf``,
  ``userfaultfd``, ``io_uring_*`` (whose operations would not pass through this filter);
- a new action for ``SIGCHLD`` (``rt_sigaction`` with one): ignoring it, or
  ``SA_NOCLDWAIT``, makes the kernel reap children at once and drop their CPU time,
  which the judge counts.

A system call of another ABI (x32 on x86_64) kills the process.
"""

from __future__ import annotations

import ctypes
import errno
import struct

from adrs.jail import _linux

# name -> number, per architecture (asm/unistd_64.h; asm-generic/unistd.h for aarch64)
_NUMBERS = {
    "x86_64": {
        "ptrace": 101, "perf_event_open": 298, "bpf": 321, "userfaultfd": 323,
        "memfd_create": 319, "keyctl": 250, "add_key": 248, "request_key": 249,
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
        "process_vm_readv": 310, "process_vm_writev": 311,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "clone": 56, "clone3": 435, "rt_sigaction": 13,
    },
    "aarch64": {
        "ptrace": 117, "perf_event_open": 241, "bpf": 280, "userfaultfd": 282,
        "memfd_create": 279, "keyctl": 219, "add_key": 217, "request_key": 218,
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
        "process_vm_readv": 270, "process_vm_writev": 271,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "clone": 220, "clone3": 435, "rt_sigaction": 134,
    },
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000

REFUSED = ("memfd_create", "keyctl", "add_key", "request_key", "unshare", "setns", "mount",
           "umount2", "pivot_root", "ptrace", "process_vm_readv", "process_vm_writev",
           "perf_event_open", "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter",
           "io_uring_register")

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_NR_OFFSET = 0
_ARCH_OFFSET = 4
_ARG0_LOW_OFFSET = 16  # seccomp_data.args[0], low 32 bits (little-endian)
_ARG1_LOW_OFFSET = 24
_ARG1_HIGH_OFFSET = 28
_SIGCHLD = 17


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def supported() -> bool:
    """Whether this architecture has a filter."""
    return _linux.MACHINE in _NUMBERS


def _program() -> list[tuple[int, int, int, int]]:
    numbers = _NUMBERS[_linux.MACHINE]
    code: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH_OFFSET),
        (_JEQ_K, 1, 0, _AUDIT_ARCH[_linux.MACHINE]),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, _NR_OFFSET),
    ]
    if _linux.MACHINE == "x86_64":
        code += [(_JGE_K, 0, 1, _X32_BIT), (_RET_K, 0, 0, _RET_KILL_PROCESS)]
    # clone3 -> ENOSYS; clone with CLONE_NEWUSER -> EPERM
    code += [(_JEQ_K, 0, 1, numbers["clone3"]), (_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS)]
    code += [(_JEQ_K, 0, 4, numbers["clone"]),
             (_LD_W_ABS, 0, 0, _ARG0_LOW_OFFSET),
             (_JSET_K, 0, 1, _linux.CLONE_NEWUSER),
             (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
             (_RET_K, 0, 0, _RET_ALLOW)]
    # a new SIGCHLD action (SIG_IGN, SA_NOCLDWAIT) would let the kernel reap children
    # itself and drop their CPU time, which the judge's timing must count
    code += [(_JEQ_K, 0, 8, numbers["rt_sigaction"]),
             (_LD_W_ABS, 0, 0, _ARG0_LOW_OFFSET),
             (_JEQ_K, 0, 5, _SIGCHLD),
             (_LD_W_ABS, 0, 0, _ARG1_LOW_OFFSET),
             (_JEQ_K, 0, 2, 0),
             (_LD_W_ABS, 0, 0, _ARG1_HIGH_OFFSET),
             (_JEQ_K, 1, 0, 0),
             (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
             (_RET_K, 0, 0, _RET_ALLOW)]
    for name in REFUSED:
        code += [(_JEQ_K, 0, 1, numbers[name]), (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM)]
    code.append((_RET_K, 0, 0, _RET_ALLOW))
    return code


_COMPILED: tuple[int, ctypes.Array[ctypes.c_char]] | None = None


def compiled() -> tuple[int, ctypes.Array[ctypes.c_char]]:
    """The filter's instructions, packed once per process (a zygote's forks reuse it)."""
    global _COMPILED
    if _COMPILED is None:
        code = _program()
        blob = b"".join(struct.pack("HBBI", *instruction) for instruction in code)
        _COMPILED = (len(code), ctypes.create_string_buffer(blob, len(blob)))
    return _COMPILED


def install() -> None:
    """Install the filter on this process (and everything it starts).

    Raises:
        OSError: No filter for this architecture, or the kernel refused it (it needs
            ``PR_SET_NO_NEW_PRIVS`` first).
    """
    if not supported():
        raise OSError(38, f"seccomp: no filter for architecture {_linux.MACHINE}")
    length, buffer = compiled()
    program = _SockFprog(length, ctypes.cast(buffer, ctypes.c_void_p))
    _linux.prctl(_linux.PR_SET_SECCOMP, _linux.SECCOMP_MODE_FILTER,
                 ctypes.addressof(program))
