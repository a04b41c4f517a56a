"""Hostile candidates, run for real in the sandbox of real workers on the toy problem."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from adrs.evolve.config import SandboxConfig
from adrs.evolve.executor import EvalJob, EvalOutcome, LocalExecutor, ProblemSpec
from adrs.evolve.sandbox import SandboxLimits, run_sandboxed, secret_names
from adrs.problems.toy import INITIAL_PROGRAM

SECRET = "sk-test-do-not-leak-0123456789"

GOOD = INITIAL_PROGRAM

HOSTILE = {
    "busy_loop": "while True:\n    pass\n",
    "sleeper": "import time\ntime.sleep(1000)\n",
    "memory_bomb": "x = bytearray(64 * 1024 ** 3)\n",
    "memory_creep": "hoard = []\nwhile True:\n    hoard.append(bytearray(50 * 1024 ** 2))\n",
    "segfault": "import ctypes\nctypes.string_at(0)\n",
    "os_exit": "import os\nos._exit(0)\n",
    "sys_exit": "import sys\nsys.exit(0)\n",
    "forged_result": ("import os\nos.write(3, b'{\"value\": {\"train\": {\"score\": 1.0}}}')\n"
                      "os._exit(0)\n"),
    "patch_scorer": ("import adrs.problems.toy as toy\ntoy._mse = lambda a, b: 0.0\n"
                     + GOOD),
    "patch_numpy": "import numpy\nnumpy.mean = lambda *a, **k: 0.0\n" + GOOD,
    "patch_builtins": "import builtins\nbuiltins.abs = lambda x: 0.0\n" + GOOD,
    "patch_problem": ("import sys\nfrom adrs.problems.toy import ToyProblem\n"
                      "frame = sys._getframe()\n"
                      "while frame is not None:\n"
                      "    if isinstance(frame.f_locals.get('self'), ToyProblem):\n"
                      "        frame.f_locals['self']._expected = {}\n"
                      "    frame = frame.f_back\n"
                      + GOOD),
    "patch_code": ("import adrs.problems.toy as toy\n"
                   "toy._mse.__code__ = (lambda a, b: 0.0).__code__\n" + GOOD),
}
EXPECTED = {
    "busy_loop": "CPU time limit exceeded",
    "sleeper": "timeout: still running after",
    "memory_bomb": "MemoryError",
    "memory_creep": "MemoryError",
    "segfault": "SIGSEGV",
    "os_exit": "exited with status 0 before returning a result",
    "sys_exit": "SystemExit",
    "forged_result": "result",
    "patch_scorer": "candidate modified the evaluator: adrs.problems.toy._mse",
    "patch_numpy": "candidate modified the evaluator: numpy.mean",
    "patch_builtins": "candidate modified the evaluator: builtins.abs",
    "patch_problem": "candidate modified the evaluator: problem._expected",
    "patch_code": "adrs.problems.toy._mse (code or defaults)",
}


@pytest.fixture(scope="module")
def executor() -> Iterator[LocalExecutor]:
    os.environ["ADRS_TEST_API_KEY"] = SECRET
    os.environ["MODEL_CREDS_VAR"] = SECRET  # withheld by name, as an api_key_env would be
    # the wall-clock limit is far above the CPU limit, so that a busy loop on a loaded
    # machine still meets the CPU limit first
    sandbox = SandboxConfig(timeout_s=12.0, cpu_s=2.0, memory_mb=768, output_bytes=4096)
    pool = LocalExecutor(ProblemSpec.registered("toy"), 2, sandbox,
                         secret_env=["MODEL_CREDS_VAR"])
    try:
        pool.start()
        yield pool
    finally:
        pool.close()
        del os.environ["ADRS_TEST_API_KEY"], os.environ["MODEL_CREDS_VAR"]


def run_all(executor: LocalExecutor, programs: dict[str, str]) -> dict[str, EvalOutcome]:
    names = list(programs)
    for index, name in enumerate(names):
        executor.submit(EvalJob(index, programs[name]))
    outcomes: dict[str, EvalOutcome] = {}
    deadline = time.monotonic() + 120
    while len(outcomes) < len(names) and time.monotonic() < deadline:
        for outcome in executor.poll(timeout=1.0):
            outcomes[names[outcome.job_id]] = outcome
    assert len(outcomes) == len(names), "some jobs never came back"
    return outcomes


def reason(outcome: EvalOutcome) -> str:
    if outcome.error:
        return outcome.error
    train = outcome.results["train"]
    return train.error or f"ok score={train.score}"


def test_hostile_candidates_fail_with_their_reason_and_the_pool_goes_on(
        executor: LocalExecutor) -> None:
    outcomes = run_all(executor, {**HOSTILE, "good_after": GOOD})
    for name, expected in EXPECTED.items():
        assert expected in reason(outcomes[name]), (name, reason(outcomes[name]))
    assert "forged" in reason(outcomes["forged_result"]) or \
        "malformed" in reason(outcomes["forged_result"])
    good = outcomes["good_after"]
    assert good.error is None and good.results["train"].ok
    assert good.results["train"].score == pytest.approx(-0.424400560819, rel=1e-9)
    assert executor.restarts == 0


def test_output_is_captured_with_a_cap(executor: LocalExecutor) -> None:
    spam = "import sys\nfor _ in range(20000):\n    print('x' * 100)\n" \
           "sys.stderr.write('to stderr\\n')\n" + GOOD
    outcome = run_all(executor, {"spam": spam})["spam"]
    assert outcome.error is None and outcome.results["train"].ok
    assert len(outcome.output) == 4096 and outcome.output.startswith("x" * 100)
    assert outcome.output_dropped == 20000 * 101 + len("to stderr\n") - 4096


def test_no_secrets_in_the_candidate_environment(executor: LocalExecutor) -> None:
    probe = (
        "import os\n"
        f"SECRET = {SECRET!r}\n"
        "leaks = [k for k, v in os.environ.items() if SECRET in v]\n"
        "with open('/proc/self/environ', 'rb') as handle:\n"
        "    if SECRET.encode() in handle.read():\n"
        "        leaks.append('/proc/self/environ')\n"
        "if leaks:\n"
        "    raise RuntimeError(f'leaked: {leaks}')\n"
        "assert os.getcwd().startswith(os.environ['TMPDIR'])\n"
        "assert os.listdir('.') == []\n"
        + GOOD)
    outcome = run_all(executor, {"probe": probe})["probe"]
    assert reason(outcome).startswith("ok"), reason(outcome)


def test_leftover_processes_and_fds_do_not_hang_the_worker(executor: LocalExecutor) -> None:
    linger = ("import os, time\n"
              "if os.fork() == 0:\n"
              "    time.sleep(1000)\n"
              "open_fds = sorted(int(fd) for fd in os.listdir('/proc/self/fd'))\n"
              "assert open_fds[:4] == [0, 1, 2, 3], open_fds\n"
              + GOOD)
    started = time.monotonic()
    outcome = run_all(executor, {"linger": linger})["linger"]
    assert reason(outcome).startswith("ok"), reason(outcome)
    assert time.monotonic() - started < 30


def test_run_sandboxed_directly() -> None:
    limits = SandboxLimits(timeout_s=10.0)
    assert run_sandboxed(lambda: {"a": [1, 2]}, limits).value == {"a": [1, 2]}
    failed = run_sandboxed(lambda: 1 / 0, limits)
    assert failed.value is None and failed.error.startswith("ZeroDivisionError")
    rejected = run_sandboxed(lambda: 1, limits, check=lambda: ["numpy.mean"])
    assert rejected.error == "candidate modified the evaluator: numpy.mean"
    not_json = run_sandboxed(lambda: object(), limits)
    assert "not JSON data" in not_json.error


def test_secret_names() -> None:
    names = secret_names(["OPENAI_API_KEY", "HOME", "GH_TOKEN", "db_password", "MINE"],
                         ["KEY", "TOKEN", "PASSWORD"], extra=["MINE", "ABSENT"])
    assert names == {"OPENAI_API_KEY", "GH_TOKEN", "db_password", "MINE"}


def test_a_problem_that_cannot_be_built_is_reported() -> None:
    pool = LocalExecutor(ProblemSpec.registered("toy", points=2), 1)
    with pytest.raises(ValueError, match="points must be at least 8"):
        pool.start()
