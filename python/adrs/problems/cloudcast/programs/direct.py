"""Every partition straight from the source to each destination."""

from broadcast import BroadCastTopology


def search_algorithm(src, dsts, G, num_partitions):
    topology = BroadCastTopology(src, dsts, num_partitions)
    for dst in dsts:
        for partition in range(num_partitions):
            topology.set_dst_partition_paths(dst, partition, [[src, dst, G[src][dst]]])
    return topology
