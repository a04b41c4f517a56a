"""What the attack tests share: a canary key, a scripted model endpoint, and ways to see
that nothing outside the jail changed (files, processes, the run's records)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.evolve.conftest import Reply, ScriptedServer

CANARY = "sk-canary-6d1f0c9e2b7a4e53"  # the "API key" no candidate may ever read
HOME_SECRET = "home-secret-93a1c2"  # in a file of the user's home folder
REPO = Path(__file__).resolve().parents[2]

__all__ = ["CANARY", "HOME_SECRET", "REPO", "Reply", "ScriptedServer", "digests",
           "isolation_or_skip", "jail_processes", "processes", "run_cli"]


def isolation_or_skip() -> None:
    """Skip, saying why, where this machine gives the jail no namespaces."""
    from adrs.jail import Jail, JailError
    from adrs.jail._script import TASK

    try:
        with Jail(TASK, isolation="require") as jail:
            layers = jail.layers
    except JailError as exc:
        pytest.skip(f"no isolation on this machine: {exc}")
    if not layers.isolated:
        pytest.skip(f"no isolation on this machine: {layers.summary()}")


@pytest.fixture(scope="session")
def isolated() -> None:
    isolation_or_skip()


@pytest.fixture
def hostile_home(tmp_path: Path) -> Path:
    """A home folder holding a secret (the tests point HOME at it)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".secret").write_text(HOME_SECRET)
    return home


def run_cli(args: list[str], env: dict[str, str], cwd: Path,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m adrs.cli ARGS`` as a user would run it."""
    return subprocess.run([sys.executable, "-m", "adrs.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADRS_")}
    env.update({"HOME": str(home), "OPENAI_API_KEY": CANARY, "ADRS_TEST_TOKEN": CANARY,
                **extra})
    env["ADRS_CACHE_DIR"] = str(home / ".cache")
    return env


def processes() -> dict[int, tuple[str, str]]:
    """Every process on the machine: pid -> (start time, command line)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        start = stat[stat.rindex(")") + 2:].split()[19]
        found[int(entry)] = (start, cmdline.decode(errors="replace"))
    return found


def jail_processes() -> list[int]:
    """Processes of the dedicated jail uid (root) or in a namespace of a jail."""
    uid = 61000
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            uids = next(line for line in status.splitlines() if line.startswith("Uid:"))
            if str(uid) in uids.split()[1:]:
                alive.append(int(entry))
    return alive


def _ours(pid: int, cmdline: str) -> bool:
    """A process of adrs: a worker, launcher or zygote, or anything in a nested PID
    namespace (every process of a jail is)."""
    if "adrs" in cmdline:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    nspid = next((line for line in status.splitlines() if line.startswith("NSpid:")), "")
    return len(nspid.split()) > 2


def new_processes(before: dict[int, tuple[str, str]], wait_s: float = 10.0) -> list[str]:
    """Processes of adrs or of a jail started since ``before`` that are still alive
    (after up to ``wait_s`` for the kernel to finish killing a jail); unrelated processes
    of the machine are not counted."""
    deadline = time.monotonic() + wait_s
    while True:
        now = processes()
        extra = [f"{pid}: {cmd}" for pid, (start, cmd) in now.items()
                 if before.get(pid, (None,))[0] != start and pid != os.getpid()
                 and _ours(pid, cmd)]
        if not extra or time.monotonic() > deadline:
            return extra
        time.sleep(0.1)


def digests(paths: Iterable[Path]) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (files and folders)."""
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts:
                continue
            try:
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue
    return out


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    fake = ScriptedServer()
    yield fake
    fake.close()
