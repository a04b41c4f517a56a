"""Where the spot problems' traces come from, and which runs make each split.

``train`` is exactly the reference evaluator's selection (spec 2.3 and 3.1/3.2), so a
policy scores the same here as there. ``test`` is held out: other trace files (and, for
one region, the four 8-GPU zones the reference never evaluates). ``quick`` is a small
subset of ``train`` for cascade filtering.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adrs.simulators.spot_traces import TraceSet, load_traces

DATA_ENV_VAR = "ADRS_DATA_DIR"
ARCHIVE_NAME = "spot_traces.tar.gz"
SYNTHETIC_SEED = 0

# The reference single-region evaluator's grid (spec 2.3).
SINGLE_JOBS = ((48.0, 52.0), (48.0, 70.0), (48.0, 92.0))  # (duration, deadline) hours
SINGLE_OVERHEADS = (0.02, 0.2, 0.4)  # hours
SINGLE_TRAIN_ENVS = (
    "us-west-2a_k80_1",
    "us-west-2b_k80_1",
    "us-west-2a_v100_1",
    "us-west-2b_v100_1",
)
SINGLE_TEST_ENVS = SINGLE_TRAIN_ENVS + (
    "us-west-2a_k80_8",
    "us-west-2b_k80_8",
    "us-west-2a_v100_8",
    "us-west-2b_v100_8",
)
TRACES_PER_ENV = 30
LONGEST_DEADLINE = 92.0

# The ADRS Leaderboard's single-region grid (its cant_be_late evaluator, evaluator_real30):
# 6 environments x 30 traces x deadlines 52/70 h x restart overheads 0.02/0.05/0.1 h. Its
# trace archives hold, per overhead, byte-identical copies of our single-region traces.
LEADERBOARD_JOBS = ((48.0, 52.0), (48.0, 70.0))
LEADERBOARD_OVERHEADS = (0.02, 0.05, 0.1)
LEADERBOARD_ENVS = (
    "us-west-2a_k80_8",
    "us-west-2b_k80_1",
    "us-west-2b_k80_8",
    "us-west-2a_v100_1",
    "us-west-2a_v100_8",
    "us-west-2b_v100_1",
)
LEADERBOARD_LONGEST_DEADLINE = 70.0

# The reference multi-region evaluator's scenarios (spec 2.3): name, regions, traces 0..n-1.
MULTI_JOB = (48.0, 52.0, 0.2)
MULTI_SCENARIOS = (
    ("2_zones_same_region", ("us-east-1a_v100_1", "us-east-1c_v100_1"), 8),
    ("2_regions_east_west", ("us-east-2a_v100_1", "us-west-2a_v100_1"), 8),
    ("3_regions_diverse", ("us-east-1a_v100_1", "us-east-2b_v100_1", "us-west-2c_v100_1"), 6),
    ("3_zones_same_region", ("us-east-1a_v100_1", "us-east-1c_v100_1", "us-east-1d_v100_1"), 6),
    (
        "5_regions_high_diversity",
        (
            "us-east-1a_v100_1",
            "us-east-1f_v100_1",
            "us-west-2a_v100_1",
            "us-west-2b_v100_1",
            "us-east-2b_v100_1",
        ),
        4,
    ),
    (
        "all_9_regions",
        (
            "us-east-2a_v100_1",
            "us-west-2c_v100_1",
            "us-east-1d_v100_1",
            "us-east-2b_v100_1",
            "us-west-2a_v100_1",
            "us-east-1f_v100_1",
            "us-east-1a_v100_1",
            "us-west-2b_v100_1",
            "us-east-1c_v100_1",
        ),
        2,
    ),
)
# Held-out multi-region windows: the last 40 of 100, far from the train ids 0..7 (windows
# 11/21 and 53/59 share a start time; none of them is in train).
MULTI_TEST_IDS = tuple(range(60, 100))


@dataclass(frozen=True)
class Workload:
    """One batch of simulated runs over one trace set.

    Attributes:
        split: ``train``, ``test``, ``quick`` or ``custom``.
        traces: The traces the runs read.
        run_traces, run_offsets: Run ``i`` uses ``run_traces[run_offsets[i]:run_offsets[i+1]]``
            as its regions, in order.
        scenarios_hours: float64 ``[n_runs, 3]``: duration, deadline, restart overhead.
        groups: Per run, the zone (one region) or the scenario name (many).
        trace_ids: Per run, the trace file name.
    """

    split: str
    traces: TraceSet
    run_traces: np.ndarray
    run_offsets: np.ndarray
    scenarios_hours: np.ndarray
    groups: tuple[str, ...]
    trace_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.groups)

    def scenario_label(self, i: int) -> str:
        duration, deadline, overhead = self.scenarios_hours[i]
        return f"{duration:g}:{deadline:g}:{overhead:g}"


class _Builder:
    """Collects runs, then packs them into a :class:`Workload`."""

    def __init__(self, split: str, traces: TraceSet) -> None:
        self.split, self.traces = split, traces
        self.run_traces: list[int] = []
        self.run_offsets = [0]
        self.scenarios: list[tuple[float, float, float]] = []
        self.groups: list[str] = []
        self.trace_ids: list[str] = []

    def add(
        self,
        trace_indices: Sequence[int],
        scenario: tuple[float, float, float],
        group: str,
        trace_id: str,
    ) -> None:
        self.run_traces.extend(trace_indices)
        self.run_offsets.append(len(self.run_traces))
        self.scenarios.append(scenario)
        self.groups.append(group)
        self.trace_ids.append(trace_id)

    def build(self) -> Workload:
        return Workload(
            self.split,
            self.traces,
            np.asarray(self.run_traces, np.int64),
            np.asarray(self.run_offsets, np.int64),
            np.asarray(self.scenarios, np.float64).reshape(-1, 3),
            tuple(self.groups),
            tuple(self.trace_ids),
        )


def resolve_traces(data: str | os.PathLike[str] | None) -> tuple[TraceSet, str]:
    """Load the spot traces a problem runs on.

    Args:
        data: A folder holding ``spot_traces.tar.gz`` (such as ``../shared/data``), the
            archive itself, or a folder of traces in one of the layouts
            :func:`~adrs.simulators.spot_traces.load_traces` reads. When None, the
            ``ADRS_DATA_DIR`` environment variable; when that is unset too, synthetic traces
            calibrated to the real ones (seed 0), so adrs runs with no data at all.

    Returns:
        The traces and a short description of where they came from.

    Raises:
        FileNotFoundError: The path does not exist.
        ValueError: It holds no valid trace.
    """
    if data is None:
        data = os.environ.get(DATA_ENV_VAR) or None
    if data is None:
        from adrs.simulators.spot_synthetic import generate_traces

        return generate_traces(SYNTHETIC_SEED), f"synthetic traces (seed {SYNTHETIC_SEED})"
    path = Path(data).expanduser()
    if path.is_dir() and (path / ARCHIVE_NAME).is_file():
        path = path / ARCHIVE_NAME
    return load_traces(path), str(path)


def _reference_selection(
    traces: TraceSet, group: str, count: int, exclude: frozenset[str] = frozenset(),
    longest_deadline: float = LONGEST_DEADLINE,
) -> list[int]:
    """The reference's trace pick: ``count`` evenly spaced files in lexicographic order.

    Among the files of ``group`` (lexicographic, as TraceSet stores them) that cover the
    longest deadline, take positions ``round(j * (n - 1) / (count - 1))``, moving forward
    past positions already taken (spec 3.1).
    """
    candidates = [
        i
        for i in range(len(traces))
        if traces.collections[i] == "single"
        and traces.groups[i] == group
        and traces.ids[i] not in exclude
        and traces.n_ticks(i) * traces.gap_seconds[i] / 3600.0 + 1e-9 >= longest_deadline
    ]
    if len(candidates) < count:
        raise ValueError(
            f"zone {group} has {len(candidates)} usable single-region traces, need {count}"
        )
    taken: list[int] = []
    used: set[int] = set()
    n = len(candidates)
    for j in range(count):
        position = round(j * (n - 1) / (count - 1)) if count > 1 else 0
        while position in used:
            position += 1
        used.add(position)
        taken.append(candidates[position])
    return taken


def single_region_workload(traces: TraceSet, split: str) -> Workload:
    """The runs of one split of the ``spot`` problem.

    Raises:
        ValueError: The traces lack a zone or trace the split needs.
    """
    builder = _Builder(split, traces)
    if split == "test":
        envs = SINGLE_TEST_ENVS
        picks = {}
        for env in envs:
            train_ids = (
                frozenset(traces.ids[i] for i in _reference_selection(traces, env, TRACES_PER_ENV))
                if env in SINGLE_TRAIN_ENVS
                else frozenset()
            )
            picks[env] = _reference_selection(traces, env, TRACES_PER_ENV, train_ids)
        jobs, overheads = SINGLE_JOBS, SINGLE_OVERHEADS
    else:
        envs = SINGLE_TRAIN_ENVS
        picks = {env: _reference_selection(traces, env, TRACES_PER_ENV) for env in envs}
        jobs, overheads = SINGLE_JOBS, SINGLE_OVERHEADS
        if split == "quick":  # every zone and deadline, one overhead, three traces each
            picks = {env: chosen[:3] for env, chosen in picks.items()}
            overheads = (0.2,)
    for duration, deadline in jobs:
        for overhead in overheads:
            for env in envs:
                for i in picks[env]:
                    builder.add([i], (duration, deadline, overhead), env, traces.ids[i])
    return builder.build()


def leaderboard_single_workload(traces: TraceSet, split: str) -> Workload:
    """The runs of one split of ``spot@leaderboard``: ``train`` is the leaderboard's own
    1,080 runs (same trace pick rule as the reference, over traces covering 70 h);
    ``test`` holds out 30 other traces per environment; ``quick`` is 3 traces per
    environment at overhead 0.05 h.

    Raises:
        ValueError: The traces lack a zone or trace the split needs.
    """
    builder = _Builder(split, traces)
    longest = LEADERBOARD_LONGEST_DEADLINE
    picks = {env: _reference_selection(traces, env, TRACES_PER_ENV, longest_deadline=longest)
             for env in LEADERBOARD_ENVS}
    overheads = LEADERBOARD_OVERHEADS
    if split == "test":
        picks = {env: _reference_selection(traces, env, TRACES_PER_ENV,
                                           frozenset(traces.ids[i] for i in chosen), longest)
                 for env, chosen in picks.items()}
    elif split == "quick":
        picks = {env: chosen[:3] for env, chosen in picks.items()}
        overheads = (0.05,)
    for duration, deadline in LEADERBOARD_JOBS:
        for overhead in overheads:
            for env in LEADERBOARD_ENVS:
                for i in picks[env]:
                    builder.add([i], (duration, deadline, overhead), env, traces.ids[i])
    return builder.build()


def multi_region_workload(traces: TraceSet, split: str) -> Workload:
    """The runs of one split of the ``spot-multi`` problem.

    Raises:
        ValueError: The traces lack a region or window the split needs.
    """
    builder = _Builder(split, traces)
    for name, regions, count in MULTI_SCENARIOS:
        if split == "train":
            ids: Sequence[int] = range(count)
        elif split == "quick":
            ids = range(1)
        else:
            ids = MULTI_TEST_IDS
        for k in ids:
            trace_id = f"{k}.json"
            members = [traces.index(region, trace_id, "multi") for region in regions]
            builder.add(members, MULTI_JOB, name, trace_id)
    return builder.build()


def custom_workload(
    traces: TraceSet, scenarios: Sequence[tuple[float, float, float]], multi_region: bool
) -> Workload:
    """Every trace a user brought, under every scenario they gave.

    One region: each trace is a run. Many regions: each trace id present in every group
    is a run whose regions are those groups, in name order (aligned windows).

    Raises:
        ValueError: No scenario, or (many regions) no id shared by every group.
    """
    if not scenarios:
        raise ValueError("give at least one --scenario DURATION:DEADLINE:OVERHEAD")
    builder = _Builder("custom", traces)
    if not multi_region:
        for scenario in scenarios:
            for i in range(len(traces)):
                builder.add([i], scenario, traces.groups[i], traces.ids[i])
        return builder.build()
    groups = sorted(set(traces.groups))
    by_id: dict[str, dict[str, int]] = {}
    for i in range(len(traces)):
        by_id.setdefault(traces.ids[i], {})[traces.groups[i]] = i
    shared = [tid for tid, members in by_id.items() if len(members) == len(groups)]
    if not shared:
        raise ValueError(
            f"no trace id is present in all {len(groups)} region folders; a multi-region run "
            "needs one aligned window per region"
        )
    for scenario in scenarios:
        for tid in shared:
            builder.add([by_id[tid][g] for g in groups], scenario, "+".join(groups), tid)
    return builder.build()


def parse_scenario(text: str) -> tuple[float, float, float]:
    """Parse ``DURATION:DEADLINE:OVERHEAD`` (hours).

    Raises:
        ValueError: Not three numbers, or an impossible job (duration plus overhead beyond
            the deadline, non-positive duration or deadline, negative overhead).
    """
    parts = text.split(":")
    try:
        duration, deadline, overhead = (float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"bad scenario {text!r}: expected DURATION:DEADLINE:OVERHEAD in hours, e.g. 48:52:0.2"
        ) from None
    if not (duration > 0 and deadline > 0 and overhead >= 0):
        raise ValueError(
            f"bad scenario {text!r}: duration and deadline must be positive, "
            "overhead zero or positive"
        )
    if duration + overhead > deadline:
        raise ValueError(
            f"impossible scenario {text!r}: duration {duration:g} h plus restart overhead "
            f"{overhead:g} h exceeds the deadline {deadline:g} h"
        )
    return duration, deadline, overhead
