"""Benchmark of ``adrs report`` (not part of the test suite); prints measured numbers.

    python bench/report.py [--candidates 10000] [--keep DIR]

Synthesises a run of N candidates with the project's own Database API (the spot
problem's initial program with one edit per candidate, parents drawn from the best so
far as selection does, 4 islands, one model call per candidate, failures and
duplicates), then measures:

1. generation: reading the run and writing the page (goal: under 5 s for 10,000), against
   the bare SQL read of every candidate row (the reference, same run);
2. page size (goal: under 5 MB for 10,000);
3. opening the page in headless Chromium until every view is drawn (goal: under 2 s),
   cold (a fresh browser) and warm (opened again), against a page holding only the same
   inlined Plotly and no data (the reference, same browser).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_of
from adrs.evolve.database import Database
from adrs.evolve.generators._base import LLMCall
from adrs.problems import get_problem
from adrs.report import read_run, render_page
from adrs.report.browser import Browser, find_chromium


def synthesise(folder: Path, count: int, seed: int = 0) -> None:
    """A run folder of ``count`` candidates, written as the controller writes one."""
    rng = random.Random(seed)
    initial = get_problem("spot").initial_program
    lines = initial.splitlines()
    db = Database(folder / "run.sqlite")
    db.set_meta_many({
        "problem_spec": {"factory": "adrs.problems:get_problem", "options": {"name": "spot"},
                         "label": "spot"},
        "budget": count, "seed": seed, "created_at": time.time(),
        "config": {"budget": count, "workers": 2, "sandbox": {"isolation": "auto",
                                                              "timeout_s": 60.0},
                   "generator": {"kind": "llm", "models": [{"name": "model-a"},
                                                           {"name": "model-b"}]}},
        "archive_dims": [{"name": "code_length", "bins": 10, "low": 0.0,
                          "high": 2.0 * len(initial)},
                         {"name": "ast_distance", "bins": 10, "low": 0.0, "high": 1.0}]})
    db.start_run(["bench"], 0)
    first = db.add_candidate(program=initial, parent_id=None, island=0, generation=0,
                             generator="initial")
    db.record_result(first, status="evaluated", score=-100.0, quick_score=None,
                     metrics={"avg_cost": 100.0}, features={"code_length": len(initial),
                                                             "ast_distance": 0.0},
                     feedback="", error=None, output="", eval_seconds=0.1,
                     sandbox_seconds=0.1, eval_seq=1)
    scored = [(-100.0, first, lines, 0)]
    seq = 1
    for n in range(1, count):
        elite = sorted(scored, reverse=True)[: 10]
        parent_score, parent_id, parent_lines, generation = rng.choice(elite)
        child = list(parent_lines)
        k = rng.randrange(len(child))
        child[k] = child[k] + f"  # edit {n}"
        program = "\n".join(child) + "\n"
        model = "model-a" if n % 3 else "model-b"
        call = LLMCall(model, 0, time.time(), rng.uniform(0.5, 9.0), rng.randint(2000, 6000),
                       rng.randint(200, 1500), rng.uniform(0.001, 0.02),
                       "HTTP 429" if n % 97 == 0 else None)
        kind = rng.random()
        if kind < 0.05:
            db.add_candidate(program=program, parent_id=parent_id, island=n % 4,
                             generation=generation + 1, generator=model, status="duplicate",
                             duplicate_of=parent_id, calls=[call])
            continue
        cid = db.add_candidate(program=program, parent_id=parent_id, island=n % 4,
                               generation=generation + 1, generator=model,
                               diff=f"@@ -{k + 1} +{k + 1} @@\n-{parent_lines[k]}\n+{child[k]}",
                               calls=[call])
        seq += 1
        if kind < 0.12:
            db.record_result(cid, status="failed", score=None, quick_score=None, metrics={},
                             features={}, feedback="", error="timed out after 60 s"
                             if kind < 0.09 else "ValueError: bad plan", output="",
                             eval_seconds=60.0, sandbox_seconds=60.0, eval_seq=seq)
            continue
        score = parent_score + rng.gauss(-0.5, 1.0)
        db.record_result(cid, status="evaluated", score=score, quick_score=None,
                         metrics={"avg_cost": -score, "deadline_missed": 0.0},
                         features={"code_length": len(program), "ast_distance": rng.random()},
                         feedback="ok", error=None, output="", eval_seconds=0.1,
                         sandbox_seconds=0.1, eval_seq=seq)
        scored.append((score, cid, child, generation + 1))
    db.finish_run("completed")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--keep", metavar="DIR", help="write the run folder there")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="adrs-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "run.sqlite").exists():
        started = time.perf_counter()
        synthesise(folder, args.candidates)
        print(f"synthesised {args.candidates:,} candidates in "
              f"{time.perf_counter() - started:.1f} s: {folder}")

    def bare_read() -> int:
        with sqlite3.connect(folder / "run.sqlite") as conn:
            return len(conn.execute("SELECT * FROM candidates").fetchall())

    def generate() -> int:
        data = read_run(folder)
        page = render_page(data, title="adrs report: spot", subtitle=str(folder))
        (folder / "report.html").write_text(page)
        return len(page.encode())

    read_s, rows = best_of(3, bare_read)
    cold_s = best_of(1, generate)[0]  # includes compressing Plotly once per process
    warm_s, size = best_of(3, generate)
    print(f"generation: {cold_s:.2f} s first in a process, {warm_s:.2f} s after "
          f"(goal < 5 s) for {rows:,} candidates; bare SQL read of every row {read_s:.3f} s "
          f"(ratio {warm_s / read_s:.1f}x)")
    print(f"page size: {size / 1e6:.2f} MB (goal < 5 MB)")
    if find_chromium() is None:
        print("page opening: skipped, no Chromium (apt-get install chromium)")
        return
    empty = folder / "plotly-only.html"
    empty.write_text(render_page({"kind": "comparison", "generated_at": 0, "runs": []},
                                 title="plotly only"))
    with Browser() as browser:
        cold = browser.open((folder / "report.html").as_uri())
        warm = min(browser.open((folder / "report.html").as_uri()) for _ in range(3))
        reference = min(browser.open(empty.as_uri()) for _ in range(3))
        errors = browser.errors()
    print(f"page opening until drawn: {cold:.2f} s cold (fresh browser), {warm:.2f} s warm "
          f"(goal < 2 s); Plotly alone {reference:.2f} s (ratio {warm / reference:.2f}x); "
          f"console errors: {len(errors)}")


if __name__ == "__main__":
    main()
