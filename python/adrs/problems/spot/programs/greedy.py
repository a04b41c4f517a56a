"""Greedy with a safety margin: the seed program of the published single-region "Can't Be
Late" evaluator (initial_greedy.py, spec section 4.1). It counts whole ticks: once the work
left plus one restart overhead no longer fits before the deadline it runs on-demand; once the
work plus two overheads no longer fits it keeps a running spot instance but starts nothing
new on spot; otherwise it takes spot whenever spot is available and waits (NONE) when not."""

import math

# Observation fields (see adrs.simulators.spot_layout).
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
REGION_HAS_SPOT = 12  # NUM_REGIONS entries: 1.0 if spot is available now, per region
# then NUM_REGIONS entries from REGION_HAS_SPOT + NUM_REGIONS: spot price now ($/h), per region

# Cluster types. Return one of them to act in the current region, or
# cluster_type + 3 * (region + 1) to move to `region` first (multi-region only).
NONE = 0
SPOT = 1
ON_DEMAND = 2


# EVOLVE-BLOCK-START
def decide(obs, mem):
    remaining_work = obs[TASK_DURATION] - obs[PROGRESS]
    if remaining_work <= 1e-8:
        return NONE
    gap = obs[GAP]
    overhead = obs[RESTART_OVERHEAD]
    has_spot = obs[HAS_SPOT] > 0.5
    ticks_left = max(0, math.floor((obs[DEADLINE] - obs[TIME]) / gap))
    ticks_needed = math.ceil((remaining_work + overhead) / gap)
    ticks_needed_with_restart = math.ceil((remaining_work + 2 * overhead) / gap)
    if ticks_needed >= ticks_left:
        return ON_DEMAND
    if ticks_needed_with_restart >= ticks_left:
        # One more preemption could not be absorbed: keep a live spot instance, start
        # nothing new on spot.
        if obs[CLUSTER_TYPE] == SPOT and has_spot:
            return SPOT
        return ON_DEMAND
    if has_spot:
        return SPOT
    return NONE


# EVOLVE-BLOCK-END
