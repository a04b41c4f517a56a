"""The Cloudcast profiles and transfers: the graph candidates search, the splits they
are scored on.

The profiles ship in the package (``profiles.csv.gz``, 77 kB, packed from the ADRS
paper's ``profiles/throughput.csv`` and ``cost.csv`` by ``scripts/pack_cloudcast_profiles.py``),
so are the leaderboard's five configurations (``leaderboard_configs.json``). ``profiles``
points the problem at a folder holding the original two CSV files instead.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from importlib import resources
from pathlib import Path

import numpy as np

from adrs.simulators.cloudcast import PROVIDERS, CloudGraph, Transfer

PACKAGE = "adrs.problems.cloudcast"
LEADERBOARD_CONFIGS = ("intra_aws", "intra_azure", "intra_gcp", "inter_agz", "inter_gaz2")
QUICK_CONFIGS = ("intra_aws", "inter_agz")  # one intra- and one inter-cloud transfer
LEADERBOARD_NUM_VMS = 2  # the leaderboard's submission_spec.json
TEST_SEED = 20240917
TEST_TRANSFERS = 8
TEST_DESTINATIONS = 6
TEST_PARTITIONS = (5, 10, 20)
TEST_DATA_VOL_GB = 300
# the five configurations' per-VM limits, which the held-out transfers keep
TEST_INGRESS = {"aws": 10, "gcp": 16, "azure": 16}
TEST_EGRESS = {"aws": 5, "gcp": 7, "azure": 16}


def read_profiles(folder: str | os.PathLike[str] | None = None
                  ) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray, str]:
    """The links in the reference's order, their $/GB and bits per second sent.

    Args:
        folder: A folder with ``throughput.csv`` and ``cost.csv`` (or with ``profiles/``
            holding them); None: the packaged copy.

    Returns:
        ``(pairs, cost, throughput_sent, source)``.

    Raises:
        FileNotFoundError: The folder lacks the files.
        ValueError: A link without a cost.
    """
    if folder is None:
        data = resources.files(PACKAGE).joinpath("profiles.csv.gz").read_bytes()
        rows = list(csv.DictReader(io.StringIO(gzip.decompress(data).decode())))
        pairs = [(r["src"], r["dst"]) for r in rows]
        return (pairs, np.array([float(r["cost"]) for r in rows]),
                np.array([float(r["throughput_sent"]) for r in rows]),
                "the packaged ADRS profiles")
    path = Path(folder).expanduser()
    if (path / "profiles").is_dir():
        path = path / "profiles"
    for name in ("throughput.csv", "cost.csv"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"no {name} in {path}")
    with open(path / "cost.csv", newline="") as handle:
        costs = {(r["src"], r["dest"]): float(r["cost"]) for r in csv.DictReader(handle)}
    pairs, cost, sent = [], [], []
    with open(path / "throughput.csv", newline="") as handle:
        for r in csv.DictReader(handle):
            pair = (r["src_region"], r["dst_region"])
            if pair[0] == pair[1]:
                continue
            if pair not in costs:
                raise ValueError(f"{path / 'cost.csv'} has no cost for {pair[0]} -> {pair[1]}")
            pairs.append(pair)
            cost.append(costs[pair])
            sent.append(float(r["throughput_sent"]))
    return pairs, np.array(cost), np.array(sent), str(path)


def leaderboard_transfers() -> tuple[Transfer, ...]:
    """The leaderboard's five configurations, in its order."""
    configs = json.loads(resources.files(PACKAGE).joinpath("leaderboard_configs.json")
                         .read_text())
    return tuple(Transfer.from_config(name, configs[name]) for name in LEADERBOARD_CONFIGS)


def generated_transfers(graph: CloudGraph, count: int = TEST_TRANSFERS,
                        seed: int = TEST_SEED) -> tuple[Transfer, ...]:
    """Held-out transfers over the same regions: alternately intra-cloud (source and
    destinations of one provider, the providers in turn) and inter-cloud (any regions),
    seeded.

    Args:
        graph: The regions to draw from.
        count: How many transfers.
        seed: Seed of the draw.
    """
    rng = np.random.default_rng(seed)
    nodes = list(graph.nodes)
    transfers = []
    for i in range(count):
        if i % 2 == 0:
            provider = PROVIDERS[(i // 2) % len(PROVIDERS)]
            pool = [n for n in nodes if n.startswith(provider + ":")]
            kind = f"intra_{provider}"
        else:
            pool, kind = nodes, "inter"
        chosen = rng.choice(len(pool), size=TEST_DESTINATIONS + 1, replace=False)
        source, *dests = (pool[int(j)] for j in chosen)
        partitions = int(TEST_PARTITIONS[rng.integers(len(TEST_PARTITIONS))])
        transfers.append(Transfer(f"test_{i}_{kind}", source, tuple(dests), TEST_DATA_VOL_GB,
                                  partitions, dict(TEST_INGRESS), dict(TEST_EGRESS)))
    return tuple(transfers)
