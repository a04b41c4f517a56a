"""The jail side of ``cloudcast``: build the graph, call ``search_algorithm``, send back
its topology as link ids.

The zygote holds the profiles' links (names, $/GB, Gbps), the split group's transfers and
the ``networkx.DiGraph`` built exactly as the leaderboard's ``make_nx_graph`` builds it
(same links in the same order, same attributes ``cost`` and ``throughput``), so a
published solution sees what it saw there. Each jailed process is a fork that answers
one ``search {transfer}`` call (the judge opens one per transfer): whatever the candidate
does to its copy of the graph dies with it (a later call in the same process gets a
freshly built graph). The call
``search_algorithm(src, dsts, G, num_partitions)`` and encodes the returned topology's
``paths`` as link ids. The judge checks the ids again and computes time and cost from its
own copy of the profiles: the ``edge_data`` a topology carries is never read.

The module :mod:`adrs.problems.cloudcast.broadcast` is importable as ``broadcast`` while
the candidate loads and runs (for good in a jailed process; in a caller's own process
only around those calls).
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from adrs.jail import CandidateError, Handler, call_candidate, entry_point, load_module
from adrs.jail.handler import in_jail
from adrs.problems.cloudcast import broadcast

ENTRY = "search_algorithm"
MAX_LINKS = 2_000_000  # more links than this in one topology is not a topology
_GRAPH_LENT = False  # whether this process has handed the zygote's graph out


class CloudcastHandler(Handler):
    """Loads ``search_algorithm``; ``search {transfer}`` returns ``offsets``, ``edges``."""

    @classmethod
    def prepare(cls, shared: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        nodes = list(shared["nodes"])
        links = list(zip([nodes[i] for i in arrays["edge_src"].tolist()],
                         [nodes[i] for i in arrays["edge_dst"].tolist()],
                         arrays["cost"].tolist(), arrays["throughput"].tolist()))
        index = {(u, v): i for i, (u, v, _, _) in enumerate(links)}
        transfers = {str(t["key"]): (str(t["source"]), [str(d) for d in t["dests"]],
                                     int(t["num_partitions"])) for t in shared["transfers"]}
        # built once here: each jailed process is a fork, so each gets its own copy
        return links, index, transfers, _graph(links)

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        with _broadcast_importable():
            module = load_module(program, filename)
        self.search = entry_point(module, ENTRY, f"{filename} defines no function '{ENTRY}'")
        try:
            inspect.signature(self.search).bind(None, None, None, None)
        except TypeError:
            raise CandidateError(f"{filename}: {ENTRY}() must take four arguments (src, dsts, "
                                 "G, num_partitions)") from None
        except ValueError:  # a callable without a signature: let the call decide
            pass

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "search":
            return super().handle(op, header, arrays)
        global _GRAPH_LENT
        links, index, transfers, prepared_graph = self.prepared
        source, dests, partitions = transfers[str(header["transfer"])]
        # the zygote's graph, once per jailed process; a fresh one for any later call and
        # in a caller's own process (where the prepared graph is shared between sessions)
        graph = prepared_graph if in_jail() and not _GRAPH_LENT else _graph(links)
        _GRAPH_LENT = True
        with _broadcast_importable():
            topology = call_candidate(self.search, source, list(dests), graph, partitions,
                                      what=f"{ENTRY}()", filename=self.filename)
            try:
                offsets, edges = _encode(topology, dests, partitions, index)
            except CandidateError:
                raise
            except Exception as exc:  # noqa: BLE001 - a hostile object may raise anything
                raise CandidateError(f"{ENTRY}() returned a topology that cannot be read: "
                                     f"{type(exc).__name__}: {exc}") from None
        return {}, {"offsets": offsets, "edges": edges}


def _graph(links: list[tuple[str, str, float, float]]) -> Any:
    """The candidate's ``networkx.DiGraph``: make_nx_graph's links, order and attributes."""
    import networkx as nx

    graph = nx.DiGraph()
    for u, v, cost, throughput in links:
        graph.add_edge(u, v, cost=cost, throughput=throughput)
    return graph


def _encode(topology: Any, dests: list[str], partitions: int,
            index: Mapping[tuple[str, str], int]) -> tuple[np.ndarray, np.ndarray]:
    """``paths`` as one list of link ids per destination and partition, or a
    CandidateError naming the first destination, partition or link that is wrong."""
    paths = getattr(topology, "paths", None)
    if not isinstance(paths, Mapping):
        raise CandidateError(f"{ENTRY}() must return a BroadCastTopology (an object whose "
                             f"paths is a dict); it returned a {type(topology).__name__}")
    offsets, edges = [0], []
    for dst in dests:
        routes = paths.get(dst)
        if not isinstance(routes, Mapping):
            raise CandidateError(f"the topology has no paths for destination {dst}")
        for p in range(partitions):
            route = routes.get(str(p))
            if not route:
                raise CandidateError(f"destination {dst}, partition {p}: no path")
            for link in route:
                pair = (link[0], link[1]) if isinstance(link, (list, tuple)) and \
                    len(link) >= 2 else None
                if pair is None or not all(isinstance(n, str) for n in pair):
                    raise CandidateError(f"destination {dst}, partition {p}: a link must be "
                                         f"[src, dst, edge_data]; got {link!r:.80}")
                if pair not in index:
                    raise CandidateError(f"destination {dst}, partition {p}: the link "
                                         f"{pair[0]} -> {pair[1]} is not in the graph")
                edges.append(index[pair])
                if len(edges) > MAX_LINKS:
                    raise CandidateError(f"the topology lists over {MAX_LINKS:,} links")
            offsets.append(len(edges))
    return np.array(offsets, np.int64), np.array(edges, np.int32)


@contextlib.contextmanager
def _broadcast_importable() -> Iterator[None]:
    """``import broadcast`` gives :mod:`adrs.problems.cloudcast.broadcast`."""
    previous = sys.modules.get("broadcast")
    sys.modules["broadcast"] = broadcast
    try:
        yield
    finally:
        if not in_jail():  # a caller's own process gets its module table back
            if previous is None:
                sys.modules.pop("broadcast", None)
            else:
                sys.modules["broadcast"] = previous
