"""A cheapest-path Steiner tree: start from the source; repeatedly join the destination
that is cheapest ($/GB) to reach from any region already in the tree, through any
region; every partition follows the tree. A link the tree already holds is paid for once
per partition, so sharing links is what saves egress."""

from itertools import pairwise

import networkx as nx
from broadcast import BroadCastTopology


def search_algorithm(src, dsts, G, num_partitions):
    graph = G.copy()
    graph.remove_edges_from(list(graph.in_edges(src)) + list(nx.selfloop_edges(graph)))
    parent = {src: None}
    waiting = list(dsts)
    while waiting:
        costs, paths = nx.multi_source_dijkstra(graph, list(parent), weight="cost")
        best = min(waiting, key=lambda d: (costs[d], len(paths[d]), d))
        hops = paths[best]
        for u, v in pairwise(hops):
            if v not in parent:
                parent[v] = u
        for region in hops:  # no link may lead back into the tree
            graph.remove_edges_from(list(graph.in_edges(region)))
        waiting = [d for d in waiting if d not in parent]
    topology = BroadCastTopology(src, dsts, num_partitions)
    for dst in dsts:
        hops = [dst]
        while parent[hops[-1]] is not None:
            hops.append(parent[hops[-1]])
        hops.reverse()
        for u, v in pairwise(hops):
            for partition in range(num_partitions):
                topology.append_dst_partition_path(dst, partition, [u, v, G[u][v]])
    return topology
