"""``adrs eval``: score a program, or a built-in baseline, on a problem."""

from __future__ import annotations

import argparse
from pathlib import Path

from adrs.commands import Output
from adrs.commands._problem_args import add_problem_arguments, build_problem, build_runner
from adrs.problems import EvalResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_problem_arguments(parser)
    parser.add_argument("program", metavar="PROGRAM.py", nargs="?",
                        help="the candidate program to score")
    parser.add_argument("--baseline", metavar="NAME",
                        help="score a built-in baseline instead of a file")
    parser.add_argument("--format", choices=("program", "leaderboard"), default="program",
                        help="program: an adrs candidate (default); leaderboard: an ADRS "
                             "Leaderboard solution.py (its Solution.solve() gives the code), "
                             "scored with the leaderboard suite")


def run(args: argparse.Namespace) -> Output:
    if (args.program is None) == (args.baseline is None):
        raise ValueError("give a PROGRAM.py or --baseline NAME (one of the two)")
    if args.format == "leaderboard":
        return _run_leaderboard(args)
    problem = build_problem(args)
    source = None
    if args.program is not None:
        path = Path(args.program)
        if not path.is_file():
            raise FileNotFoundError(f"program not found: {path}")
        try:
            source = path.read_text()
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not a text file") from None
    runner = build_runner(args)
    try:
        if source is None:
            result = problem.evaluate_baseline(args.baseline, args.split, runner)
            label = f"baseline {args.baseline}"
        else:
            result = problem.evaluate(source, args.split, runner, filename=path.name)
            label = str(path)
    finally:
        runner.close()
    data = {"problem": problem.name, "program": label, **result.to_json()}
    return Output(render(problem.name, label, result), data, 0 if result.ok else 1)


def _run_leaderboard(args: argparse.Namespace) -> Output:
    """``--format leaderboard``: a leaderboard solution file, on the problem's
    leaderboard suite (``spot`` and ``spot@leaderboard`` alike)."""
    from adrs import leaderboard

    if args.program is None:
        raise ValueError("--format leaderboard scores a solution.py, not a --baseline")
    entry = leaderboard.lookup(args.problem.partition("@")[0])
    reason = leaderboard.unavailable_reason(entry)
    if reason is not None:
        raise ValueError(reason)
    path = Path(args.program)
    if not path.is_file():
        raise FileNotFoundError(f"solution not found: {path}")
    args.problem = entry.problem
    problem = build_problem(args)
    runner = build_runner(args, leaderboard.jail_limits())
    try:
        result = leaderboard.evaluate_solution(problem, entry, path, args.split, runner)
    finally:
        runner.close()
    data = {"problem": problem.name, "program": str(path), **result.to_json()}
    return Output(render(problem.name, str(path), result), data, 0 if result.ok else 1)


def render(problem: str, label: str, result: EvalResult) -> str:
    """The human-readable report of one evaluation."""
    details = result.details
    head = f"{problem}: {label} on {describe_workload(details)}"
    if not result.ok:
        return f"{head}\nFAILED (score {result.score:g}): {result.error}"
    metrics = "  ".join(f"{k} {v:.6g}" for k, v in result.metrics.items()
                        if not k.startswith("avg_cost["))
    timing = f"time {result.seconds:.3f} s"
    parts = [f"{key.removesuffix('_seconds')} {details[key]:.4f} s"
             for key in ("compile_seconds", "simulate_seconds") if key in details]
    if details.get("path"):
        parts.append(str(details["path"]))
    if parts:
        timing += f" ({', '.join(parts)})"
    return "\n".join([head, f"score {result.score!r}", metrics, "", result.feedback, "", timing])


def describe_workload(details: dict) -> str:
    """``train (reference fidelity; ../shared/data/...)``: the split and what a problem says
    about its workload (its ``fidelity`` and ``traces``/``data`` details, when it has them)."""
    notes = []
    if details.get("fidelity"):
        notes.append(f"{details['fidelity']} fidelity")
    source = details.get("traces") or details.get("data")
    if source:
        notes.append(str(source))
    split = details.get("split", "?")
    return f"{split} ({'; '.join(notes)})" if notes else split
