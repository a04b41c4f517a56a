"""Ours: bisection on the target pressure, then moves and swaps off the hottest GPU.

A GPU's pressure stays at or below T exactly when sum(rate/slo + T * size) over its models
is at most T * GPU_MEM_SIZE: for a fixed T every model becomes an item of one weight and
every GPU a bin of one capacity. So bisect on T, and for each T try to pack the items
(best fit, heaviest first, under a few orders of "heaviest"); the lowest T that packs is
a placement. Then improve it: while moving one model off the hottest GPU, or swapping it
with a model elsewhere, lowers the larger pressure of the two GPUs below the maximum, do
the best such change. On small cases a depth-first search then looks for anything lower
still, pruned by the best found so far, within a fixed budget of nodes. Deterministic: no
clock, no random numbers.
"""

import bisect

GPU_MEM_SIZE = 80  # GB
BISECTION_STEPS = 40
MAX_IMPROVEMENTS = 2000
EXACT_MAX_MODELS = 40  # cases this small get the depth-first search
EXACT_NODE_BUDGET = 20_000


def _pressure(weighted, used):
    free = GPU_MEM_SIZE - used
    return weighted / free if free > 0 else float("inf")


def _pack(target, loads, sizes, orders, gpu_num):
    """GPU of each model such that every GPU's pressure is at most ``target``, or None."""
    capacity = target * GPU_MEM_SIZE
    weights = [load + target * size for load, size in zip(loads, sizes)]
    for order in orders:
        # (room left, gpu) sorted: best fit is the first entry with room for the item
        room = [(capacity, gpu) for gpu in range(gpu_num)]
        memory = [GPU_MEM_SIZE] * gpu_num
        where = [0] * len(loads)
        for m in order:
            w = weights[m]
            k = bisect.bisect_left(room, (w, -1))
            while k < len(room) and memory[room[k][1]] < sizes[m]:
                k += 1
            if k == len(room):
                break
            left, gpu = room.pop(k)
            bisect.insort(room, (left - w, gpu))
            memory[gpu] -= sizes[m]
            where[m] = gpu
        else:
            return where
    return None


def _improve(where, loads, sizes, gpu_num):
    weighted = [0.0] * gpu_num
    used = [0] * gpu_num
    members = [[] for _ in range(gpu_num)]
    for m, gpu in enumerate(where):
        weighted[gpu] += loads[m]
        used[gpu] += sizes[m]
        members[gpu].append(m)
    for _ in range(MAX_IMPROVEMENTS):
        pressures = [_pressure(weighted[g], used[g]) for g in range(gpu_num)]
        hot = max(range(gpu_num), key=pressures.__getitem__)
        worst = pressures[hot]
        best = None  # (new max of the two GPUs, model out, target GPU, model in or None)
        for m in members[hot]:
            out_w, out_u = weighted[hot] - loads[m], used[hot] - sizes[m]
            for g in range(gpu_num):
                if g == hot:
                    continue
                if used[g] + sizes[m] <= GPU_MEM_SIZE:
                    after = max(_pressure(out_w, out_u),
                                _pressure(weighted[g] + loads[m], used[g] + sizes[m]))
                    if after < worst and (best is None or after < best[0]):
                        best = (after, m, g, None)
                for other in members[g]:
                    in_u = out_u + sizes[other]
                    there_u = used[g] - sizes[other] + sizes[m]
                    if in_u > GPU_MEM_SIZE or there_u > GPU_MEM_SIZE:
                        continue
                    after = max(_pressure(out_w + loads[other], in_u),
                                _pressure(weighted[g] - loads[other] + loads[m], there_u))
                    if after < worst and (best is None or after < best[0]):
                        best = (after, m, g, other)
        if best is None:
            break
        _, m, g, other = best
        moves = [(m, hot, g)] + ([(other, g, hot)] if other is not None else [])
        for model, source, target in moves:
            members[source].remove(model)
            members[target].append(model)
            weighted[source] -= loads[model]
            used[source] -= sizes[model]
            weighted[target] += loads[model]
            used[target] += sizes[model]
    return members


def _search(members, loads, sizes, gpu_num):
    """A placement of lower max pressure than ``members``'s if the search finds one."""
    best = [max(_pressure(sum(loads[m] for m in ms), sum(sizes[m] for m in ms))
                for ms in members), members]
    order = sorted(range(len(loads)), key=lambda m: (loads[m], sizes[m]), reverse=True)
    weighted = [0.0] * gpu_num
    used = [0] * gpu_num
    where = [[] for _ in range(gpu_num)]
    nodes = [0]

    def visit(k, worst):
        if k == len(order):
            best[0], best[1] = worst, [list(ms) for ms in where]
            return
        nodes[0] += 1
        if nodes[0] > EXACT_NODE_BUDGET:
            return
        m = order[k]
        seen = set()
        for g in range(gpu_num):
            state = (weighted[g], used[g])
            if state in seen or used[g] + sizes[m] > GPU_MEM_SIZE:
                continue  # GPUs in the same state lead to the same placements
            seen.add(state)
            pressure = _pressure(weighted[g] + loads[m], used[g] + sizes[m])
            if pressure >= best[0]:
                continue
            weighted[g] += loads[m]
            used[g] += sizes[m]
            where[g].append(m)
            visit(k + 1, max(worst, pressure))
            where[g].pop()
            weighted[g] -= loads[m]
            used[g] -= sizes[m]

    visit(0, 0.0)
    return best[1]


def compute_model_placement(gpu_num, models):
    loads = [m.req_rate / m.slo for m in models]
    sizes = [m.model_size for m in models]
    n = len(models)
    orders = []
    for key in (lambda i: (loads[i] / (GPU_MEM_SIZE - sizes[i] + 1e-9), sizes[i]),
                lambda i: (sizes[i], loads[i]), lambda i: (loads[i], sizes[i])):
        orders.append(sorted(range(n), key=key, reverse=True))
    low, high = 0.0, 1.0
    where = _pack(high, loads, sizes, orders, gpu_num)
    while where is None and high < 1e12:
        low, high = high, high * 2
        where = _pack(high, loads, sizes, orders, gpu_num)
    if where is None:
        raise ValueError("no packing found within every GPU's memory")
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        packed = _pack(middle, loads, sizes, orders, gpu_num)
        if packed is None:
            low = middle
        else:
            high, where = middle, packed
    members = _improve(where, loads, sizes, gpu_num)
    if n <= EXACT_MAX_MODELS:
        members = _search(members, loads, sizes, gpu_num)
    return {gpu: [models[m] for m in members[gpu]] for gpu in range(gpu_num)}
