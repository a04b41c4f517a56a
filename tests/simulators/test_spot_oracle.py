"""The spot oracle and the built-in policy programs reproduce every golden run.

The goldens (``../shared/golden/spot/*.json.gz``) were measured from the published
"Can't Be Late" reference simulators under CPython 3.11; the oracle sums costs naively left to
right as that ``sum()`` does, so costs must agree bit for bit. The rest of the module pins the
oracle's own rules (trace end, invalid actions, the ``corrected`` fidelity) on small
hand-worked traces, and checks that every program is a valid Numba candidate.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
import math
import tarfile
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
from adrs.simulators import spot_layout as layout
from numba import types as nb_types

try:  # tests/simulators is a package in some layouts, a plain folder in others
    from . import spot_oracle
except ImportError:
    import spot_oracle

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).resolve().parents[3] / "shared"
TRACE_ARCHIVE = SHARED / "data" / "spot_traces.tar.gz"
GOLDEN_DIR = SHARED / "golden" / "spot"
PROGRAM_DIR = REPO / "python" / "adrs" / "problems" / "spot" / "programs"

PROGRAMS = (
    "always_on_demand",
    "greedy",
    "uniform_progress_simplified",
    "uniform_progress",
    "multi_seed",
    "multi_uniform_progress",
)
# Golden file -> the program that reproduces it.
GOLDEN_PROGRAMS = {
    "single_greedy": "greedy",
    "single_uniform_progress_simplified": "uniform_progress_simplified",
    "single_uniform_progress_nsdi24": "uniform_progress",
    "multi_initial": "multi_seed",
    "multi_uniform_progress": "multi_uniform_progress",
}
# The multi-region evaluator's fixed scenario (spec 2.3): D, T, d in hours.
MULTI_SCENARIO = (48.0, 52.0, 0.2)
HOUR = 3600.0

Policy = Callable[[np.ndarray, np.ndarray], int]


@dataclass(frozen=True)
class Trace:
    """One region's trace as the oracle takes it."""

    available: np.ndarray  # True where spot is available
    prices: np.ndarray | None
    gap: float


# -- loading ----------------------------------------------------------------------------


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared spot data not found: {path} (expected ../shared beside the repo)")
    return path


def _read_traces(archive: Path, members: set[str]) -> dict[str, Trace]:
    """Parse the named members of the trace archive (``data[k] == 1`` means no spot)."""
    traces: dict[str, Trace] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name not in members:
                continue
            handle = tar.extractfile(member)
            assert handle is not None, member.name
            raw = json.load(handle)
            prices = raw.get("prices")
            traces[member.name] = Trace(
                available=np.asarray(raw["data"]) == 0,
                prices=None if prices is None else np.asarray(prices, dtype=np.float64),
                gap=float(raw["metadata"]["gap_seconds"]),
            )
    missing = members - traces.keys()
    assert not missing, f"{archive}: members not found: {sorted(missing)[:5]}"
    return traces


def _single_member(env: str, trace: str) -> str:
    return f"full/single/{env}/{trace}"


def _multi_member(region: str, trace: str) -> str:
    return f"full/multi/{region}/{trace}"


def _run_members(run: dict[str, Any]) -> list[str]:
    if "env" in run:
        return [_single_member(run["env"], run["trace"])]
    return [_multi_member(region, run["trace"]) for region in run["regions"]]


def _load_program(name: str) -> types.ModuleType:
    """Import a program file as a fresh module (as the problem loads candidate source)."""
    path = PROGRAM_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"spot_program_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jit_program(name: str) -> Any:
    """Compile a program as the policy bridge does: every function of the module, nopython."""
    module = _load_program(name)
    namespace = vars(module)
    for attr, value in list(namespace.items()):
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            namespace[attr] = numba.njit(value)
    dispatcher = namespace["decide"]
    dispatcher.compile((nb_types.float64[::1], nb_types.float64[::1]))
    return dispatcher


def _simulate_golden_run(
    run: dict[str, Any], traces: dict[str, Trace], decide: Policy
) -> spot_oracle.OracleRun:
    region_traces = [traces[member] for member in _run_members(run)]
    if "env" in run:
        scenario = (run["duration"], run["deadline"], run["overhead"])
    else:
        scenario = MULTI_SCENARIO
    return spot_oracle.simulate(
        [t.available for t in region_traces],
        [t.prices for t in region_traces],
        region_traces[0].gap,
        *scenario,
        decide,
        multi_region="env" not in run,
    )


def _describe_run(run: dict[str, Any]) -> str:
    if "env" in run:
        scenario = f"D={run['duration']} T={run['deadline']} d={run['overhead']}"
        return f"{run['env']}/{run['trace']} {scenario}"
    return f"{run['scenario']}/{run['trace']}"


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def goldens() -> dict[str, dict[str, Any]]:
    result = {}
    for name in GOLDEN_PROGRAMS:
        with gzip.open(_require(GOLDEN_DIR / f"{name}.json.gz"), "rt") as handle:
            result[name] = json.load(handle)
    return result


@pytest.fixture(scope="module")
def traces(goldens: dict[str, dict[str, Any]]) -> dict[str, Trace]:
    members = {
        m for golden in goldens.values() for run in golden["runs"] for m in _run_members(run)
    }
    members |= {m for case in TABLE_6_6 for m in case.members}
    return _read_traces(_require(TRACE_ARCHIVE), members)


@pytest.fixture(scope="module")
def replayed(
    goldens: dict[str, dict[str, Any]], traces: dict[str, Trace]
) -> Callable[[str], list[spot_oracle.OracleRun]]:
    """Golden file name -> the oracle's run of the pure-Python program on each of its runs."""
    cache: dict[str, list[spot_oracle.OracleRun]] = {}

    def replay(name: str) -> list[spot_oracle.OracleRun]:
        if name not in cache:
            decide = _load_program(GOLDEN_PROGRAMS[name]).decide
            cache[name] = [_simulate_golden_run(r, traces, decide) for r in goldens[name]["runs"]]
        return cache[name]

    return replay


@pytest.fixture(scope="module")
def jitted() -> dict[str, Any]:
    return {name: _jit_program(name) for name in PROGRAMS}


# -- golden runs ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(GOLDEN_PROGRAMS))
def test_golden_runs_reproduce_tick_by_tick(
    name: str,
    goldens: dict[str, dict[str, Any]],
    traces: dict[str, Trace],
    replayed: Callable[[str], list[spot_oracle.OracleRun]],
) -> None:
    failures = []
    not_bit_exact = []
    for run, result in zip(goldens[name]["runs"], replayed(name), strict=True):
        where = _describe_run(run)
        if result.status != "ok":
            failures.append(f"{where}: {result.status}: {result.message}")
            continue
        if result.history != run["seq"]:
            first = next(
                (k for k, (a, b) in enumerate(zip(result.history, run["seq"])) if a != b),
                min(len(result.history), len(run["seq"])),
            )
            failures.append(f"{where}: history differs from tick {first}")
            continue
        if not math.isclose(result.cost, run["cost"], rel_tol=1e-9, abs_tol=0.0):
            failures.append(f"{where}: cost {result.cost!r} != {run['cost']!r}")
        elif result.cost != run["cost"]:
            not_bit_exact.append(f"{where}: cost {result.cost!r} != {run['cost']!r}")
        # The golden tick count includes a final observe that ran past the trace (1.7),
        # which the single-region reference counts but does not bill.
        if run["ticks"] != result.finish_tick + 2:
            failures.append(f"{where}: finish tick {result.finish_tick}, ticks {run['ticks']}")
        if "regions" in run:
            final_prices = traces[_run_members(run)[result.final_region]].prices
            assert final_prices is not None
            if (result.final_region, final_prices[0]) != (
                run["final_region"],
                run["spot_price_used"],
            ):
                failures.append(f"{where}: final region {result.final_region}")
    assert not failures, f"{len(failures)} runs differ, first: {failures[:5]}"
    # The oracle adds costs naively left to right, as CPython 3.11's sum() did.
    assert not not_bit_exact, f"{len(not_bit_exact)} costs not bit-exact: {not_bit_exact[:5]}"


@pytest.mark.parametrize("name", list(GOLDEN_PROGRAMS))
def test_golden_summary(
    name: str,
    goldens: dict[str, dict[str, Any]],
    replayed: Callable[[str], list[spot_oracle.OracleRun]],
) -> None:
    summary = goldens[name]["summary"]
    costs = [result.cost for result in replayed(name)]
    if name.startswith("single"):
        # Single-region evaluator (spec 3.1): numpy mean and population std of all costs.
        mean = float(np.mean(costs))
        std = float(np.std(costs))
        assert mean == pytest.approx(summary["avg_cost"], rel=1e-9, abs=0)
        assert std == pytest.approx(summary["std_cost"], rel=1e-9, abs=0)
        assert -mean == pytest.approx(summary["score"], rel=1e-9, abs=0)
        combined = -mean - 0.25 * std
    else:
        # Multi-region evaluator (spec 3.2): equal-weight mean of the scenario means.
        by_scenario: dict[str, list[float]] = {}
        for run, cost in zip(goldens[name]["runs"], costs, strict=True):
            by_scenario.setdefault(run["scenario"], []).append(cost)
        means = {scenario: sum(c) / len(c) for scenario, c in by_scenario.items()}
        assert means == pytest.approx(summary["scenario_avgs"], rel=1e-9, abs=0)
        final = sum(means.values()) / len(means)
        assert final == pytest.approx(summary["final_avg_cost"], rel=1e-9, abs=0)
        combined = -final
    assert combined == pytest.approx(summary["combined_score"], rel=1e-9, abs=0)


@dataclass(frozen=True)
class TableCase:
    """One row of the golden table, spec 6.6."""

    number: int
    program: str
    members: tuple[str, ...]
    deadline: float
    overhead: float
    cost: float
    finish_tick: int
    spot_ticks: int
    on_demand_ticks: int
    final_region: int = 0
    spot_price_billed: float | None = None


def _single_case(number: int, program: str, env: str, trace: str, *rest: Any) -> TableCase:
    return TableCase(number, program, (_single_member(env, trace),), *rest)


def _multi_case(number: int, program: str, regions: str, trace: str, *rest: Any) -> TableCase:
    members = tuple(_multi_member(f"us-{r}_v100_1", trace) for r in regions.split())
    return TableCase(number, program, members, 52.0, 0.2, *rest)


GREEDY, UP_SIMPLE, UP = "greedy", "uniform_progress_simplified", "uniform_progress"
MULTI_SEED, MULTI_UP = "multi_seed", "multi_uniform_progress"
# fmt: off
TABLE_6_6 = (
    _single_case(1, GREEDY, "us-west-2a_k80_1", "0.json", 52, 0.02, 46.87098333333329, 307, 289, 0),
    _single_case(2, GREEDY, "us-west-2b_v100_1", "154.json", 52, 0.4, 148.8965500000002, 310, 3, 291),
    _single_case(3, UP_SIMPLE, "us-west-2b_v100_1", "154.json", 52, 0.4, 152.69711666666677, 312, 17, 294),
    _single_case(4, GREEDY, "us-west-2b_k80_1", "21.json", 92, 0.4, 148.4100000000002, 550, 0, 291),
    _single_case(5, UP_SIMPLE, "us-west-2b_k80_1", "21.json", 92, 0.4, 188.49091666666612, 552, 5, 368),
    _single_case(6, GREEDY, "us-west-2a_v100_1", "99.json", 70, 0.2, 111.07636666666707, 419, 122, 179),
    _single_case(7, UP_SIMPLE, "us-west-2a_v100_1", "99.json", 70, 0.2, 77.96146666666637, 408, 248, 74),
    _single_case(8, GREEDY, "us-west-2b_v100_1", "247.json", 92, 0.02, 93.80278333333361, 552, 157, 134),
    _single_case(9, UP_SIMPLE, "us-west-2a_k80_1", "126.json", 52, 0.4, 50.18499999999992, 304, 300, 3),
    _single_case(10, UP_SIMPLE, "us-west-2a_v100_1", "238.json", 52, 0.02, 94.82278333333322, 313, 157, 136),
    _single_case(11, UP, "us-west-2a_v100_1", "99.json", 70, 0.2, 81.71906666666635, 408, 224, 89),
    _multi_case(12, MULTI_SEED, "east-1a east-1c", "0.json", 143.23740166666835, 957, 161, 795, 1, 1.3148),
    _multi_case(13, MULTI_UP, "east-1a east-1c", "0.json", 138.0758383333349, 956, 163, 763, 1, 1.3148),
    _multi_case(14, MULTI_SEED, "east-1a east-1f west-2a west-2b east-2b", "2.json",
                134.4895500000016, 958, 208, 749, 2, 0.918),
    _multi_case(15, MULTI_UP, "east-1a east-1f west-2a west-2b east-2b", "2.json",
                46.045350000000255, 929, 926, 0, 2, 0.918),
    _multi_case(16, MULTI_SEED,
                "east-2a west-2c east-1d east-2b west-2a east-1f east-1a west-2b east-1c", "1.json",
                46.999160000000856, 921, 912, 0, 0, 0.9514),
)
# fmt: on


@pytest.mark.parametrize("case", TABLE_6_6, ids=lambda case: f"case{case.number}")
def test_golden_table_case(case: TableCase, traces: dict[str, Trace]) -> None:
    region_traces = [traces[member] for member in case.members]
    multi = len(case.members) > 1
    result = spot_oracle.simulate(
        [t.available for t in region_traces],
        [t.prices for t in region_traces],
        region_traces[0].gap,
        48.0,
        case.deadline,
        case.overhead,
        _load_program(case.program).decide,
        multi_region=multi,
    )
    assert result.status == "ok", result.message
    assert result.cost == case.cost
    assert result.finish_tick == case.finish_tick
    assert (result.history.count("S"), result.history.count("O")) == (
        case.spot_ticks,
        case.on_demand_ticks,
    )
    assert result.final_region == case.final_region
    if multi:
        final_prices = region_traces[result.final_region].prices
        assert final_prices is not None and final_prices[0] == case.spot_price_billed


def test_late_finish_of_simplified_uniform_progress_is_the_lost_spot_tick(
    traces: dict[str, Trace],
) -> None:
    """Spec 1.5: in the critical zone the guarantee keeps SPOT after a preemption; a tick is lost."""
    trace = traces[_single_member("us-west-2a_v100_1", "238.json")]
    decide = _load_program(UP_SIMPLE).decide
    result = spot_oracle.simulate(
        [trace.available], [None], trace.gap, 48, 52, 0.02, decide, multi_region=False
    )
    assert result.finish_tick == 313 > 52 * HOUR / trace.gap
    assert "OSOSNO" in result.history
    corrected = spot_oracle.simulate(
        [trace.available],
        [None],
        trace.gap,
        48,
        52,
        0.02,
        decide,
        multi_region=False,
        fidelity="corrected",
    )
    assert corrected.finish_tick <= 312


# -- programs ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_compiles_to_an_integer_action(name: str, jitted: dict[str, Any]) -> None:
    signatures = jitted[name].nopython_signatures
    assert len(signatures) == 1
    return_type = signatures[0].return_type
    # numba's Boolean is not an Integer, so this also rejects a bool return.
    assert isinstance(return_type, nb_types.Integer), f"{name} returns {return_type}"


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_is_a_clean_candidate(name: str) -> None:
    source = (PROGRAM_DIR / f"{name}.py").read_text()
    tree = ast.parse(source)
    assert ast.get_docstring(tree), f"{name}: module docstring missing"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(
                (alias.name, alias.asname) in {("math", None), ("numpy", "np")}
                for alias in node.names
            ), f"{name}: imports {[a.name for a in node.names]}"
        assert not isinstance(node, ast.ImportFrom), f"{name}: from-import"
    start, end = source.index("# EVOLVE-BLOCK-START"), source.index("# EVOLVE-BLOCK-END")
    assert start < source.index("def decide(obs, mem):") < end
    module = _load_program(name)
    for constant, value in vars(module).items():
        if constant.isupper() and hasattr(layout, constant):
            assert value == getattr(layout, constant), f"{name}: {constant} = {value}"


def _stride(runs: list[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    yield from runs[:: max(1, len(runs) // count)]


@pytest.mark.parametrize("name", list(GOLDEN_PROGRAMS))
def test_compiled_program_reproduces_goldens(
    name: str,
    goldens: dict[str, dict[str, Any]],
    traces: dict[str, Trace],
    jitted: dict[str, Any],
) -> None:
    """The Numba build of each program decides exactly as the Python one (a sample of runs)."""
    for run in _stride(goldens[name]["runs"], 60):
        result = _simulate_golden_run(run, traces, jitted[GOLDEN_PROGRAMS[name]])
        assert (result.history, result.cost) == (run["seq"], run["cost"]), run["trace"]


def test_always_on_demand_runs_on_demand_until_done() -> None:
    available = np.zeros(554, dtype=bool)
    # D + d = 48.2 h = 289.2 ticks of 600 s: 290 billed on-demand ticks.
    decide = _load_program("always_on_demand").decide
    result = spot_oracle.simulate([available], None, 600.0, 48, 52, 0.2, decide, multi_region=False)
    assert result.history == "N" + "O" * 290 + "N"
    expected = 0.0
    for _ in range(290):
        expected += (3.06 * 600) / 3600
    assert result.cost == expected
    assert result.finish_tick == 290


# -- oracle rules on small hand-worked traces ------------------------------------------


def _spot_when_available(obs: np.ndarray, mem: np.ndarray) -> int:
    if obs[layout.TASK_DURATION] - obs[layout.PROGRESS] <= 1e-8:
        return layout.NONE
    return layout.SPOT if obs[layout.HAS_SPOT] > 0.5 else layout.NONE


def _hourly(
    available: list[int],
    duration: float,
    deadline: float,
    overhead: float,
    decide: Policy,
    *,
    multi: bool = False,
    fidelity: str = "reference",
    prices: list[list[float]] | None = None,
    regions: int = 1,
) -> spot_oracle.OracleRun:
    """Simulate with one-hour ticks, every region sharing ``available`` unless ``prices``."""
    avail = [np.asarray(available, dtype=bool)] * regions
    price_arrays = None if prices is None else [np.asarray(p) for p in prices]
    return spot_oracle.simulate(
        avail,
        price_arrays,
        HOUR,
        duration,
        deadline,
        overhead,
        decide,
        multi_region=multi,
        fidelity=fidelity,
    )


def test_guarantee_keeps_preempted_spot_in_reference_and_switches_in_corrected() -> None:
    # D=2 h, d=0.6 h, T=4 h. Tick 0 starts spot (overhead 0.6 h); at tick 1 only 0.4 h is
    # done and ceil((1.6 + 0.6) / 1) = 3 >= floor(4 - 1) = 3: critical, last SPOT, overhead
    # paid, but spot is gone.
    available = [1, 0, 0, 0, 0, 0, 0, 0]
    reference = _hourly(available, 2, 4, 0.6, _spot_when_available)
    assert (reference.status, reference.history) == ("ok", "NSNOOON")  # tick 1 lost: late
    assert reference.finish_tick == 5
    corrected = _hourly(available, 2, 4, 0.6, _spot_when_available, fidelity="corrected")
    assert (corrected.status, corrected.history) == ("ok", "NSOOON")
    assert corrected.finish_tick == 4


def test_region_moves_are_free_in_reference_and_restart_in_corrected() -> None:
    def move_once(obs: np.ndarray, mem: np.ndarray) -> int:
        if obs[layout.TASK_DURATION] - obs[layout.PROGRESS] <= 1e-8:
            return layout.NONE
        if obs[layout.TIME] == HOUR:
            return layout.encode_action(layout.SPOT, 1)
        return layout.SPOT

    available = [1] * 10
    reference = _hourly(available, 2.5, 10, 0.5, move_once, multi=True, regions=2)
    assert (reference.history, reference.final_region) == ("NSSSN", 1)
    corrected = _hourly(
        available, 2.5, 10, 0.5, move_once, multi=True, regions=2, fidelity="corrected"
    )
    assert (corrected.history, corrected.final_region) == ("NSSSSN", 1)


def test_billing_final_region_price_vs_price_of_each_interval() -> None:
    def spot_then_move(obs: np.ndarray, mem: np.ndarray) -> int:
        if obs[layout.TASK_DURATION] - obs[layout.PROGRESS] <= 1e-8:
            return layout.NONE
        return layout.encode_action(layout.SPOT, 1) if obs[layout.TIME] == HOUR else layout.SPOT

    prices = [[1.5, 1.25, 1.0, 1.0, 1.0, 1.0], [0.5, 0.75, 2.0, 4.0, 8.0, 8.0]]
    kwargs: dict[str, Any] = {"multi": True, "regions": 2, "prices": prices}
    reference = _hourly([1] * 6, 3, 6, 0.0, spot_then_move, **kwargs)
    assert reference.history == "NSSSN"
    assert reference.cost == 3 * 0.5  # every spot tick at region 1's price at tick 0
    corrected = _hourly([1] * 6, 3, 6, 0.0, spot_then_move, fidelity="corrected", **kwargs)
    assert corrected.history == "NSSSN"
    # [0,1) in region 0 at its tick-0 price; [1,2) and [2,3) in region 1 at ticks 1 and 2.
    assert corrected.cost == 1.5 + 0.75 + 2.0


def _on_demand_always(obs: np.ndarray, mem: np.ndarray) -> int:
    return layout.ON_DEMAND


def _on_demand_until_done(obs: np.ndarray, mem: np.ndarray) -> int:
    done = obs[layout.TASK_DURATION] - obs[layout.PROGRESS] <= 1e-8
    return layout.NONE if done else layout.ON_DEMAND


def test_trace_end_final_iteration() -> None:
    # 10 one-hour ticks, D = 9 h: the work is done at tick 9, so the final iteration is tick
    # 10, one past the trace.
    trace = [0] * 10
    single = _hourly(trace, 9, 10, 0, _on_demand_until_done)
    assert (single.status, single.history, single.finish_tick) == ("ok", "N" + "O" * 9, 9)
    multi = _hourly(trace, 9, 10, 0, _on_demand_until_done, multi=True)
    assert multi.status == "trace_overrun" and math.isnan(multi.cost)
    assert "tick 10" in multi.message
    for is_multi in (False, True):
        clean = _hourly(
            trace, 9, 10, 0, _on_demand_until_done, multi=is_multi, fidelity="corrected"
        )
        assert (clean.status, clean.history) == ("ok", "N" + "O" * 9)
        # A request still running after the work is done would be billed past the trace.
        running = _hourly(trace, 9, 10, 0, _on_demand_always, multi=is_multi, fidelity="corrected")
        assert running.status == "trace_overrun"
    # The reference single-region simulator skips it, leaving the last request unbilled.
    unbilled = _hourly(trace, 9, 10, 0, _on_demand_always)
    assert (unbilled.status, unbilled.history) == ("ok", "N" + "O" * 9)


@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("fidelity", spot_oracle.FIDELITIES)
def test_trace_end_in_main_loop_is_an_overrun(multi: bool, fidelity: str) -> None:
    # A policy that never runs: the guarantee starts on-demand at t = 5 h, just in time to
    # finish on the deadline, at tick 10, which is one past the trace.
    def never(obs: np.ndarray, mem: np.ndarray) -> int:
        return layout.NONE

    result = _hourly([1] * 10, 5, 10, 0, never, multi=multi, fidelity=fidelity)
    assert result.status == "trace_overrun"
    assert math.isnan(result.cost) and result.finish_tick == -1
    assert result.history == "N" * 6 + "O" * 4
    assert "tick 10" in result.message


@pytest.mark.parametrize(
    ("action", "multi", "expected"),
    [
        (3, False, "action 3 at tick 0"),
        (-1, False, "action -1 at tick 0"),
        (-1, True, "action -1 at tick 0"),
        (3 * 3 + 1, True, "region 2 of 2"),
        (1.0, False, "1.0 (float)"),
        (True, False, "True (bool)"),
        (np.bool_(True), True, "(bool"),
        (None, True, "None (NoneType)"),
    ],
)
def test_invalid_action_stops_the_run(action: Any, multi: bool, expected: str) -> None:
    def constant(obs: np.ndarray, mem: np.ndarray) -> Any:
        return action

    result = _hourly([1] * 10, 5, 10, 0, constant, multi=multi, regions=2 if multi else 1)
    assert result.status == "invalid_action"
    assert expected in result.message
    assert math.isnan(result.cost)


def test_numpy_integer_action_is_valid() -> None:
    result = _hourly([1] * 10, 5, 10, 0, lambda obs, mem: np.int64(2) if obs[1] < 5 * HOUR else 0)
    assert (result.status, result.history) == ("ok", "NOOOOON")


def test_policy_error_stops_the_run() -> None:
    def crash(obs: np.ndarray, mem: np.ndarray) -> int:
        if obs[layout.TIME] >= 2 * HOUR:
            raise ZeroDivisionError("boom")
        return layout.SPOT

    result = _hourly([1] * 10, 5, 10, 0, crash)
    assert result.status == "policy_error"
    assert "tick 2" in result.message and "ZeroDivisionError: boom" in result.message
    assert result.history == "NSS"
    assert math.isnan(result.cost)


def test_observation_and_memory() -> None:
    seen: list[np.ndarray] = []

    def record(obs: np.ndarray, mem: np.ndarray) -> int:
        mem[0] += 1.0
        seen.append(np.array([*obs, mem[0]]))
        k = len(seen) - 1
        if k == 0:
            return layout.SPOT
        if k == 1:
            return layout.encode_action(layout.ON_DEMAND, 1)
        return layout.NONE if obs[layout.PROGRESS] >= 2 * HOUR else layout.ON_DEMAND

    prices = [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]]
    available = [np.array([1, 0, 1, 1, 1, 1], dtype=bool), np.array([0, 1, 0, 1, 0, 1], dtype=bool)]
    result = spot_oracle.simulate(
        available, [np.asarray(p) for p in prices], HOUR, 2, 6, 0.25, record, multi_region=True
    )
    assert (result.status, result.history, result.final_region) == ("ok", "NSOON", 1)
    # The policy is called on every observed tick, the final one included, with mem kept.
    assert len(seen) == len(result.history)
    assert [row[-1] for row in seen] == [1.0, 2.0, 3.0, 4.0, 5.0]
    size = layout.obs_size(2)
    tick1 = seen[1][:size]
    assert tick1[layout.TIME] == HOUR
    assert tick1[layout.PROGRESS] == 0.75 * HOUR  # 0.25 h overhead paid in [0, 1)
    assert tick1[layout.REMAINING_OVERHEAD] == 0.0
    assert tick1[layout.HAS_SPOT] == 0.0  # region 0 at tick 1
    assert tick1[layout.CLUSTER_TYPE] == layout.NONE  # preempted
    assert tick1[layout.LAST_CLUSTER_TYPE] == layout.SPOT
    scenario = [6 * HOUR, 2 * HOUR, 0.25 * HOUR, HOUR, 0.0, 2.0]
    assert list(tick1[layout.DEADLINE : layout.NUM_REGIONS + 1]) == scenario
    assert list(tick1[layout.REGION_HAS_SPOT :]) == [0.0, 1.0, 2.0, 8.0]
    tick2 = seen[2][:size]
    assert tick2[layout.CURRENT_REGION] == 1.0  # moved at tick 1
    assert tick2[layout.REMAINING_OVERHEAD] == 0.0  # a full hour paid the new 0.25 h overhead
    assert tick2[layout.PROGRESS] == 1.5 * HOUR
    assert tick2[layout.CLUSTER_TYPE] == layout.ON_DEMAND


def test_single_region_spot_price_is_the_reference_constant() -> None:
    seen: list[float] = []

    def record(obs: np.ndarray, mem: np.ndarray) -> int:
        seen.append(obs[layout.region_spot_price_index(1, 0)])
        return _spot_when_available(obs, mem)

    result = _hourly([1] * 10, 2, 10, 0, record)
    assert spot_oracle.CONSTANT_SPOT_PRICE == 0.9731
    assert set(seen) == {0.9731}
    assert result.cost == 0.9731 + 0.9731


@pytest.mark.parametrize(
    ("duration", "deadline", "ticks", "match"),
    [(9.5, 10, 10, "exceeds deadline"), (5, 11, 10, "does not cover")],
)
def test_single_region_prechecks(duration: float, deadline: float, ticks: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _hourly([1] * ticks, duration, deadline, 1, _spot_when_available)
    # The multi-region reference has no pre-checks: these runs simply happen.
    result = _hourly([1] * ticks, duration, deadline, 1, _spot_when_available, multi=True)
    assert result.status in {"ok", "trace_overrun"}


def test_bad_inputs_are_value_errors() -> None:
    two = [np.ones(5, dtype=bool)] * 2
    with pytest.raises(ValueError, match="2 regions"):
        spot_oracle.simulate(two, None, HOUR, 1, 4, 0, _spot_when_available, multi_region=False)
    with pytest.raises(ValueError, match="fidelity"):
        spot_oracle.simulate(
            two, None, HOUR, 1, 4, 0, _spot_when_available, multi_region=True, fidelity="exact"
        )
    with pytest.raises(ValueError, match="different lengths"):
        spot_oracle.simulate(
            [np.ones(5), np.ones(6)], None, HOUR, 1, 4, 0, _spot_when_available, multi_region=True
        )
