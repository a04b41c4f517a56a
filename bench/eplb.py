"""Benchmark: the three expert-placement implementations side by side, at production size.

For each configuration (58 layers x 256 experts, 8 groups, 32 GPUs; 288 or 320 slots;
4 nodes = hierarchical policy, 3 nodes = global) it times one rebalance of each
implementation (best and median of --repeat, in this process, on this machine) and
scores the placements on generated loads (seed 0, --windows windows): balancedness per
slot (the reference's metric) and per GPU, both fitted on window i and scored on window
i + 1 (the problem's score) and on the window they were fitted on. Ratios are measured
in the same run. The golden cases of ../shared/golden/eplb.json are checked too when
../shared is there.

The Triton implementation runs on a CUDA GPU when there is one; on a CPU-only machine only
with --triton-interpret (Triton's interpreter: about 20 s per rebalance, for correctness,
not speed).

    python bench/eplb.py [--repeat 20] [--windows 8] [--threads N] [--triton-interpret]
    python bench/eplb.py --stability 8     # the problem's score of one program, again and again

``--stability N`` evaluates the vectorized baseline N times through the jail, as ``adrs run``
does, first on an idle machine and then with both cores kept busy by other processes, and
prints the spread of its speed term and score (the same program must score within a few
percent however busy the machine is).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = (("hierarchical, 288 slots", (288, 8, 4, 32)),
           ("hierarchical, 320 slots", (320, 8, 4, 32)),
           ("global, 288 slots", (288, 8, 3, 32)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed calls (reference: 3)")
    parser.add_argument("--windows", type=int, default=8, help="generated windows scored")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--triton-interpret", action="store_true",
                        help="run the Triton kernels under the interpreter when no GPU")
    parser.add_argument("--stability", type=int, metavar="N",
                        help="evaluate one program N times in the jail (idle, then busy)")
    args = parser.parse_args()
    if args.stability:
        return stability(args.stability)
    if args.triton_interpret:
        os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported
    import numpy as np
    import torch
    from adrs.kernels import (
        balancedness,
        gpu_loads,
        rebalance_experts_reference,
        rebalance_experts_triton,
        rebalance_experts_vectorized,
        slot_loads,
    )
    from adrs.simulators.eplb import LoadModel, generate_windows

    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = torch.cuda.is_available()
    implementations: dict[str, Callable] = {"reference": rebalance_experts_reference,
                                            "vectorized": rebalance_experts_vectorized}
    if gpu or args.triton_interpret:
        implementations["triton"] = rebalance_experts_triton
    device = "cuda" if gpu else "cpu"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"{torch.cuda.get_device_name() if gpu else 'no GPU'}")
    windows = generate_windows(LoadModel(), args.windows, seed=0)
    print(f"loads: generated, seed 0, {args.windows} windows of 100 steps, "
          f"{windows.shape[1]} layers x {windows.shape[2]} experts\n")

    def score(placement, fitted, scored, num_replicas) -> tuple[float, float]:
        loads = slot_loads(placement[1].cpu().numpy(), placement[2].cpu().numpy(), scored,
                           num_replicas)
        return balancedness(loads), balancedness(gpu_loads(loads, 32))

    header = (f"{'configuration':<24} {'implementation':<11} {'best ms':>9} {'median ms':>10}"
              f" {'x faster':>9}  {'slot next':>9} {'GPU next':>9} {'slot fit':>9} "
              f"{'GPU fit':>9}")
    print(header)
    print("-" * len(header))
    for label, config in CONFIGS:
        reference_ms = None
        for name, implementation in implementations.items():
            weight = torch.from_numpy(windows[0]).to(device if name != "reference" else "cpu")
            repeat = 3 if name == "reference" or (name == "triton" and not gpu) else args.repeat
            implementation(weight, *config)  # warm-up (lazy set-up, Triton compile)
            times = []
            for _ in range(repeat):
                if gpu:
                    torch.cuda.synchronize()
                started = time.perf_counter()
                implementation(weight, *config)
                if gpu:
                    torch.cuda.synchronize()
                times.append((time.perf_counter() - started) * 1e3)
            best, median = min(times), statistics.median(times)
            if name == "reference":
                reference_ms = best
            fit_next, fit_same = [], []
            for i in range(len(windows) - 1):
                placement = implementation(torch.from_numpy(windows[i]).to(weight.device),
                                           *config)
                fit_next.append(score(placement, windows[i], windows[i + 1], config[0]))
                fit_same.append(score(placement, windows[i], windows[i], config[0]))
            next_slot, next_gpu = np.mean(fit_next, axis=0)
            same_slot, same_gpu = np.mean(fit_same, axis=0)
            ratio = f"{reference_ms / best:>8.0f}x" if reference_ms else f"{'':>9}"
            print(f"{label:<24} {name:<11} {best:>9.2f} {median:>10.2f} {ratio}  "
                  f"{next_slot:>9.5f} {next_gpu:>9.5f} {same_slot:>9.5f} {same_gpu:>9.5f}")
    golden_dir = ROOT.parent / "shared"
    if (golden_dir / "golden" / "eplb.json").is_file():
        sys.path.insert(0, str(ROOT))
        from tests.kernels.golden import case_args, golden_cases

        print("\ngolden cases (per GPU, same window): measured reference -> ours")
        for case, weight in golden_cases(golden_dir):
            cells = [f"{case['case']:<16} {case['bal_gpu']:.6f}"]
            for name, implementation in implementations.items():
                placement = implementation(torch.from_numpy(weight), *case_args(case))
                cells.append(f"{name} {score(placement, weight, weight, case['P'])[1]:.6f}"
                             if case["gpus"] == 32 else
                             f"{name} {_per_gpu(placement, weight, case):.6f}")
            print("  ".join(cells))
    return 0


def stability(count: int) -> int:
    """The problem's speed term and score of the vectorized baseline, ``count`` times in
    the jail, on an idle machine and then with every core busy."""
    import multiprocessing

    from adrs.jail import JailRunner
    from adrs.problems import get_problem

    problem = get_problem("eplb")
    runner = JailRunner()
    program = problem.baselines["vectorized"].program
    problem.evaluate(program, "train", runner)  # start the jail

    def measure(label: str) -> None:
        results = [problem.evaluate(program, "train", runner) for _ in range(count)]
        seconds = [r.metrics["median_seconds"] * 1e3 for r in results]
        scores = [r.score for r in results]
        spread = (max(scores) - min(scores)) / statistics.median(scores)
        print(f"{label}: median call {statistics.median(seconds):.2f} ms (min "
              f"{min(seconds):.2f}, max {max(seconds):.2f}); score min {min(scores):.4f} "
              f"max {max(scores):.4f}: spread {spread:.1%} of the median over {count} "
              "evaluations")

    measure("idle")
    load = [multiprocessing.Process(target=_spin, daemon=True)
            for _ in range(os.cpu_count() or 1)]
    for process in load:
        process.start()
    try:
        measure(f"busy ({len(load)} spinning processes)")
    finally:
        for process in load:
            process.terminate()
        runner.close()
    return 0


def _spin() -> None:
    while True:
        pass


def _per_gpu(placement, weight, case) -> float:
    from adrs.kernels import balancedness, gpu_loads, slot_loads

    loads = slot_loads(placement[1].cpu().numpy(), placement[2].cpu().numpy(), weight,
                       case["P"])
    return balancedness(gpu_loads(loads, case["gpus"]))


if __name__ == "__main__":
    sys.exit(main())
