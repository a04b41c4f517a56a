"""Balancedness of a placement on a load matrix, as the reference evaluator scores it.

``balancedness = sum over layers of mean load / sum over layers of max load``: a ratio of
sums, not a mean of per-layer ratios; 0 when there is no load. Per slot (the reference's
metric, ``../shared/specs/eplb.md`` section 6) or per GPU (slots summed in blocks of
``slots / gpus``: what a serving system waits on). Float64 throughout (the reference
accumulates float32 and agrees within 1e-6). NumPy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["balancedness", "gpu_loads", "slot_loads"]


def slot_loads(log2phy: np.ndarray, logcnt: np.ndarray, weight: np.ndarray,
               num_replicas: int) -> np.ndarray:
    """Load on every slot by the reference evaluator's rule.

    Every expert with load > 0 and ``logcnt > 0`` adds ``load / logcnt`` to each slot among
    the first ``logcnt`` entries of its ``log2phy`` row (an expert given no replica loses its
    load; a -1 entry counts from the end, as tensor indexing does). On a valid placement
    this equals ``weight[l, phy2log[l, p]] / logcnt[l, phy2log[l, p]]``. Use it to reproduce
    the reference's score of an unchecked placement; the evaluator validates first.

    Args:
        log2phy: ``[layers, experts, width]`` slots per expert.
        logcnt: ``[layers, experts]`` replica counts.
        weight: ``[layers, experts]`` loads.
        num_replicas: Slots per layer.

    Returns:
        float64 ``[layers, num_replicas]``.

    Raises:
        ValueError: Shapes that do not fit, or a listed slot outside ``[-slots, slots)``
            (the reference fails there too).
    """
    log2phy, logcnt = np.asarray(log2phy), np.asarray(logcnt)
    weight = np.asarray(weight, np.float64)
    if weight.ndim != 2 or logcnt.shape != weight.shape or log2phy.shape[:2] != weight.shape:
        raise ValueError(f"shapes do not fit: weight {list(weight.shape)}, logcnt "
                         f"{list(logcnt.shape)}, log2phy {list(log2phy.shape)}")
    layers, _, width = log2phy.shape
    counted = (weight > 0) & (logcnt > 0)
    listed = counted[:, :, None] & (np.arange(width) < logcnt[:, :, None])
    slots = log2phy[listed].astype(np.int64)
    if slots.size and (slots.min() < -num_replicas or slots.max() >= num_replicas):
        raise ValueError(f"log2phy lists a slot outside [0, {num_replicas})")
    share = np.broadcast_to((np.where(counted, weight, 0.0)
                             / np.maximum(logcnt, 1))[:, :, None], listed.shape)[listed]
    layer = np.broadcast_to(np.arange(layers)[:, None, None], listed.shape)[listed]
    loads = np.zeros(layers * num_replicas)
    np.add.at(loads, layer * num_replicas + slots % num_replicas, share)
    return loads.reshape(layers, num_replicas)


def gpu_loads(slot_load: np.ndarray, num_gpus: int) -> np.ndarray:
    """Sum slot loads ``[layers, slots]`` over each GPU's consecutive slots.

    Raises:
        ValueError: The slots do not split equally over the GPUs.
    """
    layers, slots = slot_load.shape
    if num_gpus < 1 or slots % num_gpus:
        raise ValueError(f"{slots} slots do not split equally over {num_gpus} GPUs")
    return slot_load.reshape(layers, num_gpus, slots // num_gpus).sum(axis=2)


def balancedness(loads: np.ndarray) -> float:
    """``sum_l mean(loads[l]) / sum_l max(loads[l])`` over ``[layers, units]``; 0 if no load."""
    loads = np.asarray(loads, np.float64)
    peak = float(loads.max(axis=1).sum())
    if peak <= 0:
        return 0.0
    return float(loads.mean(axis=1).sum() / peak)
