"""``BroadCastTopology``, the type the leaderboard's Cloudcast solutions build, as adrs
provides it: the jail makes this module importable as ``broadcast`` so that a published
``from broadcast import BroadCastTopology`` runs unchanged.

A topology maps every destination and partition (the partition as a string, ``"0"``,
``"1"``...) to the list of links that partition travels on to reach it, each link
``[src, dst, edge_data]`` (the judge reads only ``src`` and ``dst``; the prices and
capacities are its own).
"""

from __future__ import annotations

from typing import Any


class BroadCastTopology:
    """Where each partition goes on its way to each destination.

    Args:
        src: Source region.
        dsts: Destination regions.
        num_partitions: Partitions the data is cut into.
        paths: ``{dst: {"0": [[u, v, data], ...], ...}}`` to start from; None: every
            partition of every destination without links yet (``None``).
    """

    def __init__(self, src: str, dsts: list[str], num_partitions: int = 4,
                 paths: dict[str, dict[str, Any]] | None = None) -> None:
        self.src = src
        self.dsts = dsts
        self.num_partitions = int(num_partitions)
        if paths is not None:
            self.paths = paths
        else:
            self.paths = {dst: {str(i): None for i in range(self.num_partitions)}
                          for dst in dsts}

    def get_paths(self) -> dict[str, dict[str, Any]]:
        return self.paths

    def set_num_partitions(self, num_partitions: int) -> None:
        self.num_partitions = int(num_partitions)

    def set_dst_partition_paths(self, dst: str, partition: int, paths: list) -> None:
        """Make ``paths`` (a list of links) the route of ``partition`` to ``dst``."""
        self.paths.setdefault(dst, {})[str(partition)] = paths

    def append_dst_partition_path(self, dst: str, partition: int, path: list,
                                  graph: Any = None) -> None:
        """Add one link ``[u, v, data]`` to the route of ``partition`` to ``dst``."""
        routes = self.paths.setdefault(dst, {})
        if routes.get(str(partition)) is None:
            routes[str(partition)] = []
        routes[str(partition)].append(path)
