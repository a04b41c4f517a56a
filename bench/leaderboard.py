"""Benchmark: the ADRS Leaderboard suite, ours against the leaderboard's own evaluator.

For one solution per problem it times adrs's full leaderboard evaluation (the jailed
``solve()``, the jailed strategy played step by step on the whole grid, the judge's
replay) and, when ``--reference DIR`` names a prepared copy of the leaderboard's problem
folders (see below), the leaderboard evaluator on the same solution, in the same run, and
prints both scores and the ratio. Then it times ``adrs leaderboard`` over the whole
snapshot.

    python bench/leaderboard.py [--board ../shared/leaderboard] [--data ../shared/data]
        [--reference /tmp/ref] [--python /tmp/refvenv/bin/python] [--skip-table] [--check]
        [--problem FOLDER] [--eplb-history FILE]

The reference run stays outside the project: copy ``problems/<name>`` of the snapshot to
``DIR/problems/<name>``, unpack its ``real_traces.tar.gz`` under
``resources/cant-be-late-simulator/data`` (the multi-region archive) or
``resources/cant-be-late-simulator`` (the single-region one), and give a Python with
numpy, pandas, configargparse, pyyaml, filelock, tqdm and wandb. For llm_sql, put
``beer.csv`` (= ``../shared/data/llm_sql_beer.csv``) in ``resources/datasets``, delete its
cached ``resources/baseline_result.json``, and make its evaluator pair the merge specs
with the tables by name (it pairs them by position, which gives beer movies' merges when
beer is alone); its score's 5% runtime part is wall time, never the same twice. For eplb, the history of
``--eplb-history FILE`` (default: the tests' small synthetic one,
``tests/problems/eplb_history.py``, written to a temporary folder) is what both sides
score: ours reads it, and it is copied to ``DIR/datasets/eplb/expert-load.json``, where
the leaderboard's evaluator looks; its score's speed part is time, measured differently
on the two sides (the leaderboard: the call's wall time in its own process; ours: the
call's CPU time, measured by the judge outside the jail), so the balancedness is what
agrees (the leaderboard's ``balancedness_score_gpu`` is printed beside ours).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAIRS = (("cant_be_late", "gepa"), ("cant_be_late", "baseline"), ("cant_be_late_multi", "gepa"),
         ("txn_scheduling", "human_SOTA"), ("llm_sql", "LEVI"), ("eplb", "human_SOTA"),
         ("eplb", "shinkaevolve"))
# what each side measured beyond the score, printed after it
_FIGURES = {"eplb": "balancedness_score_gpu"}


def ours(board: Path, data: Path, folder: str, name: str) -> tuple[float, float, str]:
    from adrs import leaderboard
    from adrs.jail import JailRunner
    from adrs.problems import get_problem

    entry = leaderboard.lookup(folder)
    problem = get_problem(entry.problem, data=str(data))
    problem.warm_jails = False
    runner = JailRunner()
    try:
        started = time.perf_counter()
        path = board / "solutions" / folder / name / "resources" / "solution.py"
        result = leaderboard.evaluate_solution(problem, entry, path, runner=runner)
        seconds = time.perf_counter() - started
    finally:
        runner.close()
    if not result.ok:
        raise SystemExit(f"{folder}/{name} failed here: {result.error}")
    figure = _FIGURES.get(folder)
    return seconds, result.score, (f"{figure} {result.metrics[figure]:.12g}" if figure
                                   else "")


def reference(ref: Path, python: str, board: Path, folder: str,
              name: str) -> tuple[float, float, str] | None:
    """The leaderboard's evaluator on one solution, staged where its scripts stage it
    (``problems/<folder>/resources/execution_env/solution_env/solution.py``)."""
    folder_dir = ref / "problems" / folder
    if not (folder_dir / "evaluator.py").is_file():
        return None
    staged = folder_dir / "resources" / "execution_env" / "solution_env" / "solution.py"
    staged.parent.mkdir(parents=True, exist_ok=True)
    resources = board / "solutions" / folder / name / "resources"
    # llm_sql's solve.sh stages every .py of the submission (its solver.py, utils.py)
    for source in (resources.glob("*.py") if folder == "llm_sql"
                   else [resources / "solution.py"]):
        shutil.copyfile(source, staged.parent / source.name)
    simulator = folder_dir / "resources" / "cant-be-late-simulator"
    env = {**os.environ, "WANDB_MODE": "disabled", "EVALUATOR_MAX_WORKERS": "2",
           "CBL_LOG_LEVEL": "WARNING", "PYTHONPATH": str(simulator)}
    started = time.perf_counter()
    out = ["--out", str(folder_dir / "results.json")] if folder == "llm_sql" else []
    done = subprocess.run([python, "evaluator.py", "--solution", str(staged), *out],
                          cwd=folder_dir, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        print(f"  reference {folder}/{name} gave no result: {done.stderr[-500:]}")
        return None
    payload = json.loads(lines[-1])
    figure = _FIGURES.get(folder)
    return (seconds, float(payload.get("score", float("nan"))),
            f"{figure} {payload[figure]:.12g}" if figure and figure in payload else "")


def eplb_history(given: str | None, ref: str | None) -> Path:
    """The folder of the eplb history both sides score (the tests' synthetic one unless
    ``given``), copied where the leaderboard's evaluator of ``ref`` reads it."""
    if given:
        source = Path(given)
    else:
        sys.path.insert(0, str(ROOT))
        from tests.problems.eplb_history import write_history

        scratch = tempfile.mkdtemp(prefix="adrs-eplb-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        source = write_history(Path(scratch) / "expert-load.json")
    if ref and (Path(ref) / "problems" / "eplb").is_dir():
        target = Path(ref) / "datasets" / "eplb" / "expert-load.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return source.parent if source.name == "expert-load.json" else source


def compiled_greedy(data: Path) -> tuple[float, float]:
    """Our own greedy program (the leaderboard baseline's policy) as an adrs candidate:
    Numba-compiled in the jail, on the same 1,080 runs."""
    from adrs.jail import JailRunner
    from adrs.problems import get_problem

    problem = get_problem("spot@leaderboard", data=str(data))
    problem.warm_jails = False
    runner = JailRunner()
    try:
        started = time.perf_counter()
        result = problem.evaluate(problem.baseline("greedy").program, runner=runner)
        return time.perf_counter() - started, result.score
    finally:
        runner.close()


def check_published(board: Path, data: Path) -> None:
    """Every pair with a published results.json, scored here."""
    from adrs import leaderboard

    for folder, name, _ in leaderboard.solutions(board):
        published = leaderboard.published_results(board, folder, name)
        entry = leaderboard.PROBLEMS.get(folder)
        if published is None or entry is None or not entry.available():
            continue
        seconds, score, _ = ours(board, data, folder, name)
        print(f"  {folder}/{name}: ours {score:g}, published {published['score']:g} "
              f"({seconds:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default=str(ROOT.parent / "shared" / "leaderboard"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--reference", help="prepared copies of the leaderboard's problems")
    parser.add_argument("--python", default=sys.executable, help="Python for the reference")
    parser.add_argument("--skip-table", action="store_true")
    parser.add_argument("--check", action="store_true",
                        help="also score every published pair and print both scores")
    parser.add_argument("--problem", action="append", default=[], metavar="FOLDER",
                        help="only the pairs of this leaderboard problem (repeatable)")
    parser.add_argument("--eplb-history", metavar="FILE",
                        help="the expert-load.json both sides score for eplb (default: the "
                             "tests' synthetic one)")
    args = parser.parse_args()
    board, data = Path(args.board), Path(args.data)
    pairs = [(f, n) for f, n in PAIRS if not args.problem or f in args.problem]
    history = eplb_history(args.eplb_history, args.reference) \
        if any(f == "eplb" for f, _ in pairs) else data
    print(f"{'pair':<32} {'ours s':>8} {'ours':>7} {'reference s':>12} {'theirs':>7} "
          f"{'speed-up':>9}")
    for folder, name in pairs:
        seconds, score, figure = ours(board, history if folder == "eplb" else data, folder,
                                      name)
        theirs = reference(Path(args.reference), args.python, board, folder, name) \
            if args.reference else None
        if theirs is None:
            print(f"{folder + '/' + name:<32} {seconds:>8.2f} {score:>7.2f} {'-':>12} "
                  f"{'-':>7} {'-':>9}")
        else:
            print(f"{folder + '/' + name:<32} {seconds:>8.2f} {score:>7.2f} "
                  f"{theirs[0]:>12.2f} {theirs[1]:>7.2f} {theirs[0] / seconds:>8.1f}x")
        if figure:
            print(f"  ours: {figure}" + (f"; theirs: {theirs[2]}" if theirs else ""))
    if not args.problem or "cant_be_late" in args.problem:
        greedy(args, board, data)
    if args.check:
        check_published(board, data)
    if not args.skip_table:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "adrs.cli", "leaderboard", str(board),
                        "--workloads", str(data)], check=True, stderr=subprocess.DEVNULL)
        print(f"adrs leaderboard over the whole snapshot: {time.perf_counter() - started:.1f} s "
              f"wall on {os.cpu_count()} CPUs")


def greedy(args: argparse.Namespace, board: Path, data: Path) -> None:
    """The leaderboard's cant_be_late baseline policy as our compiled candidate and as our
    C++ built-in, beside the leaderboard's evaluator on the baseline."""
    from adrs.problems import get_problem

    builtin = get_problem("spot@leaderboard", data=str(data))
    started = time.perf_counter()
    builtin_score = builtin.evaluate_baseline("greedy").score
    builtin_seconds = time.perf_counter() - started
    seconds, score = compiled_greedy(data)
    theirs = reference(Path(args.reference), args.python, board, "cant_be_late", "baseline") \
        if args.reference else None
    label = "cant_be_late greedy (compiled)"
    if theirs is None:
        print(f"{label:<32} {seconds:>8.2f} {score:>7.2f}")
    else:
        print(f"{label:<32} {seconds:>8.2f} {score:>7.2f} {theirs[0]:>12.2f} "
              f"{theirs[1]:>7.2f} {theirs[0] / seconds:>8.1f}x")
    print(f"{'cant_be_late greedy (C++ built-in)':<32} {builtin_seconds:>8.3f} "
          f"{builtin_score:>7.2f}   (the simulation alone, no compile, no jail)")


if __name__ == "__main__":
    main()
