"""Pure-Python oracle of the "Can't Be Late" reference spot simulators.

This module is the readable statement of the rules that the C++ and Numba spot simulators
are tested against. It follows ``../shared/specs/spot.md`` (sections 1.3, 1.4, 1.7, 1.8
and 6) step by step, favouring clarity over speed; it is not part of the package.

Two fidelities:

``"reference"``
    Bit-for-bit the published simulators (single region ``sky_spot``, multi region
    ``cant-be-late-multi``), quirks included: the strong guarantee may force SPOT onto a
    region without spot (the tick is then lost), region moves are free, the multi-region
    run is billed at the final region's first spot price, and a trace overrun behaves as
    the reference does (see :func:`simulate`).

``"corrected"``
    Our fix of those quirks: (a) each billed interval is charged at the spot price of the
    region it ran in, at the tick it started; (b) the guarantee keeps SPOT only when spot
    is available now in the region after the policy's move, otherwise it picks ON_DEMAND;
    (c) moving region while the instance would otherwise keep running costs a restart;
    (d) any overrun of the trace is an error, except a final extra tick that runs nothing.

The policy is ``decide(obs, mem) -> int`` with the observation layout and action encoding
of :mod:`adrs.simulators.spot_layout`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from adrs.simulators import spot_layout as layout

NONE = layout.NONE
SPOT = layout.SPOT
ON_DEMAND = layout.ON_DEMAND

ON_DEMAND_PRICE = 3.06
"""$/h of on-demand in every reference trace set (the device cost table's value)."""

CONSTANT_SPOT_PRICE = ON_DEMAND_PRICE / (ON_DEMAND_PRICE / 0.9731)
"""$/h of spot in the single-region reference: ``base / COST_K``; evaluates to 0.9731."""

FIDELITIES = ("reference", "corrected")

# The reference's thresholds (spec 1.1, 1.3): a task is done when at most this much work is
# left; restart overhead below the other is treated as paid.
_TASK_DONE_EPS = 1e-8
_OVERHEAD_EPS = 1e-3
_GUARANTEE_DONE_EPS = 1e-3

PolicyFn = Callable[[np.ndarray, np.ndarray], int]


@dataclass(frozen=True)
class OracleRun:
    """The outcome of one simulated run.

    Attributes:
        cost: Dollars billed for the whole run; NaN unless ``status == "ok"``.
        history: Billed history, one letter per observed tick including tick 0:
            ``N`` (NONE), ``S`` (SPOT), ``O`` (ON_DEMAND). Entry ``k`` is the cluster type
            that ran during ``[k-1, k)``. On failure, the history up to the failure.
        final_region: Region current after the last iteration (0 for one region).
        status: ``"ok"``, ``"trace_overrun"``, ``"invalid_action"`` or ``"policy_error"``.
        message: Empty when ``ok``; otherwise what went wrong and at which tick.
        finish_tick: The tick whose observe step completed the work, -1 if the run failed.
            It is ``len(history) - 2`` (the spec's definition), except when the final extra
            iteration was skipped at the end of the trace: then ``len(history) - 1``.
            The golden files' ``ticks`` is always ``finish_tick + 2``.
    """

    cost: float
    history: str
    final_region: int
    status: str
    message: str = ""
    finish_tick: int = -1

    @property
    def ticks(self) -> int:
        """Number of observed (billed) ticks, ``len(history)``."""
        return len(self.history)

    @property
    def ok(self) -> bool:
        """Whether the run completed."""
        return self.status == "ok"


class _RunStopped(Exception):
    """Raised inside a run to stop it with a failure status."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def simulate(
    available: Sequence[np.ndarray],
    prices: Sequence[np.ndarray | None] | None,
    gap: float,
    duration_hours: float,
    deadline_hours: float,
    overhead_hours: float,
    decide: PolicyFn,
    *,
    multi_region: bool,
    fidelity: str = "reference",
) -> OracleRun:
    """Simulate one run of a policy on one trace (one region, or several aligned regions).

    Trace end (spec 1.7): in ``reference`` fidelity, the single-region simulator treats a
    main-loop tick past the end of the trace as a run that never terminates (its evaluator
    kills it), reported here as ``"trace_overrun"``; if only the final extra iteration is
    past the end, that iteration is skipped (no history entry, no policy call). The
    multi-region simulator fails on any overrun. In ``corrected`` fidelity both fail on a
    main-loop overrun, and a final iteration past the end is skipped when the last request
    was NONE and fails otherwise.

    Args:
        available: One array per region (exactly one unless ``multi_region``), element
            ``k`` true (non-zero) when spot is available during ``[k, k+1)``. Note that the
            trace files store the opposite (1 = no spot).
        prices: Per region, the spot price ($/h) of every tick, or None where the trace has
            none (the constant :data:`CONSTANT_SPOT_PRICE` is used). None: no prices at all.
        gap: Tick length in seconds.
        duration_hours: Work the job needs (D).
        deadline_hours: Deadline (T), counted from tick 0.
        overhead_hours: Restart overhead (d), lost at every (re)start.
        decide: The policy, ``decide(obs, mem) -> int``.
        multi_region: Follow the multi-region simulator (region moves allowed, billing at the
            final region's price, every overrun is an error) instead of the single-region one.
        fidelity: ``"reference"`` or ``"corrected"``.

    Returns:
        The run. A policy that raises or returns an invalid action, and a run that outlasts
        its trace, give a run whose ``status`` says so; they never raise.

    Raises:
        ValueError: Inconsistent inputs (region count, array lengths, fidelity), or, for one
            region, the reference ``simulate()`` pre-checks: ``D + d <= T`` and a trace that
            covers the deadline.
    """
    if fidelity not in FIDELITIES:
        raise ValueError(f"unknown fidelity {fidelity!r}; expected one of {FIDELITIES}")
    num_regions = len(available)
    if num_regions == 0:
        raise ValueError("available: at least one region is needed")
    if not multi_region and num_regions != 1:
        raise ValueError(f"available: single-region run given {num_regions} regions")
    if prices is None:
        prices = [None] * num_regions
    if len(prices) != num_regions:
        raise ValueError(f"prices: {len(prices)} entries for {num_regions} regions")
    lengths = {len(a) for a in available}
    if len(lengths) != 1:
        raise ValueError(f"available: regions have different lengths {sorted(lengths)}")
    for region, region_prices in enumerate(prices):
        if region_prices is not None and len(region_prices) != len(available[region]):
            raise ValueError(
                f"prices[{region}]: {len(region_prices)} entries for a trace of "
                f"{len(available[region])} ticks"
            )
    if not gap > 0:
        raise ValueError(f"gap: must be positive, got {gap!r}")
    if not multi_region:
        # The single-region reference simulate() refuses these scenarios up front.
        if not duration_hours + overhead_hours <= deadline_hours:
            raise ValueError(
                f"duration {duration_hours} h + overhead {overhead_hours} h exceeds "
                f"deadline {deadline_hours} h"
            )
        trace_hours = len(available[0]) * gap / 3600
        if not trace_hours + 1e-9 >= deadline_hours:
            raise ValueError(
                f"trace of {len(available[0])} ticks ({trace_hours} h) does not cover "
                f"deadline {deadline_hours} h"
            )
    run = _Run(
        available=[[bool(x) for x in np.asarray(a).tolist()] for a in available],
        prices=[None if p is None else [float(x) for x in np.asarray(p).tolist()] for p in prices],
        gap=float(gap),
        task_duration=duration_hours * 3600,
        deadline=deadline_hours * 3600,
        restart_overhead=overhead_hours * 3600,
        decide=decide,
        multi_region=multi_region,
        corrected=fidelity == "corrected",
    )
    return run.execute()


class _Run:
    """State and steps of one simulated run (spec 6.2 and 6.3)."""

    def __init__(
        self,
        *,
        available: list[list[bool]],
        prices: list[list[float] | None],
        gap: float,
        task_duration: float,
        deadline: float,
        restart_overhead: float,
        decide: PolicyFn,
        multi_region: bool,
        corrected: bool,
    ) -> None:
        self.available = available
        self.prices = prices
        self.gap = gap
        self.task_duration = task_duration
        self.deadline = deadline
        self.restart_overhead = restart_overhead
        self.decide = decide
        self.multi_region = multi_region
        self.corrected = corrected
        self.num_regions = len(available)
        self.trace_ticks = len(available[0])

        self.tick = 0
        self.env_type = NONE  # the cluster type the environment holds now
        self.region = 0
        # Kept as a running sum: the reference's sum(task_done_time) adds the same values
        # in the same order (left to right from 0), so the two are bit-identical.
        self.progress = 0.0
        self.remaining_overhead = 0.0
        self.history: list[int] = []
        # Region each history entry ran in (the region current at its observe step).
        self.history_regions: list[int] = []
        self.obs = np.zeros(layout.obs_size(self.num_regions), dtype=np.float64)
        self.mem = np.zeros(layout.MEM_SIZE, dtype=np.float64)

    # -- driver ------------------------------------------------------------------------

    def execute(self) -> OracleRun:
        """Run the main loop and the final extra iteration; bill the history."""
        try:
            while self.task_duration - self.progress > _TASK_DONE_EPS:
                if self.tick >= self.trace_ticks:
                    raise _RunStopped("trace_overrun", self._overrun_message(final=False))
                self._iterate(final=False)
            finish_tick = self.tick - 1
            if self.tick < self.trace_ticks:
                self._iterate(final=True)
            elif self._final_overrun_fails():
                raise _RunStopped("trace_overrun", self._overrun_message(final=True))
            # Otherwise the final iteration is skipped and its interval goes unbilled.
        except _RunStopped as stop:
            return OracleRun(math.nan, self._letters(), self.region, stop.status, stop.message)
        return OracleRun(self._cost(), self._letters(), self.region, "ok", "", finish_tick)

    def _final_overrun_fails(self) -> bool:
        if self.corrected:
            # The skipped tick would have billed the last request; only NONE is harmless.
            return self.env_type != NONE
        # The single-region reference swallows the error and skips the entry; the
        # multi-region one re-raises it.
        return self.multi_region

    def _overrun_message(self, *, final: bool) -> str:
        where = f"tick {self.tick} is past the end of the trace ({self.trace_ticks} ticks)"
        if final:
            last = layout.CLUSTER_TYPE_NAMES[self.env_type]
            return f"{where}: the work is done but its final interval ({last}) cannot be billed"
        return f"{where} with {self.task_duration - self.progress} s of work left"

    # -- one iteration (spec 6.3 steps 1-7) --------------------------------------------

    def _iterate(self, *, final: bool) -> None:
        k = self.tick
        observe_region = self.region

        # 1. Observe: bill the type that ran during [k-1, k), then apply preemption.
        has_spot = self.available[observe_region][k]
        last = self.env_type
        self.history.append(last)
        self.history_regions.append(observe_region)
        if self.env_type == SPOT and not has_spot:
            self.env_type = NONE

        # 2. Book the progress of [k-1, k) before anything is decided.
        if last != NONE:
            done = max(self.gap - self.remaining_overhead, 0.0)
            self.remaining_overhead -= self.gap - done
            if self.remaining_overhead < _OVERHEAD_EPS:
                self.remaining_overhead = 0.0
            done = min(done, self.task_duration - self.progress)
            self.progress += done

        # 3. Policy (called in the final iteration too); it may move the region.
        request, target_region = self._call_policy(k, has_spot, last)
        moved = target_region is not None and target_region != self.region
        if target_region is not None:
            self.region = target_region
        spot_here = self.available[self.region][k]

        # 4. Strong guarantee: in the critical zone, run no matter what.
        remaining_work = self.task_duration - self.progress
        if remaining_work > _GUARANTEE_DONE_EPS:
            t = k * self.gap
            need = math.ceil((remaining_work + self.restart_overhead) / self.gap) * self.gap
            time_left = math.floor((self.deadline - t) / self.gap) * self.gap
            if need >= time_left:
                keep_spot = last == SPOT and self.remaining_overhead < _OVERHEAD_EPS
                if self.corrected:
                    keep_spot = keep_spot and spot_here
                # The reference keeps SPOT even if it is gone now; step 5 then drops it.
                request = SPOT if keep_spot else ON_DEMAND

        # 5. Safety: SPOT where there is none silently becomes NONE (the tick is lost).
        if request == SPOT and not spot_here:
            request = NONE

        # 6. Restart overhead is reset (not added) on every start or change of type;
        # a preempted instance counts as NONE.
        running = NONE if (last == SPOT and not has_spot) else last
        if request != NONE and running != request:
            self.remaining_overhead = self.restart_overhead
        elif self.corrected and moved and request != NONE:
            # The instance cannot follow the job to another region for free.
            self.remaining_overhead = self.restart_overhead

        # 7. Launch; the final iteration launches nothing.
        self.env_type = NONE if final else request
        self.tick = k + 1

    def _call_policy(self, k: int, has_spot: bool, last: int) -> tuple[int, int | None]:
        """Build the observation, call the policy, decode its action.

        Returns:
            The requested cluster type and the region to move to first (None: stay).
        """
        obs = self.obs
        n = self.num_regions
        obs[layout.TIME] = k * self.gap
        obs[layout.PROGRESS] = self.progress
        obs[layout.REMAINING_OVERHEAD] = self.remaining_overhead
        obs[layout.HAS_SPOT] = 1.0 if has_spot else 0.0
        obs[layout.CLUSTER_TYPE] = self.env_type
        obs[layout.LAST_CLUSTER_TYPE] = last
        obs[layout.DEADLINE] = self.deadline
        obs[layout.TASK_DURATION] = self.task_duration
        obs[layout.RESTART_OVERHEAD] = self.restart_overhead
        obs[layout.GAP] = self.gap
        obs[layout.CURRENT_REGION] = self.region
        obs[layout.NUM_REGIONS] = n
        for r in range(n):
            obs[layout.REGION_HAS_SPOT + r] = 1.0 if self.available[r][k] else 0.0
            obs[layout.region_spot_price_index(n, r)] = self._spot_price(r, k)
        try:
            action = self.decide(obs, self.mem)
        except Exception as error:  # noqa: BLE001 - any policy failure is a result
            raise _RunStopped(
                "policy_error", f"policy raised at tick {k}: {type(error).__name__}: {error}"
            ) from None
        return self._decode(action, k)

    def _decode(self, action: object, k: int) -> tuple[int, int | None]:
        # bool is an int subclass in Python but is no action: reject it explicitly.
        is_int = isinstance(action, (int, np.integer)) and not isinstance(action, bool)
        if not is_int:
            raise _RunStopped(
                "invalid_action",
                f"policy returned {action!r} ({type(action).__name__}) at tick {k}; "
                "expected an integer action",
            )
        value = int(action)
        if value < 0 or (not self.multi_region and value > ON_DEMAND):
            raise _RunStopped("invalid_action", f"policy returned action {value} at tick {k}")
        cluster_type = value % 3
        if value < 3:
            return cluster_type, None
        region = value // 3 - 1
        if region >= self.num_regions:
            raise _RunStopped(
                "invalid_action",
                f"policy returned action {value} at tick {k}: region {region} of "
                f"{self.num_regions}",
            )
        return cluster_type, region

    # -- billing (spec 1.4, 1.8, 6.4) --------------------------------------------------

    def _spot_price(self, region: int, k: int) -> float:
        region_prices = self.prices[region]
        return CONSTANT_SPOT_PRICE if region_prices is None else region_prices[k]

    def _cost(self) -> float:
        """Bill the history: each term is ``(price * gap) / 3600``, summed left to right.

        The naive running sum is what CPython <= 3.11's ``sum()`` computes.
        """
        cost = 0.0
        if self.corrected:
            for k, (cluster_type, region) in enumerate(zip(self.history, self.history_regions)):
                # Entry k ran during [k-1, k) in the region current at its observe step;
                # entry 0 is always NONE.
                if cluster_type == SPOT:
                    cost += (self._spot_price(region, k - 1) * self.gap) / 3600
                elif cluster_type == ON_DEMAND:
                    cost += (ON_DEMAND_PRICE * self.gap) / 3600
            return cost
        if self.multi_region:
            # The reference bills every spot tick at the final region's first price.
            spot_price = self._spot_price(self.region, 0)
        else:
            spot_price = CONSTANT_SPOT_PRICE
        price_of = {NONE: 0.0, SPOT: spot_price, ON_DEMAND: ON_DEMAND_PRICE}
        for cluster_type in self.history:
            cost += (price_of[cluster_type] * self.gap) / 3600
        return cost

    def _letters(self) -> str:
        return "".join(layout.HISTORY_LETTERS[c] for c in self.history)
