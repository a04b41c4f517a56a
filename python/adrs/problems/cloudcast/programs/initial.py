"""The search's starting point: the cheapest path to each destination, every partition on
it (the leaderboard's baseline, exactly, with the constants below), with knobs to trade
price against link speed and to reuse links already carrying data."""

from itertools import pairwise

import networkx as nx
from broadcast import BroadCastTopology

PRICE_WEIGHT = 1.0  # times the link's $/GB
SLOWNESS_WEIGHT = 0.0  # times 1 / the link's Gbps
REUSE_FACTOR = 1.0  # a link already used by an earlier destination costs this much of it


def search_algorithm(src, dsts, G, num_partitions):
    graph = G.copy()
    graph.remove_edges_from(list(graph.in_edges(src)) + list(nx.selfloop_edges(graph)))
    used = set()

    def weight(u, v, data):
        w = PRICE_WEIGHT * data["cost"] + SLOWNESS_WEIGHT / data["throughput"]
        if (u, v) in used:
            w = w * REUSE_FACTOR
        return w

    topology = BroadCastTopology(src, dsts, num_partitions)
    for dst in dsts:
        hops = nx.dijkstra_path(graph, src, dst, weight=weight)
        for u, v in pairwise(hops):
            used.add((u, v))
            for partition in range(num_partitions):
                topology.append_dst_partition_path(dst, partition, [u, v, G[u][v]])
    return topology
