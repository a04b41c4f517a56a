"""The published expert-parallelism load balancer (DeepSeek EPLB), as one program.

rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus) decides how many
replicas each MoE expert gets and which physical slot each replica occupies. Slot p sits on
GPU p // (num_replicas // num_gpus); GPU g on node g // (num_gpus // num_nodes).

Hierarchical policy (num_groups % num_nodes == 0): pack expert groups onto nodes, then within
each node replicate the heaviest experts and pack the replicas onto the node's GPUs. Global
policy otherwise: the same with one group and one node.
"""

import torch


# EVOLVE-BLOCK-START
def greedy_pack(weight, num_packs):
    """Each row's items, heaviest first, go to the least-loaded pack that has room; every
    pack ends with n / num_packs items. Returns (pack, rank in pack), int64 [rows, n]."""
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
            best = min(open_packs, key=loads.__getitem__)
            pack[row, item] = best
            rank[row, item] = sizes[best]
            loads[best] = loads[best] + weight[row, item]
            sizes[best] += 1
    return pack, rank


def replicate(weight, num_slots):
    """One replica per expert, then each spare slot to the expert with the largest load per
    replica. Returns (expert of each slot, replica rank of each slot, count per expert)."""
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


def invert(perm):
    inverse = torch.empty_like(perm)
    positions = torch.arange(perm.shape[1], dtype=perm.dtype).expand_as(perm)
    return inverse.scatter_(1, perm, positions)


def place(weight, num_replicas, num_groups, num_nodes, num_gpus):
    layers, experts = weight.shape
    group_size = experts // num_groups
    experts_per_node = experts // num_nodes
    slots_per_node = num_replicas // num_nodes
    slots_per_gpu = num_replicas // num_gpus

    # 1. groups onto nodes; node n owns node-major ids [n * experts_per_node, ...)
    group_load = weight.view(layers, num_groups, group_size).sum(-1)
    group_node, group_rank = greedy_pack(group_load, num_nodes)
    group_start = (group_node * (num_groups // num_nodes) + group_rank) * group_size
    log2mlog = (group_start.unsqueeze(-1) + torch.arange(group_size)).view(layers, experts)
    mlog2log = invert(log2mlog)

    # 2. replicas within each node
    node_weight = weight.gather(1, mlog2log).view(layers * num_nodes, experts_per_node)
    rep_expert, rep_rank, node_count = replicate(node_weight, slots_per_node)

    # 3. replicas onto the node's GPUs by load per replica
    rep_load = (node_weight / node_count).gather(1, rep_expert)
    gpu, position = greedy_pack(rep_load, num_gpus // num_nodes)
    slot2rep = invert(gpu * slots_per_gpu + position)

    node_offset = (torch.arange(num_nodes) * experts_per_node).view(1, -1, 1)
    slot_mlog = (rep_expert.gather(1, slot2rep).view(layers, num_nodes, slots_per_node)
                 + node_offset).view(layers, num_replicas)
    phy2log = mlog2log.gather(1, slot_mlog)
    phy_rank = rep_rank.gather(1, slot2rep).view(layers, num_replicas)
    logcnt = node_count.view(layers, experts).gather(1, log2mlog)
    return phy2log, phy_rank, logcnt


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    """Returns phy2log [layers, num_replicas], log2phy [layers, experts, width] (each
    expert's slots by replica rank, padded with -1) and logcnt [layers, experts]."""
    weight = weight.float().cpu()
    layers, experts = weight.shape
    if num_groups % num_nodes == 0:
        phy2log, rank, logcnt = place(weight, num_replicas, num_groups, num_nodes, num_gpus)
    else:
        phy2log, rank, logcnt = place(weight, num_replicas, 1, 1, num_gpus)
    width = int(logcnt.max())
    log2phy = torch.full((layers, experts * width), -1, dtype=torch.int64)
    slots = torch.arange(num_replicas, dtype=torch.int64).expand(layers, num_replicas)
    log2phy.scatter_(1, phy2log * width + rank, slots)
    return phy2log, log2phy.view(layers, experts, width), logcnt


# EVOLVE-BLOCK-END
