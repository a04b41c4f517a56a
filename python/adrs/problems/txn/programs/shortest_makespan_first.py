"""Shortest makespan first (SMF, after "Towards Optimal Transaction Scheduling", VLDB'24):
start from nothing and, at each step, append the remaining transaction that gives the
lowest makespan so far, trying every remaining one (the lowest index on a tie). One batch
call per step (``state.makespans_after``) prices every candidate."""

import numpy as np

# EVOLVE-BLOCK-START


def schedule(workload):
    """Return a permutation of range(workload.num_txns) with a low makespan."""
    state = workload.model.state()
    remaining = np.arange(workload.num_txns)
    while remaining.size:
        costs = state.makespans_after(remaining)
        i = int(np.argmin(costs))  # first minimum: the lowest remaining index
        state.extend(int(remaining[i]))
        remaining = np.delete(remaining, i)
    return state.sequence.tolist()


# EVOLVE-BLOCK-END
