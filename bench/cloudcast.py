"""Benchmark: the whole leaderboard evaluation of one Cloudcast candidate, ours against the
leaderboard's evaluator, measured in the same run.

1. The leaderboard's evaluator (``problems/cloudcast/evaluator.py`` of a leaderboard
   checkout, run as its ``run_evaluator.sh`` runs it: a fresh Python process, its
   datasets linked to the profiles) on one solution file, wall time per evaluation.
2. Ours on the same file: ``adrs eval cloudcast FILE`` as a fresh process (jail start
   included), and ``CloudcastProblem.evaluate`` in a warm jail (what a search pays per
   candidate), and the judge's model alone on the five topologies.

The candidate's own search runs in both; with the leaderboard's baseline (the default),
whose search takes milliseconds, the difference is the evaluators' own work (building
the graph from the CSV files five times with pandas, the simulator's printing).

    python bench/cloudcast.py [--solution FILE] [--leaderboard ../shared/leaderboard]
                              [--reference-python PYTHON] [--repeat 3]

``--reference-python`` needs pandas, networkx, colorama and graphviz (the evaluator's
imports); the default is this interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import best_of

ROOT = Path(__file__).resolve().parents[1]


def reference_seconds(leaderboard: Path, solution: Path, python: str, repeat: int
                      ) -> tuple[float, float]:
    """Best wall seconds of the leaderboard's evaluator on ``solution``, and its score."""
    with tempfile.TemporaryDirectory(prefix="cloudcast-reference-") as folder:
        problem = Path(folder) / "cloudcast"
        shutil.copytree(leaderboard / "problems" / "cloudcast", problem)
        datasets = problem / "resources" / "datasets"
        datasets.mkdir()
        for part in ("profiles", "examples"):
            os.symlink(leaderboard / "cloudcast_profiles" / part, datasets / part)
        out = Path(folder) / "results.json"

        def run() -> float:
            done = subprocess.run([python, str(problem / "evaluator.py"), "--solution",
                                   str(solution), "--out", str(out)], capture_output=True,
                                  text=True, check=False, cwd=folder)
            if done.returncode != 0:
                raise SystemExit(f"the reference evaluator failed: {done.stdout[-500:]}"
                                 f"{done.stderr[-2000:]}")
            return float(json.loads(out.read_text())["score"])

        return best_of(repeat, run)


def ours_cold_seconds(solution: Path, repeat: int) -> tuple[float, float]:
    def run() -> float:
        done = subprocess.run([sys.executable, "-m", "adrs.cli", "eval", "cloudcast",
                               str(solution), "--json"], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"adrs eval failed: {done.stdout[-500:]}{done.stderr[-500:]}")
        return float(json.loads(done.stdout)["score"])

    return best_of(repeat, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaderboard", type=Path,
                        default=ROOT.parent / "shared" / "leaderboard",
                        help="a leaderboard checkout holding problems/cloudcast and "
                             "cloudcast_profiles/ (default: ../shared/leaderboard)")
    parser.add_argument("--solution", type=Path, default=None,
                        help="the candidate (default: the leaderboard's baseline solution)")
    parser.add_argument("--reference-python", default=sys.executable)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    leaderboard = args.leaderboard.resolve()
    solution = (args.solution or leaderboard / "solutions" / "cloudcast" / "baseline" /
                "resources" / "solution.py").resolve()

    from adrs.jail import JailRunner
    from adrs.problems.cloudcast import CloudcastProblem
    from adrs.simulators.cloudcast import Topology

    print(f"candidate: {solution}")
    ref_s, ref_score = reference_seconds(leaderboard, solution, args.reference_python,
                                         args.repeat)
    print(f"leaderboard evaluator (fresh process)   {ref_s:9.3f} s   score {ref_score!r}")

    cold_s, cold_score = ours_cold_seconds(solution, args.repeat)
    print(f"adrs eval cloudcast (fresh process)     {cold_s:9.3f} s   score {cold_score!r}"
          f"   {ref_s / cold_s:7.1f}x faster")

    problem = CloudcastProblem()
    code = solution.read_text()
    runner = JailRunner()
    try:
        problem.evaluate(code, "train", runner)  # starts the jail, as a search's first one
        warm_s, result = best_of(max(args.repeat, 5),
                                 lambda: problem.evaluate(code, "train", runner))
    finally:
        runner.close()
    print(f"CloudcastProblem.evaluate (warm jail)   {warm_s:9.3f} s   score {result.score!r}"
          f"   {ref_s / warm_s:7.1f}x faster  (candidate's own search "
          f"{result.metrics['search_seconds']:.3f} s of it)")

    # the same topologies again, through the jail's handler in this process (trusted file)
    from adrs.jail import InProcessRunner

    transfers = {t.name: t for t in problem.transfers("train")}
    topologies = {}

    def searches() -> None:
        with InProcessRunner().session(problem.jail_task("train"), code) as session:
            for name in transfers:
                reply = session.call("search", {"transfer": name})
                topologies[name] = Topology(reply.arrays["offsets"], reply.arrays["edges"])

    search_s, _ = best_of(args.repeat, searches)
    print(f"the candidate's five searches alone     {search_s:9.3f} s   (in this process, "
          "graph built for each: both evaluators pay this)")
    print(f"evaluator's own work beyond the search: leaderboard {ref_s - search_s:.3f} s, "
          f"ours (warm) {max(warm_s - search_s, 1e-9):.3f} s, "
          f"{(ref_s - search_s) / max(warm_s - search_s, 1e-9):.0f}x")

    def model_only() -> float:
        total = 0.0
        for name, transfer in transfers.items():
            total += problem.model.evaluate(transfer, topologies[name]).cost
        return total

    model_only()
    started = time.perf_counter()
    calls = 200
    for _ in range(calls):
        model_only()
    model_s = (time.perf_counter() - started) / calls
    print(f"the judge's model alone, five transfers {model_s * 1e3:9.3f} ms  "
          f"{ref_s / model_s:7.0f}x the reference's whole evaluation")


if __name__ == "__main__":
    main()
