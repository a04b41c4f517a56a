"""The ``prism`` problem: place models on GPUs to minimise the largest KV-cache pressure
(the ADRS Leaderboard's Prism problem, after "Prism: Unleashing GPU Sharing for
Cost-Efficient Multi-LLM Serving").

The candidate defines the leaderboard's ``compute_model_placement(gpu_num, models) ->
{gpu_id: [Model, ...]}``; a published solution's code runs unchanged. The judge runs it
in the jail on each case of the split, checks that every model is placed once, on a GPU
that exists, with no GPU over its 80 GB, computes each GPU's pressure natively from its
own copy of the case, and scores 0-100 exactly as the leaderboard's evaluator: per case
``100 * sqrt(clamp((round_robin - kvpr) / (round_robin - balance), 0, 1))``, then the
mean over the cases. Higher is better; a failed candidate scores 0.0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from adrs.jail import CandidateFailure, JailTask, Runner, Session
from adrs.problems._base import (
    Baseline,
    EvalResult,
    Problem,
    check_choice,
    check_split,
    package_text,
)
from adrs.problems.prism._jail import ENTRY_POINT
from adrs.problems.prism._validate import InvalidPlacement, judge_placement
from adrs.simulators import prism_cases
from adrs.simulators.prism import PrismCase, anchors, case_score, finite_or_zero

_PROGRAMS = "adrs.problems.prism.programs"  # the bundled candidate programs

FAILURE_SCORE = 0.0
DEFAULT_TIME_LIMIT_S = 10.0  # per case, as the leaderboard allows
SUITES = ("default", "leaderboard")  # the same cases and score: the leaderboard's
FAILED_CASES = ("zero", "skip")
QUICK_CASES = 10  # the first train cases
# The held-out test split: one generated case per GPU count, 20 to 2,000 models.
TEST_GPU_COUNTS = (10, 17, 28, 46, 77, 129, 215, 359, 599, 1000)
TEST_SEED = 9001
_TRANSFER_GRACE_S = 1.0  # a reply may take this long past the limit to cross the channel
_TEXT_CAP = 500  # characters of a reason the jail sends
_CPU_MARGIN_S = 2.0  # a process is replaced this long before its CPU limit could bite


@dataclass(frozen=True)
class _BaselineSpec:
    name: str
    summary: str


_BASELINES = (
    _BaselineSpec("round_robin", "model j on GPU j % gpu_num: the leaderboard's 0-point "
                                 "reference"),
    _BaselineSpec("human_sota", "the leaderboard's human SOTA: Prism's greedy (heaviest "
                                "req_rate/slo first, onto the fitting GPU of lowest "
                                "pressure)"),
    _BaselineSpec("best_known", "ours: bisection on the target pressure with a packing "
                                "check, then moves and swaps off the hottest GPU"),
)


@dataclass(frozen=True)
class _Prepared:
    """A case with its anchors (computed once per split)."""

    case: PrismCase
    baseline_kvpr: float
    optimal_kvpr: float


class PrismProblem(Problem):
    """``prism``: see the module docstring.

    Args:
        data: Not used (the cases are generated); accepted so that a command given
            ``--data`` for every problem works.
        suite: ``default`` or ``leaderboard``: the leaderboard's cases and score either
            way; ``leaderboard`` also takes the leaderboard's failed-case rule (``skip``)
            unless ``failed_cases`` is given (``prism@leaderboard`` names it).
        failed_cases: What a case whose call raises or runs past its limit counts:
            ``zero`` (the default suite's): 0 points, in the mean over every case, so a program
            cannot lift its mean by failing on its worst cases; ``skip``: left out of
            the mean, as the leaderboard's evaluator does. For a program that places
            every case the two are the same.
        time_limit_s: Wall-clock seconds one call may take (the leaderboard's 10 s).

    Raises:
        ValueError: An unknown suite or failed-case rule, or a non-positive time limit.
    """

    name = "prism"
    state_of_the_art = "human_sota"
    summary_metrics = ("avg_kvpr", "success_rate", "candidate_seconds")
    failure_score = FAILURE_SCORE
    feature_ranges: Mapping[str, tuple[float, float]] = {"avg_kvpr": (0.0, 0.1),
                                                         "candidate_seconds": (0.0, 30.0)}

    def __init__(self, data: Any = None, suite: str = "default", failed_cases: str | None = None,
                 time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> None:
        check_choice("suite", suite, SUITES)
        if failed_cases is None:
            failed_cases = "skip" if suite == "leaderboard" else "zero"
        check_choice("failed_cases", failed_cases, FAILED_CASES)
        if isinstance(time_limit_s, bool) or not isinstance(time_limit_s, (int, float)) \
                or not 0 < time_limit_s < math.inf:
            raise ValueError(f"time_limit_s must be a positive number of seconds, got "
                             f"{time_limit_s!r}")
        self.suite = suite
        self.failed_cases = failed_cases
        self.time_limit_s = float(time_limit_s)
        self._prepared: dict[str, tuple[_Prepared, ...]] = {}
        self._tasks: dict[str, JailTask] = {}

    # -- the Problem contract -------------------------------------------------------------

    @property
    def description(self) -> str:  # type: ignore[override]
        return package_text("adrs.problems.prism", "description.md")

    @property
    def initial_program(self) -> str:
        return package_text(_PROGRAMS, "human_sota.py")

    @property
    def baselines(self) -> Mapping[str, Baseline]:
        return {b.name: Baseline(b.name, b.summary, package_text(_PROGRAMS, f"{b.name}.py"))
                for b in _BASELINES}

    def jail_task(self, split: str) -> JailTask:
        """The cases of ``split``'s group (train with quick, or the held-out test) as
        arrays of sizes, rates and SLOs."""
        check_split(split)
        group = "test" if split == "test" else "train"
        if group not in self._tasks:
            shared: dict[str, Any] = {"cases": []}
            arrays = {}
            for item in self.cases(group):
                key = item.case.name
                shared["cases"].append({"key": key, "gpu_num": item.case.gpu_num})
                for field in ("model_size", "req_rate", "slo"):
                    arrays[f"{key}.{field}"] = getattr(item.case, field)
            self._tasks[group] = JailTask("adrs.problems.prism._jail:PrismHandler",
                                          f"prism/{group}", shared, arrays)
        return self._tasks[group]

    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        started = time.perf_counter()
        prepared = self.cases(split)
        runner = self.local_runner(runner)
        task = self.jail_task(split)
        limit = self.time_limit_s
        wait = limit + _TRANSFER_GRACE_S
        rows: list[dict[str, Any]] = []
        scoring_seconds = 0.0
        # Each case may take the limit, as on the leaderboard; a jailed process has a CPU
        # limit of its own, so one that may not fit the next case in it is replaced.
        cpu_limit = getattr(getattr(runner, "limits", None), "cpu_s", None)
        session: Session | None = None
        spent = 0.0  # the current process's seconds so far (a single thread's CPU)
        try:
            for item in prepared:
                case = item.case
                doing = f"{case.name}: {ENTRY_POINT}()"
                if session is not None and cpu_limit is not None \
                        and spent + limit + _CPU_MARGIN_S > cpu_limit:
                    session.close()
                    session = None
                if session is None:  # the first case, after a failed call, or a full one
                    try:
                        session = runner.session(task, program, filename, load_timeout=wait)
                    except CandidateFailure as exc:
                        return self._failed(_loading(str(exc)), split, started)
                    load = session.load_reply
                    spent = load.wall_s if load is not None else 0.0
                try:
                    reply = session.call("place", {"case": case.name}, timeout=wait,
                                         doing=doing)
                except CandidateFailure as exc:
                    session.close()
                    session = None
                    rows.append(_failed_row(item, _timed_out(str(exc), limit)))
                    continue
                spent += reply.wall_s
                if reply.wall_s > limit:
                    rows.append(_failed_row(item, f"{doing} took {reply.wall_s:.3f} s, over "
                                                  f"its limit of {limit:g} s"))
                    continue
                invalid = reply.header.get("invalid")
                if invalid is not None:
                    return self._failed(f"{case.name}: {str(invalid)[:_TEXT_CAP]}", split,
                                        started)
                begun = time.perf_counter()
                try:
                    kvpr = judge_placement(case, reply.arrays.get("models"),
                                           reply.arrays.get("gpus"))
                except InvalidPlacement as exc:
                    return self._failed(f"{case.name}: {exc}", split, started)
                scoring_seconds += time.perf_counter() - begun
                rows.append(_row(item, kvpr, reply.wall_s))
        finally:
            if session is not None:
                session.close()
        return self._result(rows, split, started, scoring_seconds)

    # -- cases ----------------------------------------------------------------------------

    def cases(self, split: str) -> tuple[_Prepared, ...]:
        """The cases of a split with their anchors: ``train``, the leaderboard's 50;
        ``quick``, the first 10 of them; ``test``, generated and held out.

        Raises:
            ValueError: Unknown split.
        """
        check_split(split)
        if split not in self._prepared:
            if split == "test":
                chosen = prism_cases.generate_cases(TEST_GPU_COUNTS, TEST_SEED)
            else:
                chosen = prism_cases.leaderboard_cases()
                if split == "quick":
                    chosen = chosen[:QUICK_CASES]
            self._prepared[split] = tuple(_Prepared(case, *anchors(case)) for case in chosen)
        return self._prepared[split]

    def _source(self, split: str) -> str:
        if split == "test":
            return (f"generated, held out: {len(TEST_GPU_COUNTS)} cases of "
                    f"{TEST_GPU_COUNTS[0]}-{TEST_GPU_COUNTS[-1]} GPUs (seed {TEST_SEED})")
        count = QUICK_CASES if split == "quick" else prism_cases.LEADERBOARD_CASES
        return f"the ADRS Leaderboard's cases (numpy seed 42), {count} of 50"

    # -- results --------------------------------------------------------------------------

    def _result(self, rows: list[dict[str, Any]], split: str, started: float,
                scoring_seconds: float) -> EvalResult:
        placed = [row for row in rows if row["error"] is None]
        if not placed:
            return self._failed(f"every case failed; the first: {rows[0]['error']}", split,
                                started, rows)
        # np.mean over lists, as the leaderboard's evaluator takes its means
        leaderboard_score = finite_or_zero(np.mean([row["score"] for row in placed]))
        if self.failed_cases == "skip":
            score = leaderboard_score
        else:
            score = finite_or_zero(np.mean([row["score"] for row in rows]))
        seconds = [row["seconds"] for row in placed]
        metrics = {
            "leaderboard_score": leaderboard_score,
            "avg_kvpr": finite_or_zero(np.mean([row["kvpr"] for row in placed])),
            "baseline_kvpr": finite_or_zero(np.mean([row["baseline_kvpr"] for row in placed])),
            "optimal_kvpr": finite_or_zero(np.mean([row["optimal_kvpr"] for row in placed])),
            "success_rate": len(placed) / len(rows),
            "failed_cases": float(len(rows) - len(placed)),
            "candidate_seconds": float(sum(seconds)),
            "execution_time": finite_or_zero(np.mean(seconds)),
            "max_kvpr_worst": max(row["kvpr"] for row in placed),
        }
        features = {"avg_kvpr": metrics["avg_kvpr"],
                    "candidate_seconds": metrics["candidate_seconds"]}
        details = {"split": split, "data": self._source(split), "suite": self.suite,
                   "failed_cases": self.failed_cases, "time_limit_s": self.time_limit_s,
                   "path": "numba", "simulate_seconds": scoring_seconds, "cases": rows}
        return EvalResult(score, metrics, features, self._feedback(rows, score), None,
                          details, time.perf_counter() - started)

    def _feedback(self, rows: list[dict[str, Any]], score: float) -> str:
        failed = sum(row["error"] is not None for row in rows)
        rule = ("failed cases count 0" if self.failed_cases == "zero"
                else "failed cases left out, as the leaderboard does")
        lines = [f"score {score:.4f}: the mean over {len(rows)} cases of 100 * sqrt(clamp("
                 "(round_robin - kvpr) / (round_robin - balance), 0, 1)), where kvpr is the "
                 "largest pressure sum(req_rate / slo) / (80 - sum(model_size)) over the GPUs"
                 + (f"; {failed} failed ({rule})" if failed else ""),
                 (f"{'case':<10}{'GPUs':>6}{'models':>8}{'max KVPR':>11}{'round robin':>13}"
                  f"{'balance':>10}{'score':>8}{'seconds':>9}")]
        for row in rows:
            if row["error"] is not None:
                lines.append(f"{row['case']:<10}{row['gpus']:>6}{row['models']:>8}  FAILED: "
                             f"{row['error']}")
                continue
            lines.append(f"{row['case']:<10}{row['gpus']:>6}{row['models']:>8}"
                         f"{row['kvpr']:>11.5f}{row['baseline_kvpr']:>13.5f}"
                         f"{row['optimal_kvpr']:>10.5f}{row['score']:>8.2f}"
                         f"{row['seconds']:>9.3f}")
        lines.append("balance: the pressure if every GPU had the same (no placement beats "
                     "it); round robin scores 0, balance 100.")
        return "\n".join(lines)

    def _failed(self, message: str, split: str, started: float,
                rows: list[dict[str, Any]] | None = None) -> EvalResult:
        details = {"split": split, "data": self._source(split), "suite": self.suite,
                   "failed_cases": self.failed_cases, "cases": rows or []}
        return EvalResult(FAILURE_SCORE, {}, {}, f"The candidate failed: {message}", message,
                          details, time.perf_counter() - started)


def _row(item: _Prepared, kvpr: float, seconds: float) -> dict[str, Any]:
    case = item.case
    score = case_score(item.baseline_kvpr, item.optimal_kvpr, kvpr)
    return {"case": case.name, "gpus": case.gpu_num, "models": case.num_models,
            "kvpr": finite_or_zero(kvpr), "baseline_kvpr": finite_or_zero(item.baseline_kvpr),
            "optimal_kvpr": finite_or_zero(item.optimal_kvpr), "score": finite_or_zero(score),
            "seconds": seconds, "error": None}


def _failed_row(item: _Prepared, error: str) -> dict[str, Any]:
    case = item.case
    return {"case": case.name, "gpus": case.gpu_num, "models": case.num_models,
            "kvpr": None, "baseline_kvpr": item.baseline_kvpr,
            "optimal_kvpr": item.optimal_kvpr, "score": 0.0, "seconds": None,
            "error": error}


def _timed_out(message: str, limit: float) -> str:
    if ": timed out after" in message:
        return message.split(": timed out")[0] + f" ran past its limit of {limit:g} s (killed)"
    return message


def _loading(message: str) -> str:
    if message.startswith(("loading ran past", "loading: timed out")):
        return "the program's module code ran past its time limit (killed)"
    return message


def score_leaderboard_code(code: str, runner: Runner | None = None,
                           filename: str = "solution.py",
                           time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> EvalResult:
    """Score placement code on the leaderboard's 50 cases exactly as its evaluator does,
    failed cases left out of the mean (``failed_cases="skip"``).

    Args:
        code: Source defining ``compute_model_placement(gpu_num, models)``.
        runner: Where the code runs: a :class:`~adrs.jail.JailRunner` for anything not
            your own; None runs it in this process.
        filename: The code's file name, as its errors name it.
        time_limit_s: Seconds per case.

    Returns:
        The result: ``score`` on the leaderboard's 0-100 scale, the raw figures in
        ``metrics`` (``avg_kvpr``, ``baseline_kvpr``, ``optimal_kvpr``, ``success_rate``).
    """
    problem = PrismProblem(suite="leaderboard", failed_cases="skip", time_limit_s=time_limit_s)
    problem.warm_jails = False
    return problem.evaluate(code, "train", runner, filename)
