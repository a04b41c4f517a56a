"""Benchmark: the transaction makespan model through every path, and the baselines.

1. A full 100-transaction sequence on each published workload: C++ (list and array
   input, and per sequence in a batch of 1,000 random orders), Numba, and the pure-Python
   oracle of the tests, with ratios against the oracle measured in the same run (and, for
   context, against the reference model's recorded time in ../shared/golden/txn.json).
2. A generated 10,000-transaction workload: a full recompute against extending a saved
   state by one transaction (and the what-if queries), the ratio being the speed-up a
   search gets from the state.
3. The baselines on ``train``: makespan per workload, sum, score, candidate seconds.

    python bench/txn.py [--data ../shared/data] [--repeat 5] [--transactions 10000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "simulators"))

import txn_oracle
from adrs import _core
from adrs.problems import get_problem
from adrs.simulators import txn as numba_txn
from adrs.simulators import txn_workloads


def per_call(function: Callable[[], object], repeat: int, min_seconds: float = 0.2) -> float:
    """Best-of-``repeat`` seconds per call, each timing running at least ``min_seconds``."""
    calls = 1
    while True:
        started = time.perf_counter()
        for _ in range(calls):
            function()
        if time.perf_counter() - started >= min_seconds / 4:
            break
        calls *= 4
    calls = max(1, int(calls * min_seconds / max(time.perf_counter() - started, 1e-9)))
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def time_workload(workload: txn_workloads.TxnWorkload, repeat: int) -> dict[str, float]:
    """Seconds per full identity sequence through each path (checked equal first)."""
    transactions = list(workload.transactions)
    model = _core.TxnModel(transactions)
    arrays = numba_txn.parse(transactions)
    parsed = txn_oracle.parse(transactions)
    as_list = list(range(len(transactions)))
    as_array = np.arange(len(transactions))
    rng = np.random.default_rng(0)
    batch = np.array([rng.permutation(len(transactions)) for _ in range(1000)])
    expected = model.makespan(as_list)
    assert numba_txn.makespan(arrays, as_array) == expected
    assert txn_oracle.makespan_parsed(parsed, as_list) == expected
    assert model.makespans(batch)[:5].tolist() == [
        txn_oracle.makespan_parsed(parsed, row.tolist()) for row in batch[:5]]
    kernel_args = (*arrays.kernel_args(), arrays.num_keys, as_array)
    return {
        "list": per_call(lambda: model.makespan(as_list), repeat),
        "array": per_call(lambda: model.makespan(as_array), repeat),
        "batch": per_call(lambda: model.makespans(batch), repeat) / len(batch),
        "numba": per_call(lambda: numba_txn.makespan_kernel(*kernel_args), repeat),
        "oracle": per_call(lambda: txn_oracle.makespan_parsed(parsed, as_list), repeat),
    }


def full_sequences(data: Path, repeat: int) -> None:
    golden = json.loads((data.parent / "golden" / "txn.json").read_text())
    reference_us = golden["timing_us_per_full_sequence"]
    workloads = txn_workloads.load_workloads(data / txn_workloads.FILE_NAME)
    print("1. Makespan of a full 100-transaction sequence (identity order), microseconds "
          f"per call, best of {repeat}")
    print(f"{'workload':<12}{'C++ list':>10}{'C++ array':>11}{'C++ batch':>11}{'Numba':>9}"
          f"{'oracle':>10}{'oracle/C++':>12}{'reference':>11}{'ref/C++':>9}")
    for name, workload in workloads.items():
        times = time_workload(workload, repeat)
        us = {k: v * 1e6 for k, v in times.items()}
        print(f"{name:<12}{us['list']:>10.2f}{us['array']:>11.2f}{us['batch']:>11.2f}"
              f"{us['numba']:>9.2f}{us['oracle']:>10.1f}{times['oracle'] / times['list']:>11.0f}x"
              f"{reference_us[name]:>11.1f}{reference_us[name] / us['list']:>8.0f}x")
    print("(C++ list/array: one model.makespan call from Python; C++ batch: per sequence in "
          "one model.makespans call of 1,000 random orders; Numba: the njit kernel called from "
          "Python; reference: its Python model, recorded on a 2-vCPU machine)")


def extension(repeat: int, num_txns: int) -> None:
    params = replace(txn_workloads.PROFILES["profile_1"], num_txns=num_txns, seed=42)
    transactions = list(txn_workloads.generate_workload(params).transactions)
    model = _core.TxnModel(transactions)
    order = np.random.default_rng(0).permutation(num_txns)
    half = model.state(order[:num_txns // 2])
    t = int(order[num_txns // 2])
    candidates = order[num_txns // 2:num_txns // 2 + 1000]
    expected = model.makespan(order[:num_txns // 2 + 1])
    assert half.makespan_after(t) == expected

    def extend_copy() -> None:
        half.copy().extend(t)

    full = per_call(lambda: model.makespan(order[:num_txns // 2 + 1]), repeat)
    rows = [
        ("full recompute of the prefix + t (model.makespan)", full),
        ("state.makespan_after(t)", per_call(lambda: half.makespan_after(t), repeat)),
        ("state.makespans_after(1,000 candidates), per candidate",
         per_call(lambda: half.makespans_after(candidates), repeat) / len(candidates)),
        ("state.copy() then .extend(t)", per_call(extend_copy, repeat)),
        ("state.copy() alone", per_call(half.copy, repeat)),
    ]
    grow = model.state()
    started = time.perf_counter()
    for u in order:
        grow.extend(int(u))
    rows.insert(2, ("state.extend(t), mean over building the whole order",
                    (time.perf_counter() - started) / num_txns))
    assert grow.makespan == model.makespan(order)
    print(f"\n2. A generated workload of {num_txns:,} transactions (profile_1, seed 42; "
          f"{model.num_keys} keys): appending one transaction after {num_txns // 2:,}, "
          f"microseconds, best of {repeat}")
    print(f"{'query':<58}{'us':>10}{'full/this':>11}")
    for label, seconds in rows:
        print(f"{label:<58}{seconds * 1e6:>10.3f}{full / seconds:>10.0f}x")


def baselines(data: Path) -> None:
    problem = get_problem("txn", data=data)
    seed_sum = None
    print("\n3. Baselines on train (published workloads, default 10 s limit per workload)")
    header = f"{'baseline':<26}" + "".join(f"{w:>12}" for w in txn_workloads.PUBLISHED)
    print(header + f"{'sum':>6}{'vs seed':>9}{'score':>11}{'seconds':>9}")
    for name in problem.baselines:
        result = problem.evaluate_baseline(name)
        assert result.ok, result.error
        spans = [row["makespan"] for row in result.details["workloads"]]
        total = sum(spans)
        seed_sum = seed_sum if seed_sum is not None else total
        print(f"{name:<26}" + "".join(f"{m:>12}" for m in spans)
              + f"{total:>6}{(total - seed_sum) / seed_sum:>+8.1%} {result.score:>10.1f}"
              f"{result.metrics['candidate_seconds']:>9.3f}")
    print("(lower bounds per workload: "
          + ", ".join(str(item.lower_bound) for item in problem.workloads("train"))
          + "; the reference seed program takes 0.76-0.83 s for the three workloads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--transactions", type=int, default=10_000,
                        help="size of the generated workload of part 2")
    args = parser.parse_args()
    numba_txn.makespan(numba_txn.parse(["w-1"]), [0])  # compile (or load) the kernels first
    full_sequences(args.data, args.repeat)
    extension(args.repeat, args.transactions)
    baselines(args.data)


if __name__ == "__main__":
    main()
