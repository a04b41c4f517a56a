"""The jail's first two processes: enter the namespaces, build the root, exec the zygote.

Started by the judge as ``python -I -B -m adrs.jail._launcher CONFIG_JSON``. This process
unshares the user, mount, PID, network, IPC and UTS namespaces, says so on the status
pipe, and waits until the judge (outside, where it has the rights to) has written its uid
and gid maps. It then forks the first process of the new PID namespace, which builds the
read-only root (:mod:`adrs.jail._rootfs`), mounts a ``/proc`` of its own, forbids nested
user namespaces, seals the root and execs the zygote. This process only waits: when the
judge dies the kernel kills it (``PR_SET_PDEATHSIG``) and then the zygote, and with the
zygote every process in its namespace.

Status lines on the status pipe: ``U`` (unshared, waiting for maps), ``Z <pid>`` (the
zygote's host pid), ``E <message>`` (a layer could not be set up; then the exit status is
1). The pipe reaches end-of-file when the zygote is exec'd. Only Python's standard library and :mod:`adrs.jail`'s own small modules are imported
here, so that this starts in a few milliseconds.
"""

from __future__ import annotations

import json
import os
import sys

from adrs.jail import _linux, _rootfs

NAMESPACES = (_linux.CLONE_NEWNS | _linux.CLONE_NEWPID | _linux.CLONE_NEWNET
              | _linux.CLONE_NEWIPC | _linux.CLONE_NEWUTS)


def _status(fd: int, line: str) -> None:
    os.write(fd, (line.replace("\n", " ") + "\n").encode(errors="replace"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(args[0])
    status_fd, sync_fd = int(config["status_fd"]), int(config["sync_fd"])
    _linux.die_with_parent()
    user = config["mode"] == "userns"
    try:
        _linux.unshare(NAMESPACES | (_linux.CLONE_NEWUSER if user else 0))
    except OSError as exc:
        _status(status_fd, f"E namespaces: {exc.strerror}")
        return 1
    _status(status_fd, "U")
    if os.read(sync_fd, 1) != b"M":  # the judge wrote the maps (or gave up)
        return 1
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the zygote's first process
        try:
            _zygote_process(config, status_fd)
        except BaseException as exc:  # noqa: BLE001 - report every failure, then stop
            _status(status_fd, f"E {type(exc).__name__}: {exc}")
        os._exit(1)
    _status(status_fd, f"Z {pid}")
    os.close(status_fd)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    return os.waitstatus_to_exitcode(status) & 0xFF


def _zygote_process(config: dict, status_fd: int) -> None:  # pragma: no cover - child
    _linux.die_with_parent()
    os.setsid()
    _rootfs.build(_rootfs.View.from_json(config["view"]))
    if config["mode"] == "userns":  # in a root-only jail this would be the host's limit
        _forbid_nested_user_namespaces()
    _rootfs.seal()
    _linux.set_hostname("adrs-jail")
    _linux.bring_loopback_up()
    os.set_inheritable(status_fd, False)  # closed by a successful exec, open after a failed one
    os.chdir("/tmp")
    argv = list(config["zygote"])
    os.execve(argv[0], argv, dict(config["env"]))


def _forbid_nested_user_namespaces() -> None:  # pragma: no cover - child
    # The limit is per user namespace: 0 here means no process of the jail can create one
    # (so none can gain capabilities over mounts of its own). A kernel that refuses the
    # write is reported by the zygote's layer check.
    try:
        with open("/proc/sys/user/max_user_namespaces", "w") as handle:
            handle.write("0")
    except OSError:
        pass


if __name__ == "__main__":  # pragma: no cover - started as a subprocess
    sys.exit(main())
