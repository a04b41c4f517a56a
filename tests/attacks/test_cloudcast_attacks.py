"""Attacks on the cloudcast judge: a candidate that forges link prices, rewrites the graph,
returns a forged score, names links that do not exist or disables the jail's own encoding
gets the honest figures or fails, naming why; the judge's figures never move.

Every candidate runs through the jail (the ``jail`` fixture), on ``quick`` (intra_aws and
inter_agz). The honest reference is the ``dijkstra`` baseline: $165.024 + $268.851417.
"""

from __future__ import annotations

import textwrap

import pytest
from adrs.problems import get_problem

HONEST_QUICK_COST = 165.024 + 268.851417


def program(body: str, head: str = "") -> str:
    """A dijkstra search whose body runs ``body`` before returning ``topology``."""
    return textwrap.dedent(f"""\
        import networkx as nx
        from broadcast import BroadCastTopology
        {head}

        def search_algorithm(src, dsts, G, num_partitions):
            graph = G.copy()
            graph.remove_edges_from(list(graph.in_edges(src)))
            topology = BroadCastTopology(src, dsts, num_partitions)
            for dst in dsts:
                hops = nx.dijkstra_path(graph, src, dst, weight="cost")
                for u, v in zip(hops, hops[1:]):
                    for p in range(num_partitions):
                        topology.append_dst_partition_path(dst, p, [u, v, G[u][v]])
        """) + textwrap.indent(textwrap.dedent(body), "    ") + "    return topology\n"


@pytest.fixture(scope="module")
def cloudcast():
    return get_problem("cloudcast")


def test_the_honest_program_is_the_baseline(cloudcast, jail):
    result = cloudcast.evaluate(program(""), "quick", jail)
    assert result.ok, result.error
    assert result.metrics["total_cost"] == HONEST_QUICK_COST


@pytest.mark.parametrize("cheat", [
    # forged edge data: free, infinitely fast links
    """\
    for routes in topology.paths.values():
        for route in routes.values():
            for link in route:
                link[2] = {"cost": 0.0, "throughput": 1e12}
    """,
    # the graph itself rewritten after the search (the links carry its dicts)
    """\
    for u, v, data in G.edges(data=True):
        data["cost"] = 0.0
        data["throughput"] = 1e12
    """,
    # the topology's own bookkeeping rewritten
    """\
    topology.num_partitions = 1
    topology.dsts = dsts[:1]
    topology.src = dsts[0]
    """,
])
def test_forged_prices_and_graph_changes_get_the_honest_figures(cloudcast, jail, cheat):
    result = cloudcast.evaluate(program(cheat), "quick", jail)
    assert result.ok, result.error
    assert result.metrics["total_cost"] == HONEST_QUICK_COST


def test_a_forged_score_is_not_a_topology(cloudcast, jail):
    cheat = program("""\
    return {"score": 100.0, "total_cost": 0.0, "paths": topology.paths}
    """)
    result = cloudcast.evaluate(cheat, "quick", jail)
    assert result.score == 0.0
    assert result.error == ("intra_aws: search_algorithm() must return a BroadCastTopology (an object "
                            "whose paths is a dict); it returned a dict")


def test_links_that_are_not_in_the_graph_are_refused(cloudcast, jail):
    cheat = program("""\
    for dst in dsts:
        for p in range(num_partitions):
            topology.set_dst_partition_paths(dst, p, [[src, "aws:free-region-1", {}],
                                                      ["aws:free-region-1", dst, {}]])
    """)
    result = cloudcast.evaluate(cheat, "quick", jail)
    assert result.score == 0.0
    assert result.error == ("intra_aws: destination aws:me-south-1, partition 0: the link "
                            "aws:ap-northeast-1 -> aws:free-region-1 is not in the graph")


def test_a_topology_that_skips_partitions_is_refused(cloudcast, jail):
    cheat = program("""\
    for dst in dsts:
        topology.paths[dst] = {"0": topology.paths[dst]["0"]}
    """)
    result = cloudcast.evaluate(cheat, "quick", jail)
    assert result.error == "intra_aws: destination aws:me-south-1, partition 1: no path"


@pytest.mark.parametrize(("encode", "error"), [
    # every partition's list emptied behind the encoder
    ("np.zeros(len(dests) * partitions + 1, np.int64), np.zeros(0, np.int32)",
     "intra_aws: destination aws:me-south-1, partition 0: no path"),
    # one link id past the graph's links
    (("np.arange(len(dests) * partitions + 1, dtype=np.int64), "
      "np.full(len(dests) * partitions, 10**6, np.int32)"),
     "intra_aws: the topology names links that are not in the graph"),
    # the graph's first link for every partition: it reaches no destination
    (("np.arange(len(dests) * partitions + 1, dtype=np.int64), "
      "np.zeros(len(dests) * partitions, np.int32)"),
     ("intra_aws: destination aws:me-south-1, partition 0: the partition's links do not "
      "lead from aws:ap-northeast-1 to aws:me-south-1")),
])
def test_disabling_the_jails_encoder_does_not_pass_the_judges_check(cloudcast, jail, encode,
                                                                     error):
    cheat = program(f"""\
    import numpy as np
    import adrs.problems.cloudcast._jail as jailed
    jailed._encode = lambda topology, dests, partitions, index: ({encode})
    """)
    result = cloudcast.evaluate(cheat, "quick", jail)
    assert result.score == 0.0
    assert result.error == error


def test_changing_the_graph_in_one_transfer_does_not_reach_the_next(cloudcast, jail):
    """Each transfer gets a fresh process and a fresh graph, as the reference builds one
    per configuration: a candidate that poisons module state sees it gone."""
    cheat = program("""\
    import builtins
    if getattr(builtins, "_poisoned", False):
        raise RuntimeError("state carried over")
    builtins._poisoned = True
    for u, v, data in list(G.edges(data=True)):
        G.remove_edge(u, v)
    """)
    result = cloudcast.evaluate(cheat, "quick", jail)
    assert result.ok, result.error
    assert result.metrics["total_cost"] == HONEST_QUICK_COST


@pytest.mark.parametrize(("code", "error"), [
    ("def search(src, dsts, G, num_partitions):\n    pass\n",
     "candidate.py defines no function 'search_algorithm'"),
    ("def search_algorithm(src, dsts):\n    pass\n",
     "candidate.py: search_algorithm() must take four arguments (src, dsts, G, num_partitions)"),
    ("def search_algorithm(src, dsts, G, num_partitions):\n    raise KeyError('x')\n",
     "intra_aws: search_algorithm() raised KeyError: 'x' (line 2)"),
    ("def search_algorithm(src, dsts, G, num_partitions)\n",
     "syntax error in candidate.py at line 1: expected ':'"),
])
def test_broken_programs_fail_in_one_line(cloudcast, jail, code, error):
    result = cloudcast.evaluate(code, "quick", jail)
    assert result.score == 0.0
    assert result.error == error


def test_the_broadcast_module_is_lent_to_a_trusted_run_and_taken_back(cloudcast):
    import sys

    assert "broadcast" not in sys.modules
    result = cloudcast.evaluate(program(""), "quick")  # in this process: our own program
    assert result.metrics["total_cost"] == HONEST_QUICK_COST
    assert "broadcast" not in sys.modules
