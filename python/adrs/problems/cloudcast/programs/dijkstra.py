"""The cheapest path ($/GB) from the source to each destination; every partition takes it.

Links into the source are dropped first (data never needs to come back).
"""

from itertools import pairwise

import networkx as nx
from broadcast import BroadCastTopology


def search_algorithm(src, dsts, G, num_partitions):
    graph = G.copy()
    graph.remove_edges_from(list(graph.in_edges(src)) + list(nx.selfloop_edges(graph)))
    topology = BroadCastTopology(src, dsts, num_partitions)
    for dst in dsts:
        hops = nx.dijkstra_path(graph, src, dst, weight="cost")
        for u, v in pairwise(hops):
            for partition in range(num_partitions):
                topology.append_dst_partition_path(dst, partition, [u, v, G[u][v]])
    return topology
