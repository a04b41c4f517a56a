"""The spot simulators agree: C++ (built-in policy, compiled candidate, interpreted
candidate) = Numba = the pure-Python oracle, on every golden run and on random traces,
scenarios and policies, in both fidelities, one region and many."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from adrs import _core
from adrs.bridge import compile_policy
from adrs.simulators import spot as numba_spot
from adrs.simulators import spot_layout as layout
from adrs.simulators.spot_traces import TraceSet, load_traces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import spot_oracle

GOLDEN_FILES = {
    "single_greedy": ("greedy", False),
    "single_uniform_progress_simplified": ("uniform_progress_simplified", False),
    "single_uniform_progress_nsdi24": ("uniform_progress", False),
    "multi_initial": ("multi_seed", True),
    "multi_uniform_progress": ("multi_uniform_progress", True),
}
MULTI_JOB = (48.0, 52.0, 0.2)


def program(name: str) -> str:
    return resources.files("adrs.problems.spot.programs").joinpath(f"{name}.py").read_text()


@pytest.fixture(scope="module")
def traces(shared_dir: Path) -> TraceSet:
    return load_traces(shared_dir / "data" / "spot_traces.tar.gz")


@pytest.fixture(scope="module")
def compiled() -> dict[str, Any]:
    return {name: compile_policy(program(name), filename=f"{name}.py")
            for name, _ in GOLDEN_FILES.values()}


def golden_batch(shared_dir: Path, traces: TraceSet, file: str, multi: bool):
    with gzip.open(shared_dir / "golden" / "spot" / f"{file}.json.gz") as stream:
        golden = json.loads(stream.read())
    run_traces, run_offsets, scenarios = [], [0], []
    for run in golden["runs"]:
        if multi:
            run_traces += [traces.index(r, run["trace"], "multi") for r in run["regions"]]
            scenarios.append(MULTI_JOB)
        else:
            run_traces.append(traces.index(run["env"], run["trace"], "single"))
            scenarios.append((run["duration"], run["deadline"], run["overhead"]))
        run_offsets.append(len(run_traces))
    args = (traces.available, traces.prices, traces.offsets, traces.gap_seconds,
            np.array(run_traces, np.int64), np.array(run_offsets, np.int64),
            np.array(scenarios, np.float64), multi, "reference")
    return golden, args


@pytest.mark.parametrize("file", list(GOLDEN_FILES))
@pytest.mark.parametrize("path", ["builtin", "cfunc", "numba", "interpreted"])
def test_every_golden_run_reproduces_bit_for_bit(shared_dir, traces, compiled, file, path):
    name, multi = GOLDEN_FILES[file]
    golden, args = golden_batch(shared_dir, traces, file, multi)
    policy = compiled[name]
    if path == "builtin":
        result = _core.spot_simulate(*args, name, True)
    elif path == "cfunc":
        result = _core.spot_simulate(*args, policy.address, True)
    elif path == "numba":
        result = numba_spot.simulate(*args, policy.numba_function(), True)
    else:
        result = _core.spot_simulate(*args, policy.interpreted, True)
    for i, run in enumerate(golden["runs"]):
        assert result["histories"][i] == run["seq"], (file, path, i)
        assert result["cost"][i] == run["cost"], (file, path, i)
        # The golden `ticks` counts the observe step of a final tick past the trace end.
        assert result["finish_tick"][i] + 2 == run["ticks"], (file, path, i)
        if multi:
            assert result["final_region"][i] == run["final_region"]
    assert np.all(result["status"] == layout.STATUS_OK)
    assert result["spot_ticks"].sum() == sum(r["seq"].count("S") for r in golden["runs"])


def test_golden_aggregates(shared_dir, traces):
    for file, (name, multi) in GOLDEN_FILES.items():
        golden, args = golden_batch(shared_dir, traces, file, multi)
        cost = _core.spot_simulate(*args, name)["cost"]
        if multi:
            means: dict[str, list[float]] = {}
            for run, c in zip(golden["runs"], cost):
                means.setdefault(run["scenario"], []).append(c)
            score = -sum(sum(v) / len(v) for v in means.values()) / len(means)
        else:
            score = -np.mean(cost) - 0.25 * np.std(cost)
        assert score == pytest.approx(golden["summary"]["combined_score"], rel=1e-12, abs=0)


def test_layout_constants_agree_with_the_cpp_header():
    for name, value in _core.SPOT_LAYOUT.items():
        assert getattr(layout, name) == value, name
    assert layout.obs_size(3) == layout.REGION_HAS_SPOT + 6
    assert _core.SPOT_POLICY_RAISED == numba_spot.POLICY_RAISED
    assert numba_spot.reference_spot_price() == 0.9731


# -- random traces, scenarios and policies ------------------------------------------------

# A policy that acts at random (an LCG kept in mem, seeded by the scenario), moves between
# regions, sometimes keeps an instance after the work is done, and, when asked to misbehave
# (mem flag from the deadline's parity), returns an invalid action or raises late in a run.
CHAOS = '''
NONE = 0
SPOT = 1
ON_DEMAND = 2

def draw(mem):
    mem[0] = (mem[0] * 1103515245.0 + 12345.0) % 2147483648.0
    return mem[0] / 2147483648.0

def decide(obs, mem):
    if mem[1] == 0.0:
        mem[0] = obs[6] * 7.0 + obs[8] * 13.0 + obs[7]
        mem[1] = 1.0
    r = draw(mem)
    mem[2] += 1.0
    if mem[3] != 0.0 and mem[2] > 200.0:
        if obs[6] % 2.0 == 0.0:
            return 7 if obs[11] < 2.0 else 99
        raise ValueError("chaos")
    if obs[7] - obs[1] <= 1e-8:
        return SPOT if r < 0.1 else NONE
    n = int(obs[11])
    if n > 1 and r < 0.2:
        target = int(draw(mem) * n)
        return SPOT + 3 * (target + 1) if obs[12 + target] > 0.5 else ON_DEMAND + 3 * (target + 1)
    if r < 0.5:
        return SPOT
    if r < 0.8:
        return ON_DEMAND
    return NONE
'''
MISBEHAVING_CHAOS = CHAOS.replace("    r = draw(mem)\n", "    r = draw(mem)\n    mem[3] = 1.0\n")


@pytest.fixture(scope="module")
def chaos():
    return {False: compile_policy(CHAOS), True: compile_policy(MISBEHAVING_CHAOS)}


@st.composite
def random_batches(draw):
    multi = draw(st.booleans())
    n_regions = draw(st.integers(2, 4)) if multi else 1
    gap = draw(st.sampled_from([60.0, 195.0, 600.0, 1234.5]))
    n_ticks = draw(st.integers(20, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Runs of availability of random lengths, as real traces have.
    available = []
    for _ in range(n_regions):
        p_stay = rng.uniform(0.5, 0.98)
        a = np.empty(n_ticks, np.uint8)
        a[0] = rng.integers(0, 2)
        for k in range(1, n_ticks):
            a[k] = a[k - 1] if rng.random() < p_stay else 1 - a[k - 1]
        available.append(a)
    with_prices = draw(st.booleans())
    prices = [np.round(rng.uniform(0.5, 2.0, n_ticks), 4) if with_prices else
              np.full(n_ticks, np.nan) for _ in range(n_regions)]
    hours = n_ticks * gap / 3600.0
    deadline = round(float(rng.uniform(0.3, 1.0)) * hours, 3)
    overhead = round(float(rng.choice([0.0, rng.uniform(0, 0.1) * deadline])), 4)
    duration = round(float(rng.uniform(0.05, 0.98)) * (deadline - overhead), 4)
    fidelity = draw(st.sampled_from(["reference", "corrected"]))
    misbehave = draw(st.booleans())
    return multi, gap, available, prices, (duration, deadline, overhead), fidelity, misbehave


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_batches())
def test_cpp_numba_and_oracle_agree_on_random_runs(chaos, batch):
    multi, gap, available, prices, scenario, fidelity, misbehave = batch
    if scenario[0] <= 0:
        return
    policy = chaos[misbehave]
    n = len(available[0])
    args = (np.concatenate(available), np.concatenate(prices),
            np.arange(len(available) + 1, dtype=np.int64) * n, np.full(len(available), gap),
            np.arange(len(available), dtype=np.int64), np.array([0, len(available)], np.int64),
            np.array([scenario], np.float64), multi, fidelity)
    cpp = _core.spot_simulate(*args, policy.address, True)
    numba = numba_spot.simulate(*args, policy.numba_function(), True)
    interpreted = _core.spot_simulate(*args, policy.interpreted, True)
    oracle = spot_oracle.simulate(
        available, [None if np.isnan(p[0]) else p for p in prices], gap, *scenario,
        policy.interpreted, multi_region=multi, fidelity=fidelity)

    status = layout.STATUS_NAMES[int(cpp["status"][0])]
    assert status == oracle.status, oracle.message
    for other in (numba, interpreted):
        assert other["status"][0] == cpp["status"][0]
        assert other["status_tick"][0] == cpp["status_tick"][0]
    if status != "ok":
        return
    assert cpp["histories"][0] == oracle.history
    assert cpp["cost"][0] == oracle.cost
    assert cpp["finish_tick"][0] == oracle.finish_tick
    assert cpp["final_region"][0] == oracle.final_region
    for other in (numba, interpreted):
        assert other["histories"][0] == cpp["histories"][0]
        assert other["cost"][0] == cpp["cost"][0]
        assert other["finish_tick"][0] == cpp["finish_tick"][0]


# -- failures are reported the same way by every path --------------------------------------

def one_run(n_ticks=100, available=1, scenario=(1.0, 10.0, 0.1), multi=False):
    avail = np.full(n_ticks, available, np.uint8)
    return (avail, np.full(n_ticks, np.nan), np.array([0, n_ticks], np.int64),
            np.array([600.0]), np.array([0], np.int64), np.array([0, 1], np.int64),
            np.array([scenario], np.float64), multi, "reference")


def all_paths(source: str, args) -> list[dict]:
    policy = compile_policy(source)
    return [_core.spot_simulate(*args, policy.address), 
            numba_spot.simulate(*args, policy.numba_function()),
            _core.spot_simulate(*args, policy.interpreted)]


def test_invalid_action_stops_the_run_on_every_path():
    source = "def decide(obs, mem):\n    return 5 if obs[0] >= 1200.0 else 1\n"
    for result in all_paths(source, one_run()):
        assert layout.STATUS_NAMES[result["status"][0]] == "invalid_action"
        assert result["status_tick"][0] == 2
        assert result["bad_action"][0] == 5
        assert np.isnan(result["cost"][0])


def test_policy_exception_stops_the_run_on_every_path():
    source = ("def decide(obs, mem):\n    if obs[0] >= 1800.0:\n"
              "        raise RuntimeError('boom')\n    return 1\n")
    results = all_paths(source, one_run())
    for result in results:
        assert layout.STATUS_NAMES[result["status"][0]] == "policy_error"
        assert result["status_tick"][0] == 3
    assert "boom" in results[2]["messages"][0]


def test_out_of_bounds_read_is_an_error_not_a_read_of_memory():
    source = "def decide(obs, mem):\n    return int(obs[1000])\n"
    for result in all_paths(source, one_run()):
        assert layout.STATUS_NAMES[result["status"][0]] == "policy_error"
        assert result["status_tick"][0] == 0


def test_job_that_outlives_its_trace_overruns_it():
    # No spot: the guarantee starts on-demand just in time, and the work completes exactly
    # at the deadline, which is also the trace's last tick: observing that tick is past
    # the end (the reference never ends such a run).
    args = one_run(n_ticks=9, available=0, scenario=(1.0, 1.5, 0.0))
    for result in all_paths("def decide(obs, mem):\n    return 0\n", args):
        assert layout.STATUS_NAMES[result["status"][0]] == "trace_overrun"
        assert result["status_tick"][0] == 9
    longer = one_run(n_ticks=10, available=0, scenario=(1.0, 1.5, 0.0))
    result = _core.spot_simulate(*longer, "greedy", True)
    # One more tick of trace: the work completes; the final extra tick is past the end and
    # the single-region reference skips it.
    assert result["histories"][0] == "NNNNOOOOOO"
    assert result["finish_tick"][0] == 9


def test_interpreted_policy_must_return_an_integer():
    args = one_run()
    for value, kind in (("1.7", "float"), ("True", "bool"), ("None", "NoneType")):
        result = _core.spot_simulate(*args, eval(f"lambda obs, mem: {value}"))
        assert layout.STATUS_NAMES[result["status"][0]] == "invalid_action"
        assert result["messages"][0] == f"returned {value} of type {kind}, not an integer action"
    result = _core.spot_simulate(*args, lambda obs, mem: np.int32(2))
    assert result["status"][0] == layout.STATUS_OK


@pytest.mark.parametrize("scenario, message", [
    ((48.0, 44.0, 1.0), ("run 0: impossible scenario: duration 48.000000 h plus restart overhead "
                        "1.000000 h exceeds the deadline 44.000000 h")),
    ((0.0, 44.0, 1.0), "run 0: task duration must be positive"),
    ((1.0, 44.0, -1.0), "run 0: restart overhead must be zero or positive"),
    ((1.0, 20.0, 0.0), ("run 0: trace too short: 100 ticks of 600.000000 s do not cover the "
                       "deadline of 20.000000 h")),
])
def test_impossible_scenarios_are_refused_with_the_same_message(scenario, message):
    args = one_run(scenario=scenario)
    with pytest.raises(ValueError) as cpp_error:
        _core.spot_simulate(*args, "greedy")
    assert str(cpp_error.value) == message
    with pytest.raises(ValueError) as numba_error:
        numba_spot.simulate(*args, None)
    assert str(numba_error.value) == message


def test_single_region_simulator_takes_one_trace_per_run():
    avail = np.ones(200, np.uint8)
    args = (avail, np.full(200, np.nan), np.array([0, 100, 200], np.int64),
            np.array([600.0, 600.0]), np.array([0, 1], np.int64), np.array([0, 2], np.int64),
            np.array([[1.0, 10.0, 0.1]]), False, "reference")
    with pytest.raises(ValueError, match="exactly one trace per run"):
        _core.spot_simulate(*args, "greedy")
    with pytest.raises(ValueError, match="unknown built-in policy 'nope'"):
        _core.spot_simulate(*one_run(), "nope")
    with pytest.raises(ValueError, match="unknown fidelity 'exact'"):
        _core.spot_simulate(*one_run()[:-1], "exact", "greedy")


# -- the two fidelities differ exactly where docs/spot.md says ------------------------------

def test_corrected_bills_each_spot_tick_at_its_own_price():
    n = 200
    prices = np.where(np.arange(n) < 50, 1.0, 2.0)
    args = list(one_run(n_ticks=n, scenario=(10.0, 20.0, 0.0)))
    args[1] = prices
    always_spot = "def decide(obs, mem):\n    return 1 if obs[7] - obs[1] > 1e-8 else 0\n"
    policy = compile_policy(always_spot)
    reference = _core.spot_simulate(*args, policy.address)
    args[-1] = "corrected"
    corrected = _core.spot_simulate(*args, policy.address)
    # 60 spot ticks after tick 0. Reference single region: the constant 0.9731 $/h.
    assert reference["spot_ticks"][0] == corrected["spot_ticks"][0] == 60
    assert reference["cost"][0] == pytest.approx(60 * 0.9731 / 6)
    # Corrected: entry i is billed at the price of tick i - 1: 50 ticks at 1 $/h, 10 at 2.
    assert corrected["cost"][0] == pytest.approx((50 * 1.0 + 10 * 2.0) / 6)


def test_reference_guarantee_loses_a_tick_that_corrected_does_not(traces):
    # Spec 1.5: the simplified Uniform Progress finishes one tick late on this run, because
    # the guarantee forces SPOT just after a preemption and the safety step makes it NONE.
    run = (np.array([traces.index("us-west-2a_v100_1", "238.json", "single")], np.int64),
           np.array([0, 1], np.int64), np.array([[48.0, 52.0, 0.02]]))
    args = (traces.available, traces.prices, traces.offsets, traces.gap_seconds, *run, False)
    reference = _core.spot_simulate(*args, "reference", "uniform_progress_simplified", True)
    corrected = _core.spot_simulate(*args, "corrected", "uniform_progress_simplified", True)
    assert reference["finish_tick"][0] == 313  # the deadline is tick 312
    assert reference["histories"][0][290:296] == "OSOSNO"  # interval [293, 294) lost
    assert corrected["finish_tick"][0] == 312
    assert corrected["histories"][0][290:296] == "OSOSOO"  # on demand instead
