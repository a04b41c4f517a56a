"""Our best-known transaction scheduler, in the three stages the ADRS paper reports for
its evolved one: a sorting heuristic, a greedy construction, then hill climbing.

1. Sorting heuristic: rank transactions longest first (length counts every step), then
   by how many writes they make, then by index. The rank orders the candidates the greedy
   looks at and breaks its ties.
2. Greedy construction: append the transaction that can start earliest behind the locks
   already placed (start = end - length + 1, from ``state.ends_after``), the longer one on
   a tie. Unlike "lowest makespan so far", which ties for every transaction that ends
   before the current makespan, the start time tells them apart. Every remaining
   transaction is tried up to 10,000 transactions; beyond, a window of the next ones in
   rank order, sized so that the greedy prices about ``GREEDY_WORK`` candidates in all;
   when less than a quarter of the time limit is left, the rest go in rank order.
3. Annealed hill climbing: from the greedy order, draw ``BATCH`` insertion moves at once
   (take a transaction out, put it back elsewhere), price them in one
   ``model.makespans`` call, and take the best of them if it is no worse, or else with
   probability exp(-increase / T) for a temperature that falls linearly to near zero;
   keep the best order seen. ``ROUNDS`` rounds, from a fixed seed (the result is
   deterministic), stopping early when less than a quarter of the time limit is left.
"""

import math
import time

import numpy as np

# EVOLVE-BLOCK-START
GREEDY_WORK = 10**8  # candidates priced by the greedy in all (every one up to 10,000 txns)
MIN_WINDOW = 512  # but at least this many per step
ROUNDS = 5000  # hill-climbing rounds
BATCH = 64  # insertion moves priced per round
START_TEMPERATURE = 2.0
END_TEMPERATURE = 0.05
SEED = 0


def rank(workload):
    """Transactions longest first, then most writes first, then by index."""
    offsets, _, _, writes = workload.model.op_arrays()
    owner = np.repeat(np.arange(workload.num_txns), np.diff(offsets))
    write_counts = np.bincount(owner, weights=writes, minlength=workload.num_txns)
    lengths = workload.model.lengths
    return np.lexsort((np.arange(workload.num_txns), -write_counts, -lengths))


def greedy(workload, order, stop_at):
    """Earliest start first, ties to the longer transaction, then to the rank; past
    ``stop_at`` (a perf_counter time), the rest in rank order."""
    n = workload.num_txns
    lengths = workload.model.lengths
    rank_of = np.empty(n, np.int64)
    rank_of[order] = np.arange(n)
    span = int(lengths.max()) + 1
    size = min(n, max(MIN_WINDOW, GREEDY_WORK // n))
    window = np.array(order[:size], np.int64)
    following = size
    state = workload.model.state()
    steps = 0
    while window.size:
        steps += 1
        if steps % 256 == 0 and time.perf_counter() > stop_at:
            rest = np.concatenate((window, order[following:]))
            state.extend_many(rest[np.argsort(rank_of[rest], kind="stable")])
            break
        starts = state.ends_after(window) - lengths[window] + 1
        # one integer key: start, then longer first, then rank
        key = (starts * span + (span - 1 - lengths[window])) * n + rank_of[window]
        i = int(np.argmin(key))
        state.extend(int(window[i]))
        if following < n:
            window[i] = order[following]
            following += 1
        else:
            window = np.delete(window, i)
    return state.makespan, state.sequence


def insertion_moves(sequence, take, put):
    """Row r: ``sequence`` with the item at ``take[r]`` moved to position ``put[r]``."""
    n = len(sequence)
    positions = np.arange(n)[None, :]
    take, put = take[:, None], put[:, None]
    source = np.broadcast_to(positions, (take.shape[0], n)).copy()
    source[(take < put) & (positions >= take) & (positions < put)] += 1
    source[(put < take) & (positions > put) & (positions <= take)] -= 1
    landing = positions == put
    source[landing] = np.broadcast_to(take, source.shape)[landing]
    return sequence[source]


def anneal(workload, makespan, sequence, stop_at):
    """Annealed hill climbing over insertion moves; returns the best order seen."""
    rng = np.random.default_rng(SEED)
    n = len(sequence)
    best_makespan, best = makespan, sequence.copy()
    current_makespan, current = makespan, sequence
    for round_ in range(ROUNDS):
        if time.perf_counter() > stop_at:
            break
        temperature = START_TEMPERATURE * (1 - round_ / ROUNDS) + END_TEMPERATURE
        moves = insertion_moves(current, rng.integers(0, n, BATCH), rng.integers(0, n, BATCH))
        costs = workload.model.makespans(moves)
        r = int(np.argmin(costs))
        worse = int(costs[r]) - current_makespan
        if worse <= 0 or rng.random() < math.exp(-worse / temperature):
            current_makespan, current = int(costs[r]), moves[r]
            if current_makespan < best_makespan:
                best_makespan, best = current_makespan, current.copy()
    return best_makespan, best


def schedule(workload):
    """Return a permutation of range(workload.num_txns) with a low makespan."""
    limit = workload.time_limit_s
    stop_at = workload.deadline - 0.25 * limit if limit is not None else math.inf
    makespan, sequence = greedy(workload, rank(workload), stop_at)
    if workload.num_txns > 1:
        makespan, sequence = anneal(workload, makespan, sequence, stop_at)
    return sequence.tolist()


# EVOLVE-BLOCK-END
