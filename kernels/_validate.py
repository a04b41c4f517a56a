"""Check that an expert placement is a placement, naming the first thing that is wrong.

The reference evaluator checks nothing: a "placement" that claims every expert sits on
every slot scores 0.99999999 there. :func:`validate_placement` rejects it, and everything
else that breaks the contract of ``rebalance_experts`` (``../shared/specs/eplb.md``
sections 1 and 6). NumPy only, so the evaluator can check placements without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["InvalidPlacement", "Placement", "validate_placement"]


class InvalidPlacement(ValueError):
    """A placement breaks the contract; the message names the first violation."""


@dataclass(frozen=True)
class Placement:
    """A checked placement, as int64 NumPy arrays.

    Attributes:
        phy2log: ``[layers, slots]``: the expert on each slot.
        log2phy: ``[layers, experts, width]``: each expert's slots by replica rank, then -1.
        logcnt: ``[layers, experts]``: replicas per expert.
    """

    phy2log: np.ndarray
    log2phy: np.ndarray
    logcnt: np.ndarray


def _as_array(name: str, value: Any, ndim: int) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, on any device
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InvalidPlacement(f"{name} is not an array ({type(value).__name__}: {exc})") \
            from None
    if array.dtype.kind not in "iu":
        raise InvalidPlacement(f"{name} must hold integers, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise InvalidPlacement(f"{name} must have {ndim} dimensions, got shape "
                               f"{list(array.shape)}")
    return array.astype(np.int64, copy=False)


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def validate_placement(phy2log: Any, log2phy: Any, logcnt: Any, *, num_experts: int,
                       num_replicas: int, num_gpus: int, num_layers: int | None = None,
                       num_groups: int | None = None, num_nodes: int | None = None
                       ) -> Placement:
    """Check a placement and return it as int64 arrays.

    Checks, in order (the first failure is raised): integer arrays of 2, 3 and 2
    dimensions; shapes ``[L, num_replicas]``, ``[L, num_experts, X >= 1]``,
    ``[L, num_experts]``; ``num_replicas`` a multiple of ``num_gpus`` (equal slots per
    GPU); every ``phy2log`` entry an expert id; every expert at least one replica; the
    counts of a layer summing to its slots; counts equal to how often ``phy2log`` names
    each expert; ``log2phy`` wide enough; its first ``logcnt`` entries slots and the rest
    -1; each listed slot holding that expert; every slot listed exactly once; and, when
    ``num_groups`` and ``num_nodes`` are given and the hierarchical policy applies
    (``num_groups % num_nodes == 0``), every group's replicas on one node.

    Args:
        phy2log, log2phy, logcnt: The placement (NumPy arrays, torch tensors, lists).
        num_experts: Logical experts per layer.
        num_replicas: Physical slots per layer.
        num_gpus: GPUs (slot ``p`` is on GPU ``p // (num_replicas // num_gpus)``).
        num_layers: Expected layers, or None to take them from ``phy2log``.
        num_groups, num_nodes: Give both to check that groups stay on one node.

    Returns:
        The placement as int64 arrays.

    Raises:
        InvalidPlacement: The first violation, with the offending index and value.
    """
    if num_gpus < 1 or num_replicas % num_gpus:
        raise InvalidPlacement(f"{num_replicas} slots do not split equally over {num_gpus} GPUs")
    phy2log = _as_array("phy2log", phy2log, 2)
    log2phy = _as_array("log2phy", log2phy, 3)
    logcnt = _as_array("logcnt", logcnt, 2)
    layers = phy2log.shape[0] if num_layers is None else num_layers
    expected = {"phy2log": (layers, num_replicas), "logcnt": (layers, num_experts)}
    for name, array in (("phy2log", phy2log), ("logcnt", logcnt)):
        if array.shape != expected[name]:
            raise InvalidPlacement(f"{name} has shape {list(array.shape)}, expected "
                                   f"{list(expected[name])}")
    if log2phy.shape[:2] != (layers, num_experts) or log2phy.shape[2] < 1:
        raise InvalidPlacement(f"log2phy has shape {list(log2phy.shape)}, expected "
                               f"[{layers}, {num_experts}, max replicas >= 1]")
    bad = (phy2log < 0) | (phy2log >= num_experts)
    if bad.any():
        layer, slot = _first(bad)
        raise InvalidPlacement(f"phy2log[{layer}, {slot}] = {phy2log[layer, slot]} is not an "
                               f"expert id in [0, {num_experts})")
    if (logcnt < 1).any():
        layer, expert = _first(logcnt < 1)
        raise InvalidPlacement(f"logcnt[{layer}, {expert}] = {logcnt[layer, expert]}: expert "
                               f"{expert} of layer {layer} has no replica")
    totals = logcnt.sum(axis=1)
    if (totals != num_replicas).any():
        layer = int(np.flatnonzero(totals != num_replicas)[0])
        raise InvalidPlacement(f"logcnt of layer {layer} sums to {totals[layer]} replicas, "
                               f"not the {num_replicas} slots")
    offsets = (np.arange(layers) * num_experts)[:, None]
    histogram = np.bincount((phy2log + offsets).ravel(), minlength=layers * num_experts)
    histogram = histogram.reshape(layers, num_experts)
    if (histogram != logcnt).any():
        layer, expert = _first(histogram != logcnt)
        raise InvalidPlacement(f"logcnt[{layer}, {expert}] = {logcnt[layer, expert]} but "
                               f"phy2log puts expert {expert} on {histogram[layer, expert]} "
                               f"slots of layer {layer}")
    width = log2phy.shape[2]
    if int(logcnt.max()) > width:
        layer, expert = _first(logcnt == logcnt.max())
        raise InvalidPlacement(f"log2phy lists {width} replicas per expert but "
                               f"logcnt[{layer}, {expert}] = {logcnt[layer, expert]}")
    listed = np.arange(width) < logcnt[:, :, None]
    bad = listed & ((log2phy < 0) | (log2phy >= num_replicas))
    if bad.any():
        layer, expert, rank = _first(bad)
        raise InvalidPlacement(f"log2phy[{layer}, {expert}, {rank}] = "
                               f"{log2phy[layer, expert, rank]} is not a slot in "
                               f"[0, {num_replicas})")
    bad = ~listed & (log2phy != -1)
    if bad.any():
        layer, expert, rank = _first(bad)
        raise InvalidPlacement(f"log2phy[{layer}, {expert}, {rank}] = "
                               f"{log2phy[layer, expert, rank]} beyond logcnt[{layer}, "
                               f"{expert}] = {logcnt[layer, expert]}: padding must be -1")
    slots = np.where(listed, log2phy, 0)
    holder = np.take_along_axis(phy2log, slots.reshape(layers, -1), axis=1)
    holder = holder.reshape(log2phy.shape)
    bad = listed & (holder != np.arange(num_experts)[None, :, None])
    if bad.any():
        layer, expert, rank = _first(bad)
        slot = log2phy[layer, expert, rank]
        raise InvalidPlacement(f"log2phy[{layer}, {expert}, {rank}] = {slot} but slot {slot} "
                               f"of layer {layer} holds expert {phy2log[layer, slot]}")
    slot_offsets = (np.arange(layers) * num_replicas)[:, None, None]
    times = np.bincount((slots + slot_offsets)[listed], minlength=layers * num_replicas)
    times = times.reshape(layers, num_replicas)
    if (times != 1).any():
        layer, slot = _first(times != 1)
        raise InvalidPlacement(f"slot {slot} of layer {layer} appears {times[layer, slot]} "
                               "times in log2phy; every slot must appear exactly once")
    if num_groups is not None and num_nodes is not None and num_nodes >= 1 \
            and num_groups >= 1 and num_groups % num_nodes == 0 \
            and num_experts % num_groups == 0 and num_replicas % num_nodes == 0:
        _check_groups(phy2log, num_experts, num_replicas, num_groups, num_nodes)
    return Placement(phy2log, log2phy, logcnt)


def _check_groups(phy2log: np.ndarray, num_experts: int, num_replicas: int, num_groups: int,
                  num_nodes: int) -> None:
    layers = phy2log.shape[0]
    node = np.broadcast_to(np.arange(num_replicas) // (num_replicas // num_nodes),
                           phy2log.shape)
    group = phy2log // (num_experts // num_groups) + (np.arange(layers) * num_groups)[:, None]
    lowest = np.full(layers * num_groups, num_nodes, np.int64)
    highest = np.full(layers * num_groups, -1, np.int64)
    np.minimum.at(lowest, group.ravel(), node.ravel())
    np.maximum.at(highest, group.ravel(), node.ravel())
    spread = (lowest != highest).reshape(layers, num_groups)
    if spread.any():
        layer, g = _first(spread)
        i = layer * num_groups + g
        raise InvalidPlacement(f"group {g} of layer {layer} spans nodes {lowest[i]} to "
                               f"{highest[i]}; the hierarchical policy keeps a group on one "
                               "node")
