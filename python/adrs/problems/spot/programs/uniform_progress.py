"""Uniform Progress as published at NSDI 2024 (Wu et al., "Can't Be Late"), single region: the
reference simulator's built-in policy (spec section "Uniform Progress as published").
It keeps progress on the straight line from 0 to the full task at the deadline: spot when
available, on-demand when behind the line; once on on-demand it stays there while spot is
unavailable or the job is not two restart overheads ahead of the line; when the work left plus
two overheads no longer fits before the deadline it starts nothing new on spot; and in the
critical zone (work plus one overhead no longer fits) it keeps a live, fully started spot
instance and otherwise runs on-demand."""

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
    current = obs[CLUSTER_TYPE]
    remaining_work = task_duration - obs[PROGRESS]
    if remaining_work <= 1e-3:
        return NONE
    has_spot = obs[HAS_SPOT] > 0.5
    work_done = task_duration - remaining_work
    decision = SPOT if has_spot else NONE
    # Behind the uniform-progress line: run on whatever is available.
    if work_done - t * task_duration / deadline < 0:
        decision = SPOT if has_spot else ON_DEMAND
    # Hysteresis: leave on-demand only for spot, and only two overheads ahead of the line.
    ahead_by_two_overheads = (t + 2 * overhead) * task_duration / deadline - work_done >= 0
    if current == ON_DEMAND and (not has_spot or ahead_by_two_overheads):
        decision = ON_DEMAND
    time_left = math.floor((deadline - t) / gap) * gap
    need_one_restart = math.ceil((remaining_work + overhead) / gap) * gap
    need_two_restarts = math.ceil((remaining_work + 2 * overhead) / gap) * gap
    # One more restart could not be absorbed: start nothing new on spot.
    if need_two_restarts >= time_left and (current == NONE or current == ON_DEMAND):
        decision = ON_DEMAND
    # Critical zone: keep a live, fully started spot instance, otherwise on-demand.
    if need_one_restart >= time_left:
        if current == SPOT and obs[REMAINING_OVERHEAD] < 1e-3:
            decision = SPOT
        else:
            decision = ON_DEMAND
        if overhead == 0 and has_spot:
            decision = SPOT
    return decision


# EVOLVE-BLOCK-END
