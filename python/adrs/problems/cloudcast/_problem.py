"""The ``cloudcast`` problem: broadcast data from one cloud region to several others as
cheaply as possible (the ADRS leaderboard's Cloudcast, after "Cloudcast: High-Throughput,
Cost-Aware Overlay Multicast in the Cloud", NSDI'24).

The candidate defines the leaderboard's ``search_algorithm(src, dsts, G, num_partitions)``
and returns a ``BroadCastTopology`` (``from broadcast import BroadCastTopology`` works in
the jail): for every destination and partition, the links that partition travels on. The
judge checks the topology (every partition of every destination has links, all in the
graph, and they lead from the source to the destination), computes the transfer time and
cost with its own model (:mod:`adrs.simulators.cloudcast`, the leaderboard's rules) and
scores 0-100 as the leaderboard does::

    score = 100 * (1199.00 - clamp(total_cost, 626.24, 1199.00)) / (1199.00 - 626.24)

``train`` is the leaderboard's five configurations, so the ``train`` score is the
leaderboard's. ``quick`` is two of them, ``test`` eight seeded transfers over the same
regions; their anchors are the leaderboard's scaled by the split's cost of the ``direct``
baseline (every partition straight to each destination) over its cost on ``train``
($1199.17, the leaderboard's worst anchor of $1199.00 rounded down), so sending
everything directly scores about 0 on every split. A failed candidate scores 0.0, as
there.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from adrs.jail import CandidateFailure, JailTask, Runner
from adrs.problems._base import (
    Baseline,
    EvalResult,
    Problem,
    check_choice,
    check_split,
    package_text,
)
from adrs.problems.cloudcast import _workloads as workloads
from adrs.simulators.cloudcast import (
    BroadcastModel,
    BroadcastOutcome,
    CloudGraph,
    Topology,
    Transfer,
)

_PROGRAMS = "adrs.problems.cloudcast.programs"

FAILURE_SCORE = 0.0
WORST_COST = 1199.00  # the leaderboard's anchors: total $ over its five configurations
BEST_COST = 626.24
SUITES = ("default", "leaderboard")  # leaderboard: a synonym (train is its suite)
VALIDATIONS = ("strict", "leaderboard")
SEARCH_TIMEOUT_S = 300.0  # one search_algorithm call (the reference has no limit)
# the baseline whose cost sets the anchors of quick and test (its train cost, $1199.17, is
# the leaderboard's worst anchor)
ANCHOR_BASELINE = "direct"


@dataclass(frozen=True)
class _BaselineSpec:
    name: str
    summary: str


_BASELINES = (
    _BaselineSpec("direct", "every partition straight from the source to each destination"),
    _BaselineSpec("dijkstra", "the leaderboard's baseline: the cheapest path ($/GB) to each "
                              "destination, every partition on it"),
    _BaselineSpec("mdst", "the Cloudcast repository's MDST: a minimum-cost arborescence over "
                          "the source and destinations (Edmonds), every partition on it"),
    _BaselineSpec("steiner", "ours: a cheapest-path Steiner tree grown from the source "
                             "(each step joins the destination cheapest to reach from the "
                             "tree, through any region), every partition on it"),
)


class CloudcastProblem(Problem):
    """Multi-cloud broadcast: route every partition to every destination, minimise cost.

    Args:
        suite: ``default`` or ``leaderboard``: ``train`` is the leaderboard's five
            configurations either way; ``leaderboard`` also takes the leaderboard's
            validation unless ``validation`` is given, so that every published solution
            scores as it does there (``cloudcast@leaderboard``).
        validation: ``strict`` (the default suite's): every partition's links must lead from the
            source to each destination; ``leaderboard``: only what the leaderboard's
            evaluator needs (links for every partition of every destination, all in the
            graph), so a topology whose partitions never leave the source scores as it
            does there.
        profiles: A folder holding the original ``throughput.csv`` and ``cost.csv``
            (or ``profiles/`` with them); None: the packaged copy (the same numbers).
        data: Accepted so that a common ``--data`` works; the profiles ship in the
            package (``profiles`` reads other ones).

    Raises:
        ValueError: Unknown suite or validation; profiles that do not form the graph;
            networkx is not installed.
        FileNotFoundError: ``profiles`` lacks the files.
    """

    name = "cloudcast"
    summary_metrics = ("total_cost", "total_transfer_time", "egress_cost", "instance_cost")
    failure_score = FAILURE_SCORE
    feature_ranges: Mapping[str, tuple[float, float]] = {
        "total_cost": (500.0, 1500.0), "total_transfer_time": (0.0, 6000.0)}

    def __init__(self, suite: str = "default", validation: str | None = None,
                 profiles: str | os.PathLike[str] | None = None,
                 data: str | os.PathLike[str] | None = None) -> None:
        check_choice("suite", suite, SUITES)
        if validation is None:
            validation = "leaderboard" if suite == "leaderboard" else "strict"
        check_choice("validation", validation, VALIDATIONS)
        if importlib.util.find_spec("networkx") is None:  # what candidates search
            raise ValueError("the cloudcast problem needs networkx: pip install "
                             "'adrs[cloudcast]'")
        self.suite = suite
        self.validation = validation
        pairs, cost, sent, self.profiles_source = workloads.read_profiles(profiles)
        self.graph = CloudGraph.from_profiles(pairs, cost, sent, workloads.LEADERBOARD_NUM_VMS)
        self.model = BroadcastModel(self.graph)
        self._tasks: dict[str, JailTask] = {}
        self._anchors: dict[str, tuple[float, float]] = {}
        for split in ("train", "test"):
            for transfer in self.transfers(split):
                for region in (transfer.source, *transfer.dests):
                    if region not in self.graph.nodes:
                        raise ValueError(f"transfer {transfer.name}: region {region} is not "
                                         f"in the profiles ({self.profiles_source})")

    # -- the Problem contract -------------------------------------------------------------

    @property
    def description(self) -> str:  # type: ignore[override]
        return package_text("adrs.problems.cloudcast", "description.md")

    @property
    def initial_program(self) -> str:
        return package_text(_PROGRAMS, "initial.py")

    @property
    def baselines(self) -> Mapping[str, Baseline]:
        return {spec.name: Baseline(spec.name, spec.summary,
                                    package_text(_PROGRAMS, f"{spec.name}.py"))
                for spec in _BASELINES}

    def transfers(self, split: str) -> tuple[Transfer, ...]:
        """The broadcasts of a split.

        Raises:
            ValueError: Unknown split.
        """
        check_split(split)
        if split == "test":
            return workloads.generated_transfers(self.graph)
        chosen = workloads.leaderboard_transfers()
        if split == "quick":
            chosen = tuple(t for t in chosen if t.name in workloads.QUICK_CONFIGS)
        return chosen

    def jail_task(self, split: str) -> JailTask:
        """The graph's links and the transfers of ``split``'s group (train with quick, or
        the held-out test)."""
        check_split(split)
        group = "test" if split == "test" else "train"
        if group not in self._tasks:
            g = self.graph
            shared = {"nodes": list(g.nodes), "transfers": [
                {"key": t.name, "source": t.source, "dests": list(t.dests),
                 "num_partitions": t.num_partitions} for t in self.transfers(group)]}
            arrays = {"edge_src": g.edge_src, "edge_dst": g.edge_dst, "cost": g.cost,
                      "throughput": g.throughput}
            self._tasks[group] = JailTask("adrs.problems.cloudcast._jail:CloudcastHandler",
                                          f"cloudcast/{group}", shared, arrays,
                                          preload=("networkx",))
        return self._tasks[group]

    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        started = time.perf_counter()
        outcome = self._run(program, split, runner, filename)
        if isinstance(outcome, str):
            return self._failed(outcome, split, started)
        rows, model_seconds = outcome
        return self._result(rows, split, started, model_seconds)

    def _run(self, program: str, split: str, runner: Runner | None, filename: str
             ) -> tuple[list[tuple[Transfer, BroadcastOutcome, float]], float] | str:
        """Every transfer's figures and the model's seconds, or why the candidate failed."""
        transfers = self.transfers(split)
        runner = self.local_runner(runner)
        task = self.jail_task(split)
        rows: list[tuple[Transfer, BroadcastOutcome, float]] = []
        model_seconds = 0.0
        for transfer in transfers:
            try:  # a fresh process per transfer, as the reference builds a fresh graph
                opened = runner.session(task, program, filename)
            except CandidateFailure as exc:  # the program did not load: no transfer involved
                return str(exc)
            try:
                with opened as session:
                    reply = session.call("search", {"transfer": transfer.name},
                                         timeout=SEARCH_TIMEOUT_S, doing="search_algorithm()")
            except CandidateFailure as exc:
                return f"{transfer.name}: {exc}"
            offsets, edges = reply.arrays.get("offsets"), reply.arrays.get("edges")
            if offsets is None or edges is None:
                return f"{transfer.name}: the jail's reply holds no topology"
            begun = time.perf_counter()
            try:
                outcome = self.model.evaluate(transfer, Topology(offsets, edges),
                                              reach=self.validation == "strict")
            except ValueError as exc:
                return f"{transfer.name}: {exc}"
            model_seconds += time.perf_counter() - begun
            rows.append((transfer, outcome, reply.wall_s))
        return rows, model_seconds

    # -- scoring --------------------------------------------------------------------------

    def anchors(self, split: str) -> tuple[float, float]:
        """The split's (worst, best) total cost: the leaderboard's on ``train``, scaled by
        the baseline's cost ratio elsewhere.

        Raises:
            ValueError: Unknown split.
        """
        check_split(split)
        if split == "train":
            return WORST_COST, BEST_COST
        if split not in self._anchors:
            ratio = self._baseline_cost(split) / self._baseline_cost("train")
            self._anchors[split] = (WORST_COST * ratio, BEST_COST * ratio)
        return self._anchors[split]

    def _baseline_cost(self, split: str) -> float:
        """Total cost of the anchor baseline on ``split`` (our own program, run here)."""
        outcome = self._run(self.baseline(ANCHOR_BASELINE).program, split, None,
                            f"{ANCHOR_BASELINE}.py")
        if isinstance(outcome, str):  # our own program: a bug here, not a candidate's
            raise RuntimeError(  # noqa: TRY004 - a failed run, not a wrong type
                f"the {ANCHOR_BASELINE} baseline failed on {split}: {outcome}")
        total = 0.0
        for _, figures, _ in outcome[0]:
            total += figures.cost
        return total

    def score_of(self, total_cost: float, split: str = "train") -> float:
        """The 0-100 score of a total cost on ``split`` (the leaderboard's formula)."""
        worst, best = self.anchors(split)
        clamped = max(min(total_cost, worst), best)
        return (worst - clamped) / (worst - best) * 100

    def _result(self, rows: list[tuple[Transfer, BroadcastOutcome, float]], split: str,
                started: float, model_seconds: float) -> EvalResult:
        total_cost = 0.0
        total_time = 0.0
        egress = 0.0
        instance = 0.0
        for _, outcome, _ in rows:  # summed in order, as the reference does
            total_cost += outcome.cost
            total_time += outcome.transfer_time
            egress += outcome.egress_cost
            instance += outcome.instance_cost
        metrics: dict[str, float] = {
            "total_cost": total_cost, "total_transfer_time": total_time,
            "egress_cost": egress, "instance_cost": instance,
            "search_seconds": sum(seconds for _, _, seconds in rows),
        }
        for transfer, outcome, _ in rows:
            metrics[f"cost[{transfer.name}]"] = outcome.cost
            metrics[f"transfer_time[{transfer.name}]"] = outcome.transfer_time
        score = self.score_of(total_cost, split)
        worst, best = self.anchors(split)
        lines = [(f"score {score:.4f} = 100 * ({worst:.2f} - clamp(total cost "
                  f"${total_cost:.4f}, {best:.2f}, {worst:.2f})) / ({worst:.2f} - {best:.2f}); "
                  f"total transfer time {total_time:.2f} s over {len(rows)} transfers")]
        for transfer, outcome, seconds in rows:
            lines.append(
                f"{transfer.name}: {transfer.source} -> {len(transfer.dests)} destinations, "
                f"{transfer.num_partitions} partitions of {transfer.data_vol} GB: cost "
                f"${outcome.cost:.4f} (egress ${outcome.egress_cost:.4f} + VMs "
                f"${outcome.instance_cost:.4f}, {outcome.regions} regions, {outcome.links} "
                f"links), time {outcome.transfer_time:.2f} s (slowest destination "
                f"{transfer.dests[outcome.dest_times.index(outcome.transfer_time)]}); "
                f"search {seconds:.3f} s")
        details = {
            "split": split, "data": self.profiles_source, "validation": self.validation,
            "anchors": {"worst_cost": worst, "best_cost": best},
            "model_seconds": model_seconds,
            "transfers": [{
                "name": t.name, "source": t.source, "dests": list(t.dests),
                "num_partitions": t.num_partitions, "cost": o.cost,
                "transfer_time": o.transfer_time, "egress_cost": o.egress_cost,
                "instance_cost": o.instance_cost, "dest_times": list(o.dest_times),
                "regions": o.regions, "links": o.links, "search_seconds": s,
            } for t, o, s in rows],
        }
        features = {"total_cost": total_cost, "total_transfer_time": total_time}
        return EvalResult(score, metrics, features, "\n".join(lines), None, details,
                          time.perf_counter() - started)

    def _failed(self, message: str, split: str, started: float) -> EvalResult:
        details = {"split": split, "data": self.profiles_source, "validation": self.validation}
        return EvalResult(self.failure_score, {}, {}, f"The candidate failed: {message}",
                          message, details, time.perf_counter() - started)


def score_leaderboard(program: str, runner: Runner | None = None,
                      filename: str = "candidate.py",
                      validation: str = "leaderboard") -> EvalResult:
    """Score a program on the leaderboard's five Cloudcast configurations: its 0-100
    score, with the raw figures (``total_cost``, ``cost[intra_aws]``...) in the metrics.

    Args:
        program: Source text defining ``search_algorithm(src, dsts, G, num_partitions)``.
        runner: A :class:`~adrs.jail.JailRunner` for untrusted code (None: this process).
        filename: The program's file name, as its errors name it.
        validation: See :class:`CloudcastProblem`; the leaderboard's own by default.
    """
    return _leaderboard_problem(validation).evaluate(program, "train", runner, filename)


_LEADERBOARD_PROBLEMS: dict[str, CloudcastProblem] = {}


def _leaderboard_problem(validation: str) -> CloudcastProblem:
    if validation not in _LEADERBOARD_PROBLEMS:
        _LEADERBOARD_PROBLEMS[validation] = CloudcastProblem("leaderboard", validation)
    return _LEADERBOARD_PROBLEMS[validation]
