"""A minimum-cost arborescence rooted at the source over the source and destinations
(Edmonds' algorithm); every partition follows the tree to each destination."""

from itertools import pairwise

import networkx as nx
from broadcast import BroadCastTopology


def search_algorithm(src, dsts, G, num_partitions):
    regions = [src] + list(dsts)
    graph = nx.DiGraph()
    graph.add_nodes_from(regions)
    for u in regions:
        for v in regions:
            if u != v and v != src and G.has_edge(u, v):
                graph.add_edge(u, v, cost=G[u][v]["cost"])
    tree = nx.minimum_spanning_arborescence(graph, attr="cost")
    topology = BroadCastTopology(src, dsts, num_partitions)
    for dst in dsts:
        hops = nx.shortest_path(tree, src, dst)
        for u, v in pairwise(hops):
            for partition in range(num_partitions):
                topology.append_dst_partition_path(dst, partition, [u, v, G[u][v]])
    return topology
