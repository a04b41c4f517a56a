"""Benchmark: the spot problems' full ``train`` evaluation through every simulator path.

For each baseline, the same runs go through the C++ loop with the built-in policy, the C++
loop calling the compiled candidate (compile included and shown apart), the whole jailed
evaluation that ``adrs run`` makes (the subset check, a fresh jailed process, the compile,
the recorded C++ run, the judge's replay), the Numba loop, the C++ loop calling the
interpreted candidate, and the pure-Python oracle of the tests.
It checks that every path gives the same score and prints wall times, simulated ticks per
second and ratios against the oracle measured in the same run (and, for context, against
the reference simulator's own recorded time in ../shared/golden).

    python bench/spot.py [--data ../shared/data] [--repeat 5] [--problem spot|spot-multi]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _timing import best_of  # bench/ is on sys.path when a benchmark runs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "simulators"))

import spot_oracle
from adrs import _core
from adrs.bridge import compile_policy
from adrs.jail import JailRunner
from adrs.problems import get_problem
from adrs.simulators import spot as numba_spot

GOLDEN_TIMES = {  # the reference simulator, in one process (spec 0), per baseline file
    "spot": ROOT.parent / "shared" / "golden" / "spot" / "single_greedy.json.gz",
    "spot-multi": ROOT.parent / "shared" / "golden" / "spot" / "multi_initial.json.gz",
}



def run_oracle(problem, workload, decide) -> np.ndarray:
    traces = workload.traces
    costs = []
    for i in range(len(workload)):
        members = workload.run_traces[workload.run_offsets[i]:workload.run_offsets[i + 1]]
        available = [traces.available[traces.offsets[t]:traces.offsets[t + 1]] for t in members]
        prices = [traces.prices[traces.offsets[t]:traces.offsets[t + 1]] for t in members]
        prices = [None if np.isnan(p[0]) else p for p in prices]
        run = spot_oracle.simulate(available, prices, float(traces.gap_seconds[members[0]]),
                                   *workload.scenarios_hours[i], decide,
                                   multi_region=problem.multi_region, fidelity=problem.fidelity)
        costs.append(run.cost)
    return np.array(costs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--problem", default="spot", choices=("spot", "spot-multi"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-oracle", action="store_true", help="skip the slow oracle")
    args = parser.parse_args()

    data = args.data if Path(args.data).exists() else None
    problem = get_problem(args.problem, data=data)
    workload = problem.workload("train")
    problem.evaluate_baseline(next(iter(problem.baselines)))  # load traces, warm caches
    compile_policy("def decide(obs, mem):\n    return 0\n")  # warm Numba's compiler
    jail = JailRunner()
    jail.jail(problem.jail_task("train"))  # the worker starts it before the first candidate
    print(f"{args.problem}: {len(workload)} train runs on {problem.trace_source}; best of "
          f"{args.repeat}; python {sys.version.split()[0]}, numba {numba_spot.__name__}")
    simulate_args = (workload.traces.available, workload.traces.prices, workload.traces.offsets,
                     workload.traces.gap_seconds, workload.run_traces, workload.run_offsets,
                     workload.scenarios_hours, problem.multi_region, problem.fidelity)
    header = (f"{'baseline':<28} {'path':<22} {'seconds':>10} {'Mticks/s':>9} "
              f"{'x oracle':>9} {'x builtin':>9}  score")
    print(header)
    print("-" * len(header))
    summary = []
    for name, baseline in problem.baselines.items():
        builtin_time, builtin = best_of(args.repeat, lambda b=baseline: _core.spot_simulate(
            *simulate_args, b.builtin))
        ticks = int(builtin["ticks"].sum())

        full_time, full = best_of(args.repeat, lambda b=baseline: problem.evaluate(b.program))
        jailed_times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            jailed = problem.evaluate(baseline.program, "train", jail)
            jailed_times.append(time.perf_counter() - started)
        assert jailed.score == full.score, f"{name}: the jail scored {jailed.score}"
        policy = compile_policy(baseline.program)
        cfunc_time, _ = best_of(args.repeat, lambda p=policy: _core.spot_simulate(
            *simulate_args, p.address))
        jitted = policy.numba_function()
        numba_spot.simulate(*simulate_args, jitted)
        numba_time, numba_result = best_of(args.repeat, lambda j=jitted: numba_spot.simulate(
            *simulate_args, j))
        interpreted_time, interpreted = best_of(1, lambda p=policy: _core.spot_simulate(
            *simulate_args, p.interpreted))
        if args.no_oracle:
            oracle_time, oracle_cost = float("nan"), builtin["cost"]
        else:
            oracle_time, oracle_cost = best_of(1, lambda p=policy: run_oracle(
                problem, workload, p.interpreted))
        for other in (numba_result["cost"], interpreted["cost"], oracle_cost):
            assert np.array_equal(other, builtin["cost"]), f"{name}: paths disagree"
        score = problem.evaluate_baseline(name).score
        assert full.score == score, f"{name}: compiled candidate scored {full.score}"
        rows = [
            ("C++ built-in", builtin_time),
            ("C++ + compiled (sim)", cfunc_time),
            ("C++ + compiled (eval)", full_time),
            ("jail: eval (best)", min(jailed_times)),
            ("jail: eval (median)", statistics.median(jailed_times)),
            ("Numba loop", numba_time),
            ("C++ + interpreted", interpreted_time),
            ("Python oracle", oracle_time),
        ]
        for path, seconds in rows:
            print(f"{name:<28} {path:<22} {seconds:>10.5f} {ticks / seconds / 1e6:>9.2f} "
                  f"{oracle_time / seconds:>9.1f} {seconds / builtin_time:>9.2f}  {score!r}")
        summary.append((name, builtin_time, cfunc_time, full_time, full.details,
                        statistics.median(jailed_times)))
    print()
    golden = GOLDEN_TIMES[args.problem]
    if golden.exists() and data is not None:
        with gzip.open(golden) as file:
            recorded = json.loads(file.read())["summary"]["total_sec"]
        print(f"reference simulator in one process (recorded in {golden.name}): {recorded:.2f} s")
        for name, builtin_time, cfunc_time, full_time, _, jailed_time in summary:
            print(f"  {name:<28} jailed eval incl. compile {jailed_time:.4f} s (median) = "
                  f"{recorded / jailed_time:,.0f}x faster; in-process {full_time:.4f} s; "
                  f"built-in {builtin_time * 1e3:.2f} ms = {recorded / builtin_time:,.0f}x; "
                  f"compiled/inline loop {cfunc_time / builtin_time:.2f}x")
    compile_times = [row[4]["compile_seconds"] for row in summary]
    jail.close()
    print(f"candidate compile: median {statistics.median(compile_times):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
