"""The ADRS Leaderboard's eplb rules: its checks of a placement and its inference
simulation (``problems/eplb/evaluator.py`` of the leaderboard), natively.

The leaderboard checks little (:func:`check_leaderboard_placement` lists what), then
spreads each logical expert's load over the slots its ``log2phy`` row lists:
``total[layer, log2phy[layer, e, :cnt]] += load / cnt`` on a float32 tensor, for every
expert with load > 0 and ``cnt > 0``. Tensor indexing gives that statement its
semantics, reproduced here exactly: a slot listed twice in one row gains the share once
(the indexed ``+=`` reads, adds and writes back), a slot listed by several experts gains
every share, ``-1`` counts from the end, and each addition is float32 (the share is
rounded to float32, then added). The balancedness figures sum those float32 slot loads
in float64; the leaderboard sums them in float32, in torch's vectorised order (which
depends on the CPU's vector width), so the two agree to about 1e-7 relative, not to the
last bit.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from ._balance import balancedness, gpu_loads
from ._validate import InvalidPlacement

__all__ = ["check_leaderboard_placement", "leaderboard_balancedness",
           "leaderboard_slot_loads"]

# what tensor indexing takes as slot ids (int8/int16/unsigned raise; uint8/bool are masks)
_INDEX_DTYPES = ("int32", "int64")


def check_leaderboard_placement(phy2log: Any, log2phy: Any, logcnt: Any, next_weight: Any,
                                num_replicas: int) -> tuple[np.ndarray, np.ndarray]:
    """The leaderboard's checks, in its order and with its messages, plus the ones its
    simulation fails on (with ours).

    Its checks: ``phy2log`` has ``num_replicas`` columns; every ``logcnt`` row sums to
    ``num_replicas``; no count is negative; no expert with load in the next window has 0
    replicas. Not checked, so accepted: ``phy2log``'s contents (only its width counts),
    ``log2phy`` agreeing with ``phy2log`` or with ``logcnt`` (a row may list a slot twice,
    several experts one slot, or fewer slots than its count: that load is lost), slots
    left empty, fractional counts (truncated). Its simulation then needs: ``logcnt`` shaped
    as the loads, ``log2phy`` of int32/int64 with at least the loads' layers and experts,
    and every listed slot in ``[-num_replicas, num_replicas)``.

    Args:
        phy2log, log2phy, logcnt: The placement, as the candidate returned it.
        next_weight: ``[layers, experts]``: the loads it is scored on (window ``i + 1``).
        num_replicas: Slots per layer.

    Returns:
        ``(log2phy, counts)``: int64 ``[layers, experts, width]`` and ``[layers,
        experts]``, ready for :func:`leaderboard_slot_loads`.

    Raises:
        InvalidPlacement: What the leaderboard refuses (its message) or fails on (ours).
    """
    phy2log, log2phy, logcnt = np.asarray(phy2log), np.asarray(log2phy), np.asarray(logcnt)
    weight = np.asarray(next_weight)
    if phy2log.ndim < 2 or phy2log.shape[1] != num_replicas:
        raise InvalidPlacement(f"phy2log shape wrong: {tuple(phy2log.shape)}")
    if logcnt.ndim != 2 or logcnt.dtype.kind not in "biuf":
        raise InvalidPlacement(f"logcnt must be a [layers, experts] array of counts, got "
                               f"shape {list(logcnt.shape)} of {logcnt.dtype}")
    sums = logcnt.sum(axis=1)
    if not (sums == num_replicas).all():
        raise InvalidPlacement(f"logcnt sums != {num_replicas}: {sums[:5].tolist()}...")
    if (logcnt < 0).any():
        raise InvalidPlacement("logcnt contains negative values")
    if logcnt.shape != weight.shape:
        raise InvalidPlacement(f"logcnt has shape {list(logcnt.shape)}, the loads "
                               f"{list(weight.shape)}")
    unhandled = (weight > 0) & (logcnt == 0)
    if unhandled.any():
        raise InvalidPlacement(f"Unhandled load: {int(unhandled.sum())} experts have load "
                               "but 0 replicas")
    # the rows sum to num_replicas and none is negative: every count is finite and small
    counts = np.trunc(logcnt).astype(np.int64) if logcnt.dtype.kind == "f" \
        else logcnt.astype(np.int64)
    layers, experts = weight.shape
    if log2phy.dtype.name not in _INDEX_DTYPES:
        raise InvalidPlacement(f"log2phy must hold int32 or int64 slot ids (the leaderboard "
                               f"indexes the slots with it), got dtype {log2phy.dtype}")
    if log2phy.ndim != 3 or log2phy.shape[0] < layers or log2phy.shape[1] < experts:
        raise InvalidPlacement(f"log2phy has shape {list(log2phy.shape)}; the leaderboard "
                               f"reads [{layers}, {experts}, replicas] of it")
    log2phy = np.ascontiguousarray(log2phy[:layers, :experts], np.int64)
    listed = ((weight > 0) & (counts > 0))[:, :, None] \
        & (np.arange(log2phy.shape[2]) < counts[:, :, None])
    bad = listed & ((log2phy < -num_replicas) | (log2phy >= num_replicas))
    if bad.any():
        layer, expert, rank = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidPlacement(f"log2phy[{layer}, {expert}, {rank}] = "
                               f"{log2phy[layer, expert, rank]} is not a slot in "
                               f"[-{num_replicas}, {num_replicas})")
    return log2phy, counts


@numba.njit(cache=True)
def _spread(log2phy: np.ndarray, counts: np.ndarray, weight: np.ndarray,
            num_replicas: int) -> np.ndarray:
    layers, experts = weight.shape
    width = log2phy.shape[2]
    total = np.zeros((layers, num_replicas), np.float32)
    # the last expert (layer * experts + e) that added to each slot: a slot listed twice
    # in one row gains that row's share once
    stamp = np.full(num_replicas, -1, np.int64)
    for layer in range(layers):
        for e in range(experts):
            load = weight[layer, e]
            count = counts[layer, e]
            if load <= 0 or count <= 0:
                continue
            share = np.float32(load / count)  # the quotient in float64, then float32
            me = layer * experts + e
            for rank in range(min(count, width)):
                slot = log2phy[layer, e, rank]
                if slot < 0:
                    slot += num_replicas
                if stamp[slot] != me:
                    stamp[slot] = me
                    total[layer, slot] = total[layer, slot] + share
    return total


def leaderboard_slot_loads(log2phy: np.ndarray, counts: np.ndarray, weight: Any,
                           num_replicas: int) -> np.ndarray:
    """Every slot's load by the leaderboard's ``simulate_inference`` (see the module).

    Args:
        log2phy, counts: As :func:`check_leaderboard_placement` returns them.
        weight: ``[layers, experts]`` loads (integers, or floats: as float64).
        num_replicas: Slots per layer.

    Returns:
        float32 ``[layers, num_replicas]``, bit for bit the leaderboard's tensor.
    """
    weight = np.ascontiguousarray(weight, np.float64)
    return _spread(np.ascontiguousarray(log2phy, np.int64),
                   np.ascontiguousarray(counts, np.int64), weight, int(num_replicas))


def leaderboard_balancedness(slot_load: np.ndarray, num_gpus: int) -> tuple[float, float]:
    """``(per GPU, per slot)`` balancedness of slot loads, as the leaderboard's
    ``simulate_inference`` returns them: ``sum_l mean / sum_l max`` over the GPUs (each
    the sum of its consecutive slots) and over the slots; ``(0, 0)`` without load."""
    loads = np.asarray(slot_load, np.float64)
    return balancedness(gpu_loads(loads, num_gpus)), balancedness(loads)
