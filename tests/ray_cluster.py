"""A real Ray cluster on 127.0.0.1 for the tests: ``ray start --head`` in a temporary
folder of its own, with two resource labels so that actors can be pinned apart.

Only loopback: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps every socket on 127.0.0.1
(DESIGN.md), and token authentication is off (``RAY_AUTH_MODE=disabled``: the drivers of
the tests run with other home folders, where Ray's token file is not). With that
variable Ray 2.60 refuses a second node (``ray start --address`` panics: "Multi-node Ray
clusters are not supported"), and without it the node binds to every interface: so one
node, whose two labels stand for two nodes. The processes are found again by the
folder in their command lines (and their children), so stopping the cluster ends
exactly what it started, never another Ray of the machine (``ray stop`` would end them
all).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLUSTER_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
               "RAY_USAGE_STATS_ENABLED": "0"}
LABELS = ("adrs_label_a", "adrs_label_b")  # one unit each: at most one actor per label


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LoopbackCluster:
    """``ray start --head`` on 127.0.0.1.

    Args:
        cpus: CPUs the node offers (Ray's accounting, not real cores).
    """

    def __init__(self, cpus: int = 2) -> None:
        self.ray = str(Path(sys.executable).with_name("ray"))
        # short: Ray's unix sockets live under it (108 characters at most)
        self.temp = Path(tempfile.mkdtemp(prefix="rayt-", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        self.env.update(CLUSTER_ENV)
        labels = ", ".join(f'"{label}": 1' for label in LABELS)
        self._start(["--head", "--port", str(self.port), "--num-cpus", str(cpus),
                     "--resources", f"{{{labels}}}", "--include-dashboard", "false",
                     "--disable-usage-stats"])

    def _start(self, args: list[str]) -> None:
        done = subprocess.run(
            [self.ray, "start", "--node-ip-address", "127.0.0.1", "--temp-dir",
             str(self.temp), *args], env=self.env, capture_output=True, text=True,
            timeout=180, check=False)
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start {' '.join(args)} failed: {done.stderr[-2000:]}")

    def pids(self) -> list[int]:
        """Every process of this cluster: those naming its folder, and their children."""
        parents: dict[int, int] = {}
        ours: set[int] = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            if str(self.temp).encode() in cmdline:
                ours.add(int(entry))
        grew = True
        while grew:
            children = {pid for pid, parent in parents.items() if parent in ours} - ours
            ours |= children
            grew = bool(children)
        return sorted(ours - {os.getpid()})

    def stop(self) -> None:
        """End every process of the cluster (TERM, then KILL) and remove its folder."""
        for number in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, number)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + (3 if number == signal.SIGTERM else 10)
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.2)
        shutil.rmtree(self.temp, ignore_errors=True)


def listening_hosts(pids: list[int]) -> set[str]:
    """The local addresses on which these processes listen for TCP connections (from
    /proc/net/tcp and tcp6: ``127.0.0.1``, ``0.0.0.0``, ``::``, ``::ffff:127.0.0.1``...)."""
    import ipaddress

    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with_link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if with_link.startswith("socket:["):
                    inodes.add(with_link[8:-1])
        except OSError:
            continue
    hosts = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            # the kernel prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i:i + 4][::-1] for i in range(0, width, 4))
            address = ipaddress.ip_address(words)
            mapped = getattr(address, "ipv4_mapped", None)
            hosts.add(f"::ffff:{mapped}" if mapped is not None else str(address))
    return hosts
