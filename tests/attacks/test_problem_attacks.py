"""Reward hacks and escapes against each problem's judge.

Every test hands one problem a hostile candidate and checks the exact outcome: refused
with the named reason, or harmless (the judge's figures equal those of the same program
without the cheat, and nothing outside the jail changed). The candidates run in the
session's jail (``problem.evaluate(src, "quick", jail)``), and a few through real
``adrs eval`` processes, to show that the command line judges through the same jail and
leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from adrs.problems import get_problem

from tests.attacks.conftest import (
    CANARY,
    HOME_SECRET,
    REPO,
    cli_env,
    digests,
    jail_processes,
    new_processes,
    processes,
    run_cli,
)

SITE = REPO / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" \
    / "site-packages"
ZYGOTE = "adrs.jail._zygote"


# -- what survives an ``adrs eval`` ---------------------------------------------------------

def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2:].split()[1])


def _of(pid: int, zygotes: set[int]) -> bool:
    """Whether ``pid`` is one of ``zygotes`` or descends from one."""
    for _ in range(64):
        if pid in zygotes:
            return True
        if pid <= 1:
            return False
        pid = _parent(pid)
    return False


def left_behind(before: dict[int, tuple[str, str]],
                wait_s: float = 10.0) -> tuple[list[str], list[int]]:
    """``(new_processes(before), jail_processes())`` once the kernel has finished killing,
    less the jails this test process itself runs (the session's jail forks its spares
    whenever it likes). With no such jail, they are exactly the two helpers' answers."""
    zygotes = {pid for pid, (_, cmd) in before.items() if ZYGOTE in cmd}
    deadline = time.monotonic() + wait_s
    while True:
        extra = [line for line in new_processes(before, 0.0)
                 if not _of(int(line.split(":")[0]), zygotes)]
        jailed = [pid for pid in jail_processes() if not _of(pid, zygotes)]
        if (not extra and not jailed) or time.monotonic() > deadline:
            return extra, jailed
        time.sleep(0.1)


def watched_files(home: Path, shared: Path) -> list[Path]:
    """What no candidate may change: the sources and the installed package, the
    interpreter's .pth hooks, the real workloads, the user's home."""
    return [REPO / "python" / "adrs", REPO / "simulators", REPO / "README.md",
            SITE / "adrs", *sorted(SITE.glob("*.pth")), shared / "data", home]


STEAL = textwrap.dedent("""\
    import glob, os
    FOUND = [v for v in os.environ.values() if "canary" in v]
    PATHS = glob.glob("/proc/*/environ") + glob.glob("/proc/*/task/*/environ")
    for path in PATHS:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if b"canary" in data:
            FOUND.append(data.decode(errors="replace"))
    for path in (os.path.expanduser("~/.secret"), HOME_SECRET_PATH):
        try:
            with open(path) as handle:
                FOUND.append(handle.read())
        except OSError:
            pass
    PIDS = sorted(p for p in os.listdir("/proc") if p.isdigit())
    if FOUND:
        raise RuntimeError("stolen: " + " ".join(FOUND))
""")


def steal(home: Path) -> str:
    return STEAL.replace("HOME_SECRET_PATH", repr(str(home / ".secret")))


def test_cli_eval_toy_candidate_reads_no_key_and_no_home(tmp_path, hostile_home, isolated):
    # it reports what it could see by failing on purpose
    program = tmp_path / "scan.py"
    program.write_text(steal(hostile_home) + (
        "OWNERS = sorted({path.split('/')[2] for path in PATHS} - {'self', 'thread-self'})\n"
        'raise RuntimeError(f"SCAN {PIDS} {OWNERS} {len(FOUND)} {os.environ[\'HOME\']}")\n'))
    last = len(program.read_text().splitlines())
    before = processes()
    done = run_cli(["eval", "toy", str(program), "--split", "quick", "--json"],
                   cli_env(hostile_home), tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    report = json.loads(done.stdout)
    # the jail's /proc shows the candidate alone, and its environment is a clean one
    assert report["error"] == ("scan.py raised at import: RuntimeError: SCAN ['1'] ['1'] 0 "
                               f"/tmp (line {last})")
    for secret in (CANARY, HOME_SECRET):
        assert secret not in done.stdout and secret not in done.stderr
    assert left_behind(before) == ([], [])


def test_cli_eval_txn_candidate_that_steals_scores_as_the_honest_one(tmp_path, hostile_home,
                                                                     shared_dir, isolated):
    honest, cheat = tmp_path / "honest.py", tmp_path / "cheat.py"
    body = "def schedule(workload):\n    return list(range(workload.num_txns))\n"
    honest.write_text(body)
    cheat.write_text(steal(hostile_home) + body)
    args = ["--data", str(shared_dir / "data"), "--split", "quick", "--json"]
    before = processes()
    done = run_cli(["eval", "txn", str(cheat), *args], cli_env(hostile_home), tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert left_behind(before) == ([], [])
    reference = run_cli(["eval", "txn", str(honest), *args], cli_env(hostile_home), tmp_path)
    got, expected = json.loads(done.stdout), json.loads(reference.stdout)
    assert got["ok"] and got["score"] == expected["score"] == 1e6 / 453
    assert got["details"]["workloads"][0]["makespan"] == 452
    for secret in (CANARY, HOME_SECRET):
        assert secret not in done.stdout + done.stderr


def test_cli_eval_candidate_cannot_persist_or_linger(tmp_path, hostile_home, shared_dir,
                                                     isolated):
    """A candidate writes into the installed package, the interpreter's start-up hooks,
    the workloads, the home and the working folder, leaves a setsid double-forked daemon
    behind, and fails on purpose to report what it managed."""
    import adrs

    targets = [adrs.__file__, str(REPO / "python" / "adrs" / "problems" / "toy.py"),
               str(REPO / "simulators" / "llm_sql.py"), str(SITE / "adrs-evil.pth"),
               str(SITE / "adrs" / "simulators" / "evil.py"), sys.prefix + "/evil.pth",
               str(REPO / "README.md"), str(shared_dir / "data" / "txn_workloads.json"),
               str(hostile_home / ".bashrc"), str(tmp_path / "evil.txt")]
    program = tmp_path / "persist.py"
    program.write_text(textwrap.dedent(f"""\
        import os, time
        results = []
        for target in {targets!r}:
            try:
                with open(target, "a") as handle:
                    handle.write("import os; os.system('touch /tmp/pwned-adrs')\\n")
                results.append("WROTE " + target)
            except OSError as exc:
                results.append(type(exc).__name__)
        with open("/tmp/pwned-adrs", "w") as handle:  # its own private /tmp
            handle.write("x")
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os._exit(0)
        time.sleep(0.2)
        raise RuntimeError("PERSIST " + " ".join(results))
    """))
    watched = watched_files(hostile_home, shared_dir)
    before_digests = digests(watched)
    before = processes()
    done = run_cli(["eval", "toy", str(program), "--split", "quick", "--json"],
                   cli_env(hostile_home), tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    error = json.loads(done.stdout)["error"]
    assert error.startswith("persist.py raised at import: RuntimeError: PERSIST "), error
    outcomes = error.split("PERSIST ")[1].rsplit(" (line", 1)[0].split()
    assert len(outcomes) == len(targets) and "WROTE" not in error
    assert set(outcomes) <= {"OSError", "PermissionError", "FileNotFoundError"}, outcomes
    assert left_behind(before) == ([], [])
    assert digests(watched) == before_digests
    for target in targets[3:6] + targets[8:]:
        assert not Path(target).exists(), target
    assert not Path("/tmp/pwned-adrs").exists()


def test_cli_eval_txn_runaway_with_alarms_off_is_killed_with_its_daemon(tmp_path, hostile_home,
                                                                        shared_dir, isolated):
    program = tmp_path / "runaway.py"
    program.write_text(textwrap.dedent("""\
        import os, signal, time
        signal.setitimer = lambda *args, **kwargs: (0.0, 0.0)
        signal.alarm = lambda seconds: 0
        for number in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)

        def schedule(workload):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    while True:
                        pass
                os._exit(0)
            while True:
                try:
                    time.sleep(1)
                except BaseException:
                    pass
    """))
    before = processes()
    done = run_cli(["eval", "txn", str(program), "--data", str(shared_dir / "data"),
                    "--split", "quick", "--option", "time_limit_s=0.5", "--json"],
                   cli_env(hostile_home), tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["error"] == "workload_1: schedule ran past its time limit of 0.5 s (killed)"
    assert report["score"] == 0.0
    assert left_behind(before) == ([], [])


# -- spot ----------------------------------------------------------------------------------

RULE = ("is not allowed: a spot policy is numbers, math, numpy arrays and plain functions "
        "(see the problem's description)")
SPOT_ERROR_RUN = "run us-west-2a_k80_1/0.json (scenario 48:52:0.2) at tick 0"


class MustNotRun:
    """A runner that fails the test if anything of the program is sent to a jail."""

    trusted = False

    def session(self, *args, **kwargs):
        raise AssertionError("a refused policy was sent to a jail")


@pytest.fixture(scope="module")
def spot(shared_dir):
    return get_problem("spot", data=shared_dir / "data")


@pytest.fixture(scope="module")
def greedy(spot) -> str:
    return "import numpy as np\n" + spot.baselines["greedy"].program


@pytest.fixture(scope="module")
def greedy_quick(spot, greedy, jail):
    result = spot.evaluate(greedy, "quick", jail)
    assert result.ok, result.error
    return result


def as_helper(program: str, decide: str) -> str:
    """The program's policy renamed greedy(), and a new decide() that uses it."""
    return program.replace("def decide(obs, mem):", "def greedy(obs, mem):") + \
        "\n\n" + textwrap.dedent(decide)


REFUSED = [
    # (where the line goes, the line, the construct the error names)
    ("top", "import sys", "import sys"),
    ("body", "frame = sys._getframe(1)", "the attribute '_getframe'"),
    ("top", "import inspect", "import inspect"),
    ("top", "import gc", "import gc"),
    ("top", "import ctypes", "import ctypes"),
    ("top", "import numba", "import numba"),
    ("top", "from numba import cfunc", "from numba import"),
    ("top", "from numpy import ctypeslib", "from numpy import"),
    ("body", "lib = np.ctypeslib", "numpy.ctypeslib"),
    ("body", "pointer = obs.ctypes", "the attribute .ctypes"),
    ("body", "owner = obs.base", "the attribute .base"),
    ("body", "raw = obs.view(np.uint8)", "the attribute .view"),
    ("body", "kind = obs.__class__", "the attribute '__class__'"),
    ("body", "interface = obs.__array_interface__", "the attribute '__array_interface__'"),
    ("body", "pointer = getattr(obs, 'ctypes')", "the name 'getattr'"),
    ("body", "trace = open('/proc/self/maps')", "the name 'open'"),
    ("body", "os = __import__('os')", "the name '__import__'"),
    ("body", "scope = globals()", "the name 'globals'"),
    ("body", "value = eval('obs')", "the name 'eval'"),
    ("body", "kind = type(obs)", "the name 'type'"),
    ("body", "builtins = __builtins__", "the name '__builtins__'"),
    ("body", "later = lambda hook=print: hook", "the name 'print'"),
    ("body", "global TRACE", "a global statement"),
    ("signature", "def decide(obs, mem: __import__('os')):", "the name '__import__'"),
    ("signature", "def decide(obs, mem=__import__):", "the name '__import__'"),
    ("signature", "def decide(obs, mem) -> __import__('ctypes'):", "the name '__import__'"),
    ("top", "TRACE = open('/proc/self/maps')", "a call in a module-level constant"),
]


def refused_program(greedy: str, where: str, line: str) -> str:
    if where == "top":
        return f"{line}\n{greedy}"
    if where == "signature":
        return greedy.replace("def decide(obs, mem):", line, 1)
    return greedy.replace("def decide(obs, mem):\n", f"def decide(obs, mem):\n    {line}\n", 1)


@pytest.mark.parametrize(("where", "line", "construct"), REFUSED,
                         ids=[case[1] for case in REFUSED])
def test_spot_policy_outside_the_subset_is_refused_before_it_runs(spot, greedy, where, line,
                                                                  construct):
    program = refused_program(greedy, where, line)
    number = program.splitlines().index(line if where != "body" else f"    {line}") + 1
    result = spot.evaluate(program, "quick", MustNotRun())
    assert result.error == f"candidate.py line {number}: {construct} {RULE}"
    assert result.score == -100000.0 and result.feedback == f"The candidate failed: {result.error}"
    assert "runs" not in result.details


def test_spot_refusals_name_line_and_construct_and_the_jail_checks_again(spot, greedy, jail):
    from adrs.jail import CandidateFailure

    frame = refused_program(greedy, "body", "frame = sys._getframe(1)")
    assert spot.evaluate("import sys\n" + frame, "quick", jail).error == (
        "candidate.py line 1: import sys is not allowed: a spot policy is numbers, math, numpy "
        "arrays and plain functions (see the problem's description)")
    pointer = refused_program(greedy, "body", "pointer = obs.ctypes")
    error = ("candidate.py line 35: the attribute .ctypes is not allowed: a spot policy is "
             "numbers, math, numpy arrays and plain functions (see the problem's description)")
    assert spot.evaluate(pointer, "quick", jail).error == error
    # sent to the jail past the judge's check, the jail refuses it before compiling it
    with pytest.raises(CandidateFailure) as caught:
        jail.session(spot.jail_task("quick"), pointer, "candidate.py").close()
    assert str(caught.value) == error


def test_spot_greedy_through_the_jail_scores_as_the_builtin(spot, greedy_quick):
    # the actions the jail reports are replayed by the judge: the same cost as its own C++
    builtin = spot.evaluate_baseline("greedy", "quick")
    assert greedy_quick.score == builtin.score
    assert greedy_quick.metrics == builtin.metrics


def test_spot_writes_into_obs_and_mem_after_deciding_change_nothing(spot, greedy, greedy_quick,
                                                                    jail):
    # scribbles over every field the simulator rebuilds each tick, and the scratch memory
    scribble = as_helper(greedy, """\
        def decide(obs, mem):
            action = greedy(obs, mem)
            for i in (TIME, PROGRESS, REMAINING_OVERHEAD, HAS_SPOT, CLUSTER_TYPE,
                      LAST_CLUSTER_TYPE, CURRENT_REGION, REGION_HAS_SPOT, REGION_HAS_SPOT + 1):
                obs[i] = -1e9
            for i in range(mem.size):
                mem[i] = 1e9
            return action
    """)
    result = spot.evaluate(scribble, "quick", jail)
    assert result.ok, result.error
    assert result.score == greedy_quick.score and result.metrics == greedy_quick.metrics


def test_spot_a_policy_cannot_move_the_deadline_or_finish_the_job_through_obs(spot, greedy,
                                                                              jail):
    # writing the job's constants changes only what the policy itself reads next: it
    # scores exactly as the same edits made to a private copy
    cheat = as_helper(greedy, """\
        def decide(obs, mem):
            action = greedy(obs, mem)
            obs[DEADLINE] = 1e12
            obs[TASK_DURATION] = 0.0
            obs[PROGRESS] = 1e12
            return action
    """)
    private = as_helper(greedy, """\
        def decide(obs, mem):
            view = obs.copy()
            if obs[TIME] > 0.0:
                view[DEADLINE] = 1e12
                view[TASK_DURATION] = 0.0
            return greedy(view, mem)
    """)
    first = as_helper(greedy, """\
        def decide(obs, mem):
            obs[TIME] = -1e9
            return greedy(obs, mem)
    """)
    first_private = as_helper(greedy, """\
        def decide(obs, mem):
            view = obs.copy()
            view[TIME] = -1e9
            return greedy(view, mem)
    """)
    cheated, honest = spot.evaluate(cheat, "quick", jail), spot.evaluate(private, "quick", jail)
    assert cheated.ok and honest.ok, (cheated.error, honest.error)
    assert cheated.score == honest.score and cheated.metrics == honest.metrics
    assert cheated.metrics["deadline_missed"] == 0.0  # the judge's own deadline held
    early, early_private = (spot.evaluate(first, "quick", jail),
                            spot.evaluate(first_private, "quick", jail))
    assert early.ok and early.score == early_private.score


def test_spot_memory_does_not_carry_between_runs(spot, greedy, greedy_quick, jail):
    # a run that found a mark left by an earlier run would go on demand at once
    leak = as_helper(greedy, """\
        def decide(obs, mem):
            if obs[TIME] == 0.0 and mem[63] != 0.0:
                return ON_DEMAND
            mem[63] = 1.0
            return greedy(obs, mem)
    """)
    result = spot.evaluate(leak, "quick", jail)
    assert result.ok and result.score == greedy_quick.score


def test_spot_uninitialised_memory_holds_no_future_trace(spot, jail):
    # 32 ticks of the first run's availability, far ahead of where the policy looks
    workload = spot.workload("quick")
    traces, trace = workload.traces, workload.run_traces[0]
    ahead = tuple(int(v) for v in traces.available[traces.offsets[trace] + 400:][:32])
    assert len(set(ahead)) == 2
    probe = textwrap.dedent(f"""\
        import numpy as np
        AHEAD = {ahead!r}

        def decide(obs, mem):
            if obs[0] == 0.0:
                for size in (1000, 66480, 140000):
                    x = np.empty(size, np.uint8)
                    for i in range(x.size - 32):
                        same = True
                        for j in range(32):
                            if x[i + j] != AHEAD[j]:
                                same = False
                                break
                        if same:
                            return 9
            return 2
    """)
    result = spot.evaluate(probe, "quick", jail)
    assert result.ok, result.error
    plain = spot.evaluate("def decide(obs, mem):\n    return 2\n", "quick", jail)
    assert plain.ok and result.score == plain.score


@pytest.mark.parametrize(("statement", "message"), [
    ("x = obs[1000]", "index 1000 is out of bounds for axis 0 with size 14"),
    ("x = obs[-1000]", "index -1000 is out of bounds for axis 0 with size 14"),
    ("mem[64] = 1.0", "index 64 is out of bounds for axis 0 with size 64"),
    ("mem[-65] = 1.0", "index -65 is out of bounds for axis 0 with size 64"),
])
def test_spot_out_of_bounds_access_fails(spot, greedy, jail, statement, message):
    program = greedy.replace("def decide(obs, mem):\n",
                             f"def decide(obs, mem):\n    {statement}\n", 1)
    number = program.splitlines().index(f"    {statement}") + 1
    result = spot.evaluate(program, "quick", jail)
    assert result.error == (f"{SPOT_ERROR_RUN}: the policy raised IndexError: {message} "
                            f"(line {number}) (36 of 36 runs failed)")
    assert result.score == -100000.0


class Forging:
    """A jail whose replies were forged on the way (what an escaped candidate could send):
    ``forge`` rewrites the arrays of every reply."""

    trusted = False

    def __init__(self, inner, forge) -> None:
        self.inner, self.forge = inner, forge

    def session(self, *args, **kwargs):
        return _ForgedSession(self.inner.session(*args, **kwargs), self.forge)


class _ForgedSession:
    def __init__(self, real, forge) -> None:
        self.real, self.forge = real, forge

    def __enter__(self):
        self.real.__enter__()
        self.load_reply = self.real.load_reply
        return self

    def __exit__(self, *exc):
        return self.real.__exit__(*exc)

    def call(self, *args, **kwargs):
        reply = self.real.call(*args, **kwargs)
        arrays = {name: np.array(value) for name, value in reply.arrays.items()}
        return replace(reply, arrays=self.forge(arrays))


def _drop_last(arrays):
    actions, offsets = arrays["actions"], arrays["action_offsets"]
    keep = np.ones(len(actions), bool)
    keep[offsets[1:] - 1] = False
    return {"actions": actions[keep], "action_offsets": offsets - np.arange(len(offsets))}


def _one_more(arrays):
    actions, offsets = arrays["actions"], arrays["action_offsets"]
    runs = [np.append(actions[offsets[i]:offsets[i + 1]], 1) for i in range(len(offsets) - 1)]
    return {"actions": np.concatenate(runs), "action_offsets": offsets + np.arange(len(offsets))}


def _all(value):
    return lambda arrays: {**arrays, "actions": np.full_like(arrays["actions"], value)}


def _offsets(arrays):
    offsets = arrays["action_offsets"].copy()
    offsets[-1] = 10**12
    return {**arrays, "action_offsets": offsets}


REPLAY = "run us-west-2a_k80_1/0.json: the jail reported actions that do not fit the run"
FORGERIES = {
    "drop_last_action": (_drop_last, f"{REPLAY} (after 311 of them) (36 of 36 runs failed)"),
    "one_more_action": (_one_more, f"{REPLAY} (after 312 of them) (36 of 36 runs failed)"),
    "never_run": (_all(0), f"{REPLAY} (after 312 of them) (36 of 36 runs failed)"),
    "not_an_action": (_all(7), f"{REPLAY} (after 1 of them) (36 of 36 runs failed)"),
    "float_actions": (lambda a: {**a, "actions": a["actions"].astype(np.float64)},
                      "the jail's reply holds no actions for every run"),
    "no_actions": (lambda a: {"action_offsets": a["action_offsets"]},
                   "the jail's reply holds no actions for every run"),
    "offsets_past_the_end": (_offsets, ("the jail's actions are malformed: action_offsets do "
                                        "not span the actions")),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_spot_a_forged_action_record_fails_the_replay(spot, greedy, jail, name):
    forge, error = FORGERIES[name]
    result = spot.evaluate(greedy, "quick", Forging(jail, forge))
    assert result.error == error and result.score == -100000.0


# -- txn -----------------------------------------------------------------------------------

IDENTITY = "    return list(range(workload.num_txns))\n"


@pytest.fixture(scope="module")
def txn(shared_dir):
    return get_problem("txn", data=shared_dir / "data")


def schedule(body: str, head: str = "") -> str:
    return (textwrap.dedent(head) + "\n\ndef schedule(workload):\n"
            + textwrap.indent(textwrap.dedent(body), "    ") + IDENTITY)


def makespans(result) -> list[int]:
    return [row["makespan"] for row in result.details["workloads"]]


def test_txn_swapping_the_model_class_changes_nothing(txn, jail):
    cheat = schedule("""\
        type(workload.model).makespan = lambda self, seq: 0
        type(workload.model).makespans = lambda self, seqs: [0] * len(seqs)
        assert workload.model.makespan([0]) == 0
    """)
    result = txn.evaluate(cheat, "quick", jail)
    assert result.ok, result.error
    assert makespans(result) == [452] and result.score == 1e6 / 453


def test_txn_patching_every_model_it_can_find_changes_nothing(txn, jail):
    cheat = schedule("""\
        found = {}

        def visit(value, depth=0):
            if type(value).__name__ == "TxnModel":
                found[id(value)] = value
            elif depth < 4 and isinstance(value, (list, tuple)):
                for item in value:
                    visit(item, depth + 1)
            elif depth < 4 and isinstance(value, dict):
                for item in list(value.values()):
                    visit(item, depth + 1)
            elif depth < 4 and hasattr(value, "__dict__") and not isinstance(value, type):
                visit(vars(value), depth + 1)

        for holder in gc.get_objects():
            visit(holder, 3)
        frame = sys._getframe()
        while frame is not None:  # the handler's frames hold its models
            visit(dict(frame.f_locals))
            frame = frame.f_back
        for kind in {type(model) for model in found.values()}:
            kind.makespan = lambda self, seq: 0
            kind.makespans = lambda self, seqs: [0] * len(seqs)
        from adrs import _core
        _core.TxnModel = type("TxnModel", (), {"makespan": lambda self, seq: 0})
        assert len(found) >= 2 and workload.model.makespan([0]) == 0, len(found)
    """, head="import gc, sys")
    result = txn.evaluate(cheat, "quick", jail)
    assert result.ok, result.error
    assert makespans(result) == [452] and result.score == 1e6 / 453


def test_txn_disabling_the_jails_own_check_does_not_pass_the_judges(txn, jail):
    cheat = schedule("""\
        import adrs.problems.txn._candidate as candidate
        import adrs.problems.txn._validate as validate
        candidate.check_schedule = lambda order, n: np.array([0], np.int64)
        validate.check_schedule = candidate.check_schedule
        return [0]
    """, head="import numpy as np")
    result = txn.evaluate(cheat, "quick", jail)
    assert result.error == (
        "workload_1: the schedule is not a permutation of all 100 transactions (0..99): 1 items "
        "for 100 transactions; 99 of 100 transactions missing: 1, 2, 3, 4, 5, 6, 7, 8, ...")
    assert result.score == 0.0


def test_txn_frozen_clocks_do_not_hide_the_time_taken(txn, jail):
    cheat = schedule("""\
        import time
        burn_until = time.process_time() + 0.3
        time.perf_counter = time.monotonic = time.time = lambda: 0.0
        while time.process_time() < burn_until:
            pass
    """)
    result = txn.evaluate(cheat, "quick", jail)
    assert result.ok and makespans(result) == [452]
    assert result.metrics["candidate_seconds"] >= 0.3  # the judge's clock, outside


@pytest.mark.parametrize(("where", "error"), [
    ("schedule", "workload_1: schedule ran past its time limit of 0.5 s (killed)"),
    ("import", "the program's module code ran past its time limit of 0.5 s (killed)"),
])
def test_txn_a_runaway_with_its_alarms_off_is_killed(shared_dir, jail, where, error):
    problem = get_problem("txn", data=shared_dir / "data", time_limit_s=0.5)
    head = textwrap.dedent("""\
        import signal
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer = lambda *args, **kwargs: (0.0, 0.0)
        signal.alarm = lambda seconds: 0
        for number in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGVTALRM):
            signal.signal(number, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM})
    """)
    spin = "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n"
    if where == "import":
        program = schedule("", head=head + spin)
    else:
        program = schedule(spin, head=head)
    result = problem.evaluate(program, "quick", jail)
    assert result.error == error and result.score == 0.0


# -- llm-sql -------------------------------------------------------------------------------

SORTED = "def reorder(table):\n    return sorted(table.rows)\n"


@pytest.fixture(scope="module")
def llm(shared_dir):
    return get_problem("llm-sql", data=shared_dir / "data", timing_repeats=1)


@pytest.fixture(scope="module")
def sorted_quick(llm, jail):
    result = llm.evaluate(SORTED, "quick", jail)
    assert result.ok, result.error
    return result


def same_hits(result, honest) -> None:
    assert result.ok, result.error
    for key in ("hit_rate", "hit_count", "total_chars", "lru_hit_rate"):
        assert result.metrics[key] == honest.metrics[key], key
    # the score is the judge's formula of its own figures
    runtime = result.metrics["runtime_s"]
    assert result.score == 0.5 * result.metrics["hit_rate"] + 0.5 / (1 + runtime)


LLM_CHEATS = {
    "rewrites_the_table": textwrap.dedent("""\
        def reorder(table):
            rows = sorted(table.rows)
            object.__setattr__(table, "rows", [rows[0]] * len(rows))
            object.__setattr__(table, "columns", ("everything",))
            table.rows.clear()
            return rows
    """),
    "patches_the_hit_model": textwrap.dedent("""\
        import adrs.problems.llm_sql._problem as problem
        import adrs.problems.llm_sql._table as tables
        import adrs.simulators.llm_sql as model

        class Perfect:
            hit_count, total_chars, hit_rate = 10**9, 1, 1.0

        model.prefix_hits = problem.prefix_hits = lambda *args, **kwargs: Perfect()
        model.prefix_hit_count = tables.prefix_hit_count = lambda *args, **kwargs: 10**9
        problem.LlmSqlProblem._score = lambda self, outcomes: (1.0, 1.0, 0.0)
    """) + SORTED,
    "freezes_the_clocks": textwrap.dedent("""\
        import resource, time
        time.perf_counter = time.process_time = time.monotonic = time.time = lambda: 0.0
        time.thread_time = time.clock_gettime = lambda *args: 0.0
        resource.getrusage = lambda who: None
    """) + SORTED,
}


@pytest.mark.parametrize("name", list(LLM_CHEATS))
def test_llm_sql_cheats_get_the_honest_hit_rate(llm, sorted_quick, jail, name):
    same_hits(llm.evaluate(LLM_CHEATS[name], "quick", jail), sorted_quick)


def test_llm_sql_wrecking_the_jails_copy_of_the_table_is_refused(llm, jail):
    cheat = textwrap.dedent("""\
        import sys
        from adrs.simulators.llm_sql import PackedTable

        def reorder(table):
            frame, packed = sys._getframe(), []
            while frame is not None:
                packed += [v for v in frame.f_locals.values() if isinstance(v, PackedTable)]
                frame = frame.f_back
            for item in packed:  # the ids it sends back now mean other texts
                object.__setattr__(item, "texts", tuple(reversed(item.texts)))
            assert packed
            return sorted(table.rows)
    """)
    result = llm.evaluate(cheat, "quick", jail)
    assert result.error.startswith("table beer: output row 0 "), result.error
    assert result.error.endswith("is not a row of the table: no table row holds these cells "
                                 "(a row may reorder its own cells, nothing else)")
    assert result.score == 0.0


def test_llm_sql_work_at_import_is_timed(llm, sorted_quick, jail):
    burn = textwrap.dedent("""\
        import time
        _until = time.process_time() + 0.3
        while time.process_time() < _until:
            pass
    """) + SORTED
    result = llm.evaluate(burn, "quick", jail)
    same_hits(result, sorted_quick)
    assert result.metrics["runtime_s"] >= 0.25


CHILD_AT_IMPORT = textwrap.dedent("""\
    import os, signal, time
    {reap}
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        _until = time.process_time() + 0.5  # the precomputation, in a child
        while time.process_time() < _until:
            pass
        os.write(write_end, b"done")
        os._exit(0)
    assert os.read(read_end, 4) == b"done"
    {wait}
""") + SORTED


def test_llm_sql_work_in_a_child_process_is_timed(llm, sorted_quick, jail):
    program = CHILD_AT_IMPORT.format(reap="", wait="os.waitpid(child, 0)")
    result = llm.evaluate(program, "quick", jail)
    same_hits(result, sorted_quick)
    assert result.metrics["runtime_s"] >= 0.45


WAIT_UNTIL_REAPED = textwrap.dedent("""\
    while True:  # until the kernel has reaped it: no zombie is left to count
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.005)
""")


def test_llm_sql_a_child_cannot_be_reaped_by_the_kernel_to_hide_its_time(llm, jail):
    # SIGCHLD ignored (or SA_NOCLDWAIT) would drop the children's CPU time: refused
    program = CHILD_AT_IMPORT.format(
        reap="signal.signal(signal.SIGCHLD, signal.SIG_IGN)",
        wait=WAIT_UNTIL_REAPED)
    result = llm.evaluate(program, "quick", jail)
    assert not result.ok
    assert result.error.startswith("candidate.py raised at import: PermissionError: [Errno 1] "
                                   "Operation not permitted"), result.error


# -- eplb ----------------------------------------------------------------------------------

EPLB_SMALL = {"num_replicas": 24, "num_groups": 4, "num_nodes": 2, "num_gpus": 4,
              "interval": 2}
VECTORIZED = "from adrs.kernels import rebalance_experts_vectorized as _placement\n"


@pytest.fixture(scope="module")
def eplb(tmp_path_factory):
    pytest.importorskip("torch", reason="the eplb problem needs the moe extra")
    from adrs.simulators.eplb import LoadModel, generate_records, write_load_history

    # 12 records of 4 layers x 16 experts: 6 windows of 2 (train 4, test 2, quick 3)
    records = generate_records(LoadModel(num_layers=4, num_experts=16, tokens=256), 12, seed=5)
    folder = tmp_path_factory.mktemp("eplb-attacks")
    write_load_history(folder / "expert-load.json", records)
    return get_problem("eplb", data=folder, timing_repeats=1, **EPLB_SMALL)


def eplb_report(result) -> object:
    """What a candidate reported by raising ValueError(json) in rebalance_experts."""
    assert result.error is not None
    text = result.error.split("rebalance_experts raised ValueError: ", 1)[1]
    return json.loads(text.rsplit(" (line ", 1)[0])


def test_eplb_candidate_sees_no_other_process(eplb, jail, isolated):
    spy = VECTORIZED + textwrap.dedent("""\
        import json, os

        def rebalance_experts(weight, replicas, groups, nodes, gpus):
            seen = {"pid": os.getpid(), "ppid": os.getppid(),
                    "procs": sorted(e for e in os.listdir("/proc") if e.isdigit()),
                    "env": sorted(os.environ)}
            for pid in ("1", "self", str(os.getppid()), "2"):
                for name in ("mem", "environ", "cmdline"):
                    try:
                        with open(f"/proc/{pid}/{name}", "rb") as handle:
                            seen[f"{pid}/{name}"] = len(handle.read(64)) > 0
                    except OSError as exc:
                        seen[f"{pid}/{name}"] = type(exc).__name__
            raise ValueError(json.dumps(seen))
    """)
    seen = eplb_report(eplb.evaluate(spy, "quick", jail))
    env = seen.pop("env")
    assert seen == {
        "pid": 1, "ppid": 0, "procs": ["1"],  # itself, the init of its own PID namespace
        "1/mem": "PermissionError", "1/environ": "PermissionError", "1/cmdline": True,
        "self/mem": "PermissionError", "self/environ": "PermissionError",
        "self/cmdline": True, "0/mem": "FileNotFoundError", "0/environ": "FileNotFoundError",
        "0/cmdline": "FileNotFoundError", "2/mem": "FileNotFoundError",
        "2/environ": "FileNotFoundError", "2/cmdline": "FileNotFoundError"}
    assert set(env) <= {"PATH", "LANG", "HOME", "TMPDIR", "OPENBLAS_NUM_THREADS",
                        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "TZ",
                        "TRITON_INTERPRET", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
                        "LC_CTYPE"}, env


def test_eplb_hooking_torch_sees_only_the_windows_sent(eplb, jail):
    windows = eplb.workload("train").windows
    spy = VECTORIZED + textwrap.dedent("""\
        import json
        import torch

        SEEN = []
        _from_numpy = torch.from_numpy

        def _stash(array):
            SEEN.append(array.tolist())
            return _from_numpy(array)

        torch.from_numpy = _stash
        CALLS = []

        def rebalance_experts(weight, replicas, groups, nodes, gpus):
            CALLS.append(1)
            if len(CALLS) == 3:
                raise ValueError(json.dumps(SEEN))
            return _placement(weight, replicas, groups, nodes, gpus)
    """)
    result = eplb.evaluate(spy, "train", jail)
    assert result.error.startswith("window 1: ")
    # the untimed warm-up (the judge's random loads of window 0's shape), window 0,
    # window 1: nothing more
    warm_up, *sent = eplb_report(result)
    assert sent == [windows[0].tolist(), windows[1].tolist()]
    warm_up = np.array(warm_up)
    assert warm_up.shape == windows[0].shape
    assert not any(np.array_equal(np.sort(warm_up, axis=None), np.sort(w, axis=None))
                   for w in windows)  # no window, in any order: nothing to work out early


def test_eplb_future_windows_are_nowhere_in_the_candidates_memory(eplb, jail):
    windows = eplb.workload("train").windows
    scan = VECTORIZED + textwrap.dedent("""\
        import ctypes, json
        import numpy as np

        CALLS = []

        def _halves(rows):
            # from Python ints: the window's bytes never exist whole in this process
            flat = [x for row in rows for x in row]
            half = len(flat) // 2
            return (np.array(flat[:half], np.int64).tobytes(),
                    np.array(flat[half:], np.int64).tobytes())

        def _found(windows):
            halves = [_halves(rows) for rows in windows]
            with open("/proc/self/maps") as maps:
                regions = [line.split() for line in maps]
            found = set()
            for fields in regions:  # the heap and every anonymous mapping
                if not fields[1].startswith("rw") or (len(fields) > 5 and fields[5] != "[heap]"):
                    continue
                low, high = (int(x, 16) for x in fields[0].split("-"))
                data = ctypes.string_at(low, high - low)
                for i, (first, second) in enumerate(halves):
                    at = data.find(first)
                    while at >= 0:
                        if data[at + len(first):at + len(first) + len(second)] == second:
                            found.add(i)
                            break
                        at = data.find(first, at + 1)
            return sorted(found)

        def rebalance_experts(weight, replicas, groups, nodes, gpus):
            CALLS.append(1)
            if len(CALLS) == 3:
                raise ValueError(json.dumps(_found(WINDOWS)))
            return _placement(weight, replicas, groups, nodes, gpus)
    """).replace("WINDOWS", repr(windows.tolist()))
    result = eplb.evaluate(scan, "train", jail)
    assert result.error.startswith("window 1: ")
    assert eplb_report(result) == [0, 1]  # what it was sent; windows 2 and 3 are not there


BURN = textwrap.dedent("""\
    import os, signal, threading, time

    def _burn(seconds, clock=time.thread_time):
        until = clock() + seconds
        while clock() < until:
            pass
""")

EPLB_HELPERS = {
    "thread": """\
        def rebalance_experts(weight, replicas, groups, nodes, gpus):
            helper = threading.Thread(target=_burn, args=(0.02,))
            helper.start()
            helper.join()
            return _placement(weight, replicas, groups, nodes, gpus)
    """,
    "background_thread": """\
        import queue
        _jobs, _done = queue.Queue(), queue.Queue()

        def _worker():
            while True:
                _jobs.get()
                _burn(0.02)
                _done.put(1)

        threading.Thread(target=_worker, daemon=True).start()

        def rebalance_experts(weight, replicas, groups, nodes, gpus):
            _jobs.put(1)
            _done.get()
            return _placement(weight, replicas, groups, nodes, gpus)
    """,
    "child_process": """\
        def rebalance_experts(weight, replicas, groups, nodes, gpus):
            child = os.fork()
            if child == 0:
                _burn(0.02, time.process_time)
                os._exit(0)
            os.waitpid(child, 0)
            return _placement(weight, replicas, groups, nodes, gpus)
    """,
}


@pytest.mark.parametrize("name", list(EPLB_HELPERS))
def test_eplb_work_done_by_helpers_is_timed(eplb, jail, name):
    program = VECTORIZED + BURN + textwrap.dedent(EPLB_HELPERS[name])
    result = eplb.evaluate(program, "quick", jail)
    assert result.ok, result.error
    assert min(result.details["call_cpu_seconds"]) >= 0.015
    assert result.metrics["median_seconds"] >= 0.015


def test_eplb_work_done_while_the_judge_scores_is_timed(eplb, jail, monkeypatch):
    # a judge that takes its time over each window: a long gap between two calls
    score_pair = eplb._score_pair

    def slow_judge(arrays, next_window):
        time.sleep(0.3)
        return score_pair(arrays, next_window)

    monkeypatch.setattr(eplb, "_score_pair", slow_judge)
    # the candidate's work for the next window runs in that gap (a thread that waits for
    # its answer to be gone, then works), joined at the next call: billed to the next
    # window, as the session's CPU since the last answer
    program = VECTORIZED + BURN + textwrap.dedent("""\
        _helpers = []

        def _later():
            time.sleep(0.05)
            _burn(0.02)

        def rebalance_experts(weight, replicas, groups, nodes, gpus):
            for helper in _helpers:
                helper.join()
            helper = threading.Thread(target=_later)
            helper.start()
            _helpers[:] = [helper]
            return _placement(weight, replicas, groups, nodes, gpus)
    """)
    result = eplb.evaluate(program, "quick", jail)
    assert result.ok, result.error
    # window 1's work ran in the judge's 0.3 s over window 0
    _, second = result.details["call_cpu_seconds"]
    assert second >= 0.015


def test_eplb_a_child_cannot_be_reaped_by_the_kernel_to_hide_its_time(eplb, jail):
    program = VECTORIZED + BURN + textwrap.dedent("""\
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)

        def rebalance_experts(weight, replicas, groups, nodes, gpus):
            child = os.fork()
            if child == 0:
                _burn(0.05, time.process_time)
                os._exit(0)
            WAIT_UNTIL_REAPED
            return _placement(weight, replicas, groups, nodes, gpus)
    """).replace("    WAIT_UNTIL_REAPED\n", textwrap.indent(WAIT_UNTIL_REAPED, "    "))
    result = eplb.evaluate(program, "quick", jail)
    assert not result.ok
    assert "PermissionError: [Errno 1] Operation not permitted" in result.error, result.error


# -- task folders --------------------------------------------------------------------------

FOLDER_PROGRAM = '''"""A task folder's program."""

# EVOLVE-BLOCK-START
def value(x):
    return 1.0 * x + 2.0
# EVOLVE-BLOCK-END
'''

FOLDER_EVALUATOR = '''import importlib.util

import scoring


def evaluate(program_path):
    scoring.SEEN.append(program_path)
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    error = abs(module.value(3.0) - 10.0)
    return {"combined_score": -error, "evaluations_in_process": len(scoring.SEEN)}
'''


@pytest.fixture
def task_folder(tmp_path):
    from adrs.evolve.folder_problem import FolderProblem

    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "initial_program.py").write_text(FOLDER_PROGRAM)
    (folder / "evaluator.py").write_text(FOLDER_EVALUATOR)
    (folder / "scoring.py").write_text("SEEN = []\n")
    return FolderProblem(folder)


def test_folder_candidate_cannot_rewrite_the_folder(task_folder, jail, isolated):
    folder = task_folder.folder
    before = digests([folder])
    writer = textwrap.dedent(f"""\
        import os
        FOLDER = {str(folder)!r}
        RESULTS = []

        def attempt(name, action):
            try:
                action()
                RESULTS.append(name + " WROTE")
            except OSError as exc:
                RESULTS.append(name + " " + type(exc).__name__)

        def write(name, text, mode="w"):
            with open(os.path.join(FOLDER, name), mode) as handle:
                handle.write(text)

        attempt("evaluator", lambda: write("evaluator.py", "def evaluate(p):\\n"
                                           "    return {{'combined_score': 1e9}}\\n"))
        attempt("helper", lambda: write("scoring.py", "SEEN = [0] * 99\\n", "a"))
        attempt("new_file", lambda: write("sitecustomize.py", "import os\\n"))
        attempt("unlink", lambda: os.unlink(os.path.join(FOLDER, "initial_program.py")))
        attempt("rename", lambda: os.rename(os.path.join(FOLDER, "scoring.py"),
                                            os.path.join(FOLDER, "old.py")))
        attempt("chmod", lambda: os.chmod(os.path.join(FOLDER, "evaluator.py"), 0o777))
        attempt("mkdir", lambda: os.mkdir(os.path.join(FOLDER, "__pycache__")))
        raise RuntimeError(" ".join(RESULTS))
    """) + FOLDER_PROGRAM
    result = task_folder.evaluate(writer, "train", jail)
    outcomes = result.error.removeprefix("RuntimeError: ").split(" ")
    assert outcomes[::2] == ["evaluator", "helper", "new_file", "unlink", "rename", "chmod",
                             "mkdir"], result.error
    assert set(outcomes[1::2]) <= {"OSError", "PermissionError"}, result.error
    assert digests([folder]) == before
    assert sorted(p.name for p in folder.iterdir()) == ["evaluator.py", "initial_program.py",
                                                        "scoring.py"]
    assert task_folder.evaluate(task_folder.initial_program, "train", jail).score == -5.0


def test_folder_evaluator_is_fresh_for_every_candidate(task_folder, jail, isolated):
    polluter = textwrap.dedent("""\
        import sys
        import scoring
        scoring.SEEN.extend(["polluter"] * 10)
        sys.modules["planted"] = scoring
        with open("/tmp/planted", "w") as handle:
            handle.write("polluter")
    """) + FOLDER_PROGRAM
    checker = textwrap.dedent("""\
        import os, sys
        import scoring
        assert "planted" not in sys.modules and not os.path.exists("/tmp/planted"), "planted"
        assert len(scoring.SEEN) == 1, scoring.SEEN  # its own evaluation only
    """) + FOLDER_PROGRAM
    polluted = task_folder.evaluate(polluter, "train", jail)
    assert polluted.metrics == {"combined_score": -5.0, "evaluations_in_process": 11.0}
    after = task_folder.evaluate(checker, "train", jail)
    assert after.ok, after.error
    assert after.metrics == {"combined_score": -5.0, "evaluations_in_process": 1.0}
    again = task_folder.evaluate(task_folder.initial_program, "train", jail)
    assert again.metrics == {"combined_score": -5.0, "evaluations_in_process": 1.0}


def test_folder_candidate_cannot_forge_an_unrepresentable_score(task_folder, jail, isolated):
    # the candidate writes the judge a reply of its own, before the evaluator's: a
    # combined_score of 401 digits, which no float holds
    forger = textwrap.dedent("""\
        import json, struct
        header = json.dumps({"op": "reply", "metrics": {"combined_score": 10 ** 400},
                             "arrays": [], "payload": 0}).encode()
        import os
        os.write(3, struct.pack(">I", len(header)) + header)
    """) + FOLDER_PROGRAM
    result = task_folder.evaluate(forger, "train", jail)
    assert result.error == "metric 'combined_score' is an integer too large for a float"
    assert result.score == -math.inf
    assert task_folder.evaluate(task_folder.initial_program, "train", jail).score == -5.0
