"""Simplified Uniform Progress: the second seed program of the published single-region "Can't
Be Late" evaluator (referenced_up.py, spec section 4.2), a weaker variant of the NSDI'24
policy. It takes spot when available; when progress falls behind the straight line from 0 to
the full task at the deadline it falls back to on-demand; it stays on on-demand while a
two-overhead hysteresis holds; it runs on-demand once the work left plus one overhead no
longer fits in the whole ticks left; and otherwise it jumps to spot whenever spot appears,
overriding the hysteresis."""

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
    t = obs[TIME]
    gap = obs[GAP]
    task_duration = obs[TASK_DURATION]
    deadline = obs[DEADLINE]
    overhead = obs[RESTART_OVERHEAD]
    progress = obs[PROGRESS]
    remaining_work = task_duration - progress
    if remaining_work <= 1e-8:
        return NONE
    has_spot = obs[HAS_SPOT] > 0.5
    decision = SPOT if has_spot else NONE
    # Behind the uniform-progress line: run on whatever is available.
    if t * task_duration / deadline - progress > 0:
        decision = SPOT if has_spot else ON_DEMAND
    # Hysteresis: an on-demand job stays on-demand until two overheads ahead of the line.
    ahead_by_two_overheads = (t + 2 * overhead) * task_duration / deadline - progress >= 0
    if obs[CLUSTER_TYPE] == ON_DEMAND and ahead_by_two_overheads:
        decision = ON_DEMAND
    if math.ceil((remaining_work + overhead) / gap) >= math.floor((deadline - t) / gap):
        return ON_DEMAND
    if has_spot:
        return SPOT
    return decision


# EVOLVE-BLOCK-END
