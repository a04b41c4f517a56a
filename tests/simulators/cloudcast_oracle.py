"""The Cloudcast rules over plain dicts of region names: the slow, obvious cross-check of
the Numba model (``adrs.simulators.cloudcast``), written from the rules in that module's
docstring (the leaderboard's ``BCSimulator``), not from the kernel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from adrs.simulators.cloudcast import PROVIDERS, CloudGraph, Transfer, instance_cost, provider_of


def oracle_broadcast(graph: CloudGraph, transfer: Transfer,
                     paths: Mapping[str, Mapping[str, Sequence[Sequence[str]]]]
                     ) -> tuple[float, float]:
    """The rules over plain dicts of region names: ``(transfer_time, cost)``.

    Slow and obvious, for tests: the cross-check of :class:`BroadcastModel`.
    """
    index = graph.edge_index()
    pvol = transfer.data_vol / transfer.num_partitions
    link_partitions: dict[tuple[str, str], set[int]] = {}
    regions: dict[str, None] = {}
    for dst in transfer.dests:
        for p in range(transfer.num_partitions):
            for u, v, *_ in paths[dst][str(p)]:
                if (u, v) not in link_partitions:
                    link_partitions[(u, v)] = set()
                    regions.setdefault(u)
                    regions.setdefault(v)
                link_partitions[(u, v)].add(p)
    flow = {link: float(graph.throughput[index[link]]) for link in link_partitions}
    ingress, egress = transfer.limits(graph.num_vms)
    for region in regions:
        provider = PROVIDERS.index(provider_of(region))
        incoming = [link for link in link_partitions if link[1] == region]
        outgoing = [link for link in link_partitions if link[0] == region]
        in_sum = sum(flow[link] for link in incoming)
        out_sum = sum(flow[link] for link in outgoing)
        for links, total, limit in ((incoming, in_sum, ingress[provider]),
                                    (outgoing, out_sum, egress[provider])):
            if total > limit:
                for link in links:
                    flow[link] = min(flow[link], limit * (1 / len(links)))
    times = []
    for dst in transfer.dests:
        times.append(max(len(link_partitions[(u, v)]) * pvol * 8 / flow[(u, v)]
                         for p in range(transfer.num_partitions)
                         for u, v, *_ in paths[dst][str(p)]))
    transfer_time = max(times)
    egress_cost = 0.0
    for region in regions:
        for (u, v), used in link_partitions.items():
            if u == region:
                egress_cost += len(used) * pvol * float(graph.cost[index[(u, v)]])
    return transfer_time, egress_cost + instance_cost(len(regions), graph.num_vms,
                                                      transfer_time)
