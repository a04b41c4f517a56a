"""Robust starter: the initial program of the published multi-region "Can't Be Late"
evaluator (spec Appendix). Behind the uniform-progress line (progress below the straight line
from 0 to the full task at the deadline, or past the deadline) it runs in the current region,
on spot if available and on-demand if not. Otherwise it takes spot in the current region when
available, and when not it moves to the next region in order (wrapping) and waits (NONE) for
this tick."""

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
    task_duration = obs[TASK_DURATION]
    deadline = obs[DEADLINE]
    progress = obs[PROGRESS]
    if task_duration - progress <= 1e-8:
        return NONE
    has_spot = obs[HAS_SPOT] > 0.5
    behind = (t > 0 and progress < t * task_duration / deadline) or t >= deadline
    if behind:
        if has_spot:
            return SPOT
        return ON_DEMAND
    if has_spot:
        return SPOT
    next_region = (int(obs[CURRENT_REGION]) + 1) % int(obs[NUM_REGIONS])
    return NONE + 3 * (next_region + 1)


# EVOLVE-BLOCK-END
