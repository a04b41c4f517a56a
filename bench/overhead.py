"""Loop overhead per candidate, whole process, on a trivial task folder.

Runs ``adrs run DIR`` as a fresh process for 100 and for 1,000 iterations (``--big``:
10,000 too) and reports overhead = (wall_1000 - wall_100) / 900 ms per candidate, for
two generators:

- ``fake model``: an OpenAI-compatible server on 127.0.0.1 (a thread of this process)
  that answers every request at once with the program and a fresh constant;
- ``offline mutator``: ``--offline``.

When OpenEvolve is installed (``--openevolve-python PYTHON``: an interpreter that has
it, e.g. a venv under /tmp; it is never a dependency of adrs) it runs the same folder
against the same server (``openevolve-run --iterations N``) and the ratio is printed.

    python bench/overhead.py [--workers 2] [--big] [--repeat 3] [--openevolve-python /tmp/oe/bin/python]

With ``--repeat R`` each run is made R times (interleaved: every size once, then again)
and the median wall time is used: a single 100-iteration run varies by half a second on
a shared machine, which alone moves the figure by half a millisecond.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROGRAM = "# EVOLVE-BLOCK-START\ndef value():\n    return {value!r}\n# EVOLVE-BLOCK-END\n"
EVALUATOR = '''import importlib.util


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"combined_score": float(module.value())}
'''


class InstantModel:
    """An OpenAI-compatible chat endpoint that answers at once, each time with the program
    holding a new constant (so that no proposal is a duplicate)."""

    def __init__(self) -> None:
        counter = itertools.count(1)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # an instant server: the answer leaves in one segment, at once (unbuffered,
            # headers and body went out as two writes, and Nagle's algorithm held the
            # second until the client's delayed ACK, about 40 ms a request)
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                self.rfile.read(length)
                program = PROGRAM.format(value=next(counter) * 1e-3)
                body = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {
                        "role": "assistant", "content": f"```python\n{program}```"}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10,
                              "total_tokens": 20}}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


def make_folder(root: Path) -> Path:
    folder = root / "trivial"
    folder.mkdir()
    (folder / "initial_program.py").write_text(PROGRAM.format(value=0.0))
    (folder / "evaluator.py").write_text(EVALUATOR)
    return folder


def adrs_wall(folder: Path, root: Path, iterations: int, workers: int,
              extra: list[str]) -> float:
    out = Path(tempfile.mkdtemp(dir=root))
    shutil.rmtree(out)
    argv = [sys.executable, "-m", "adrs.cli", "run", str(folder), "--budget", str(iterations),
            "--workers", str(workers), "--out", str(out), "--json", *extra]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"adrs run failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    counts = json.loads(done.stdout)["counts"]
    if counts["evaluated"] + counts["failed"] < iterations:
        raise SystemExit(f"adrs run stopped early: {counts}")
    return wall


def openevolve_wall(python: str, folder: Path, root: Path, iterations: int, workers: int,
                    base_url: str) -> float:
    config = root / "openevolve.yaml"
    # full rewrites, as the server answers (with OpenEvolve's default diff-based evolution
    # every iteration fails at once with "No valid diffs found" and nothing is evaluated)
    config.write_text(
        "diff_based_evolution: false\n"
        f"max_iterations: {iterations}\ncheckpoint_interval: 1000000\nlog_level: WARNING\n"
        f"llm:\n  api_base: {base_url}\n  api_key: none\n  models:\n    - name: fake\n"
        f"      weight: 1.0\n  retries: 0\n"
        f"evaluator:\n  parallel_evaluations: {workers}\n  cascade_evaluation: false\n"
        f"database:\n  in_memory: true\n")
    out = Path(tempfile.mkdtemp(dir=root))
    openevolve_run = str(Path(python).parent / "openevolve-run")
    argv = [python, openevolve_run, str(folder / "initial_program.py"),
            str(folder / "evaluator.py"), "--config", str(config), "--iterations",
            str(iterations), "--output", str(out)]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True,
                          env={**os.environ, "OPENAI_API_KEY": "none"}, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"openevolve-run failed: {done.stderr[-3000:]}")
    failed = [line for line in (done.stdout + done.stderr).splitlines()
              if " - Iteration " in line and " error: " in line]
    if failed:  # an iteration that evaluated nothing would flatter OpenEvolve
        raise SystemExit(f"openevolve-run: {len(failed)} of {iterations} iterations failed, "
                         f"first: {failed[0]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--big", action="store_true", help="also 10,000 iterations")
    parser.add_argument("--openevolve-python", metavar="PYTHON",
                        help="an interpreter with openevolve installed")
    parser.add_argument("--only", choices=("fake", "offline", "openevolve"), action="append")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per size; the median wall time is used")
    args = parser.parse_args()
    model = InstantModel()
    sizes = [100, 1000] + ([10000] if args.big else [])
    rows: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = make_folder(root)
        models = root / "models.yaml"
        models.write_text(f"- name: fake\n  base_url: {model.base_url}\n  api_key_env: null\n"
                          "  max_tokens: 100\n")
        runs = {"adrs, fake model": ["--models", str(models)],
                "adrs, offline mutator": ["--offline"]}
        wanted = set(args.only or ("fake", "offline", "openevolve"))
        walls: dict[str, dict[int, list[float]]] = {}
        for _ in range(args.repeat):
            for label, extra in runs.items():
                if ("fake" if "fake" in label else "offline") not in wanted:
                    continue
                for n in sizes:
                    walls.setdefault(label, {}).setdefault(n, []).append(
                        adrs_wall(folder, root, n, args.workers, extra))
            if args.openevolve_python and "openevolve" in wanted:
                for n in sizes:
                    walls.setdefault("OpenEvolve", {}).setdefault(n, []).append(
                        openevolve_wall(args.openevolve_python, folder, root, n,
                                        args.workers, model.base_url))
        rows = {label: {n: statistics.median(values) for n, values in by_size.items()}
                for label, by_size in walls.items()}
    print(f"workers {args.workers}; median wall seconds of {args.repeat} run(s), and overhead "
          "(wall_N - wall_100) / (N - 100) in ms per candidate")
    print(f"{'':<24}" + "".join(f"{f'wall {n}':>12}" for n in sizes)
          + "".join(f"{f'ms @ {n}':>12}" for n in sizes[1:]))
    per: dict[str, float] = {}
    for label, walls in rows.items():
        cells = [(walls[n] - walls[100]) / (n - 100) * 1000 for n in sizes[1:]]
        per[label] = cells[0]
        print(f"{label:<24}" + "".join(f"{walls[n]:>12.2f}" for n in sizes)
              + "".join(f"{c:>12.2f}" for c in cells))
    if "OpenEvolve" in per:
        for label in ("adrs, fake model", "adrs, offline mutator"):
            if label in per:
                print(f"OpenEvolve / {label}: {per['OpenEvolve'] / per[label]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
