"""The published algorithm with its greedy steps as Triton kernels, from adrs.kernels. Runs
on a CUDA GPU, or on the CPU under Triton's interpreter (TRITON_INTERPRET=1: tens of
seconds per rebalance at production size)."""

from adrs.kernels import rebalance_experts_triton


# EVOLVE-BLOCK-START
def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    return rebalance_experts_triton(weight, num_replicas, num_groups, num_nodes, num_gpus)


# EVOLVE-BLOCK-END
