"""Benchmarks of the search loop (not part of the test suite); prints measured numbers.

    python bench/evolver.py [--quick] [--only NAME ...]

1. ``jail``: the bare cost of forking a warm process, against a whole jailed session that
   runs an empty candidate (a fresh process in its own namespaces from the zygote: open,
   load, one call, kill), back to back and with a 5 ms pause between sessions.
2. ``overhead``: the whole loop with an instantaneous generator (it still builds a full
   prompt) and an instantaneous evaluator: database, selection, prompt, executor and the
   jail together; and the same loop whose evaluator runs nothing (the judge alone).
3. ``mutator``: the offline mutator on the toy problem (and on ``spot`` when it can be
   built): rate and best-score curve over 500 candidates.
4. ``slow-llm``: the real OpenAI client against a local server answering in 5 s, 32
   requests in flight, with a CPU-bound evaluator: how busy the workers stay.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from adrs.evolve._candidate import Candidate
from adrs.evolve.config import config_from_mapping
from adrs.evolve.controller import Controller
from adrs.evolve.executor import ProblemSpec
from adrs.evolve.generators import Proposal, ProposalContext
from adrs.evolve.prompts import PromptBuilder
from adrs.jail import Jail, JailTask, Runner
from adrs.jail._script import TASK
from adrs.problems._base import Baseline, EvalResult, Problem

INSTANT_PROGRAM = '''"""A program for the instantaneous evaluator."""

# EVOLVE-BLOCK-START
def decide(obs, mem):
    if obs[0] > 0.5:
        return 1
    return 0
# EVOLVE-BLOCK-END
'''


class InstantProblem(Problem):
    """Loads the program in a jail and calls it once; the judge's part costs nothing.

    Args:
        jailed: False: score without running the program (the judge alone).
    """

    name = "instant"
    description = "Benchmark problem: any program scores by its length."

    def __init__(self, jailed: bool = True) -> None:
        self.jailed = jailed

    @property
    def initial_program(self) -> str:
        return INSTANT_PROGRAM

    @property
    def baselines(self) -> dict[str, Baseline]:
        return {}

    def jail_task(self, split: str) -> JailTask:
        return TASK

    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        if self.jailed:
            with self.local_runner(runner).session(TASK, program + "\ndef main():\n"
                                                   "    return 1\n", filename) as session:
                session.call("call")
        return EvalResult(score=float(len(program) % 97), metrics={"length": len(program)})


class InstantGenerator:
    """Proposes the parent plus a unique line, after building the full prompt."""

    name = "instant"

    def __init__(self, description: str) -> None:
        self.prompts = PromptBuilder(description)

    async def propose(self, parent: Candidate, inspirations: Sequence[Candidate],
                      context: ProposalContext) -> Proposal:
        started = time.perf_counter()
        self.prompts.messages(parent, inspirations, context)
        program = parent.program.replace(
            "# EVOLVE-BLOCK-END", f"LIMIT_{context.seed % 1000} = {context.seed}\n"
            "# EVOLVE-BLOCK-END", 1)
        return Proposal(program, generator=self.name, seconds=time.perf_counter() - started)

    async def aclose(self) -> None:
        return None


def _config(**data: Any) -> Any:
    base: dict[str, Any] = {"workers": 2, "progress_interval_s": 3600.0,
                            "max_wasted_in_a_row": 100000}
    base.update(data)
    return config_from_mapping(base, "bench")


def _steady_rate(out: Path, skip: int = 20) -> tuple[float, int]:
    """Candidates per second between the ``skip``-th and the last evaluation."""
    with sqlite3.connect(out / "run.sqlite") as conn:
        times = [r[0] for r in conn.execute(
            "SELECT evaluated_at FROM candidates WHERE evaluated_at IS NOT NULL "
            "ORDER BY evaluated_at")]
    times = times[skip:]
    if len(times) < 2:
        return 0.0, len(times)
    return (len(times) - 1) / (times[-1] - times[0]), len(times)


def bench_jail(rounds: int) -> None:
    import numpy  # noqa: F401 - a zygote has numpy loaded

    started = time.perf_counter()
    for _ in range(rounds):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    bare = (time.perf_counter() - started) / rounds
    program = "def main():\n    return 1\n"
    with Jail(TASK) as jail:
        print(jail.layers.summary())
        for _ in range(20):  # warm
            with jail.open(program) as session:
                session.call("call")
        results = {}
        for pause in (0.0, 0.005):
            times = []
            for _ in range(rounds):
                time.sleep(pause)
                begun = time.perf_counter()
                with jail.open(program) as session:
                    session.call("call")
                times.append(time.perf_counter() - begun)
            times.sort()
            results[pause] = (times[len(times) // 2], times[int(len(times) * 0.9)])
    print(f"jail: bare fork+exit+wait {bare * 1e3:.2f} ms; a jailed session with an empty "
          f"candidate (open, load, one call, kill): median {results[0.0][0] * 1e3:.2f} ms "
          f"(p90 {results[0.0][1] * 1e3:.2f}) back to back, median "
          f"{results[0.005][0] * 1e3:.2f} ms (p90 {results[0.005][1] * 1e3:.2f}) with 5 ms "
          f"between sessions ({rounds} rounds each)")


def bench_overhead(budget: int) -> None:
    for label, jailed in (("candidates in jails", True), ("judge alone, nothing run", False)):
        spec = ProblemSpec("evolver:InstantProblem", {"jailed": jailed}, "instant")
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "run"
            summary = Controller(spec, _config(budget=budget), out,
                                 generator=InstantGenerator(InstantProblem.description)).run()
            rate, n = _steady_rate(out)
            print(f"overhead ({label}): {1e3 / rate:.2f} ms per candidate, "
                  f"{rate * 3600:,.0f} candidates/hour (steady state over {n} of {budget}; "
                  f"whole run incl. start-up {summary.seconds:.1f} s), 2 workers")


def _curve(out: Path, every: int) -> list[tuple[int, float]]:
    with sqlite3.connect(out / "run.sqlite") as conn:
        scores = [r[0] for r in conn.execute(
            "SELECT score FROM candidates WHERE status IN ('evaluated', 'failed') "
            "ORDER BY eval_seq")]
    best, points = float("-inf"), []
    for index, score in enumerate(scores, start=1):
        if score is not None and score > best:
            best = score
        if index % every == 0 or index == len(scores):
            points.append((index, best))
    return points


def bench_mutator(name: str, budget: int, options: dict[str, Any]) -> None:
    spec = ProblemSpec.registered(name, **options)
    try:
        spec.build()
    except Exception as exc:  # noqa: BLE001 - report and go on with the other benches
        print(f"mutator on {name}: not available ({type(exc).__name__}: {exc})")
        return
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        summary = Controller(spec, _config(budget=budget, seed=1), out).run()
        rate, _ = _steady_rate(out)
        curve = ", ".join(f"{n}:{best:.4g}" for n, best in _curve(out, max(1, budget // 10)))
        print(f"mutator on {name}: {rate * 3600:,.0f} candidates/hour steady "
              f"({summary.rate_per_hour:,.0f}/h over the whole run of {summary.seconds:.1f} s);"
              f" initial train {summary.initial_train:.4g} -> best {summary.best_train:.4g}, "
              f"test {summary.initial_test} -> {summary.best_test}; "
              f"failed {summary.counts['failed']}, duplicates {summary.counts['duplicate']}")
        print(f"  best-so-far curve (candidates:best train score): {curve}")


class _SlowServer:
    """Chat completions that take ``delay`` seconds and return a small valid diff."""

    def __init__(self, delay: float) -> None:
        self.active = 0
        self.peak = 0
        self.count = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                request = json.loads(body)
                with lock:
                    server.active += 1
                    server.count += 1
                    server.peak = max(server.peak, server.active)
                    number = server.count
                time.sleep(delay)
                with lock:
                    server.active -= 1
                if len(request["messages"]) < 2:  # the run's check of the model
                    content = "OK"
                else:
                    prompt = request["messages"][1]["content"]
                    # a valid, new program every time: the current one plus a unique line
                    current = prompt.split("```python\n", 1)[1].split("\n```", 1)[0]
                    new = current.replace("# EVOLVE-BLOCK-END",
                                          f"VARIANT_{number} = {number}\n# EVOLVE-BLOCK-END")
                    content = f"A variant.\n```python\n{new}\n```"
                data = json.dumps({
                    "id": f"c{number}", "object": "chat.completion", "created": 0,
                    "model": "slow", "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant",
                                                              "content": content}}],
                    "usage": {"prompt_tokens": 1000, "completion_tokens": 100,
                              "total_tokens": 1100}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 128
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


def bench_slow_llm(budget: int, busy_ms: float) -> None:
    server = _SlowServer(5.0)
    os.environ["BENCH_LLM_KEY"] = "sk-bench"
    config = _config(budget=budget, seed=2, generator={
        "models": [{"name": "slow", "base_url": server.url, "api_key_env": "BENCH_LLM_KEY",
                    "timeout_s": 60.0}], "max_in_flight": 32})
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        spec = ProblemSpec.registered("toy", busy_ms=busy_ms)
        summary = Controller(spec, config, out).run()
        with sqlite3.connect(out / "run.sqlite") as conn:
            rows = conn.execute(
                "SELECT evaluated_at, sandbox_seconds FROM candidates "
                "WHERE evaluated_at IS NOT NULL ORDER BY evaluated_at").fetchall()
    # steady state: from the first result that needed a model reply to the last
    rows = rows[1:]
    span = rows[-1][0] - rows[0][0] + rows[0][1]
    busy = sum(r[1] for r in rows) / (span * 2)
    print(f"slow-llm: 5 s per reply, 32 in flight (peak seen by the server: {server.peak}), "
          f"evaluator {busy_ms:.0f} ms CPU per candidate: {len(rows)} evaluations in "
          f"{span:.1f} s -> workers busy {busy:.0%} of the time "
          f"({summary.rate_per_hour:,.0f} candidates/hour over the whole run)")
    server.httpd.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"),
                        help="real traces for spot (default ../shared/data; synthetic when "
                             "absent)")
    parser.add_argument("--only", nargs="*", default=[],
                        choices=["jail", "overhead", "mutator", "slow-llm"])
    args = parser.parse_args(argv)
    wanted = set(args.only) or {"jail", "overhead", "mutator", "slow-llm"}
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
          f"python {sys.version.split()[0]}")
    if "jail" in wanted:
        bench_jail(200 if args.quick else 1000)
    if "overhead" in wanted:
        bench_overhead(1000 if args.quick else 5000)
    if "mutator" in wanted:
        bench_mutator("toy", 500, {})
        bench_mutator("spot", 500, {"data": args.data} if Path(args.data).exists() else {})
    if "slow-llm" in wanted:
        bench_slow_llm(60 if args.quick else 160, busy_ms=400.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
