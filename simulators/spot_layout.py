"""What a spot-scheduling policy sees and returns: the observation layout and actions.

A candidate policy is ``decide(obs, mem) -> int``. ``obs`` is a float64 array laid out
as below, rebuilt every tick from the present only (nothing of the future: no trace, no
simulator state beyond these fields). ``mem`` is a float64 scratch array of
:data:`MEM_SIZE` entries, zeroed at the start of every simulated run, that the policy may
write to keep state between ticks.

The same layout serves one region and many: with one region, ``NUM_REGIONS`` is 1 and
``CURRENT_REGION`` is 0. The C++ header ``cpp/include/adrs/spot.hpp`` mirrors these
numbers; a test checks that the two agree.

Action encoding (the integer the policy returns):
    ``0`` NONE, ``1`` SPOT, ``2`` ON_DEMAND, each in the current region;
    ``cluster_type + 3 * (region + 1)`` moves to ``region`` first (multi-region only;
    the move is immediate and, in ``reference`` fidelity, free).
"""

from __future__ import annotations

# Cluster types, as in the reference simulator's ClusterType.
NONE = 0
SPOT = 1
ON_DEMAND = 2
CLUSTER_TYPE_NAMES = ("NONE", "SPOT", "ON_DEMAND")
HISTORY_LETTERS = "NSO"

# Observation fields (indices into obs).
TIME = 0  # elapsed seconds since the start: tick * GAP
PROGRESS = 1  # seconds of work done so far
REMAINING_OVERHEAD = 2  # seconds of restart overhead still to pay
HAS_SPOT = 3  # 1.0 if spot is available now in the current region
CLUSTER_TYPE = 4  # cluster type now, NONE if spot was just preempted this tick
LAST_CLUSTER_TYPE = 5  # cluster type that ran during the previous tick
DEADLINE = 6  # seconds
TASK_DURATION = 7  # seconds of work the job needs
RESTART_OVERHEAD = 8  # seconds lost on every (re)start of an instance
GAP = 9  # tick length in seconds
CURRENT_REGION = 10  # index of the current region
NUM_REGIONS = 11  # number of regions (1 for single-region)
REGION_HAS_SPOT = 12  # NUM_REGIONS entries: spot availability now, per region
# then NUM_REGIONS entries from REGION_HAS_SPOT + NUM_REGIONS: spot price now ($/h), per region

OBS_FIELDS = (
    "time",
    "progress",
    "remaining_overhead",
    "has_spot",
    "cluster_type",
    "last_cluster_type",
    "deadline",
    "task_duration",
    "restart_overhead",
    "gap",
    "current_region",
    "num_regions",
)

MEM_SIZE = 64

ON_DEMAND_PRICE = 3.06  # $/h, the reference's price for every device

# Run status codes (RunStatus in the C++ header).
STATUS_OK = 0
STATUS_TRACE_OVERRUN = 1  # the job outlived the trace
STATUS_INVALID_ACTION = 2  # the policy returned something that is not an action
STATUS_POLICY_ERROR = 3  # the policy raised
STATUS_REPLAY_MISMATCH = 4  # replayed actions did not fit the run (C++ replay only)
STATUS_NAMES = ("ok", "trace_overrun", "invalid_action", "policy_error", "replay_mismatch")


def obs_size(num_regions: int) -> int:
    """Length of the observation array for ``num_regions`` regions."""
    return REGION_HAS_SPOT + 2 * num_regions


def region_spot_price_index(num_regions: int, region: int) -> int:
    """Index in obs of the current spot price of ``region``."""
    return REGION_HAS_SPOT + num_regions + region


def encode_action(cluster_type: int, region: int | None = None) -> int:
    """The action for ``cluster_type``, moving to ``region`` first when one is given."""
    return cluster_type if region is None else cluster_type + 3 * (region + 1)
