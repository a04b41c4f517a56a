"""An evaluation worker: a fresh interpreter that builds the problem once, warms it up,
and then forks one sandboxed child per candidate.

Started by :class:`adrs.evolve.executor.LocalExecutor` as
``python -m adrs.evolve._worker FD`` with a scrubbed environment, so API keys never
enter its memory. It talks to the executor over the connection on file descriptor FD
(``multiprocessing.connection`` framing; the executor is trusted, the children are not
and answer in JSON only). It has no threads, so forking it is safe.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from adrs.problems._base import Problem


def main(argv: list[str] | None = None) -> int:
    """Serve jobs until the executor closes the connection or sends None."""
    args = sys.argv[1:] if argv is None else argv
    conn = Connection(int(args[0]))
    from adrs.evolve.sandbox import _die_with_parent

    _die_with_parent()
    try:
        init = conn.recv()
    except EOFError:
        return 0
    sys.path[:] = init["sys_path"]
    try:
        from adrs.evolve.executor import ProblemSpec

        spec: ProblemSpec = init["spec"]
        started = time.perf_counter()
        problem = spec.build()
        warm = _warm_up(problem, init["warm_splits"])
        snapshot = None
        if init["check_integrity"]:
            from adrs.evolve._integrity import EvaluatorSnapshot

            snapshot = EvaluatorSnapshot(init["protect_modules"], problem)
        # objects alive now are never freed: keep the collector off their pages so the
        # forked children copy fewer of them
        gc.collect()
        gc.freeze()
        conn.send(("ready", {"seconds": time.perf_counter() - started, "warm": warm,
                             "pid": os.getpid()}))
    except BaseException as exc:  # noqa: BLE001 - report any failure to build, then stop
        conn.send(("failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return 1
    from adrs.evolve.executor import serve_jobs

    serve_jobs(conn, problem, snapshot, init["limits"], init["secret_patterns"])
    return 0


def _warm_up(problem: Problem, splits: list[str]) -> dict[str, Any]:
    """Evaluate the initial program once per split: loads data, compiles simulators."""
    warm: dict[str, Any] = {}
    for split in splits:
        result = problem.evaluate(problem.initial_program, split)
        warm[split] = {"score": result.score, "error": result.error,
                       "seconds": result.seconds}
    return warm


if __name__ == "__main__":  # pragma: no cover - started as a subprocess
    sys.exit(main())
