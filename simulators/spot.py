"""Spot-instance scheduling simulator in Numba: the twin of ``cpp/include/adrs/spot.hpp``.

The C++ loop is the official scorer; this loop exists so the rules have a second,
independent native implementation (and to run where the extension is not built). Both
take the same packed arrays, follow the same rules line by line, and must give identical
results; ``tests/simulators/test_spot.py`` proves it against each other and against the
pure-Python oracle.

Batch arrays (shared with ``adrs._core.spot_simulate``):
    available, prices, offsets, gaps: a packed :class:`~adrs.simulators.spot_traces.TraceSet`.
    run_traces, run_offsets: run ``i`` uses the traces ``run_traces[run_offsets[i]:
        run_offsets[i + 1]]`` as its regions, in order (exactly one for single region).
    scenarios_hours: float64 ``[n_runs, 3]``: task duration, deadline, restart overhead.

The policy is a Numba function of type :data:`POLICY_TYPE`; build one from a candidate
with :func:`adrs.bridge.compile_policy` (its ``numba_function()``). Because the loop takes
it as a first-class function, the loop is compiled once, not once per candidate.
"""

from __future__ import annotations

import math

import numpy as np
from adrs.simulators import spot_layout as L
from numba import njit, types

POLICY_TYPE = types.FunctionType(types.int64(types.float64[::1], types.float64[::1]))
POLICY_RAISED = np.iinfo(np.int64).min  # what a compiled policy returns when it raised

STATUS_OK = L.STATUS_OK
STATUS_TRACE_OVERRUN = L.STATUS_TRACE_OVERRUN
STATUS_INVALID_ACTION = L.STATUS_INVALID_ACTION
STATUS_POLICY_ERROR = L.STATUS_POLICY_ERROR

ON_DEMAND_PRICE = L.ON_DEMAND_PRICE


def reference_spot_price() -> float:
    """The single-region reference spot price, rounded exactly as the reference does."""
    cost_k = 3.06 / 0.9731
    return 3.06 / cost_k


_FALLBACK_SPOT_PRICE = reference_spot_price()


@njit(cache=True)
def _clearly_fits(seconds_needed, seconds_left, gap):
    # Fast path proving ceil(needed/gap) < floor(left/gap) without dividing (see spot.hpp).
    return seconds_needed + 4.0 * gap < seconds_left


@njit(cache=True)
def _spot_price(prices, start, tick, fallback):
    p = prices[start + tick]
    return fallback if np.isnan(p) else p


@njit(cache=True)
def _simulate_run(available, prices, starts, n_ticks, gap, task, deadline, overhead,
                  multi_region, corrected, policy, obs, mem, history, history_region):
    """One run; returns (cost, ticks, finish_tick, spot, on_demand, region, status,
    status_tick, bad_action). ``history`` receives the billed entries."""
    n_regions = starts.shape[0]
    fallback = _FALLBACK_SPOT_PRICE
    obs[:] = 0.0
    mem[:] = 0.0
    obs[L.DEADLINE] = deadline
    obs[L.TASK_DURATION] = task
    obs[L.RESTART_OVERHEAD] = overhead
    obs[L.GAP] = gap
    obs[L.NUM_REGIONS] = n_regions

    env_type = L.NONE
    region = 0
    progress = 0.0
    rro = 0.0
    n_history = 0
    finish_tick = -1
    final = False
    k = 0
    while True:
        if k >= n_ticks:
            skip = env_type == L.NONE if corrected else not multi_region
            if final and skip:
                break
            return (np.nan, 0, finish_tick, 0, 0, region, STATUS_TRACE_OVERRUN, k, 0)
        has = available[starts[region] + k] != 0
        last = env_type
        history[n_history] = last
        history_region[n_history] = region
        n_history += 1
        if env_type == L.SPOT and not has:
            env_type = L.NONE  # preemption

        if last != L.NONE:
            done = max(gap - rro, 0.0)
            rro -= gap - done
            if rro < 1e-3:
                rro = 0.0
            done = min(done, task - progress)
            progress += done

        t = k * gap
        obs[L.TIME] = t
        obs[L.PROGRESS] = progress
        obs[L.REMAINING_OVERHEAD] = rro
        obs[L.HAS_SPOT] = 1.0 if has else 0.0
        obs[L.CLUSTER_TYPE] = env_type
        obs[L.LAST_CLUSTER_TYPE] = last
        obs[L.CURRENT_REGION] = region
        for r in range(n_regions):
            obs[L.REGION_HAS_SPOT + r] = 1.0 if available[starts[r] + k] != 0 else 0.0
            obs[L.REGION_HAS_SPOT + n_regions + r] = _spot_price(prices, starts[r], k, fallback)
        action = policy(obs, mem)
        if action == POLICY_RAISED:
            return (np.nan, 0, finish_tick, 0, 0, region, STATUS_POLICY_ERROR, k, 0)
        request = action
        region_before = region
        if action >= 3 and multi_region and action // 3 - 1 < n_regions:
            request = action % 3
            region = action // 3 - 1
        elif action < 0 or action >= 3:
            return (np.nan, 0, finish_tick, 0, 0, region, STATUS_INVALID_ACTION, k, action)

        # Strong guarantee: in the critical zone, run on demand (or keep spot).
        remaining = task - progress
        if remaining > 1e-3 and not _clearly_fits(remaining + overhead, deadline - t, gap):
            need = math.ceil((remaining + overhead) / gap) * gap
            time_left = math.floor((deadline - t) / gap) * gap
            if need >= time_left:
                keep_spot = last == L.SPOT and rro < 1e-3
                if corrected:
                    keep_spot = keep_spot and available[starts[region] + k] != 0
                request = L.SPOT if keep_spot else L.ON_DEMAND
        if request == L.SPOT and available[starts[region] + k] == 0:
            request = L.NONE  # safety

        current = L.NONE if (last == L.SPOT and not has) else last
        moved = corrected and region != region_before
        if request != L.NONE and (current != request or moved):
            rro = overhead

        if final:
            env_type = L.NONE
            break
        env_type = request
        if not (task - progress > 1e-8):
            final = True
            finish_tick = k
        k += 1

    # Billing: each entry is (price * gap) / 3600, summed left to right.
    on_demand_term = ON_DEMAND_PRICE * gap / 3600.0
    if multi_region:
        final_spot_term = _spot_price(prices, starts[region], 0, fallback) * gap / 3600.0
    else:
        final_spot_term = fallback * gap / 3600.0
    cost = 0.0
    n_spot = 0
    n_on_demand = 0
    for i in range(n_history):
        c = history[i]
        if c == L.SPOT:
            n_spot += 1
            if corrected:
                cost += _spot_price(prices, starts[history_region[i]], i - 1, fallback) * gap / 3600.0
            else:
                cost += final_spot_term
        elif c == L.ON_DEMAND:
            n_on_demand += 1
            cost += on_demand_term
    return (cost, n_history, finish_tick, n_spot, n_on_demand, region, STATUS_OK, -1, 0)


_BATCH_SIGNATURE = types.Tuple((types.float64[:, ::1], types.int64[:, ::1]))(
    types.uint8[::1], types.float64[::1], types.int64[::1], types.float64[::1], types.int64[::1],
    types.int64[::1], types.float64[:, ::1], types.boolean, types.boolean, POLICY_TYPE,
    types.uint8[:, ::1])


# An explicit signature types the policy as a first-class function: the loop compiles once
# (and is cached on disk), whatever candidate it runs.
@njit(_BATCH_SIGNATURE, cache=True)
def _simulate_batch(available, prices, offsets, gaps, run_traces, run_offsets, scenarios_hours,
                    multi_region, corrected, policy, histories):
    n_runs = run_offsets.shape[0] - 1
    max_regions = 1
    max_ticks = 1
    for i in range(n_runs):
        max_regions = max(max_regions, run_offsets[i + 1] - run_offsets[i])
    for i in range(gaps.shape[0]):
        max_ticks = max(max_ticks, offsets[i + 1] - offsets[i])
    obs = np.zeros(L.REGION_HAS_SPOT + 2 * max_regions)
    mem = np.zeros(L.MEM_SIZE)
    history = np.zeros(max_ticks + 1, np.uint8)
    history_region = np.zeros(max_ticks + 1, np.int32)
    out_f = np.full((n_runs, 1), np.nan)
    out_i = np.zeros((n_runs, 8), np.int64)
    for i in range(n_runs):
        traces = run_traces[run_offsets[i]:run_offsets[i + 1]]
        starts = offsets[traces]
        first = traces[0]
        n_obs = L.REGION_HAS_SPOT + 2 * traces.shape[0]
        r = _simulate_run(available, prices, starts, offsets[first + 1] - offsets[first],
                          gaps[first], scenarios_hours[i, 0] * 3600.0,
                          scenarios_hours[i, 1] * 3600.0, scenarios_hours[i, 2] * 3600.0,
                          multi_region, corrected, policy, obs[:n_obs], mem, history,
                          history_region)
        out_f[i, 0] = r[0]
        out_i[i, 0] = r[1]
        out_i[i, 1] = r[2]
        out_i[i, 2] = r[3]
        out_i[i, 3] = r[4]
        out_i[i, 4] = r[5]
        out_i[i, 5] = r[6]
        out_i[i, 6] = r[7]
        out_i[i, 7] = r[8]
        if r[6] == STATUS_OK and histories.shape[1] > 0:
            histories[i, :r[1]] = history[:r[1]]
    return out_f, out_i


def simulate(available: np.ndarray, prices: np.ndarray, offsets: np.ndarray, gaps: np.ndarray,
             run_traces: np.ndarray, run_offsets: np.ndarray, scenarios_hours: np.ndarray,
             multi_region: bool, fidelity: str, policy, record_history: bool = False) -> dict:
    """Simulate a batch of runs in Numba; same arguments and result as ``adrs._core``.

    Args:
        policy: A Numba function of type :data:`POLICY_TYPE` (``CompiledPolicy.numba_function()``).
        fidelity: ``"reference"`` or ``"corrected"``.

    Returns:
        A dict of per-run arrays (``cost``, ``ticks``, ``finish_tick``, ``spot_ticks``,
        ``on_demand_ticks``, ``final_region``, ``status``, ``status_tick``, ``bad_action``),
        ``messages`` (empty strings: a compiled policy carries no message) and, when
        asked, ``histories`` ('N'/'S'/'O' strings).

    Raises:
        ValueError: Unknown fidelity, or arrays that do not describe a valid batch.
    """
    if fidelity not in ("reference", "corrected"):
        raise ValueError(f"unknown fidelity {fidelity!r}; expected reference or corrected")
    available = np.ascontiguousarray(available, np.uint8)
    prices = np.ascontiguousarray(prices, np.float64)
    offsets = np.ascontiguousarray(offsets, np.int64)
    gaps = np.ascontiguousarray(gaps, np.float64)
    run_traces = np.ascontiguousarray(run_traces, np.int64)
    run_offsets = np.ascontiguousarray(run_offsets, np.int64)
    scenarios_hours = np.ascontiguousarray(scenarios_hours, np.float64).reshape(-1, 3)
    _check_batch(available, prices, offsets, gaps, run_traces, run_offsets, scenarios_hours,
                 multi_region)
    n_runs = run_offsets.shape[0] - 1
    width = int(np.max(np.diff(offsets))) + 1 if record_history else 0
    histories = np.zeros((n_runs, width), np.uint8)
    out_f, out_i = _simulate_batch(available, prices, offsets, gaps, run_traces, run_offsets,
                                   scenarios_hours, bool(multi_region),
                                   fidelity == "corrected", policy, histories)
    result = {
        "cost": out_f[:, 0].copy(),
        "ticks": out_i[:, 0].copy(),
        "finish_tick": out_i[:, 1].copy(),
        "spot_ticks": out_i[:, 2].copy(),
        "on_demand_ticks": out_i[:, 3].copy(),
        "final_region": out_i[:, 4].copy(),
        "status": out_i[:, 5].copy(),
        "status_tick": out_i[:, 6].copy(),
        "bad_action": out_i[:, 7].copy(),
        "messages": [""] * n_runs,
    }
    if record_history:
        letters = np.frombuffer(L.HISTORY_LETTERS.encode(), np.uint8)
        result["histories"] = [
            letters[histories[i, : out_i[i, 0]]].tobytes().decode() for i in range(n_runs)
        ]
    return result


def _check_batch(available, prices, offsets, gaps, run_traces, run_offsets, scenarios_hours,
                 multi_region) -> None:
    # The same checks as the C++ binding, with the same messages.
    n_traces = gaps.shape[0]
    if offsets.shape[0] != n_traces + 1:
        raise ValueError(f"offsets has {offsets.shape[0]} entries, expected {n_traces + 1}")
    if offsets[0] != 0 or offsets[-1] != available.shape[0]:
        raise ValueError("offsets do not span the availability array")
    if prices.shape[0] != available.shape[0]:
        raise ValueError(
            f"prices has {prices.shape[0]} entries, expected {available.shape[0]}")
    if np.any(np.diff(offsets) <= 0):
        raise ValueError(f"trace {int(np.argmax(np.diff(offsets) <= 0))} is empty")
    n_runs = run_offsets.shape[0] - 1
    if n_runs < 0:
        raise ValueError("run_offsets must have at least one entry")
    if scenarios_hours.shape[0] != n_runs:
        raise ValueError(
            f"scenarios_hours has {scenarios_hours.size} entries, expected {n_runs * 3}")
    if run_offsets[0] != 0 or run_offsets[-1] != run_traces.shape[0]:
        raise ValueError("run_offsets do not span run_traces")
    for i in range(n_runs):
        traces = run_traces[run_offsets[i]:run_offsets[i + 1]]
        if traces.shape[0] < 1:
            raise ValueError(f"run {i} has no trace")
        if not multi_region and traces.shape[0] != 1:
            raise ValueError(
                f"run {i}: the single-region simulator takes exactly one trace per run")
        for tr in traces:
            if tr < 0 or tr >= n_traces:
                raise ValueError(f"run {i}: trace index {tr} out of range")
        if np.any(gaps[traces] != gaps[traces[0]]):
            raise ValueError(f"run {i}: regions have different tick lengths")
        lengths = offsets[traces + 1] - offsets[traces]
        if np.any(lengths != lengths[0]):
            raise ValueError(f"run {i}: regions have different trace lengths")
        try:
            check_scenario(*scenarios_hours[i], n_ticks=int(lengths[0]), gap=float(gaps[traces[0]]))
        except ValueError as exc:
            raise ValueError(f"run {i}: {exc}") from None


def check_scenario(duration_hours: float, deadline_hours: float, overhead_hours: float, *,
                   n_ticks: int, gap: float) -> None:
    """Reject a scenario that cannot be simulated (the C++ ``check_scenario`` twin).

    Raises:
        ValueError: Non-positive duration or deadline, negative overhead, a tick shorter
            than a second, duration plus overhead beyond the deadline, or a trace that
            does not cover the deadline.
    """
    task, deadline, overhead = (duration_hours * 3600.0, deadline_hours * 3600.0,
                                overhead_hours * 3600.0)
    if not (math.isfinite(task) and task > 0):
        raise ValueError("task duration must be positive")
    if not (math.isfinite(deadline) and deadline > 0):
        raise ValueError("deadline must be positive")
    if not (math.isfinite(overhead) and overhead >= 0):
        raise ValueError("restart overhead must be zero or positive")
    if not (math.isfinite(gap) and gap >= 1.0):
        raise ValueError("tick length must be at least 1 second")
    if task + overhead > deadline:
        raise ValueError(
            f"impossible scenario: duration {task / 3600.0:f} h plus restart overhead "
            f"{overhead / 3600.0:f} h exceeds the deadline {deadline / 3600.0:f} h")
    if n_ticks * gap / 3600.0 + 1e-9 < deadline / 3600.0:
        raise ValueError(
            f"trace too short: {n_ticks} ticks of {gap:f} s do not cover the deadline of "
            f"{deadline / 3600.0:f} h")
