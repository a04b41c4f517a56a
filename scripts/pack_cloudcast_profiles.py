"""Pack the Cloudcast network profiles into the small file the ``cloudcast`` problem ships.

The profiles (``profiles/throughput.csv``, 3 MB of iperf3 logs, and ``profiles/cost.csv``)
come from the ADRS paper's repository, as the leaderboard's evaluator reads them. The
problem needs four columns of them: ``src,dst,cost,throughput_sent``, one row per directed
pair in the order of ``throughput.csv`` (the order the reference adds the graph's edges,
which candidates see), numbers as written in the source (so every parse is exact). The
five transfer configurations are packed beside it as one JSON file.

Usage::

    python scripts/pack_cloudcast_profiles.py ../shared/leaderboard/cloudcast_profiles

The output depends only on the input; running it twice gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "adrs" / "problems" / "cloudcast"
CONFIGS = ("intra_aws", "intra_azure", "intra_gcp", "inter_agz", "inter_gaz2")  # the
# leaderboard's order (its submission_spec.json)


def pack(source: Path) -> tuple[bytes, str]:
    """The gzipped profile table and the configurations' JSON text.

    Raises:
        FileNotFoundError: A file of the profiles is missing.
        ValueError: A pair without a cost, or a pair listed twice.
    """
    with open(source / "profiles" / "cost.csv", newline="") as handle:
        costs: dict[tuple[str, str], str] = {}
        for row in csv.DictReader(handle):
            costs[(row["src"], row["dest"])] = row["cost"]
    out = io.StringIO()
    out.write("src,dst,cost,throughput_sent\n")
    seen: set[tuple[str, str]] = set()
    with open(source / "profiles" / "throughput.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            pair = (row["src_region"], row["dst_region"])
            if pair[0] == pair[1]:
                continue  # the reference drops self-loops
            if pair in seen:
                raise ValueError(f"throughput.csv lists {pair[0]} -> {pair[1]} twice")
            if pair not in costs:
                raise ValueError(f"cost.csv has no cost for {pair[0]} -> {pair[1]}")
            seen.add(pair)
            out.write(f"{pair[0]},{pair[1]},{costs[pair]},{row['throughput_sent']}\n")
    packed = gzip.compress(out.getvalue().encode(), compresslevel=9, mtime=0)
    configs = {name: json.loads((source / "examples" / "config" / f"{name}.json").read_text())
               for name in CONFIGS}
    return packed, json.dumps(configs, indent=1) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the cloudcast_profiles folder")
    args = parser.parse_args()
    packed, configs = pack(args.source)
    (PACKAGE / "profiles.csv.gz").write_bytes(packed)
    (PACKAGE / "leaderboard_configs.json").write_text(configs)
    print(f"wrote {len(packed):,} bytes of profiles and {len(configs):,} of configurations")


if __name__ == "__main__":
    main()
