"""The published expert-parallelism load balancer (DeepSeek EPLB), in plain PyTorch.

This is our own implementation of the algorithm as published (``../shared/specs/eplb.md``
section 1), written to reproduce its outputs exactly, tie rules included, and its cost
profile: the packing greedy runs in Python, one item at a time, on tensor elements, as the
published code does. It is the baseline the faster implementations are measured against.

Hierarchical policy (``num_groups % num_nodes == 0``):

1. sum each expert group's load and pack the groups onto nodes (``greedy_pack``), so each
   node owns a contiguous block of "node-major" expert ids;
2. within each node, give every expert one replica, then add the node's spare slots one by
   one to the expert with the largest load per replica (``replicate_greedy``);
3. within each node, pack the replicas (load = expert load / replica count) onto the
   node's GPUs, the same number on each (``greedy_pack``).

The global policy is the same routine with one group and one node.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["check_arguments", "greedy_pack", "invert_permutation", "place_experts",
           "rebalance_experts_reference", "replicate_greedy"]


def check_arguments(num_experts: int, num_replicas: int, num_groups: int, num_nodes: int,
                    num_gpus: int) -> None:
    """Check the preconditions of the published algorithm.

    ``num_nodes`` matters only to the hierarchical policy (``num_groups % num_nodes == 0``);
    the global policy ignores it, as published.

    Raises:
        ValueError: Naming the first one that fails.
    """
    for name, value in (("num_replicas", num_replicas), ("num_groups", num_groups),
                        ("num_nodes", num_nodes), ("num_gpus", num_gpus),
                        ("number of experts", num_experts)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if num_experts % num_groups:
        raise ValueError(f"{num_experts} experts do not split into {num_groups} equal groups")
    if num_replicas < num_experts:
        raise ValueError(f"num_replicas {num_replicas} < {num_experts} experts: every expert "
                         "needs a slot")
    if num_groups % num_nodes == 0 and num_gpus % num_nodes:
        raise ValueError(f"num_gpus {num_gpus} is not a multiple of num_nodes {num_nodes}")
    if num_replicas % num_gpus:
        raise ValueError(f"num_replicas {num_replicas} is not a multiple of num_gpus {num_gpus}")


def invert_permutation(perm: torch.Tensor) -> torch.Tensor:
    """Row-wise inverse of a batch of permutations ``[rows, n]``."""
    inverse = torch.empty_like(perm)
    positions = torch.arange(perm.shape[1], dtype=perm.dtype, device=perm.device)
    return inverse.scatter_(1, perm, positions.expand_as(perm))


def greedy_pack(weight: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The published balanced packing, row by row and item by item.

    Items are taken by weight, heaviest first (ties: lower index first); each goes to the
    pack with the smallest load (float32 sums, as published) among those holding fewer
    than ``n / num_packs`` items, the lowest pack index on ties. With one item per pack the
    published code does no work and returns item ``i`` in pack ``i``; so does this.

    The state lives in tensors touched one element at a time from Python, as in the
    published code: this is where its runtime goes (about 0.4 s of a production-size
    rebalance), and what the vectorised implementation removes.

    Args:
        weight: float32 ``[rows, n]``, ``n`` a multiple of ``num_packs``.
        num_packs: Packs per row.

    Returns:
        ``(pack, rank)``: int64 ``[rows, n]``, each item's pack and its position in it
        (the order in which it was added).
    """
    rows, items = weight.shape
    per_pack = items // num_packs
    if per_pack == 1:
        return (torch.arange(items, dtype=torch.int64).expand(rows, items).clone(),
                torch.zeros(rows, items, dtype=torch.int64))
    order = torch.sort(weight, dim=-1, descending=True, stable=True).indices
    pack = torch.full((rows, items), -1, dtype=torch.int64)
    rank = torch.full((rows, items), -1, dtype=torch.int64)
    zero = torch.zeros((), dtype=weight.dtype)
    for row in range(rows):
        loads = [zero] * num_packs
        sizes = [0] * num_packs
        for item in order[row]:
            open_packs = [p for p in range(num_packs) if sizes[p] < per_pack]
            best = min(open_packs, key=loads.__getitem__)  # first minimum: lowest index
            pack[row, item] = best
            rank[row, item] = sizes[best]
            loads[best] = loads[best] + weight[row, item]
            sizes[best] += 1
    return pack, rank


def replicate_greedy(weight: torch.Tensor,
                     num_slots: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The published replication: one replica each, then the spare slots one at a time.

    Slot ``j < n`` holds expert ``j``; each later slot goes to the expert with the largest
    load per replica (float32 ``weight / count``; the first such expert on ties) and its
    replica rank is that expert's count before the addition.

    Args:
        weight: float32 ``[rows, n]``.
        num_slots: Slots per row, at least ``n``.

    Returns:
        ``(slot_expert, slot_rank, count)``: int64 ``[rows, num_slots]``,
        ``[rows, num_slots]`` and ``[rows, n]``.
    """
    rows, experts = weight.shape
    slot_expert = torch.arange(num_slots, dtype=torch.int64).repeat(rows, 1)
    slot_rank = torch.zeros(rows, num_slots, dtype=torch.int64)
    count = torch.ones(rows, experts, dtype=torch.int64)
    row_ids = torch.arange(rows)
    for slot in range(experts, num_slots):
        chosen = (weight / count).argmax(dim=-1)
        slot_expert[:, slot] = chosen
        slot_rank[:, slot] = count[row_ids, chosen]
        count[row_ids, chosen] += 1
    return slot_expert, slot_rank, count


Pack = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
Replicate = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def place_experts(weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int,
                  num_gpus: int, pack: Pack = greedy_pack, replicate: Replicate = replicate_greedy
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The published algorithm's three steps around a packing and a replication routine.

    The Triton implementation runs this same composition with its kernels in place of
    :func:`greedy_pack` and :func:`replicate_greedy`, so equal kernels give equal
    placements. The work stays on ``weight``'s device.

    Args:
        weight: float32 ``[layers, experts]``.
        num_replicas, num_groups, num_nodes, num_gpus: As
            :func:`rebalance_experts_reference`; checked, and the policy chosen, here.
        pack: ``(weight [rows, n], packs) -> (pack, rank)`` like :func:`greedy_pack`.
        replicate: ``(weight [rows, n], slots) -> (slot_expert, slot_rank, count)`` like
            :func:`replicate_greedy`.

    Returns:
        ``(phy2log, log2phy, logcnt)`` as :func:`rebalance_experts_reference`.

    Raises:
        ValueError: A precondition fails.
    """
    if weight.dim() != 2:
        raise ValueError(f"weight must be [layers, experts], got shape {tuple(weight.shape)}")
    layers, experts = weight.shape
    check_arguments(experts, num_replicas, num_groups, num_nodes, num_gpus)
    if num_groups % num_nodes:  # the global policy: one group, one node
        num_groups, num_nodes = 1, 1
    device = weight.device
    group_size = experts // num_groups
    groups_per_node = num_groups // num_nodes
    experts_per_node = experts // num_nodes
    slots_per_node = num_replicas // num_nodes
    slots_per_gpu = num_replicas // num_gpus

    # Step 1: groups onto nodes. An expert's node-major id places its group at the group's
    # position among its node's groups, experts of a group kept in order.
    group_load = weight.view(layers, num_groups, group_size).sum(-1)
    group_node, group_rank = pack(group_load, num_nodes)
    group_start = (group_node * groups_per_node + group_rank) * group_size
    log2mlog = (group_start.unsqueeze(-1)
                + torch.arange(group_size, device=device)).view(layers, experts)
    mlog2log = invert_permutation(log2mlog)

    # Step 2: replicas within each node (one row per layer and node).
    node_weight = weight.gather(1, mlog2log).view(layers * num_nodes, experts_per_node)
    rep_expert, rep_rank, node_count = replicate(node_weight, slots_per_node)

    # Step 3: replicas onto the node's GPUs, by load per replica.
    rep_load = (node_weight / node_count).gather(1, rep_expert)
    gpu, position = pack(rep_load, num_gpus // num_nodes)
    slot2rep = invert_permutation(gpu * slots_per_gpu + position)

    node_offset = (torch.arange(num_nodes, device=device) * experts_per_node).view(1, -1, 1)
    slot_mlog = (rep_expert.gather(1, slot2rep).view(layers, num_nodes, slots_per_node)
                 + node_offset).view(layers, num_replicas)
    phy2log = mlog2log.gather(1, slot_mlog)
    phy_rank = rep_rank.gather(1, slot2rep).view(layers, num_replicas)
    logcnt = node_count.view(layers, experts).gather(1, log2mlog)

    width = int(logcnt.max())
    log2phy = torch.full((layers, experts * width), -1, dtype=torch.int64, device=device)
    slots = torch.arange(num_replicas, dtype=torch.int64, device=device)
    log2phy.scatter_(1, phy2log * width + phy_rank, slots.expand(layers, num_replicas))
    return phy2log, log2phy.view(layers, experts, width), logcnt


def rebalance_experts_reference(weight: torch.Tensor, num_replicas: int, num_groups: int,
                                num_nodes: int, num_gpus: int
                                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Place replicas of every MoE expert on slots and GPUs: the published algorithm.

    Args:
        weight: ``[layers, experts]`` load per logical expert (any dtype or device; the work
            is float32 on the CPU, as published).
        num_replicas: Physical slots per layer (slot ``p`` is on GPU
            ``p // (num_replicas // num_gpus)``).
        num_groups: Expert groups (contiguous experts); kept on one node by the
            hierarchical policy, used when ``num_groups % num_nodes == 0``.
        num_nodes: Nodes (GPU ``g`` is on node ``g // (num_gpus // num_nodes)``).
        num_gpus: GPUs.

    Returns:
        ``(phy2log, log2phy, logcnt)``: int64 ``[layers, num_replicas]`` (the expert on each
        slot), ``[layers, experts, max count]`` (each expert's slots by replica rank, padded
        with -1) and ``[layers, experts]`` (replica counts).

    Raises:
        ValueError: The arguments break a precondition (see :func:`check_arguments`).
    """
    return place_experts(weight.float().cpu(), num_replicas, num_groups, num_nodes, num_gpus)
