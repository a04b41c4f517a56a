"""Uniform Progress across regions: the published multi-region version of the NSDI 2024
policy, the reference simulator's built-in multi-region baseline (spec section "Uniform
Progress as published", multi part). It reads "spot available" as "spot available in some
region" and the cluster type of the previous tick instead of the current one; it keeps
progress on the straight line from 0 to the full task at the deadline, stays on on-demand
under the same hysteresis as the single-region policy (without its two-overhead rule), keeps
a live spot instance in the critical zone, and, when it decides on spot while the current
region has none, moves at once to the first region in order that has spot."""

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
    last = obs[LAST_CLUSTER_TYPE]
    remaining_work = task_duration - obs[PROGRESS]
    if remaining_work <= 1e-3:
        return NONE
    first_region_with_spot = -1
    for region in range(int(obs[NUM_REGIONS])):
        if obs[REGION_HAS_SPOT + region] > 0.5:
            first_region_with_spot = region
            break
    any_spot = first_region_with_spot >= 0
    work_done = task_duration - remaining_work
    decision = SPOT if any_spot else NONE
    # Behind the uniform-progress line: run on whatever is available.
    if work_done - t * task_duration / deadline < 0:
        decision = SPOT if any_spot else ON_DEMAND
    # Hysteresis: leave on-demand only for spot, and only two overheads ahead of the line.
    ahead_by_two_overheads = (t + 2 * overhead) * task_duration / deadline - work_done >= 0
    if last == ON_DEMAND and (not any_spot or ahead_by_two_overheads):
        decision = ON_DEMAND
    # Critical zone: keep a fully started spot instance, otherwise on-demand.
    time_left = math.floor((deadline - t) / gap) * gap
    need_one_restart = math.ceil((remaining_work + overhead) / gap) * gap
    if need_one_restart >= time_left:
        if last == SPOT and obs[REMAINING_OVERHEAD] < 1e-3:
            decision = SPOT
        else:
            decision = ON_DEMAND
        if overhead == 0 and any_spot:
            decision = SPOT
    if decision == SPOT and any_spot and obs[HAS_SPOT] <= 0.5:
        return SPOT + 3 * (first_region_with_spot + 1)
    return decision


# EVOLVE-BLOCK-END
