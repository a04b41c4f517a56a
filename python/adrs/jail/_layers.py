"""The jail's layers, their settings, and how a jail reports which ones are active."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# What each layer does, in the order adrs doctor lists them.
LAYERS: dict[str, str] = {
    "user": "user namespace: the candidate's uid and capabilities mean nothing outside",
    "uid": "unprivileged uid: a dedicated uid when adrs runs as root, every capability "
           "dropped otherwise",
    "pid": "PID namespace: sees, signals and traces no process of the run; all its "
           "processes die with it",
    "net": "network namespace: only its own loopback, no route anywhere",
    "mount": "mount namespace: read-only interpreter and packages, a private size-capped "
             "tmp, no checkout, data, run or home folder",
    "ipc": "IPC namespace: no shared memory or semaphores with anything else",
    "no_nested_userns": "cannot create user namespaces of its own",
    "no_new_privs": "PR_SET_NO_NEW_PRIVS: no setuid or file capabilities",
    "seccomp": "seccomp filter: no memfd, keyrings, mounts, namespaces, ptrace, bpf",
    "rlimits": "hard limits (soft = hard) on memory, CPU, file size, open files, processes",
    "clean_env": "a clean environment: no variable of the run reaches it",
}
ISOLATING = ("pid", "net", "mount")  # without these a candidate can reach the judge


@dataclass(frozen=True)
class JailLimits:
    """Hard limits of one jailed process (soft limit = hard limit, so it cannot raise
    them).

    Attributes:
        memory_mb: Address space it may add to what it starts with (RLIMIT_AS).
        cpu_s: CPU seconds (RLIMIT_CPU), all its threads together.
        file_mb: Largest file it may write (RLIMIT_FSIZE).
        tmp_mb: Size of its private ``/tmp`` (all files together).
        tmp_inodes: Files and folders its ``/tmp`` may hold.
        max_processes: Processes and threads (RLIMIT_NPROC, counted in its namespace).
        max_open_files: Open file descriptors (RLIMIT_NOFILE).
        output_bytes: Captured stdout+stderr kept; the rest is drained and counted.
        result_mb: Largest message it may send to the judge.
        jail_uid: Host uid (and gid) candidates run as when adrs runs as root.
    """

    memory_mb: int = 4096
    cpu_s: float = 65.0
    file_mb: int = 256
    tmp_mb: int = 256
    tmp_inodes: int = 16384
    max_processes: int = 128
    max_open_files: int = 1024
    output_bytes: int = 65536
    result_mb: int = 64
    jail_uid: int = 61000

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Layer:
    """One layer and whether it is active.

    Attributes:
        name: A key of :data:`LAYERS`.
        active: Whether this jail has it.
        detail: What it is when active; why it is missing otherwise.
    """

    name: str
    active: bool
    detail: str = ""


@dataclass(frozen=True)
class Layers:
    """The layers of a jail, as it reported them after starting."""

    layers: tuple[Layer, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> Layers:
        return cls(tuple(Layer(str(d["name"]), bool(d["active"]), str(d.get("detail", "")))
                         for d in data))

    def to_json(self) -> list[dict[str, Any]]:
        return [{"name": layer.name, "active": layer.active, "detail": layer.detail}
                for layer in self.layers]

    def active(self, name: str) -> bool:
        return any(layer.name == name and layer.active for layer in self.layers)

    @property
    def isolated(self) -> bool:
        """The candidate cannot see the run's processes, files or network."""
        return all(self.active(name) for name in ISOLATING)

    @property
    def missing(self) -> list[Layer]:
        return [layer for layer in self.layers if not layer.active]

    def summary(self) -> str:
        """One line: the active layers, and the missing ones with their reasons."""
        active = [layer.name for layer in self.layers if layer.active]
        line = "sandbox: " + ", ".join(active) if active else "sandbox: no layer active"
        missing = self.missing
        if missing:
            line += "; MISSING: " + "; ".join(f"{m.name} ({m.detail})" for m in missing)
        return line
