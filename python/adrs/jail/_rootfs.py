"""What the jail sees of the filesystem: a fresh root holding read-only binds of the
system libraries, the interpreter, the installed packages (with an editable install, the
package folders of the checkout) and nothing else.

:func:`plan` runs in the judge and lists what to bind; :func:`build` runs in the jail's
first process, in its new mount namespace, and makes the root: a small tmpfs with the
binds, a few device files, synthetic ``/etc/passwd`` and ``/etc/group``, an empty
``/tmp`` mount point (each candidate mounts its own private tmpfs there), then pivots
into it, drops the old root and remounts the new one read-only. The checkout, the data
folders, the run folder and the home folder are not in it.
"""

from __future__ import annotations

import importlib.util
import os
import site
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from adrs.jail import _linux

# system paths bound read-only when they exist; top-level symlinks are recreated
_SYSTEM_PATHS = ("/usr", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                 "/etc/localtime", "/etc/alternatives", "/etc/os-release")
_TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_GPU_DEVICE_PREFIXES = ("nvidia", "dri")
_PACKAGES = ("adrs", "adrs.simulators", "adrs.kernels")

BASE = "/tmp"  # where the new root is assembled (hidden by it, as bubblewrap does)
PASSWD = ("root:x:0:0:jail:/tmp:/usr/sbin/nologin\n"
          "candidate:x:1:1:adrs candidate:/tmp:/usr/sbin/nologin\n")
GROUP = "root:x:0:\ncandidate:x:1:\n"


@dataclass(frozen=True)
class View:
    """The read-only view of one jail.

    Attributes:
        binds: Host paths bound read-only at the same path inside.
        symlinks: ``(path, target)`` recreated inside (``/lib -> usr/lib``...).
        devices: Device files bound inside (read-write, as devices are).
        root_size_mb: Size of the tmpfs that holds the root's directories.
    """

    binds: tuple[str, ...]
    symlinks: tuple[tuple[str, str], ...]
    devices: tuple[str, ...]
    root_size_mb: int = 8

    def to_json(self) -> dict[str, object]:
        return {"binds": list(self.binds), "symlinks": [list(s) for s in self.symlinks],
                "devices": list(self.devices), "root_size_mb": self.root_size_mb}

    @classmethod
    def from_json(cls, data: dict) -> View:
        return cls(tuple(data["binds"]), tuple(tuple(s) for s in data["symlinks"]),
                   tuple(data["devices"]), int(data["root_size_mb"]))


def python_paths() -> list[str]:
    """The interpreter and the installed packages: the prefixes, site-packages, and the
    source folders of adrs's own packages (an editable install keeps them in the checkout;
    only those folders, never the checkout itself)."""
    paths = [sys.base_prefix, sys.prefix, sys.exec_prefix, *site.getsitepackages()]
    paths.append(os.path.dirname(os.path.realpath(sys.executable)))
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        for entry in (spec.submodule_search_locations or []) if spec else []:
            # a package folder is one that holds the package's __init__ or its modules;
            # the checkout's root appears on adrs.__path__ with an editable install
            folder = Path(entry)
            if (folder / "__init__.py").is_file() or name != "adrs":
                paths.append(str(folder))
    return paths


def plan(extra: Iterable[str] = (), gpu: bool | None = None) -> View:
    """The view for a jail on this machine.

    Args:
        extra: More host paths to show read-only (a task folder...).
        gpu: Bind the GPU device files; None: when ``/dev/nvidiactl`` exists.

    Raises:
        FileNotFoundError: An ``extra`` path does not exist.
    """
    for path in extra:
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such file or folder to show in the jail: {path}")
    binds = [p for p in _SYSTEM_PATHS if os.path.exists(p)]
    symlinks = []
    for path in _TOP_LEVEL:
        if os.path.islink(path):
            symlinks.append((path, os.readlink(path)))
        elif os.path.isdir(path):
            binds.append(path)
    binds += [p for p in python_paths() if os.path.exists(p)]
    binds += [os.path.abspath(p) for p in extra]
    devices = [d for d in _DEVICES if os.path.exists(d)]
    if gpu is None:
        gpu = os.path.exists("/dev/nvidiactl")
    if gpu:
        for name in sorted(os.listdir("/dev")):
            if name.startswith(_GPU_DEVICE_PREFIXES):
                devices.append(f"/dev/{name}")
        if os.path.exists("/sys"):  # the driver reads the devices' topology there
            binds.append("/sys")
    return View(tuple(_outermost(os.path.realpath(p) for p in binds)), tuple(symlinks),
                tuple(devices))


def _outermost(paths: Iterable[str]) -> list[str]:
    """Unique paths, dropping any that lies inside another (bound once, with its parent)."""
    unique = sorted(set(paths), key=lambda p: (p.count("/"), p))
    kept: list[str] = []
    for path in unique:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def build(view: View) -> None:
    """Make ``view`` this mount namespace's root (runs in the jail's first process), with
    a ``/proc`` of this PID namespace (mounted while the old root still shows one: the
    kernel lets a user namespace mount proc only where a full proc is already visible).

    Raises:
        OSError: A mount the kernel refused; the message names it.
    """
    flags = _linux.MS_NOSUID | _linux.MS_NODEV
    _linux.mount(None, "/", None, _linux.MS_REC | _linux.MS_PRIVATE)
    _linux.mount("tmpfs", BASE, "tmpfs", flags, f"size={view.root_size_mb}m,mode=0755")
    old = BASE + "/.old-root"
    os.mkdir(old)
    _linux.pivot_root(BASE, old)
    os.chdir("/")
    old = "/.old-root"
    for path in view.binds:
        _bind(old + path, path, read_only=True)
    for path in view.devices:
        _bind(old + path, path, read_only=False)
    for path, target in view.symlinks:
        os.symlink(target, path)
    for path in ("/tmp", "/proc", "/etc", "/dev"):
        os.makedirs(path, exist_ok=True)
    for link, target in (("/dev/shm", "/tmp"), ("/dev/fd", "/proc/self/fd"),
                         ("/dev/stdin", "/proc/self/fd/0"), ("/dev/stdout", "/proc/self/fd/1"),
                         ("/dev/stderr", "/proc/self/fd/2")):
        if not os.path.lexists(link):
            os.symlink(target, link)
    _linux.mount("proc", "/proc", "proc", _linux.MS_NOSUID | _linux.MS_NODEV
                 | _linux.MS_NOEXEC)
    for name, text in (("/etc/passwd", PASSWD), ("/etc/group", GROUP),
                       ("/etc/hostname", "adrs-jail\n")):
        if not os.path.exists(name):
            with open(name, "w") as handle:
                handle.write(text)
    _linux.umount(old)
    os.rmdir(old)


def seal() -> None:
    """Make the new root itself read-only (after the last directory was made in it)."""
    _linux.mount(None, "/", None,
                 _linux.MS_REMOUNT | _linux.MS_BIND | _linux.MS_RDONLY | _linux.MS_NOSUID
                 | _linux.MS_NODEV)


def _bind(source: str, target: str, read_only: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            with open(target, "w"):
                pass
    _linux.mount(source, target, None, _linux.MS_BIND | _linux.MS_REC)
    if read_only:
        _linux.mount(None, target, None, _linux.MS_BIND | _linux.MS_REMOUNT | _linux.MS_RDONLY
                     | _linux.MS_NOSUID | _linux.MS_NODEV)


def describe(view: View) -> Sequence[str]:
    """The host paths a jail shows, for ``adrs doctor``."""
    return [*view.binds, *view.devices]
