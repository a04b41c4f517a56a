"""The ADRS Leaderboard as a yardstick: its problems mapped onto adrs's, its submissions
(``solutions/<problem>/<name>/resources/solution.py``) loaded and scored on the
leaderboard's 0-100 scale.

A submission defines a ``Solution`` class whose ``solve()`` returns the candidate code;
that code is written against the leaderboard's API for the problem. :data:`PROBLEMS`
says, per leaderboard problem folder, which adrs problem scores it and how its code is
handed over: ``adapter`` (the problem's ``evaluate_leaderboard`` runs code written against
the leaderboard's API: a ``sky_spot`` ``Strategy`` subclass for spot, ``get_random_costs()``
for txn) ``function`` (the problem's own candidate API is already the leaderboard's
function signature, evaluated as is) or ``solution`` (``solve()`` is the algorithm
itself, run on the problem's tables by ``evaluate_solution_file``: llm_sql).
Adding a problem is one entry.

Loading the file and calling ``solve()`` is the submission's code: it runs in a jail
(:mod:`adrs.leaderboard._solve_jail`), never in the judge.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adrs.jail import CandidateFailure, JailTask, Runner
from adrs.problems import EvalResult, Problem, problem_names

LEADERBOARD_ENV_VAR = "ADRS_LEADERBOARD_DIR"
# The leaderboard lets one evaluation run for 600 s (txn's timeout); its submissions may
# search that long, so their jails get that much CPU time (the default is 65 s), and room
# for what such a search memoises (txn's ShinkaEvolve caches every sequence it costs).
CPU_SECONDS = 610.0
MEMORY_MB = 12288


def jail_limits() -> Any:
    """The jail limits for leaderboard submissions: the defaults with the leaderboard's
    time budget and more memory."""
    from dataclasses import replace

    from adrs.jail import JailLimits

    return replace(JailLimits(), cpu_s=CPU_SECONDS, memory_mb=MEMORY_MB)


@dataclass(frozen=True)
class LeaderboardProblem:
    """How one leaderboard problem is scored here.

    Attributes:
        folder: The leaderboard's problem folder name (``cant_be_late``...).
        problem: The adrs problem that scores it, with its suite (``spot@leaderboard``).
        api: ``adapter``, ``function`` or ``solution`` (see the module docstring).
        note: Why it is not scored, when it is not (None: it is).
    """

    folder: str
    problem: str
    api: str
    note: str | None = None

    @property
    def base_problem(self) -> str:
        return self.problem.partition("@")[0]

    def available(self) -> bool:
        """Whether this build can score it (the adrs problem exists and takes it)."""
        return self.note is None and self.base_problem in problem_names()


PROBLEMS: dict[str, LeaderboardProblem] = {entry.folder: entry for entry in (
    LeaderboardProblem("cant_be_late", "spot@leaderboard", "adapter"),
    LeaderboardProblem("cant_be_late_multi", "spot-multi@leaderboard", "adapter"),
    LeaderboardProblem("cloudcast", "cloudcast@leaderboard", "function"),
    LeaderboardProblem("prism", "prism@leaderboard", "function"),
    LeaderboardProblem("txn_scheduling", "txn@leaderboard", "adapter"),
    LeaderboardProblem("llm_sql", "llm-sql@leaderboard", "solution"),
    LeaderboardProblem("eplb", "eplb@leaderboard", "function"),
)}


def lookup(name: str) -> LeaderboardProblem:
    """The entry for a leaderboard folder name or an adrs problem name.

    Raises:
        ValueError: Neither names a leaderboard problem.
    """
    if name in PROBLEMS:
        return PROBLEMS[name]
    for entry in PROBLEMS.values():
        if name in (entry.problem, entry.base_problem):
            return entry
    raise ValueError(f"{name!r} is no leaderboard problem; known: {', '.join(PROBLEMS)}")


def unavailable_reason(entry: LeaderboardProblem) -> str | None:
    """One line on why this build cannot score ``entry``, or None when it can."""
    if entry.note is not None:
        return f"{entry.folder}: not available in this build ({entry.note})"
    if entry.base_problem not in problem_names():
        return (f"{entry.folder}: not available in this build (no problem "
                f"{entry.base_problem!r})")
    return None


def default_root(data: str | None = None) -> Path:
    """The leaderboard checkout to read: ``data``, else ``$ADRS_LEADERBOARD_DIR``.

    Raises:
        ValueError: Neither is given.
        FileNotFoundError: The folder has no ``solutions/``.
    """
    root = data or os.environ.get(LEADERBOARD_ENV_VAR)
    if not root:
        raise ValueError(f"give the leaderboard checkout: DIR, --data or ${LEADERBOARD_ENV_VAR}")
    path = Path(root).expanduser()
    if not (path / "solutions").is_dir():
        raise FileNotFoundError(f"{path} is no leaderboard checkout (it has no solutions/)")
    return path


def checkout_of(path: Path) -> Path:
    """The leaderboard checkout a solution file lies in (the folder holding ``solutions/``
    and ``problems/``), else the file's own folder: what its jail may read."""
    for parent in path.resolve().parents:
        if (parent / "solutions").is_dir() and (parent / "problems").is_dir():
            return parent
    return path.resolve().parent


def load_solution(path: str | os.PathLike[str], runner: Runner, folder: str | None = None,
                  timeout: float = 120.0) -> str:
    """Run a leaderboard ``solution.py``'s ``Solution().solve()`` in a jail and return
    the code it gives.

    Args:
        path: The solution file.
        runner: The jail runner (or an in-process one, for trusted files only).
        folder: The leaderboard problem folder the file is staged under (as the
            leaderboard runs it); None: the file's own place.
        timeout: Seconds ``solve()`` may take.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a text file.
        adrs.jail.CandidateFailure: The file does not load, has no ``Solution``, ``solve()``
            raises or returns something that is no code.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"solution not found: {file}")
    try:
        source = file.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{file} is not a text file") from None
    resolved = file.resolve()
    root = checkout_of(resolved)
    spec = resolved.parent / "submission_spec.json"
    task = JailTask("adrs.leaderboard._solve_jail:SolveHandler", f"leaderboard-solve/{resolved}",
                    {"path": str(resolved), "root": str(root), "folder": folder}, {},
                    paths=(str(root),))
    with runner.session(task, source, file.name) as session:
        reply = session.call("solve", {"spec_path": str(spec)}, timeout=timeout,
                             doing="calling solve()")
    code = reply.header.get("code")
    if not isinstance(code, str) or not code.strip():
        raise CandidateFailure("solve() gave no code")
    return code


def evaluate_solution(problem: Problem, entry: LeaderboardProblem,
                      path: str | os.PathLike[str], split: str = "train",
                      runner: Runner | None = None) -> EvalResult:
    """Score a leaderboard solution file on ``problem`` (built with the leaderboard suite).

    Returns:
        The result; a file that fails to give code, or code that fails, is a failed
        result with one clear line in ``error``, never an exception.
    """
    started = time.perf_counter()
    runner = problem.local_runner(runner)
    if entry.api == "solution":  # the submission's solve() is the algorithm itself
        return problem.evaluate_solution_file(path, split, runner, entry.folder)
    name = Path(path).name
    try:
        code = load_solution(path, runner, entry.folder)
    except CandidateFailure as exc:
        message = " ".join(str(exc).split())
        return EvalResult(getattr(problem, "failure_score", 0.0), {}, {},
                          f"The solution failed: {message}", message,
                          {"split": split}, time.perf_counter() - started)
    if entry.api == "adapter":
        return problem.evaluate_leaderboard(code, split, runner, filename=name)
    return problem.evaluate(code, split, runner, filename=name)


def published_results(root: Path, folder: str, solution: str) -> dict[str, Any] | None:
    """The leaderboard's own ``results.json`` for a pair, or None when it published none."""
    file = root / "results" / folder / solution / "results.json"
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def solutions(root: Path) -> list[tuple[str, str, Path]]:
    """Every ``(problem folder, solution name, solution.py)`` of a checkout, sorted."""
    found = []
    for file in sorted((root / "solutions").glob("*/*/resources/solution.py")):
        found.append((file.parents[2].name, file.parents[1].name, file))
    return found
