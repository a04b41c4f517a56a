"""The Cloudcast broadcast cost and time model in Numba, with a plain-Python oracle.

A broadcast sends ``data_vol`` GB from one region to several destination regions, cut
into ``num_partitions`` equal partitions; a topology gives, for every destination and
partition, the overlay edges that partition travels on. The rules are the ADRS
leaderboard's (its Cloudcast ``BCSimulator``), restated here:

1. The used edges form a graph, built in the order the topology lists them (destination,
   then partition, then edge); each edge knows the set of partitions that use it and
   starts with ``flow = throughput`` (the profile's Gbps times the VMs per region).
2. Each region, in the order the graph met it, shares its provider's limits: when the
   summed flow of its incoming edges exceeds the ingress limit, each incoming edge is
   capped at ``limit / number of incoming edges``; the same for outgoing edges and the
   egress limit (both sums are taken before either cap, and a later region sees the caps
   of earlier ones). Limits are the configuration's per-VM figures times the VMs per
   region; a provider it does not name keeps the unscaled default (aws 10/5, gcp 16/7,
   azure 16/16 Gbps in/out).
3. A destination's time is the largest, over its partitions' edges, of
   ``partitions on the edge * partition GB * 8 / flow``; the transfer time is the largest
   over destinations.
4. Cost = egress ``sum(partitions on the edge * partition GB * $/GB)`` over the graph's
   edges (grouped by source region, in the graph's order) + instance cost
   ``regions * VMs * 0.54 $/h / 3600 * round(transfer time, 2)``.

Every sum runs in the reference's order, so the results equal the reference's bit for
bit. ``tests/simulators/cloudcast_oracle.py`` restates the rules over plain dicts, the
cross-check of the kernel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numba
import numpy as np

PROVIDERS = ("aws", "gcp", "azure")
DEFAULT_INGRESS_GBPS = (10, 16, 16)  # unscaled: the reference does not multiply these
DEFAULT_EGRESS_GBPS = (5, 7, 16)
INSTANCE_COST_PER_HOUR = 0.54  # $ per VM-hour (m5.8xlarge spot)
GBIT_PER_GB = 8


@dataclass(frozen=True)
class CloudGraph:
    """The regions and directed links of the profiles, for a number of VMs per region.

    Attributes:
        nodes: Region names (``provider:region``), in the order the graph meets them.
        edge_src: int32 node id of each link's source, in the profiles' order.
        edge_dst: int32 node id of each link's destination.
        cost: float64 egress price of each link, $/GB.
        throughput: float64 capacity of each link, Gbps (already times ``num_vms``).
        num_vms: VMs per region.
    """

    nodes: tuple[str, ...]
    edge_src: np.ndarray
    edge_dst: np.ndarray
    cost: np.ndarray
    throughput: np.ndarray
    num_vms: int

    @classmethod
    def from_profiles(cls, pairs: Sequence[tuple[str, str]], cost: np.ndarray,
                      throughput_sent: np.ndarray, num_vms: int) -> CloudGraph:
        """Build the graph as the reference does: links in the given order, Gbps =
        ``num_vms * bits_per_second / 1e9``.

        Raises:
            ValueError: A region of an unknown provider, a self-loop or a repeated link.
        """
        index: dict[str, int] = {}
        src = np.empty(len(pairs), np.int32)
        dst = np.empty(len(pairs), np.int32)
        seen: set[tuple[str, str]] = set()
        for i, (u, v) in enumerate(pairs):
            if u == v or (u, v) in seen:
                raise ValueError(f"the profiles list {u} -> {v} as a self-loop or twice")
            seen.add((u, v))
            for name in (u, v):
                if name not in index:
                    provider_of(name)
                    index[name] = len(index)
            src[i], dst[i] = index[u], index[v]
        tput = (num_vms * np.asarray(throughput_sent, np.float64)) / 1e9
        return cls(tuple(index), src, dst, np.asarray(cost, np.float64).copy(), tput,
                   int(num_vms))

    @property
    def node_provider(self) -> np.ndarray:
        return np.array([PROVIDERS.index(provider_of(n)) for n in self.nodes], np.int64)

    def edge_index(self) -> dict[tuple[str, str], int]:
        """``(source, destination) -> link id``."""
        return {(self.nodes[u], self.nodes[v]): i
                for i, (u, v) in enumerate(zip(self.edge_src.tolist(), self.edge_dst.tolist()))}


@dataclass(frozen=True)
class Transfer:
    """One broadcast to evaluate (one of the leaderboard's configuration files).

    Attributes:
        name: e.g. ``intra_aws``.
        source: Source region.
        dests: Destination regions, in order.
        data_vol: GB to send to every destination.
        num_partitions: Equal partitions the data is cut into.
        ingress_limit: Per-VM Gbps into a region, by provider (None: the defaults).
        egress_limit: Per-VM Gbps out of a region, by provider.
    """

    name: str
    source: str
    dests: tuple[str, ...]
    data_vol: float
    num_partitions: int
    ingress_limit: Mapping[str, float] | None = None
    egress_limit: Mapping[str, float] | None = None

    @classmethod
    def from_config(cls, name: str, config: Mapping) -> Transfer:
        """From a configuration file's JSON object (the leaderboard's fields)."""
        return cls(name, str(config["source_node"]), tuple(map(str, config["dest_nodes"])),
                   config["data_vol"], int(config["num_partitions"]),
                   config.get("ingress_limit"), config.get("egress_limit"))

    def to_config(self) -> dict:
        config = {"source_node": self.source, "dest_nodes": list(self.dests),
                  "data_vol": self.data_vol, "num_partitions": self.num_partitions}
        if self.ingress_limit is not None:
            config["ingress_limit"] = dict(self.ingress_limit)
        if self.egress_limit is not None:
            config["egress_limit"] = dict(self.egress_limit)
        return config

    def limits(self, num_vms: int) -> tuple[np.ndarray, np.ndarray]:
        """Ingress and egress Gbps per provider (in :data:`PROVIDERS` order)."""
        def resolve(defaults: tuple[int, ...], given: Mapping[str, float] | None) -> np.ndarray:
            values = [float(v) for v in defaults]
            for provider, limit in (given or {}).items():
                if provider in PROVIDERS:
                    values[PROVIDERS.index(provider)] = float(num_vms * limit)
            return np.array(values, np.float64)
        return (resolve(DEFAULT_INGRESS_GBPS, self.ingress_limit),
                resolve(DEFAULT_EGRESS_GBPS, self.egress_limit))


@dataclass(frozen=True)
class Topology:
    """A broadcast topology as link ids.

    Attributes:
        offsets: int64, ``len(dests) * num_partitions + 1``: the links of destination d,
            partition p are ``edges[offsets[r]:offsets[r + 1]]`` with
            ``r = d * num_partitions + p``.
        edges: int32 link ids (into a :class:`CloudGraph`), in the topology's order.
    """

    offsets: np.ndarray
    edges: np.ndarray

    @classmethod
    def from_paths(cls, graph: CloudGraph, transfer: Transfer,
                   paths: Mapping[str, Mapping[str, Sequence[Sequence[str]]]]) -> Topology:
        """From ``{dst: {"0": [[u, v, ...], ...], ...}}`` (region names).

        Raises:
            ValueError: A destination or partition missing, or a link not in the graph.
        """
        index = graph.edge_index()
        offsets, edges = [0], []
        for dst in transfer.dests:
            for p in range(transfer.num_partitions):
                route = paths.get(dst, {}).get(str(p))
                if not route:
                    raise ValueError(f"destination {dst}, partition {p}: no path")
                for u, v, *_ in route:
                    if (u, v) not in index:
                        raise ValueError(f"destination {dst}, partition {p}: the link "
                                         f"{u} -> {v} is not in the graph")
                    edges.append(index[(u, v)])
                offsets.append(len(edges))
        return cls(np.array(offsets, np.int64), np.array(edges, np.int32))


@dataclass(frozen=True)
class BroadcastOutcome:
    """The figures of one broadcast.

    Attributes:
        transfer_time: Seconds until the last destination has every partition.
        cost: Total $ (egress plus instances).
        egress_cost: $ of egress.
        instance_cost: $ of the VMs of every region used, over the rounded runtime.
        dest_times: Seconds per destination, in the transfer's order.
        regions: Regions the topology uses.
        links: Distinct links it uses.
    """

    transfer_time: float
    cost: float
    egress_cost: float
    instance_cost: float
    dest_times: tuple[float, ...]
    regions: int
    links: int


def provider_of(region: str) -> str:
    """``aws`` of ``aws:us-east-1``.

    Raises:
        ValueError: Not one of :data:`PROVIDERS`.
    """
    provider = region.split(":")[0]
    if provider not in PROVIDERS:
        raise ValueError(f"region {region!r} is of no known provider "
                         f"({', '.join(PROVIDERS)})")
    return provider


def check_topology(graph: CloudGraph, transfer: Transfer, topology: Topology,
                   reach: bool = True) -> None:
    """Check that every partition reaches every destination over links of the graph.

    Args:
        graph: The regions and links.
        transfer: The broadcast.
        topology: The candidate's topology.
        reach: Check that the partition's links lead from the source to each
            destination; False checks only what the leaderboard's evaluator needs (every
            destination and partition has links, all in the graph).

    Raises:
        ValueError: Says which destination and partition, and what is wrong.
    """
    offsets, edges = topology.offsets, topology.edges
    rows = len(transfer.dests) * transfer.num_partitions
    if offsets.dtype != np.int64 or edges.dtype != np.int32 or offsets.ndim != 1 \
            or edges.ndim != 1 or len(offsets) != rows + 1 or offsets[0] != 0 \
            or np.any(np.diff(offsets) < 0) or offsets[-1] != len(edges):
        raise ValueError("the topology is not one list of links per destination and partition")
    if len(edges) and (edges.min() < 0 or edges.max() >= len(graph.edge_src)):
        raise ValueError("the topology names links that are not in the graph")
    # A partition travels a tree: a destination's own list may name only its last links
    # when the rest is on another destination's list (as LEVI's and ShinkaEvolve's
    # topologies do), so reachability is over the partition's links of every destination.
    source = graph.nodes.index(transfer.source)
    src_of, dst_of = graph.edge_src.tolist(), graph.edge_dst.tolist()
    P = transfer.num_partitions
    for d, dst in enumerate(transfer.dests):
        for p in range(P):
            if offsets[d * P + p] == offsets[d * P + p + 1]:
                raise ValueError(f"destination {dst}, partition {p}: no path")
    if not reach:
        return
    for p in range(P):
        succ: dict[int, list[int]] = {}
        for d in range(len(transfer.dests)):
            for e in edges[offsets[d * P + p]:offsets[d * P + p + 1]].tolist():
                succ.setdefault(src_of[e], []).append(dst_of[e])
        reached, frontier = {source}, [source]
        while frontier:
            for nxt in succ.get(frontier.pop(), ()):
                if nxt not in reached:
                    reached.add(nxt)
                    frontier.append(nxt)
        for dst in transfer.dests:
            if graph.nodes.index(dst) not in reached:
                raise ValueError(f"destination {dst}, partition {p}: the partition's links "
                                 f"do not lead from {transfer.source} to {dst}")


@numba.njit(cache=True)
def _broadcast_kernel(offsets, edges, num_dests, num_partitions, edge_src, edge_dst,
                      edge_cost, edge_tput, node_provider, ingress, egress, partition_vol):
    """Rules 1-4 but the instance cost: (dest_times, egress_cost, regions, links)."""
    slot = np.full(edge_src.shape[0], -1, np.int64)
    capacity = min(edges.shape[0], edge_src.shape[0])
    uniq = np.empty(capacity, np.int64)
    count = np.zeros(capacity, np.int64)
    used_by = np.zeros((capacity, num_partitions), np.bool_)
    node_seen = np.zeros(node_provider.shape[0], np.bool_)
    order = np.empty(node_provider.shape[0], np.int64)
    n_links = 0
    n_nodes = 0
    for d in range(num_dests):
        for p in range(num_partitions):
            r = d * num_partitions + p
            for k in range(offsets[r], offsets[r + 1]):
                e = edges[k]
                s = slot[e]
                if s < 0:
                    s = n_links
                    slot[e] = s
                    uniq[s] = e
                    n_links += 1
                    for node in (edge_src[e], edge_dst[e]):  # networkx adds u, then v
                        if not node_seen[node]:
                            node_seen[node] = True
                            order[n_nodes] = node
                            n_nodes += 1
                if not used_by[s, p]:
                    used_by[s, p] = True
                    count[s] += 1
    flow = np.empty(n_links, np.float64)
    for s in range(n_links):
        flow[s] = edge_tput[uniq[s]]
    for i in range(n_nodes):
        node = order[i]
        provider = node_provider[node]
        in_sum = 0.0
        out_sum = 0.0
        n_in = 0
        n_out = 0
        for s in range(n_links):  # links in creation order: networkx's in/out order
            if edge_dst[uniq[s]] == node:
                in_sum += flow[s]
                n_in += 1
            if edge_src[uniq[s]] == node:
                out_sum += flow[s]
                n_out += 1
        if in_sum > ingress[provider]:
            share = ingress[provider] * (1.0 / n_in)
            for s in range(n_links):
                if edge_dst[uniq[s]] == node and share < flow[s]:
                    flow[s] = share
        if out_sum > egress[provider]:
            share = egress[provider] * (1.0 / n_out)
            for s in range(n_links):
                if edge_src[uniq[s]] == node and share < flow[s]:
                    flow[s] = share
    dest_times = np.empty(num_dests, np.float64)
    for d in range(num_dests):
        worst = -np.inf
        for p in range(num_partitions):
            r = d * num_partitions + p
            for k in range(offsets[r], offsets[r + 1]):
                s = slot[edges[k]]
                t = count[s] * partition_vol * 8.0 / flow[s]
                worst = max(worst, t)
        dest_times[d] = worst
    egress_cost = 0.0
    for i in range(n_nodes):  # networkx's edge order: by source region, then creation
        for s in range(n_links):
            if edge_src[uniq[s]] == order[i]:
                egress_cost += count[s] * partition_vol * edge_cost[uniq[s]]
    return dest_times, egress_cost, n_nodes, n_links


def instance_cost(regions: int, num_vms: int, transfer_time: float) -> float:
    """Rule 4's instance term, summed region by region as the reference does."""
    runtime_s = round(transfer_time, 2)
    total = 0.0
    for _ in range(regions):
        total += num_vms * (INSTANCE_COST_PER_HOUR / 3600) * runtime_s
    return total


class BroadcastModel:
    """Transfer time and cost of topologies over one :class:`CloudGraph` (the kernel).

    Args:
        graph: The regions and links.
    """

    def __init__(self, graph: CloudGraph) -> None:
        self.graph = graph
        self._provider = graph.node_provider

    def evaluate(self, transfer: Transfer, topology: Topology,
                 reach: bool = True) -> BroadcastOutcome:
        """The figures of ``topology`` for ``transfer``.

        Args:
            transfer: The broadcast.
            topology: Its topology.
            reach: See :func:`check_topology`.

        Raises:
            ValueError: The topology fails :func:`check_topology`.
        """
        check_topology(self.graph, transfer, topology, reach)
        ingress, egress = transfer.limits(self.graph.num_vms)
        g = self.graph
        dest_times, egress_cost, regions, links = _broadcast_kernel(
            topology.offsets, topology.edges, len(transfer.dests), transfer.num_partitions,
            g.edge_src, g.edge_dst, g.cost, g.throughput, self._provider, ingress, egress,
            transfer.data_vol / transfer.num_partitions)
        times = tuple(float(t) for t in dest_times)
        transfer_time = max(times)
        instance = instance_cost(int(regions), g.num_vms, transfer_time)
        return BroadcastOutcome(transfer_time, float(egress_cost) + instance, float(egress_cost),
                                instance, times, int(regions), int(links))
