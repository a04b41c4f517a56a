"""Batched expert placement from adrs.kernels: top-k replication and snake packing with
exchange rounds, all layers at once (read adrs/kernels/_vectorized.py for the code)."""

from adrs.kernels import rebalance_experts_vectorized


# EVOLVE-BLOCK-START
def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    return rebalance_experts_vectorized(weight, num_replicas, num_groups, num_nodes, num_gpus)


# EVOLVE-BLOCK-END
