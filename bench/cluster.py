"""Benchmarks of the Ray executor (not part of the test suite); prints measured numbers.

    python bench/cluster.py [--quick] [--only NAME ...]

Ray runs as a private instance on 127.0.0.1 started here (one node: this machine), and
every figure is set against local workers measured in the same run.

1. ``overhead``: the whole loop with an instantaneous generator and evaluator (the
   candidate still runs in a jail), 2 local workers vs 2 Ray actors: milliseconds per
   candidate, steady state.
2. ``busy``: a 200 ms CPU evaluator (toy, ``busy_ms=200``), 2 local workers vs 2 Ray
   actors: the fraction of the time the evaluators are busy (goal: Ray >= 90%).
3. ``scaling``: how many candidates per hour the driver sustains before it is the
   bottleneck. The controller runs against a simulated executor of many workers whose
   evaluations take no time (selection, prompt, mutation, hashing and the database are
   all real), and the Ray executor's own cost per job is measured with actors that
   score without running anything (the judge alone); the ceiling is one over their sum.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from adrs.evolve.controller import Controller
from adrs.evolve.executor import EvalJob, EvalOutcome, ProblemSpec
from adrs.problems._base import EvalResult
from evolver import InstantGenerator, InstantProblem, _config, _steady_rate


def start_ray() -> Any:
    """A private Ray on 127.0.0.1, shared by every bench of this run."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from adrs.evolve.ray_executor import _keep_to_loopback, import_ray

    ray = import_ray()
    _keep_to_loopback(ray)
    started = time.perf_counter()
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
             logging_level="WARNING", num_cpus=max(4, os.cpu_count() or 1))
    print(f"ray {ray.__version__}: private instance on 127.0.0.1 started in "
          f"{time.perf_counter() - started:.1f} s")
    return ray


def ray_executor(spec: ProblemSpec, workers: int, config: Any) -> Any:
    from adrs.evolve.ray_executor import RayExecutor

    return RayExecutor(spec, workers, config.sandbox, num_cpus_per_worker=1.0)


def _run(spec: ProblemSpec, config: Any, executor: Any, generator: Any) -> tuple[Path, Any,
                                                                                 Any]:
    scratch = tempfile.mkdtemp(prefix="adrs-bench-ray-")
    atexit.register(shutil.rmtree, scratch, True)  # read by the caller, removed at exit
    out = Path(scratch) / "run"
    summary = Controller(spec, config, out, generator=generator, executor=executor).run()
    return out, summary, scratch


def bench_overhead(budget: int) -> None:
    spec = ProblemSpec("evolver:InstantProblem", {"jailed": True}, "instant")
    config = _config(budget=budget, evaluate_test=False)
    figures = {}
    for kind in ("local", "ray"):
        executor = ray_executor(spec, 2, config) if kind == "ray" else None
        out, _summary, _ = _run(spec, config, executor,
                               InstantGenerator(InstantProblem.description))
        rate, n = _steady_rate(out)
        figures[kind] = 1e3 / rate
        print(f"overhead ({kind}, 2 workers, candidates in jails): {1e3 / rate:.2f} ms per "
              f"candidate, {rate * 3600:,.0f}/hour (steady state over {n} of {budget})")
    print(f"  ray / local: {figures['ray'] / figures['local']:.2f}x per candidate "
          f"(+{figures['ray'] - figures['local']:.2f} ms)")


def _busy_fraction(out: Path, workers: int) -> tuple[float, int, float]:
    with sqlite3.connect(out / "run.sqlite") as conn:
        rows = conn.execute(
            "SELECT evaluated_at, sandbox_seconds FROM candidates "
            "WHERE evaluated_at IS NOT NULL ORDER BY evaluated_at").fetchall()
    rows = rows[2:]  # past the initial program and the start-up
    span = rows[-1][0] - rows[0][0] + rows[0][1]
    return sum(r[1] for r in rows) / (span * workers), len(rows), span


def bench_busy(budget: int, busy_ms: float) -> None:
    spec = ProblemSpec.registered("toy", busy_ms=busy_ms)
    config = _config(budget=budget, evaluate_test=False)
    for kind in ("local", "ray"):
        executor = ray_executor(spec, 2, config) if kind == "ray" else None
        out, summary, _ = _run(spec, config, executor,
                               InstantGenerator("toy"))
        busy, n, span = _busy_fraction(out, 2)
        print(f"busy ({kind}, 2 workers, {busy_ms:.0f} ms CPU per candidate): evaluators "
              f"busy {busy:.1%} of the time ({n} evaluations in {span:.1f} s, "
              f"{summary.rate_per_hour:,.0f}/hour over the whole run)")


class SimulatedExecutor:
    """Many workers whose evaluations take no time: the controller's own ceiling."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._done: list[EvalOutcome] = []
        self._in_flight = 0

    def start(self) -> dict[str, Any]:
        return {}

    def submit(self, job: EvalJob) -> None:
        self._in_flight += 1
        score = float(len(job.program) % 97)
        self._done.append(EvalOutcome(job.job_id, {
            split: EvalResult(score=score, metrics={"length": len(job.program)})
            for split in job.splits}))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def poll(self, timeout: float | None = 0.0) -> list[EvalOutcome]:
        done, self._done = self._done, []
        self._in_flight -= len(done)
        return done

    async def results(self) -> list[EvalOutcome]:
        await asyncio.sleep(0)
        return self.poll()

    def close(self) -> None:
        return None


def bench_scaling(budget: int, actors: int) -> None:
    spec = ProblemSpec("evolver:InstantProblem", {"jailed": False}, "instant")
    ceilings = {}
    for capacity in (64, 512):
        config = _config(budget=budget, workers=capacity, evaluate_test=False,
                         generator={"max_in_flight": 2 * capacity})
        out, _, _ = _run(spec, config, SimulatedExecutor(capacity),
                               InstantGenerator(InstantProblem.description))
        rate, n = _steady_rate(out)
        ceilings[capacity] = 1.0 / rate
        print(f"scaling: controller alone, simulated executor of {capacity} instant workers:"
              f" {1e3 / rate:.2f} ms per candidate, {rate * 3600:,.0f}/hour ({n} of {budget})")
    # the Ray executor's cost per job on the driver: actors that run nothing
    config = _config(budget=budget, workers=actors, evaluate_test=False)
    out, _summary, _ = _run(spec, config, ray_executor(spec, actors, config),
                           InstantGenerator(InstantProblem.description))
    rate, n = _steady_rate(out)
    with_ray = 1.0 / rate
    print(f"scaling: controller + Ray, {actors} actors that score without running "
          f"anything: {with_ray * 1e3:.2f} ms per candidate, {rate * 3600:,.0f}/hour")
    controller = max(ceilings.values())  # the slower of the two: a conservative ceiling
    ray_cost = max(with_ray - ceilings[64], 0.0)
    ceiling = 1.0 / (controller + ray_cost)
    print(f"  driver ceiling: controller {controller * 1e3:.2f} ms + Ray dispatch "
          f"{ray_cost * 1e3:.2f} ms per candidate -> about {ceiling * 3600:,.0f} "
          "candidates/hour; a cluster of W workers whose evaluation takes T seconds is "
          f"driver-bound beyond W/T = {ceiling:,.0f}/s (e.g. {int(ceiling * 10):,} "
          "workers of 10 s evaluations)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets")
    parser.add_argument("--only", nargs="*", default=[],
                        choices=["overhead", "busy", "scaling"])
    args = parser.parse_args(argv)
    wanted = set(args.only) or {"overhead", "busy", "scaling"}
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
          f"python {sys.version.split()[0]}")
    ray = start_ray()
    try:
        if "overhead" in wanted:
            bench_overhead(300 if args.quick else 1500)
        if "busy" in wanted:
            bench_busy(30 if args.quick else 80, busy_ms=200.0)
        if "scaling" in wanted:
            bench_scaling(500 if args.quick else 3000, actors=4)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
