"""The jail itself: its layers, its limits, what it reports, and how it ends candidates.

Real namespaces, real processes and signals; the tests skip, saying why, on a machine
that refuses user (or, as root, PID/mount/network) namespaces.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from adrs.cli import main
from adrs.jail import CandidateFailure, Jail, JailError, JailLimits, JailRunner, JailTask
from adrs.jail._script import TASK

from tests.attacks.conftest import isolation_or_skip


@pytest.fixture(scope="module")
def jail() -> Iterator[Jail]:
    isolation_or_skip()
    with Jail(TASK, JailLimits(cpu_s=3, memory_mb=512, tmp_mb=16, max_processes=32,
                               output_bytes=1000)) as opened:
        yield opened


def call(jail: Jail, body: str, function: str = "main", timeout: float = 20.0,
         cpu: bool = False):
    with jail.open(textwrap.dedent(body)) as session:
        return session.call("call", {"function": function}, timeout=timeout, cpu=cpu)


def test_every_layer_is_active_and_named(jail: Jail) -> None:
    assert jail.layers.isolated and not jail.layers.missing, jail.layers.summary()
    assert [layer.name for layer in jail.layers.layers] == [
        "user", "uid", "pid", "net", "mount", "ipc", "no_nested_userns", "no_new_privs",
        "seccomp", "rlimits", "clean_env"]
    seen = call(jail, """
        import os, resource, socket
        def main():
            limits = {name: resource.getrlimit(getattr(resource, name)) for name in
                      ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_NPROC")}
            status = open("/proc/self/status").read()
            caps = [line.split()[1] for line in status.splitlines()
                    if line.startswith(("CapEff", "CapPrm", "CapBnd", "CapAmb"))]
            nnp = [line.split()[1] for line in status.splitlines()
                   if line.startswith(("NoNewPrivs", "Seccomp:"))]
            return {"pid": os.getpid(), "procs": [p for p in os.listdir("/proc") if p.isdigit()],
                    "env": sorted(os.environ), "cwd": os.getcwd(), "caps": caps, "nnp": nnp,
                    "limits": {k: v[0] == v[1] for k, v in limits.items()},
                    "interfaces": [name for _, name in socket.if_nameindex()],
                    "root": sorted(os.listdir("/")), "fds": sorted(os.listdir("/proc/self/fd"))}
    """).header["value"]
    assert seen["pid"] == 1 and seen["procs"] == ["1"]
    from adrs.jail._jail import PASSED_ENV

    assert [name for name in seen["env"] if name not in PASSED_ENV] == [
        "HOME", "LANG", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS", "PATH", "TMPDIR"]
    assert seen["cwd"] == "/tmp"
    assert seen["caps"] == ["0000000000000000"] * 4
    assert seen["nnp"] == ["1", "2"]  # no_new_privs, seccomp filter mode
    assert all(seen["limits"].values()), seen["limits"]
    assert seen["interfaces"] == ["lo"]
    # the system folders, plus the top folder of each interpreter and package path the
    # jail binds (wherever the machine keeps its checkout: /work, /check, /home ...)
    from adrs.jail._rootfs import python_paths

    bound_tops = {Path(path).parts[1] for path in python_paths() if len(Path(path).parts) > 1}
    assert set(seen["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc",
                                 "root", "sbin", "tmp", "usr"} | bound_tops
    assert seen["fds"] == ["0", "1", "2", "3", "4"]  # stdin, output, output, channel, listdir


def test_failures_are_reported_as_what_they_are(jail: Jail) -> None:
    cases = {
        "import os\ndef main():\n    os._exit(71)\n":
            "call: the candidate's process exited with status 71 before answering",
        "import ctypes\ndef main():\n    ctypes.string_at(0)\n":
            "call: the candidate's process was killed by signal SIGSEGV (segmentation fault)",
        "def main():\n    raise KeyError('gone')\n": "main() raised KeyError: 'gone' (line 2)",
        "import sys\ndef main():\n    sys.exit(3)\n": "main() raised SystemExit: 3 (line 3)",
        "def main():\n    while True:\n        pass\n": "call: CPU time limit exceeded (3 s)",
    }
    for body, message in cases.items():
        with pytest.raises(CandidateFailure) as caught:
            call(jail, body, timeout=60)
        assert str(caught.value) == message, body


def test_a_sleeping_candidate_is_killed_at_its_timeout(jail: Jail) -> None:
    started = time.monotonic()
    with pytest.raises(CandidateFailure, match=r"^call: timed out after 1 s \(killed\)$"):
        call(jail, "import time\ndef main():\n    time.sleep(60)\n", timeout=1.0)
    assert time.monotonic() - started < 30


def test_output_is_captured_and_capped(jail: Jail) -> None:
    with jail.open("def main():\n    print('x' * 5000)\n    return 1\n") as session:
        session.call("call")
        time.sleep(0.1)
        session.call("call")
        assert session.output.startswith("x" * 1000) and len(session.output) == 1000
        assert session.output_dropped >= 4001


def test_cpu_time_counts_every_process_of_the_jail(jail: Jail) -> None:
    body = """
        import os, time
        def burn(seconds):
            end = time.process_time() + seconds
            while time.process_time() < end:
                pass
        def main():
            pid = os.fork()
            if pid == 0:
                burn(0.4)
                os._exit(0)
            burn(0.2)
            os.waitpid(pid, 0)
            return 1
    """
    reply = call(jail, body, cpu=True, timeout=60)
    assert reply.cpu_s is not None and reply.cpu_s >= 0.55, reply.cpu_s
    assert reply.wall_s >= 0.35


def test_everything_a_candidate_starts_dies_with_it() -> None:
    from tests.attacks.conftest import jail_processes, new_processes, processes

    isolation_or_skip()
    before = processes()
    body = """
        import os, time
        def main():
            for _ in range(3):
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:
                        time.sleep(120)
                    os._exit(0)
            return 1
    """
    with Jail(TASK) as jail:
        assert call(jail, body).header["value"] == 1
    assert new_processes(before) == []  # the detached grandchildren too
    assert set(jail_processes()) <= set(before)


def test_one_candidate_leaves_nothing_for_the_next(jail: Jail) -> None:
    leave = """
        import os
        def main():
            open("/tmp/left-behind", "w").write("x")
            os.makedirs("/tmp/dir", exist_ok=True)
            return sorted(os.listdir("/tmp"))
    """
    look = """
        import os
        def main():
            return sorted(os.listdir("/tmp"))
    """
    fresh = call(jail, look).header["value"]  # a checkout under /tmp shows here too
    assert ".program" in fresh and "left-behind" not in fresh
    assert call(jail, leave).header["value"] == sorted([*fresh, "dir", "left-behind"])
    assert call(jail, look).header["value"] == fresh


def test_tasks_of_one_key_with_other_inputs_get_their_own_jail() -> None:
    isolation_or_skip()
    runner = JailRunner()
    try:
        first = JailTask("adrs.jail._script:ScriptHandler", "same", {"n": 1})
        second = JailTask("adrs.jail._script:ScriptHandler", "same", {"n": 2})
        assert runner.jail(first) is runner.jail(first)
        assert runner.jail(first) is not runner.jail(second)
    finally:
        runner.close()


def test_without_namespaces_the_missing_layers_are_named() -> None:
    with Jail(TASK, isolation="none") as jail:
        assert not jail.layers.isolated
        missing = {layer.name for layer in jail.layers.missing}
        assert {"pid", "net", "mount", "ipc", "user"} <= missing
        with jail.open("import os\ndef main():\n    return os.getcwd()\n") as session:
            cwd = session.call("call").header["value"]
            assert os.path.isdir(cwd) and cwd.startswith("/tmp/adrs-jail-")
    assert not os.path.exists(cwd)  # its private folder went with the jail
    summary = jail.layers.summary()
    assert summary.startswith("sandbox: ") and "MISSING: " in summary


def test_a_handler_outside_adrs_is_refused() -> None:
    with pytest.raises(JailError, match="is not one of adrs's"), \
            Jail(JailTask("os:system", "x"), isolation="none"):
        pass


def test_doctor_reports_the_layers(capsys: pytest.CaptureFixture[str]) -> None:
    isolation_or_skip()
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["isolated"] and report["answered"]
    assert all(layer["active"] for layer in report["layers"])
    assert not any(path.startswith(str(os.path.expanduser("~")) + "/.") for path in
                   report["visible"] if "pyenv" not in path)
    assert main(["doctor", "--isolation", "none"]) == 1
    text = capsys.readouterr().out
    assert "NOT ISOLATED" in text and "MISSING pid" in text


def test_children_stay_for_the_parent_to_reap_and_programs_still_run(jail: Jail) -> None:
    # the kernel may not reap children by itself (their CPU time would be lost to the
    # judge's count); starting programs and waiting for them works as usual
    seen = call(jail, """
        import ctypes, signal, subprocess
        def main():
            results = []
            for action in (signal.SIG_IGN, lambda *a: None):
                try:
                    signal.signal(signal.SIGCHLD, action)
                    results.append("set")
                except OSError as exc:
                    results.append(exc.errno)
            results.append(signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL)
            results.append(subprocess.run(["/bin/sh", "-c", "exit 3"]).returncode)
            return results
    """).header["value"]
    assert seen == [1, 1, True, 3]
