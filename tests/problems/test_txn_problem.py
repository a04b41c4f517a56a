"""The txn problem scores like the reference evaluator, closes its holes (it recomputes
every makespan and accepts only a permutation of all transactions), enforces its time
limit, and runs through the CLI and the evolver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from adrs import _core
from adrs.problems import get_problem
from adrs.problems.txn import TransactionSchedulingProblem, lower_bound

# The reference seed program with random.seed(0): makespans of the three published
# workloads, sum 369 (../shared/golden/txn.json, seed_program.sum_makespans[0]).
SEED_MAKESPANS = [256, 55, 58]


@pytest.fixture(scope="module")
def txn(shared_dir: Path) -> TransactionSchedulingProblem:
    return get_problem("txn", data=shared_dir / "data")


def makespans(result) -> list[int]:
    return [row["makespan"] for row in result.details["workloads"]]


def program(body: str) -> str:
    return "import numpy as np\n\ndef schedule(workload):\n" + "".join(
        f"    {line}\n" for line in body.splitlines())


# -- scores -----------------------------------------------------------------------------------

def test_seed_program_gives_the_reference_makespans(txn, shared_dir):
    golden = json.loads((shared_dir / "golden" / "txn.json").read_text())
    assert golden["seed_program"]["sum_makespans"][0] == sum(SEED_MAKESPANS)
    result = txn.evaluate(txn.initial_program)
    assert result.ok, result.error
    assert makespans(result) == SEED_MAKESPANS
    assert result.score == 1e6 / (1 + 369)
    assert result.metrics["makespan_sum"] == 369
    assert result.metrics["makespan[workload_1]"] == 256
    assert [row["workload"] for row in result.details["workloads"]] == [
        "workload_1", "workload_2", "workload_3"]
    # the quick split is the first workload, from a freshly seeded generator
    assert makespans(txn.evaluate(txn.initial_program, "quick")) == [256]


def test_shortest_makespan_first(txn):
    result = txn.evaluate_baseline("shortest_makespan_first")
    assert makespans(result) == [228, 56, 39]


def test_best_known_is_34_percent_below_the_seed(shared_dir):
    # no time limit: the program then runs all its rounds, so the result is deterministic
    problem = get_problem("txn", data=shared_dir / "data", time_limit_s=None)
    result = problem.evaluate_baseline("best_known")
    assert result.ok, result.error
    assert sum(makespans(result)) <= 0.66 * sum(SEED_MAKESPANS)
    assert makespans(result) == [165, 33, 35]
    assert all(row["makespan"] >= row["lower_bound"] for row in result.details["workloads"])


def test_lower_bounds_hold_for_the_published_workloads(txn):
    bounds = [lower_bound(item.scoring_model) for item in txn.workloads("train")]
    assert bounds == [58, 21, 17]


def test_feedback_and_details(txn):
    result = txn.evaluate(txn.initial_program)
    lines = result.feedback.splitlines()
    assert lines[0] == ("score 2702.7027 = 1e6 / (1 + 369), the sum of the makespans of 3 "
                        "workloads")
    assert lines[2].split() == ["workload_1", "100", "256", "58", lines[2].split()[-1]]
    assert result.details["path"] == "cpp" and result.details["time_limit_s"] == 10.0
    assert result.features["candidate_seconds"] == result.metrics["candidate_seconds"] > 0
    json.dumps(result.to_json())


# -- the evaluator trusts nothing the candidate says -------------------------------------------

IDENTITY = "return list(range(workload.num_txns))"


@pytest.mark.parametrize(("body", "error"), [
    ("return []", ("workload_1: the schedule is empty; expected a permutation of all 100 "
                  "transactions (0..99)")),
    ("return list(range(50))",
     ("workload_1: the schedule is not a permutation of all 100 transactions (0..99): 50 items "
     "for 100 transactions; 50 of 100 transactions missing: 50, 51, 52, 53, 54, 55, 56, 57, "
     "...")),
    ("return [0] + list(range(99))",
     ("workload_1: the schedule is not a permutation of all 100 transactions (0..99): "
     "transaction 0 appears 2 times (items 0, 1); 1 of 100 transactions missing: 99")),
    ("return list(range(100)) + [3, 4]",
     ("workload_1: the schedule is not a permutation of all 100 transactions (0..99): 102 "
     "items for 100 transactions; transaction 3 appears 2 times (items 3, 100), and 1 more "
     "transactions appear more than once")),
    ("return list(range(1, 101))",
     "workload_1: item 99 of the schedule is 100, out of range 0..99"),
    ("return [-1] + list(range(1, 100))",
     "workload_1: item 0 of the schedule is -1, out of range 0..99"),
    ("return [float(t) for t in range(workload.num_txns)]",
     "workload_1: item 0 of the schedule is 0.0 (float), not an integer transaction index"),
    ("return [True] + list(range(1, 100))",
     "workload_1: item 0 of the schedule is True (bool), not an integer transaction index"),
    ("return [str(t) for t in range(100)]",
     "workload_1: item 0 of the schedule is '0' (str), not an integer transaction index"),
    ("return {t: t for t in range(100)}",
     "workload_1: schedule returned dict, not a list of transaction indices"),
    ("return None", "workload_1: schedule returned NoneType, not a list of transaction indices"),
    ("return range(100)", ("workload_1: schedule returned range, not a list of transaction "
                          "indices")),
    ("return np.arange(100.0)", ("workload_1: the schedule is an array of dtype float64; "
                                "expected integer transaction indices")),
    ("return np.arange(100).reshape(10, 10)", ("workload_1: the schedule is an array of shape "
                                              "(10, 10); expected a 1-D list of transaction "
                                              "indices")),
    ("raise RuntimeError('out of ideas')",
     "workload_1: schedule raised RuntimeError: out of ideas (line 4)"),
    ("return [t for t in range(workload.num_txns) if t != 7 or workload.name != 'workload_2']",
     ("workload_2: the schedule is not a permutation of all 100 transactions (0..99): 99 items "
     "for 100 transactions; 1 of 100 transactions missing: 7")),
])
def test_invalid_schedules_fail_with_the_reason(txn, jail, body, error):
    result = txn.evaluate(program(body), "train", jail)
    assert not result.ok
    assert result.error == error
    assert result.score == 0.0
    assert result.feedback == f"The candidate failed: {error}"


def test_numpy_and_tuple_schedules_are_accepted(txn, jail):
    identity = txn.evaluate(program(IDENTITY), "quick", jail)
    assert makespans(identity) == [452]  # ../shared/golden/txn.json: workload_1 identity
    for body in ("return np.arange(workload.num_txns, dtype=np.int32)",
                 "return tuple(np.arange(workload.num_txns))"):
        assert makespans(txn.evaluate(program(body), "quick", jail)) == [452]


@pytest.mark.parametrize(("source", "error"), [
    ("def schedule(workload)\n    return []\n",
     "syntax error in candidate.py at line 1: expected ':'"),
    ("x = 1 / 0\n", ("candidate.py raised at import: ZeroDivisionError: division by zero "
                    "(line 1)")),
    ("def plan(workload):\n    return []\n",
     "the program defines no function schedule(workload)"),
])
def test_broken_programs_fail_with_the_reason(txn, jail, source, error):
    result = txn.evaluate(source, "quick", jail)
    assert result.error == error and result.score == 0.0


def test_the_makespan_is_recomputed_not_taken_from_the_candidate(txn, jail):
    # A candidate that rebinds the model's makespan changes what it sees, not its score.
    cheat = program("type(workload.model).makespan = lambda self, seq: 0\n" + IDENTITY)
    result = txn.evaluate(cheat, "quick", jail)
    assert result.ok and makespans(result) == [452]
    assert _core.TxnModel.makespan is not None


# -- the time limit -----------------------------------------------------------------------------

def test_a_runaway_candidate_is_stopped(shared_dir, jail):
    # the judge's clock, outside the jail: no catch-all, disabled alarm or compiled loop
    # keeps a candidate running past its limit
    problem = get_problem("txn", data=shared_dir / "data", time_limit_s=0.3)
    stopped = "workload_1: schedule ran past its time limit of 0.3 s (killed)"
    assert problem.evaluate(program("while True:\n    pass"), "quick", jail).error == stopped
    for catch_all in ("except:", "except BaseException:"):
        stubborn = program(f"import time\nwhile True:\n    try:\n        time.sleep(1)\n"
                           f"    {catch_all}\n        pass")
        assert problem.evaluate(stubborn, "quick", jail).error == stopped
    no_alarm = ("import signal\nsignal.setitimer(signal.ITIMER_REAL, 0)\n"
                "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n" + program("while True:\n    pass"))
    assert problem.evaluate(no_alarm, "quick", jail).error == stopped
    assert problem.evaluate("while True:\n    pass\n", "quick", jail).error == (
        "the program's module code ran past its time limit of 0.3 s (killed)")
    assert problem.evaluate(program(IDENTITY), "quick", jail).ok


def test_a_call_that_returns_late_fails_for_its_time(shared_dir, jail):
    problem = get_problem("txn", data=shared_dir / "data", time_limit_s=0.3)
    slow = program("import time\ntime.sleep(0.5)\n" + IDENTITY)
    result = problem.evaluate(slow, "quick", jail)
    assert result.error.startswith("workload_1: schedule took 0.5")
    assert result.error.endswith(" s, over its time limit of 0.3 s")


def test_the_candidate_sees_its_budget(shared_dir, jail):
    problem = get_problem("txn", data=shared_dir / "data", time_limit_s=5)
    body = ("assert workload.time_limit_s == 5 and 4 < workload.time_left() <= 5, "
            "workload.time_left()\n" + IDENTITY)
    assert problem.evaluate(program(body), "quick", jail).ok
    unlimited = get_problem("txn", data=shared_dir / "data", time_limit_s=None)
    body = "assert workload.time_left() == float('inf')\n" + IDENTITY
    assert unlimited.evaluate(program(body), "quick", jail).ok


# -- splits and options ---------------------------------------------------------------------

def test_splits(txn):
    assert [i.workload.name for i in txn.workloads("train")] == [
        "workload_1", "workload_2", "workload_3"]
    assert [i.workload.name for i in txn.workloads("quick")] == ["workload_1"]
    test = txn.workloads("test")
    assert [i.workload.name for i in test] == ["test_1", "test_2", "test_3"]
    assert all(len(i.workload) == 100 for i in test)
    train_texts = {t for i in txn.workloads("train") for t in i.workload.transactions}
    assert not train_texts & {t for i in test for t in i.workload.transactions}
    result = txn.evaluate(txn.initial_program, "test")
    assert result.ok and result.details["data"].startswith("generated, held out")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        txn.workloads("dev")


def test_without_data_train_is_generated(monkeypatch):
    monkeypatch.delenv("ADRS_DATA_DIR", raising=False)
    problem = get_problem("txn", test_transactions=300)
    assert [i.workload.name for i in problem.workloads("train")] == [
        "synthetic_1", "synthetic_2", "synthetic_3"]
    assert [len(i.workload) for i in problem.workloads("test")] == [300, 300, 300]
    for split in ("quick", "test"):
        result = problem.evaluate(problem.initial_program, split)
        assert result.ok, result.error
        assert all(r["makespan"] >= r["lower_bound"] > 0 for r in result.details["workloads"])


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"time_limit_s": 0}, ValueError, ("time_limit_s must be a positive number of seconds or "
                                      "null, got 0")),
    ({"time_limit_s": "fast"}, ValueError, "time_limit_s must be"),
    ({"test_transactions": 0}, ValueError, ("test_transactions must be a positive integer, "
                                           "got 0")),
    ({"data": "/nonexistent"}, FileNotFoundError, ("transaction workloads not found: "
                                                  "/nonexistent")),
])
def test_options_are_checked(options, error, message):
    with pytest.raises(error, match=f"^{message}"):
        get_problem("txn", **options)


# -- through the command line and the evolver --------------------------------------------------

def adrs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adrs.cli", *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_cli_eval_and_baselines(shared_dir, tmp_path):
    path = tmp_path / "identity.py"
    path.write_text(program(IDENTITY))
    out = adrs("eval", "txn", str(path), "--data", str(shared_dir / "data"), "--split",
               "quick", "--option", "time_limit_s=2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"txn: {path} on quick (") and lines[1] == f"score {1e6 / 453!r}"
    bad = tmp_path / "bad.py"
    bad.write_text(program("return [0, 0]"))
    out = adrs("eval", "txn", str(bad), "--data", str(shared_dir / "data"), "--split", "quick")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stdout.splitlines()[-1].startswith(
        "FAILED (score 0): workload_1: the schedule is not a permutation")
    out = adrs("baselines", "txn", "--data", str(shared_dir / "data"), "--split", "quick",
               "--json")
    rows = {row["name"]: row for row in json.loads(out.stdout)["baselines"]}
    assert list(rows) == ["seed", "shortest_makespan_first", "best_known"]
    assert rows["seed"]["metrics"]["makespan_sum"] == 256
    assert rows["shortest_makespan_first"]["metrics"]["makespan_sum"] == 228
    assert rows["best_known"]["metrics"]["makespan_sum"] <= 170


def test_evolver_runs_the_problem(shared_dir, tmp_path):
    out = tmp_path / "run"
    result = adrs("run", "txn", "--data", str(shared_dir / "data"), "--budget", "8",
                  "--workers", "2", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["initial_train"] == 1e6 / 370
    assert summary["best_train"] >= summary["initial_train"]
    assert summary["counts"]["evaluated"] + summary["counts"]["failed"] == 8
    assert "def schedule(workload):" in (out / "best_program.py").read_text()
