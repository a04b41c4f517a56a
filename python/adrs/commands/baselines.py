"""``adrs baselines``: score every baseline of a problem, side by side."""

from __future__ import annotations

import argparse

from adrs.commands import Output
from adrs.commands._problem_args import add_problem_arguments, build_problem, build_runner
from adrs.commands.evaluate import describe_workload


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_problem_arguments(parser)


def run(args: argparse.Namespace) -> Output:
    problem = build_problem(args)
    rows = []
    runner = build_runner(args)
    try:
        for name, baseline in problem.baselines.items():
            result = problem.evaluate_baseline(name, args.split, runner)
            rows.append((name, baseline.summary, result))
    finally:
        runner.close()
    data = {
        "problem": problem.name,
        "split": args.split,
        "baselines": [{"name": n, "summary": s, **r.to_json()} for n, s, r in rows],
    }
    first = {"split": args.split, **(rows[0][2].details if rows else {})}
    columns = problem.summary_metrics
    widths = [max(len(c), 11) + 2 for c in columns]  # whole names: no truncated headers
    lines = [f"{problem.name} baselines on {describe_workload(first)}",
             f"{'baseline':<28} {'score':>14} "
             + "".join(f"{c:>{w}}" for c, w in zip(columns, widths)) + f" {'time':>9}  summary"]
    for name, summary, result in rows:
        if result.ok:
            values = "".join(f"{result.metrics.get(c, float('nan')):>{w}.6g}"
                             for c, w in zip(columns, widths))
            lines.append(f"{name:<28} {result.score:>14.6f} {values} "
                         f"{result.seconds * 1e3:>7.1f}ms  {summary}")
        else:
            lines.append(f"{name:<28} {'FAILED':>14}  {result.error}")
    return Output("\n".join(lines), data)
