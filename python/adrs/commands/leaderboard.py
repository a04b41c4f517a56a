"""``adrs leaderboard [DIR]``: score every solution of an ADRS Leaderboard checkout on the
leaderboard's 0-100 scale, beside its published scores, our baselines and the best
programs of ``adrs run`` folders."""

from __future__ import annotations

import argparse
import html
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from adrs.commands import Output
from adrs.commands._problem_args import build_runner

# the raw figures worth a column, whichever problem reports them
_RAW_METRICS = ("avg_cost", "score_exact", "deadline_missed", "makespan_sum", "makespan",
                "hit_rate", "balancedness", "runtime", "transfer_time", "cost",
                "total_cost", "total_transfer_time",  # cloudcast
                "avg_kvpr", "success_rate",  # prism
                "avg_hit_rate", "normalized_hit_score", "avg_runtime",  # llm-sql
                "balancedness_score_gpu", "times_algorithm")  # eplb


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", metavar="DIR", nargs="?",
                        help="the leaderboard checkout (default: --data, else "
                             "$ADRS_LEADERBOARD_DIR)")
    parser.add_argument("--data", metavar="DIR",
                        help="the leaderboard checkout, when DIR is not given")
    parser.add_argument("--workloads", metavar="DIR",
                        help="folder with adrs's workloads (e.g. ../shared/data); default: "
                             "$ADRS_DATA_DIR")
    parser.add_argument("--problem", action="append", default=[], metavar="NAME",
                        help="only this leaderboard problem (folder name, repeatable)")
    parser.add_argument("--solution", action="append", default=[], metavar="NAME",
                        help="only solutions of this name (repeatable)")
    parser.add_argument("--runs", nargs="+", default=[], metavar="RUN_DIR",
                        help="adrs run folders whose best program joins the table")
    parser.add_argument("--no-baselines", action="store_true",
                        help="leave our baselines out of the table")
    parser.add_argument("--html", metavar="FILE", help="also write the table as a page")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the solutions in this process, not in the jail: only for "
                             "files you trust")


def run(args: argparse.Namespace) -> Output:
    from adrs import leaderboard

    root = leaderboard.default_root(args.root or args.data)
    wanted = set(args.problem)
    unknown = wanted - set(leaderboard.PROBLEMS)
    if unknown:
        raise ValueError(f"no leaderboard problem {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(leaderboard.PROBLEMS)}")
    pairs = [(f, n, p) for f, n, p in leaderboard.solutions(root)
             if (not wanted or f in wanted) and (not args.solution or n in args.solution)]
    progress = None if args.json else sys.stderr
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    problems: dict[str, Any] = {}
    runner = build_runner(args, leaderboard.jail_limits())
    try:
        for k, (folder, name, path) in enumerate(pairs, 1):
            entry = leaderboard.lookup(folder) if folder in leaderboard.PROBLEMS else None
            reason = (f"{folder}: not a problem adrs knows" if entry is None
                      else leaderboard.unavailable_reason(entry))
            if reason is not None:
                if reason not in notes:
                    notes.append(reason)
                continue
            problem = _problem(problems, entry, args)
            if isinstance(problem, str):  # its workload is missing here
                if problem not in notes:
                    notes.append(problem)
                continue
            _say(progress, f"[{k}/{len(pairs)}] {folder}/{name} ...")
            result = leaderboard.evaluate_solution(problem, entry, path, "train", runner)
            published = leaderboard.published_results(root, folder, name)
            rows.append(_row(folder, name, "solution", result, published))
        if not args.no_baselines:
            for folder in sorted({f for f, _, _ in leaderboard.solutions(root)
                                  if (not wanted or f in wanted) and f in leaderboard.PROBLEMS
                                  and leaderboard.PROBLEMS[f].available()}):
                problem = _problem(problems, leaderboard.PROBLEMS[folder], args)
                if isinstance(problem, str):
                    if problem not in notes:
                        notes.append(problem)
                    continue
                for baseline in problem.baselines:
                    _say(progress, f"baseline {folder}/{baseline} ...")
                    result = problem.evaluate_baseline(baseline, "train", runner)
                    rows.append(_row(folder, baseline, "adrs baseline", result, None))
        for run_dir in args.runs:
            rows.append(_run_row(Path(run_dir), problems, args, runner))
    finally:
        runner.close()
    seconds = time.perf_counter() - started
    data = {"root": str(root), "rows": rows, "not_available": notes, "seconds": seconds}
    text = _table(rows, notes, seconds)
    if args.html:
        Path(args.html).write_text(_page(rows, notes, str(root)))
        text += f"\nwrote {args.html}"
    return Output(text, data, 0)


def _say(stream: Any, line: str) -> None:
    if stream is not None:
        print(line, file=stream, flush=True)


def _problem(cache: dict[str, Any], entry: Any, args: argparse.Namespace) -> Any:
    """The problem that scores ``entry``, built once with ``--workloads``; or, when it
    cannot be built (its workload is not there: eplb's ``expert-load.json``), one line
    saying why, so that the other problems are still scored."""
    from adrs.problems import get_problem

    if entry.folder not in cache:
        options: dict[str, Any] = {}
        if args.workloads:
            options["data"] = args.workloads
        try:
            try:
                problem = get_problem(entry.problem, **options)
            except TypeError:  # a problem without a data option
                problem = get_problem(entry.problem)
        except (ValueError, FileNotFoundError) as exc:
            cache[entry.folder] = (f"{entry.folder}: not available here "
                                   f"({' '.join(str(exc).split())})")
            return cache[entry.folder]
        problem.warm_jails = False
        cache[entry.folder] = problem
    return cache[entry.folder]


def _row(folder: str, name: str, kind: str, result: Any,
         published: dict[str, Any] | None) -> dict[str, Any]:
    score = result.score if result.ok else None
    theirs = published.get("score") if published else None
    theirs = float(theirs) if isinstance(theirs, (int, float)) else None
    diff = score - theirs if score is not None and theirs is not None else None
    raw = {k: float(v) for k, v in result.metrics.items() if k in _RAW_METRICS}
    return {"problem": folder, "solution": name, "kind": kind, "score": score,
            "published": theirs, "difference": diff, "metrics": raw, "error": result.error,
            "seconds": result.seconds}


def _run_row(run_dir: Path, problems: dict[str, Any], args: argparse.Namespace,
             runner: Any) -> dict[str, Any]:
    """The best program of an ``adrs run`` folder, scored on its problem's leaderboard
    suite."""
    from adrs import leaderboard
    from adrs.evolve.controller import SUMMARY_NAME
    from adrs.problems import EvalResult

    label = f"run {run_dir}"
    summary_file = run_dir / SUMMARY_NAME
    try:
        summary = json.loads(summary_file.read_text())
        program = Path(summary["best_program_path"]).read_text()
        entry = leaderboard.lookup(str(summary["problem"]).partition("@")[0])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        failed = EvalResult(0.0, error=f"{summary_file}: no best program to score ({exc})")
        return _row("?", label, "adrs run", failed, None)
    reason = leaderboard.unavailable_reason(entry)
    if reason is not None:
        return _row(entry.folder, label, "adrs run", EvalResult(0.0, error=reason), None)
    problem = _problem(problems, entry, args)
    if isinstance(problem, str):
        return _row(entry.folder, label, "adrs run", EvalResult(0.0, error=problem), None)
    result = problem.evaluate(program, "train", runner, filename="best_program.py")
    return _row(entry.folder, label, "adrs run", result, None)


def _fmt(value: Any, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _table(rows: list[dict[str, Any]], notes: list[str], seconds: float) -> str:
    head = (f"{'problem':<20} {'solution':<30} {'kind':<14} {'score':>8} {'published':>9} "
            f"{'diff':>8}  raw metrics")
    lines = [head, "-" * len(head)]
    for row in rows:
        if row["error"]:
            raw = f"FAILED: {row['error']}"
        else:
            raw = "  ".join(f"{k} {v:.6g}" for k, v in row["metrics"].items())
        lines.append(f"{row['problem']:<20} {row['solution'][:30]:<30} {row['kind']:<14} "
                     f"{_fmt(row['score']):>8} {_fmt(row['published']):>9} "
                     f"{_fmt(row['difference'], '+.2f'):>8}  {raw}")
    lines += notes
    lines.append(f"{len(rows)} rows in {seconds:.1f} s")
    return "\n".join(lines)


def _page(rows: list[dict[str, Any]], notes: list[str], root: str) -> str:
    cells = []
    for row in rows:
        raw = (f"FAILED: {row['error']}" if row["error"] else
               ", ".join(f"{k} {v:.6g}" for k, v in row["metrics"].items()))
        values = (row["problem"], row["solution"], row["kind"], _fmt(row["score"]),
                  _fmt(row["published"]), _fmt(row["difference"], "+.2f"), raw)
        cells.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in values)
                     + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in ("problem", "solution", "kind", "score",
                                                "published", "difference", "raw metrics"))
    extra = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>adrs leaderboard</title>"
            "<style>td,th{padding:2px 8px;border-bottom:1px solid #ccc;text-align:left}"
            "</style></head><body>"
            f"<h1>ADRS Leaderboard scored by adrs</h1><p>{html.escape(root)}</p>"
            f"<table><tr>{header}</tr>{''.join(cells)}</table>{extra}</body></html>\n")
