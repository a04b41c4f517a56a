"""An evaluation worker: a judge process that builds the problem once and scores the
candidates it is sent, each run in a fresh jailed process.

Started by :class:`adrs.evolve.executor.LocalExecutor` as
``python -m adrs.evolve._worker FD`` with a scrubbed environment, so API keys never
enter its memory. It talks to the executor over the connection on file descriptor FD
(``multiprocessing.connection`` framing; both ends are the judge's). It holds the
problem's workloads, validation and scoring; candidate code runs only in the jails of
its :class:`~adrs.jail.JailRunner` (one zygote per split group: the held-out test jail
starts only when the test split is asked for, at the end of a search).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from multiprocessing.connection import Connection


def main(argv: list[str] | None = None) -> int:
    """Serve jobs until the executor closes the connection or sends None."""
    args = sys.argv[1:] if argv is None else argv
    conn = Connection(int(args[0]))
    from adrs.jail._linux import die_with_parent

    die_with_parent()
    try:
        init = conn.recv()
    except EOFError:
        return 0
    sys.path[:] = init["sys_path"]
    try:
        from adrs.evolve.executor import ProblemSpec
        from adrs.jail import JailRunner

        spec: ProblemSpec = init["spec"]
        started = time.perf_counter()
        problem = spec.build()
        runner = JailRunner(init["limits"], init["isolation"],
                            startup_timeout_s=init["startup_timeout_s"])
        for split in init["warm_splits"]:
            runner.jail(problem.jail_task(split))
        conn.send(("ready", {"seconds": time.perf_counter() - started,
                             "layers": runner.layers.to_json(), "pid": os.getpid()}))
    except BaseException as exc:  # noqa: BLE001 - report any failure to build, then stop
        first = " ".join(str(exc).split()) or type(exc).__name__
        what = first if isinstance(exc, (ValueError, OSError)) else \
            f"{type(exc).__name__}: {first}"
        traceback.print_exc()  # into workers.log
        conn.send(("failed", what))
        return 1
    from adrs.evolve.executor import serve_jobs

    try:
        serve_jobs(conn, problem, runner, init["timeout_s"])
    finally:
        runner.close()
    return 0


if __name__ == "__main__":  # pragma: no cover - started as a subprocess
    sys.exit(main())
