"""Benchmark: the prefix-hit model and the llm-sql baselines.

1. The hit count of the beer table through the C++ model (unbounded and LRU) and the
   pure-Python oracle of the tests, checked equal, with ratios measured in the same run
   (and, for context, against the reference model's recorded 13.0 s).
2. The same model on a generated 1-million-row beer-like table.
3. Each baseline's ``reorder`` on the beer table (hit rate, best-of-N wall time) against
   the reference seed's recorded 9.14 s, and a full evaluation's overhead (checking the
   output and computing its hits).

    python bench/llm_sql.py [--data ../shared/data] [--repeat 5] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _timing import best_of  # bench/ is on sys.path when a benchmark runs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "simulators"))

import llm_sql_oracle as oracle
from adrs.problems import get_problem
from adrs.problems.llm_sql import Table
from adrs.problems.llm_sql._workloads import BEER_LIKE
from adrs.simulators.llm_sql import (
    check_rearrangement,
    encode_rows,
    generate_table,
    prefix_hits,
    read_csv,
)

GOLDEN = ROOT.parent / "shared" / "golden" / "llm_sql.json"



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the scale table")
    parser.add_argument("--capacity", type=int, default=100_000, help="LRU cache characters")
    args = parser.parse_args()

    beer_file = Path(args.data) / "llm_sql_beer.csv"
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else None
    if beer_file.exists():
        table = read_csv(beer_file)
    else:
        table = generate_table(BEER_LIKE, 28479, 0)
    print(f"{table.source}: {table.n_rows:,} rows, {table.total_chars:,} characters; "
          f"best of {args.repeat}; python {sys.version.split()[0]}")

    # 1. the hit model on the beer table --------------------------------------------------
    print("\nhit count of the table as given")
    header = f"{'path':<34} {'seconds':>10} {'hits':>10} {'x oracle':>9}"
    print(header)
    print("-" * len(header))
    cpp_time, cpp = best_of(args.repeat, lambda: prefix_hits(table))
    lru_time, lru = best_of(args.repeat, lambda: prefix_hits(table, capacity=args.capacity))
    texts = oracle.row_texts(table.rows())
    oracle_time, oracle_hits = best_of(1, lambda: oracle.unbounded_hits(texts))
    assert cpp.hits.tolist() == oracle_hits, "C++ and oracle disagree"
    rows = [("C++ unbounded", cpp_time, cpp.hit_count),
            (f"C++ LRU {args.capacity:,} chars", lru_time, lru.hit_count),
            ("Python oracle (trie) unbounded", oracle_time, sum(oracle_hits))]
    for path, seconds, hits in rows:
        print(f"{path:<34} {seconds:>10.5f} {hits:>10,} {oracle_time / seconds:>9.1f}")
    if golden is not None and beer_file.exists():
        recorded = golden["reference_seconds_original"]
        assert cpp.hit_count == golden["cases"][0]["hit_count"]
        print(f"reference model (recorded): {recorded:.3f} s -> C++ unbounded "
              f"{recorded / cpp_time:,.0f}x faster ({cpp_time * 1e3:.2f} ms)")

    # 2. scale --------------------------------------------------------------------------------
    started = time.perf_counter()
    big = generate_table(BEER_LIKE, args.rows, 1)
    generate_seconds = time.perf_counter() - started
    big_time, big_hits = best_of(max(1, args.repeat // 2), lambda: prefix_hits(big))
    big_lru_time, big_lru = best_of(max(1, args.repeat // 2),
                                    lambda: prefix_hits(big, capacity=args.capacity))
    print(f"\ngenerated beer-like table, {big.n_rows:,} rows, {big.total_chars:,} characters "
          f"(generated in {generate_seconds:.2f} s): C++ unbounded {big_time:.3f} s "
          f"({100 * big_hits.hit_rate:.2f}%), LRU {args.capacity:,} chars {big_lru_time:.3f} s "
          f"({100 * big_lru.hit_rate:.2f}%); {big.total_chars / big_time / 1e6:.0f} M chars/s")

    # 3. baselines ----------------------------------------------------------------------------
    problem = get_problem("llm-sql", data=args.data if beer_file.exists() else None)
    case = problem.cases("train")[0]
    print(f"\nbaselines on {case.table.source} (merged: {', '.join(case.merged)})")
    header = (f"{'baseline':<12} {'reorder s':>10} {'hit rate %':>11} {'hits':>10} "
              f"{'LRU %':>7} {'x seed 9.14 s':>14} {'check s':>8} {'hits s':>7}")
    print(header)
    print("-" * len(header))
    seed_seconds = next((c.get("reorder_seconds") for c in golden["cases"]
                         if "reorder_seconds" in c), None) if golden else None
    for name, baseline in problem.baselines.items():
        namespace: dict = {}
        exec(compile(baseline.program, f"{name}.py", "exec"), namespace)  # noqa: S102
        reorder = namespace["reorder"]
        seconds, output = best_of(args.repeat, lambda r=reorder: r(
            Table(case.name, case.table.columns, list(case.rows), case.merged)))
        check_seconds, cells = best_of(args.repeat, lambda o=output: _checked(case.table, o))
        output_table = type(case.table)(case.table.columns, cells, case.table.texts)
        hits_seconds, hits = best_of(args.repeat, lambda t=output_table: prefix_hits(t))
        lru = prefix_hits(output_table, capacity=args.capacity)
        speedup = f"{seed_seconds / seconds:,.0f}x" if seed_seconds else "-"
        print(f"{name:<12} {seconds:>10.4f} {100 * hits.hit_rate:>11.4f} {hits.hit_count:>10,} "
              f"{100 * lru.hit_rate:>7.3f} {speedup:>14} {check_seconds:>8.4f} "
              f"{hits_seconds:>7.4f}")
    if seed_seconds and golden:
        seed = next(c for c in golden["cases"] if "reorder_seconds" in c)
        print(f"reference seed (recorded): {seed['hit_count']:,} hits "
              f"({seed['hit_rate_percent']:.4f}%) in {seed_seconds} s")
    return 0


def _checked(table, output) -> np.ndarray:
    cells = encode_rows(table, output)
    check_rearrangement(table, cells)
    return cells


if __name__ == "__main__":
    sys.exit(main())
