"""The ``spot`` and ``spot-multi`` problems: evolve a policy that finishes a job before its
deadline at the lowest cost, using cheap preemptible spot instances and reliable on-demand
ones ("Can't Be Late", NSDI'24; the ADRS paper's first case study).

Scores follow the reference evaluators (spec 3.1 and 3.2): one region,
``-mean(cost) - 0.25 * std(cost)`` over the runs; many regions, ``-mean`` of the
per-scenario mean costs. Higher is better.
"""

from __future__ import annotations

import abc
import os
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adrs import _core
from adrs.jail import CandidateFailure, JailTask, Runner
from adrs.jail._wire import clean_text
from adrs.problems._base import (
    Baseline,
    EvalResult,
    Problem,
    check_choice,
    check_split,
    package_text,
)
from adrs.problems.spot import _workloads as workloads
from adrs.problems.spot._jail import RESULT_COLUMNS, pack
from adrs.problems.spot._subset import check_policy_program
from adrs.simulators.spot_layout import ON_DEMAND_PRICE, STATUS_NAMES, STATUS_OK

_PROGRAMS = "adrs.problems.spot.programs"  # the bundled candidate programs

FIDELITIES = ("reference", "corrected")
SUITES = ("default", "leaderboard")
# The leaderboard's anchors: a job's cost on demand throughout and on spot throughout.
SPOT_PRICE = 0.9731  # $/h, the reference's spot price (COSTS[SPOT])
COST_K = ON_DEMAND_PRICE / SPOT_PRICE
PATHS = ("cpp", "numba", "interpreted")


@dataclass(frozen=True)
class _BaselineSpec:
    name: str
    builtin: str
    summary: str


_SINGLE_BASELINES = (
    _BaselineSpec("always_on_demand", "always_on_demand",
                  "on demand from start to finish: the cost ceiling of a safe policy"),
    _BaselineSpec("greedy", "greedy",
                  "the reference evaluator's seed: spot when available, on demand when late"),
    _BaselineSpec("uniform_progress_simplified", "uniform_progress_simplified",
                  "the reference evaluator's simplified Uniform Progress program"),
    _BaselineSpec("uniform_progress", "uniform_progress",
                  "Uniform Progress as published (NSDI'24): the state of the art"),
)
_MULTI_BASELINES = (
    _BaselineSpec("always_on_demand", "always_on_demand",
                  "on demand in the first region from start to finish"),
    _BaselineSpec("multi_seed", "multi_seed",
                  "the reference multi-region evaluator's seed: round-robin over regions"),
    _BaselineSpec("multi_uniform_progress", "multi_uniform_progress",
                  "multi-region Uniform Progress as published: the state of the art"),
)




class SpotProblem(Problem):
    """Shared machinery of the one- and many-region spot problems.

    Args:
        data: Where the traces are (see :func:`~adrs.problems.spot._workloads.resolve_traces`);
            None means ``$ADRS_DATA_DIR`` or else synthetic traces.
        fidelity: ``reference`` (default: reproduces the reference simulators, quirks
            included) or ``corrected`` (docs/spot.md lists the differences).
        traces: A trace file, folder or archive to evaluate on instead of the built-in
            splits (every split is then this custom workload); needs ``scenarios``.
        scenarios: ``(duration, deadline, overhead)`` hours, or ``"D:T:O"`` strings, for
            ``traces``.
        path: Which simulator path scores: ``cpp`` (official), ``numba`` or ``interpreted``.
        suite: ``default`` (the ADRS paper's evaluator) or ``leaderboard`` (the ADRS
            Leaderboard's grid and 0-100 score, also named ``spot@leaderboard``).

    Raises:
        ValueError: Unknown fidelity, path or suite, scenarios without traces, bad
            scenarios, or the leaderboard suite with rules or traces it does not use.
    """

    multi_region: bool = False
    summary_metrics = ("avg_cost", "deadline_missed")
    failure_score: float = -100000.0
    _baseline_specs: tuple[_BaselineSpec, ...] = ()
    _initial: str = ""

    def __init__(self, data: str | os.PathLike[str] | None = None, fidelity: str = "reference",
                 traces: str | os.PathLike[str] | None = None,
                 scenarios: Sequence[tuple[float, float, float] | str] | None = None,
                 path: str = "cpp", suite: str = "default") -> None:
        check_choice("suite", suite, SUITES)
        if suite == "leaderboard" and (fidelity != "reference" or traces is not None):
            raise ValueError("the leaderboard suite scores the leaderboard's own traces under "
                             "the reference rules: it takes no fidelity or traces")
        if suite == "leaderboard" and data is None and not os.environ.get(workloads.DATA_ENV_VAR):
            raise ValueError("the leaderboard suite runs on the real traces: give --data "
                             f"(e.g. ../shared/data) or set ${workloads.DATA_ENV_VAR}")
        self.suite = suite
        if suite == "leaderboard":
            self.name = f"{type(self).name}@leaderboard"
            self.failure_score = 0.0  # the leaderboard's score of a failed candidate
            self.summary_metrics = ("score_exact", "avg_cost", "deadline_missed")
        if fidelity not in FIDELITIES:
            raise ValueError(f"unknown fidelity {fidelity!r}; expected one of "
                             f"{', '.join(FIDELITIES)}")
        if path not in PATHS:
            raise ValueError(f"unknown path {path!r}; expected one of {', '.join(PATHS)}")
        if scenarios and traces is None:
            raise ValueError("scenarios apply to your own traces: give traces too")
        self.fidelity = fidelity
        self.path = path
        self._data = data
        self._custom_traces = traces
        self._custom_scenarios = [workloads.parse_scenario(s) if isinstance(s, str)
                                  else tuple(float(x) for x in s) for s in (scenarios or [])]
        if traces is not None and not self._custom_scenarios:
            raise ValueError("give at least one scenario DURATION:DEADLINE:OVERHEAD "
                             "for your traces")
        self._traces: Any = None
        self.trace_source = ""
        self._tasks: dict[str, JailTask] = {}
        self._workloads: dict[str, workloads.Workload] = {}

    # -- the Problem contract -------------------------------------------------------------

    @property
    def initial_program(self) -> str:
        return package_text(_PROGRAMS, f"{self._initial}.py")

    @property
    def baselines(self) -> Mapping[str, Baseline]:
        return {spec.name: Baseline(spec.name, spec.summary,
                                    package_text(_PROGRAMS, f"{spec.builtin}.py"),
                                    spec.builtin) for spec in self._baseline_specs}

    def jail_task(self, split: str) -> JailTask:
        """The runs of ``split``'s group (train with its quick subset, or the held-out
        test, or a custom workload), packed with only the traces they read."""
        check_split(split)
        group = self._group(split)
        if group[0] in self._tasks:
            return self._tasks[group[0]]
        arrays: dict[str, Any] = {}
        for member in group:
            arrays.update(pack(self.workload(member), member))
        # a search's jail compiles our baselines first, so that candidates start warm; a
        # one-shot evaluation (adrs eval) would only wait for it
        warm = [b.program for b in self.baselines.values()] if self.warm_jails else []
        shared = {"splits": list(group), "fidelity": self.fidelity,
                  "multi_region": self.multi_region, "path": self.path,
                  "warm_programs": warm}
        task = JailTask("adrs.problems.spot._jail:SpotHandler",
                        f"{self.name}/{group[0]}/{self.fidelity}/{self.path}", shared, arrays,
                        preload=("numba", "adrs.bridge"))
        self._tasks[group[0]] = task
        return task

    def _group(self, split: str) -> tuple[str, ...]:
        if self._custom_traces is not None:
            return (split,)
        return ("test",) if split == "test" else ("train", "quick")

    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        started = time.perf_counter()
        workload = self.workload(split)
        try:
            check_policy_program(program, filename)
        except ValueError as exc:  # refused before anything of it runs
            return self._failed(str(exc), workload, started)
        return self._evaluate_in_jail(self.jail_task(split), program, split, runner,
                                      filename, started)

    def evaluate_strategy(self, program: str, split: str = "train",
                          runner: Runner | None = None,
                          filename: str = "strategy.py") -> EvalResult:
        """Score a ``sky_spot`` ``Strategy`` subclass (the ADRS Leaderboard's candidate
        API), run interpreted in the jail on this problem's runs; the judge replays its
        actions as for any candidate.

        Args:
            program: Source text defining the strategy class.
            split: As for :meth:`evaluate`.
            runner: As for :meth:`evaluate`.
            filename: The program's file name, as its errors name it.

        Returns:
            The result; a strategy that fails to load or raises is a failed result.
        """
        started = time.perf_counter()
        base = self.jail_task(split)
        task = JailTask("adrs.problems.spot._strategy_jail:StrategyHandler",
                        base.key + "/strategy", {**base.shared, "warm_programs": []},
                        base.arrays)
        saved, self.path = self.path, "cpp"  # a strategy's actions are always replayed
        try:
            return self._evaluate_in_jail(task, program, split, runner, filename, started)
        finally:
            self.path = saved

    evaluate_leaderboard = evaluate_strategy  # the leaderboard's candidate API, by its name

    def _evaluate_in_jail(self, task: JailTask, program: str, split: str,
                          runner: Runner | None, filename: str, started: float) -> EvalResult:
        workload = self.workload(split)
        runner = self.local_runner(runner)
        if self.path != "cpp" and not runner.trusted:
            raise ValueError(f"path {self.path!r} cross-checks the simulators on your own "
                             "trusted programs: use it with --no-sandbox")
        try:
            with runner.session(task, program, filename) as session:
                reply = session.call("simulate", {"split": split}, timeout=3600.0,
                                     doing="simulating")
                load = session.load_reply
        except CandidateFailure as exc:
            return self._failed(str(exc), workload, started)
        messages = _messages(reply.header.get("messages"), len(workload))
        if self.path == "cpp":
            actions = reply.arrays.get("actions")
            offsets = reply.arrays.get("action_offsets")
            if actions is None or offsets is None or offsets.shape != (len(workload) + 1,) \
                    or actions.dtype != np.int64 or offsets.dtype != np.int64:
                return self._failed("the jail's reply holds no actions for every run",
                                    workload, started)
            try:  # the judge's own simulation of what the policy did
                runs = self._simulate(workload, (actions, offsets), "cpp")
            except ValueError as exc:
                return self._failed(f"the jail's actions are malformed: {exc}", workload,
                                    started)
        else:
            runs = {name: np.asarray(reply.arrays[name]) for name in RESULT_COLUMNS}
            runs["simulate_seconds"] = reply.wall_s
        runs["messages"] = messages
        timings = {"compile_seconds": load.wall_s if load is not None else 0.0,
                   "candidate_seconds": reply.wall_s}
        return self._result(workload, runs, started, self.path, timings)

    def evaluate_baseline(self, name: str, split: str = "train",
                          runner: Runner | None = None) -> EvalResult:
        """Score a baseline through its built-in C++ policy (no compile, no candidate
        code: nothing to jail).

        Raises:
            ValueError: No baseline of that name.
        """
        baseline = self.baseline(name)
        started = time.perf_counter()
        workload = self.workload(split)
        runs = self._simulate(workload, baseline.builtin, "cpp")
        runs["messages"] = [""] * len(workload)
        return self._result(workload, runs, started, "cpp-builtin", {})

    # -- workloads ----------------------------------------------------------------------

    @property
    def traces(self) -> Any:
        """The loaded trace set (loaded on first use)."""
        if self._traces is None:
            if self._custom_traces is not None:
                self._traces, self.trace_source = workloads.resolve_traces(self._custom_traces)
            else:
                self._traces, self.trace_source = workloads.resolve_traces(self._data)
        return self._traces

    def workload(self, split: str) -> workloads.Workload:
        """The runs of a split (every split is the custom workload when traces were given).

        Raises:
            ValueError: Unknown split, or traces that lack what the split needs.
        """
        check_split(split)
        key = "custom" if self._custom_traces is not None else split
        if key not in self._workloads:
            if key == "custom":
                self._workloads[key] = workloads.custom_workload(
                    self.traces, self._custom_scenarios, self.multi_region)
            else:
                self._workloads[key] = self._split_workload(split)
        return self._workloads[key]

    @abc.abstractmethod
    def _split_workload(self, split: str) -> workloads.Workload:
        """The runs of a built-in split."""

    # -- simulation and scoring -----------------------------------------------------------

    def _simulate(self, workload: workloads.Workload, policy: Any, path: str,
                  record_history: bool = False) -> dict[str, Any]:
        traces = workload.traces
        args = (traces.available, traces.prices, traces.offsets, traces.gap_seconds,
                workload.run_traces, workload.run_offsets, workload.scenarios_hours,
                self.multi_region, self.fidelity, policy, record_history)
        started = time.perf_counter()
        if path == "numba":
            from adrs.simulators import spot as numba_spot

            runs = numba_spot.simulate(*args)
        else:
            runs = _core.spot_simulate(*args)
        runs["simulate_seconds"] = time.perf_counter() - started
        return runs

    @abc.abstractmethod
    def _aggregate(self, workload: workloads.Workload, cost: np.ndarray) -> tuple[float, dict]:
        """The score and the cost metrics, as the reference evaluator aggregates."""

    def _result(self, workload: workloads.Workload, runs: dict[str, Any], started: float,
                path: str, timings: dict[str, float]) -> EvalResult:
        status = runs["status"]
        failed = np.flatnonzero(status != STATUS_OK)
        if failed.size:
            message = self._failure_message(workload, runs, int(failed[0]))
            if failed.size > 1:
                message += f" ({failed.size} of {len(workload)} runs failed)"
            return self._failed(message, workload, started, runs, path)
        gaps = workload.traces.gap_seconds[workload.run_traces[workload.run_offsets[:-1]]]
        seconds_late = runs["finish_tick"] * gaps - workload.scenarios_hours[:, 1] * 3600.0
        late = seconds_late > 1e-9
        penalty = self.late_penalty(workload.scenarios_hours[:, 0],
                                    np.where(late, seconds_late / 3600.0, 0.0))
        cost = runs["cost"] + penalty
        score, metrics = self._aggregate(workload, cost)
        if self.fidelity == "corrected":
            metrics["late_penalty_usd"] = float(penalty.sum())
        billed = np.maximum(runs["ticks"].sum(), 1)
        metrics.update({
            "runs": float(len(workload)),
            "deadline_missed": float(late.sum()),
            "on_demand_share": float(runs["on_demand_ticks"].sum() / billed),
            "spot_share": float(runs["spot_ticks"].sum() / billed),
            "simulated_ticks": float(runs["ticks"].sum()),
        })
        features = {"on_demand_share": metrics["on_demand_share"],
                    "spot_share": metrics["spot_share"]}
        feedback = self._feedback(workload, cost, late, metrics)
        details = self._details(workload, runs, path, late, timings)
        if self.fidelity == "corrected":
            for run, extra in zip(details["runs"], penalty):
                run["late_penalty"] = float(extra)
        return EvalResult(score, metrics, features, feedback, None, details,
                          time.perf_counter() - started)

    def late_penalty(self, duration_hours: np.ndarray, hours_late: np.ndarray) -> np.ndarray:
        """What finishing late adds to a run's cost, in $ (zero for runs on time).

        ``reference`` adds nothing: the reference evaluators score a late run by its cost
        alone. ``corrected`` prices a miss as the Can't Be Late framing has it: a job past
        its deadline is a failed job, so the user pays for the late run, then for the job
        again on demand (``duration x 3.06 $/h``, the cost of the one policy sure to make
        the deadline), plus ``3.06 $`` per hour late. A late run so always costs more than
        running on demand from the start, and a later one more than an earlier one.

        Args:
            duration_hours: Each run's job length, hours.
            hours_late: Each run's completion past its deadline, hours (0 when on time).
        """
        if self.fidelity != "corrected":
            return np.zeros_like(hours_late)
        return np.where(hours_late > 0, ON_DEMAND_PRICE * (duration_hours + hours_late), 0.0)

    def _with_rules(self, description: str) -> str:
        """The description with the rules of this fidelity filled in, so that the model
        knows what a missed deadline costs before it is scored on it."""
        if self.fidelity == "corrected":
            lateness = ("A run that finishes after its deadline is a failed job: it costs "
                        "what it spent, plus the whole job again on demand (duration x 3.06 "
                        "$/h), plus 3.06 $ per hour late, so a miss is always worse than "
                        "running on demand throughout.")
            billing = "Each spot tick is billed at the price of the region it ran in."
        else:
            lateness = ("Finishing late is not penalised beyond its cost (the reference "
                        "rule), but the safety net makes it rare.")
            billing = ("The whole run is billed at the final region's first spot price (a "
                       "quirk of the reference simulator, kept in `reference` fidelity).")
        return description.replace("<<LATENESS>>", lateness).replace("<<BILLING>>", billing)

    def _failed(self, message: str, workload: workloads.Workload, started: float,
                runs: dict[str, Any] | None = None, path: str = "") -> EvalResult:
        details: dict[str, Any] = {"split": workload.split, "traces": self.trace_source,
                                   "fidelity": self.fidelity}
        if runs is not None:
            details.update(self._details(workload, runs, path, None, {}))
        return EvalResult(self.failure_score, {}, {}, f"The candidate failed: {message}",
                          message, details, time.perf_counter() - started)

    def _failure_message(self, workload: workloads.Workload, runs: dict[str, Any],
                         i: int) -> str:
        status = STATUS_NAMES[int(runs["status"][i])]
        tick = int(runs["status_tick"][i])
        where = (f"run {workload.groups[i]}/{workload.trace_ids[i]} "
                 f"(scenario {workload.scenario_label(i)}) at tick {tick}")
        message = runs["messages"][i]
        if status == "trace_overrun":
            return (f"{where}: the job ran past the end of the trace without finishing "
                    "(the reference simulator never ends such a run)")
        if status == "invalid_action":
            action = int(runs["bad_action"][i])
            detail = message or f"returned {action}"
            moves = " or cluster_type + 3 * (region + 1)" if self.multi_region else ""
            return (f"{where}: the policy {detail}, not an action (0 NONE, 1 SPOT, "
                    f"2 ON_DEMAND{moves})")
        if status == "replay_mismatch":
            return (f"run {workload.groups[i]}/{workload.trace_ids[i]}: the jail reported "
                    f"actions that do not fit the run (after {tick} of them)")
        return f"{where}: the policy raised {message or 'an exception'}"

    def _details(self, workload: workloads.Workload, runs: dict[str, Any], path: str,
                 late: np.ndarray | None, timings: dict[str, float]) -> dict[str, Any]:
        per_run = []
        for i in range(len(workload)):
            cost = float(runs["cost"][i])
            per_run.append({
                "group": workload.groups[i],
                "trace": workload.trace_ids[i],
                "duration": float(workload.scenarios_hours[i, 0]),
                "deadline": float(workload.scenarios_hours[i, 1]),
                "overhead": float(workload.scenarios_hours[i, 2]),
                "cost": cost if np.isfinite(cost) else None,
                "ticks": int(runs["ticks"][i]),
                "finish_tick": int(runs["finish_tick"][i]),
                "spot_ticks": int(runs["spot_ticks"][i]),
                "on_demand_ticks": int(runs["on_demand_ticks"][i]),
                "final_region": int(runs["final_region"][i]),
                "deadline_missed": bool(late[i]) if late is not None else None,
                "status": STATUS_NAMES[int(runs["status"][i])],
            })
        return {
            "split": workload.split,
            "traces": self.trace_source,
            "fidelity": self.fidelity,
            "path": path,
            "simulate_seconds": runs["simulate_seconds"],
            **timings,
            "runs": per_run,
        }

    @abc.abstractmethod
    def _feedback(self, workload: workloads.Workload, cost: np.ndarray, late: np.ndarray,
                  metrics: dict[str, float]) -> str:
        """The per-scenario breakdown the model is shown."""


class SingleRegionSpotProblem(SpotProblem):
    """``spot``: one region, the reference single-region evaluator's 1,080 runs."""

    name = "spot"
    state_of_the_art = "uniform_progress"
    constraint_metrics = ("deadline_missed",)
    multi_region = False
    failure_score = -100000.0  # what the reference evaluator gives a failed candidate
    _baseline_specs = _SINGLE_BASELINES
    _initial = "greedy"

    @property
    def description(self) -> str:  # type: ignore[override]
        return self._with_rules(package_text("adrs.problems.spot", "description.md"))

    def _split_workload(self, split: str) -> workloads.Workload:
        if self.suite == "leaderboard":
            return workloads.leaderboard_single_workload(self.traces, split)
        return workloads.single_region_workload(self.traces, split)

    def _aggregate(self, workload: workloads.Workload, cost: np.ndarray) -> tuple[float, dict]:
        mean, std = float(np.mean(cost)), float(np.std(cost))
        if self.suite == "leaderboard":
            # the leaderboard's anchors weight each scenario by its run count: the mean
            # over runs of the job's cost on demand (3.06 $/h) and on spot (3.06/COST_K)
            durations = workload.scenarios_hours[:, 0]
            od_anchor = float(np.sum(ON_DEMAND_PRICE * durations) / len(durations))
            spot_anchor = float(np.sum(ON_DEMAND_PRICE / COST_K * durations) / len(durations))
            return _leaderboard_score(mean, od_anchor, spot_anchor, digits=0,
                                      extra={"std_cost": std})
        combined = -mean - 0.25 * std
        return combined, {"combined_score": combined, "avg_cost": mean, "std_cost": std,
                          "minus_avg_cost": -mean}  # the reference evaluator's "score"

    def _feedback(self, workload: workloads.Workload, cost: np.ndarray, late: np.ndarray,
                  metrics: dict[str, float]) -> str:
        cells: dict[tuple[str, str], list[float]] = defaultdict(list)
        for i in range(len(workload)):
            cells[(workload.scenario_label(i), workload.groups[i])].append(float(cost[i]))
        scenarios = list(dict.fromkeys(s for s, _ in cells))
        zones = list(dict.fromkeys(z for _, z in cells))
        head = (_leaderboard_words(metrics, len(workload)) if self.suite == "leaderboard" else
                f"combined score {metrics['combined_score']:.4f} = -mean "
                f"{metrics['avg_cost']:.4f} - 0.25 * std {metrics['std_cost']:.4f} over "
                f"{len(workload)} runs")
        lines = [
            f"{head}; {_late_words(metrics)}.",
            "Mean cost ($) per scenario (duration:deadline:overhead hours) and zone:",
            "scenario        " + " ".join(f"{z:>18}" for z in zones),
        ]
        for s in scenarios:
            row = " ".join(f"{np.mean(cells[(s, z)]):>18.3f}" if (s, z) in cells else
                           f"{'':>18}" for z in zones)
            lines.append(f"{s:<16}{row}")
        worst = sorted(cells, key=lambda c: -np.mean(cells[c]))[:5]
        lines.append("Most expensive cells: " + "; ".join(
            f"{z} {s} ({np.mean(cells[(s, z)]):.2f})" for s, z in worst))
        return "\n".join(lines)


class MultiRegionSpotProblem(SpotProblem):
    """``spot-multi``: many regions, the reference multi-region evaluator's 34 runs."""

    name = "spot-multi"
    state_of_the_art = "multi_uniform_progress"
    constraint_metrics = ("deadline_missed",)
    multi_region = True
    failure_score = -1e9  # the reference's score when no scenario succeeds
    _baseline_specs = _MULTI_BASELINES
    _initial = "multi_seed"

    @property
    def description(self) -> str:  # type: ignore[override]
        return self._with_rules(package_text("adrs.problems.spot", "description_multi.md"))

    def _split_workload(self, split: str) -> workloads.Workload:
        return workloads.multi_region_workload(self.traces, split)

    def _aggregate(self, workload: workloads.Workload, cost: np.ndarray) -> tuple[float, dict]:
        by_scenario: dict[str, list[float]] = defaultdict(list)
        for i in range(len(workload)):
            by_scenario[workload.groups[i]].append(float(cost[i]))
        # Python sum/len in run order, as the reference evaluator averages.
        means = {name: sum(c) / len(c) for name, c in by_scenario.items()}
        final = sum(means.values()) / len(means)
        per_scenario = {f"avg_cost[{name}]": m for name, m in means.items()}
        if self.suite == "leaderboard":
            duration = float(workload.scenarios_hours[0, 0])
            return _leaderboard_score(final, ON_DEMAND_PRICE * duration, SPOT_PRICE * duration,
                                      digits=2, extra=per_scenario)
        metrics = {"combined_score": -final, "avg_cost": final}
        metrics.update(per_scenario)
        return -final, metrics

    def _feedback(self, workload: workloads.Workload, cost: np.ndarray, late: np.ndarray,
                  metrics: dict[str, float]) -> str:
        head = (_leaderboard_words(metrics, len(workload)) if self.suite == "leaderboard" else
                f"score {metrics['combined_score']:.4f} = -mean of the per-scenario mean "
                f"costs over {len(workload)} runs")
        lines = [f"{head}; {_late_words(metrics)}.",
                 "Mean cost ($) per scenario:"]
        for key, value in metrics.items():
            if key.startswith("avg_cost["):
                lines.append(f"  {key[9:-1]:<26} {value:10.3f}")
        return "\n".join(lines)


def _leaderboard_score(avg_cost: float, od_anchor: float, spot_anchor: float, digits: int,
                       extra: dict[str, float]) -> tuple[float, dict]:
    """The leaderboard's 0-100 score: where the average cost lies between the on-demand
    anchor (0) and the spot anchor (100), clipped, rounded as the leaderboard rounds it
    (to an integer for one region, to 2 decimals for many; Python's ``round``)."""
    normalized = min(1.0, max(0.0, (od_anchor - avg_cost) / (od_anchor - spot_anchor)))
    exact = normalized * 100
    score = float(round(exact)) if digits == 0 else round(exact, digits)
    metrics = {"score_exact": exact, "avg_cost": avg_cost, "od_anchor": od_anchor,
               "spot_anchor": spot_anchor}
    metrics.update(extra)
    return score, metrics


def _leaderboard_words(metrics: dict[str, float], n_runs: int) -> str:
    return (f"leaderboard score {metrics['score_exact']:.4f} = 100 * (on-demand anchor "
            f"{metrics['od_anchor']:.4f} - average cost {metrics['avg_cost']:.4f}) / "
            f"(on-demand anchor - spot anchor {metrics['spot_anchor']:.4f}) over {n_runs} runs")


def _late_words(metrics: dict[str, float]) -> str:
    words = f"{int(metrics['deadline_missed'])} finished after the deadline"
    if metrics.get("late_penalty_usd"):
        words += (f", each priced as a failed job ({metrics['late_penalty_usd']:.2f} $ "
                  "added in all)")
    return words


def _messages(raw: Any, n_runs: int) -> list[str]:
    """The jail's words on failed runs (untrusted text: checked, capped)."""
    messages = [""] * n_runs
    if isinstance(raw, dict):
        for key, text in list(raw.items())[:8]:
            if isinstance(key, str) and key.isdigit() and int(key) < n_runs:
                messages[int(key)] = clean_text(text, 2000)
    return messages
