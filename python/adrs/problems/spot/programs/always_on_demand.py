"""Always on-demand: run the job on an on-demand instance from the first tick until the work is
done, then release it (NONE). It never risks the deadline and never saves money: the cost
ceiling every other policy should beat. A baseline of ours, not a reference policy; it works
in one region or many (it never moves)."""

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
    if obs[TASK_DURATION] - obs[PROGRESS] <= 1e-8:
        return NONE
    return ON_DEMAND


# EVOLVE-BLOCK-END
