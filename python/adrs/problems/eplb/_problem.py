"""The ``eplb`` problem: evolve ``rebalance_experts``, the MoE expert-parallelism load
balancer (DeepSeek EPLB; the ADRS paper's expert-placement case study).

Scoring follows the reference evaluator (``../shared/specs/eplb.md`` section 2): for each
window ``i`` but the last, the placement fitted on window ``i`` is scored on window
``i + 1``; ``balancedness`` is the mean over those pairs of
``sum_l mean_slot load / sum_l max_slot load``; the score is
``(balancedness + 0.02 / mean_seconds) / 2``. Differences, each on purpose: placements are
validated first (the reference accepts a "placement" with every expert on every slot);
only the candidate's call is timed (the reference's clock also ran its own Python
simulator, about 0.44 s a window), after one untimed warm-up call; the candidate runs in its own process and receives
window ``i`` only after returning its placement for window ``i - 1``; per-GPU balancedness
is reported too.

``eplb@leaderboard`` (``suite="leaderboard"``) is the ADRS Leaderboard's variant: its windows
(every window of the recorded ``expert-load.json``, which it needs), its checks (lenient
unless ``validation="strict"``), its float32 inference simulation
(:mod:`adrs.kernels._leaderboard`) and its 0-100 score,
``90 * balancedness_gpu + min(0.002 / t, 2) * 5 - (min(20 t, 20) if t > 0.01 else 0)`` with
``t`` the mean seconds of a call (here: CPU seconds measured by the judge, each window's
fastest of the fresh processes).
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs.jail import CandidateFailure, JailTask, Runner
from adrs.kernels import InvalidPlacement, balancedness, gpu_loads, slot_loads, validate_placement
from adrs.problems._base import (
    Baseline,
    EvalResult,
    Problem,
    check_choice,
    check_split,
    package_text,
)
from adrs.problems.eplb import _workloads as workloads
from adrs.problems.eplb._jail import ENTRY

_PROGRAMS = "adrs.problems.eplb.programs"  # the bundled candidate programs

INSTALL_HINT = "pip install -e .[moe] (install torch==2.13.0 first for the CPU build)"
SPEED_NUMERATOR = 0.02  # the reference's speed_score = 0.02 / avg_time
SUITES = ("default", "leaderboard")
VALIDATIONS = ("strict", "leaderboard")
LEADERBOARD_NO_DATA = (
    "eplb@leaderboard scores the leaderboard's recorded loads: put expert-load.json in the "
    f"folder given by --data (or ${workloads.DATA_ENV_VAR}); get it with: adrs data fetch eplb")

_BASELINES = (
    ("published", "the published algorithm (DeepSeek EPLB) in plain PyTorch: the seed program"),
    ("vectorized", ("adrs.kernels' batched implementation: top-k replication, snake packing "
                    "with exchange rounds")),
    ("triton", ("the published algorithm with its greedy steps as Triton kernels (needs a "
                "GPU, or TRITON_INTERPRET=1 and patience)")),
)


def _warm_up_loads(window: np.ndarray) -> np.ndarray:
    """Loads for the untimed warm-up call: random numbers of ``window``'s shape, type and
    range, drawn fresh (nothing of the workload)."""
    rng = np.random.default_rng()
    high = max(float(window.max()), 1.0)
    if np.issubdtype(window.dtype, np.integer):
        return rng.integers(0, int(high) + 1, size=window.shape).astype(window.dtype)
    return (rng.random(window.shape) * high).astype(window.dtype)


class _Failed(Exception):
    def __init__(self, message: str, trace: str = "", output: str = "") -> None:
        super().__init__(message)
        self.message, self.trace, self.output = message, trace, output


class MissingDependency(ValueError):
    """An optional dependency is not installed (a ValueError so the CLI prints one line)."""


def leaderboard_score(balancedness_gpu: float, mean_seconds: float
                      ) -> tuple[float, float, float]:
    """The ADRS Leaderboard's eplb score: ``(score, speed_score, slow_penalty)``.

    ``score = 90 * balancedness_gpu + speed_score - slow_penalty``;
    ``speed_score = min(0.002 / t, 2) * 5`` (10 points at 1 ms or faster; 10 when t is 0);
    ``slow_penalty = min(20 t, 20)`` when t exceeds 10 ms, else 0.

    Args:
        balancedness_gpu: Mean per-GPU balancedness over the window pairs.
        mean_seconds: Mean seconds of one ``rebalance_experts`` call.
    """
    speed = min(0.002 / mean_seconds if mean_seconds > 0 else 2.0, 2.0) * 5
    penalty = min(mean_seconds * 20, 20.0) if mean_seconds > 0.01 else 0.0
    return balancedness_gpu * 90 + speed - penalty, speed, penalty


class ExpertPlacementProblem(Problem):
    """``eplb``: replicate and place MoE experts so the busiest GPU carries little.

    Args:
        data: The recorded load history (``expert-load.json``) or a folder holding it; None
            means ``$ADRS_DATA_DIR`` if it holds one, else synthetic loads (not for the
            leaderboard suite, which needs the recorded file).
        suite: ``default`` (the reference's windows split in time, its score
            ``(balancedness + 0.02 / median seconds) / 2``) or ``leaderboard`` (the ADRS
            Leaderboard's variant, ``eplb@leaderboard``: every split is every window of the
            file but ``quick``, its first three; the leaderboard's float32 simulation and
            its 0-100 score; see the module docstring).
        validation: ``strict`` (the default suite's: :func:`adrs.kernels.validate_placement`)
            or ``leaderboard`` (only the leaderboard's checks:
            :func:`adrs.kernels.check_leaderboard_placement`); None: ``leaderboard`` on the
            leaderboard suite, else ``strict``.
        num_replicas: Physical expert slots per layer (the reference: 288).
        num_groups: Expert groups (8).
        num_nodes: Nodes (4).
        num_gpus: GPUs (32).
        interval: Load records summed per window (100).
        call_timeout: Seconds one ``rebalance_experts`` call may take.
        load_timeout: Seconds loading the program (its import) may take.
        timing_budget_s: CPU seconds of calls to measure before the speed is taken: the
            windows run again in fresh processes until this much was timed.
        timing_repeats: At most this many fresh processes per evaluation.
        threads: torch CPU threads in the candidate's process (1 by default, so that
            its CPU time measures its work; None: torch's default).
        check_groups: Also require each group's replicas on one node when the hierarchical
            policy applies (the reference does not; the global policy breaks it).

    Raises:
        MissingDependency: torch is not installed.
        ValueError: A shape argument the published algorithm rejects, an unknown suite or
            validation, or lenient validation on the default suite.
        FileNotFoundError: ``data`` holds no history, or the leaderboard suite found none.
    """

    name = "eplb"
    state_of_the_art = "published"
    summary_metrics = ("balancedness", "balancedness_gpu", "median_seconds")
    failure_score = 0.0  # the reference's score for a failed candidate

    def __init__(self, data: str | os.PathLike[str] | None = None, suite: str = "default",
                 validation: str | None = None, num_replicas: int = 288,
                 num_groups: int = 8, num_nodes: int = 4, num_gpus: int = 32,
                 interval: int = 100, call_timeout: float = 60.0, threads: int | None = 1,
                 check_groups: bool = False, load_timeout: float = 120.0,
                 timing_budget_s: float = 0.5, timing_repeats: int = 5) -> None:
        if importlib.util.find_spec("torch") is None:
            raise MissingDependency(f"the eplb problem needs torch: {INSTALL_HINT}")
        check_choice("suite", suite, SUITES)
        if validation is None:
            validation = "leaderboard" if suite == "leaderboard" else "strict"
        check_choice("validation", validation, VALIDATIONS)
        if validation == "leaderboard" and suite != "leaderboard":
            raise ValueError("validation=leaderboard belongs to the leaderboard suite (its "
                             "score); use eplb@leaderboard")
        for label, value in (("num_replicas", num_replicas), ("num_groups", num_groups),
                             ("num_nodes", num_nodes), ("num_gpus", num_gpus),
                             ("interval", interval)):
            if int(value) != value or value < 1:
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        if num_replicas % num_gpus:
            raise ValueError(f"num_replicas {num_replicas} is not a multiple of num_gpus "
                             f"{num_gpus}")
        if call_timeout <= 0:
            raise ValueError(f"call_timeout must be positive, got {call_timeout}")
        self.num_replicas, self.num_groups = int(num_replicas), int(num_groups)
        self.num_nodes, self.num_gpus = int(num_nodes), int(num_gpus)
        self.interval = int(interval)
        self.call_timeout = float(call_timeout)
        self.load_timeout = float(load_timeout)
        self._task: JailTask | None = None
        if timing_repeats < 1 or timing_budget_s < 0:
            raise ValueError("timing_repeats must be at least 1 and timing_budget_s 0 or more")
        self.timing_budget_s = float(timing_budget_s)
        self.timing_repeats = int(timing_repeats)
        self.threads = threads
        self.check_groups = bool(check_groups)
        self.suite, self.validation = suite, validation
        self.source = workloads.resolve_source(data)
        if suite == "leaderboard":
            if self.source.path is None:
                raise FileNotFoundError(LEADERBOARD_NO_DATA)
            self.summary_metrics = ("balancedness_score_gpu", "times_algorithm",
                                    "speed_score")
        self._recorded: dict[str, np.ndarray] = {}
        self._workloads: dict[str, workloads.Workload] = {}

    # -- the Problem contract -------------------------------------------------------------

    @property
    def description(self) -> str:  # type: ignore[override]
        text = package_text("adrs.problems.eplb", "description.md")
        if self.suite != "leaderboard":
            return text
        # the leaderboard's scoring (and checks) in place of the default paragraph
        head, _, rest = text.partition("\nScoring:")
        _, _, tail = rest.partition("\n\n")
        scoring = package_text("adrs.problems.eplb", "scoring_leaderboard.md").strip()
        return f"{head}\n{scoring}\n\n{tail}"

    @property
    def initial_program(self) -> str:
        return package_text(_PROGRAMS, "published.py")

    @property
    def baselines(self) -> Mapping[str, Baseline]:
        return {name: Baseline(name, summary, package_text(_PROGRAMS, f"{name}.py"))
                for name, summary in _BASELINES}

    def jail_task(self, split: str) -> JailTask:
        """torch, and no loads: windows are sent one call at a time."""
        check_split(split)
        if self._task is None:
            self._task = JailTask("adrs.problems.eplb._jail:EplbHandler",
                                  f"eplb/{self.threads}", {"threads": self.threads},
                                  preload=("torch",))
        return self._task

    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        """Score ``program``: every window's placement is validated and scored on the next
        window. The calls are timed in fresh jailed processes until
        ``timing_budget_s`` of CPU time was measured (at most ``timing_repeats``
        processes); a window's time is its fastest repetition, and the speed term takes
        the median over the windows. Every repetition is validated too, and the worst
        balancedness counts."""
        started = time.perf_counter()
        workload = self.workload(split)
        runner = self.local_runner(runner)
        runs: list[tuple[list[float], list[float], list[float], list[float]]] = []
        timed = 0.0
        while len(runs) < self.timing_repeats and (not runs or timed < self.timing_budget_s):
            try:
                run = self._run_once(runner, workload, program, filename)
            except _Failed as failed:
                return self._failed(failed.message, workload, started, failed.trace,
                                    failed.output)
            runs.append(run)
            timed += sum(run[2])
        # the balancedness that scores: per slot by default, per GPU on the leaderboard
        scored = 1 if self.suite == "leaderboard" else 0
        worst = min(runs, key=lambda run: float(np.mean(run[scored])))
        # a window's time: its fastest repetition (the noise of a busy machine only ever
        # adds time); the speed term then takes the median over the windows
        per_window = np.min(np.array([run[2] for run in runs]), axis=0)
        wall = np.min(np.array([run[3] for run in runs]), axis=0)
        result = self._leaderboard_result if self.suite == "leaderboard" else self._result
        return result(workload, worst[0], worst[1], per_window.tolist(), wall.tolist(),
                      started, len(runs))

    def _run_once(self, runner: Runner, workload: workloads.Workload, program: str,
                  filename: str) -> tuple[list[float], list[float], list[float], list[float]]:
        """One fresh process over every window: per pair, the slot and GPU balancedness
        and the call's CPU and wall seconds.

        Raises:
            _Failed: The candidate failed or placed wrongly; the message says where.
        """
        args = [self.num_replicas, self.num_groups, self.num_nodes, self.num_gpus]
        lenient = self.validation == "leaderboard"
        windows = workload.windows
        slot_scores, gpu_scores, seconds, wall_seconds = [], [], [], []
        loaded = False
        try:
            with runner.session(self.jail_task(workload.split), program, filename,
                                load_timeout=self.load_timeout) as session:
                loaded = True
                # One untimed call first, so one-off costs (torch's lazy set-up, a Triton
                # compile) are not billed to the first window. Its loads are the judge's
                # random numbers of window 0's shape and type: nothing of any window, so
                # no answer can be worked out while the clock is off.
                session.call("rebalance", {"args": args},
                             {"weight": _warm_up_loads(windows[0])},
                             timeout=self.call_timeout, doing=ENTRY)
                # A window's time is the session's CPU since the previous answer: the call
                # and the gap before it, so work a thread does while the judge scores (for
                # the next window) is billed too. (An unjailed, trusted session has no such
                # clock: its calls' own CPU time counts.)
                clock = getattr(session, "cpu_seconds", None)
                last = clock() if clock is not None else 0.0
                for i in range(len(windows) - 1):
                    reply = session.call("rebalance", {"args": args}, {"weight": windows[i]},
                                         timeout=self.call_timeout, doing=ENTRY,
                                         cpu=clock is None)
                    if clock is not None:
                        now = clock()
                        spent, last = now - last, now
                    else:
                        spent = reply.cpu_s if reply.cpu_s is not None else reply.wall_s
                    arrays = reply.arrays
                    missing = [n for n in ("phy2log", "log2phy", "logcnt") if n not in arrays]
                    if missing:
                        raise InvalidPlacement(f"the placement lacks {', '.join(missing)}")
                    slot_score, gpu_score = self._score_pair(arrays, windows[i + 1])
                    slot_scores.append(slot_score)
                    gpu_scores.append(gpu_score)
                    seconds.append(float(spent))
                    wall_seconds.append(reply.wall_s)
        except CandidateFailure as exc:
            where = f"window {len(seconds)}: " if loaded else "loading the program: "
            message = str(exc).removeprefix(f"{ENTRY}: ").removeprefix("loading: ")
            raise _Failed(f"{where}{message}", exc.trace, exc.output) from None
        except InvalidPlacement as exc:
            # the leaderboard's refusals keep its own words
            what = "" if lenient else "invalid placement: "
            raise _Failed(f"window {len(seconds)}: {what}{exc}") from None
        return slot_scores, gpu_scores, seconds, wall_seconds

    def _score_pair(self, arrays: Mapping[str, np.ndarray], next_window: np.ndarray
                    ) -> tuple[float, float]:
        """Slot and GPU balancedness of a placement on the next window's loads, by the
        suite's rules.

        Raises:
            InvalidPlacement: The validation refuses the placement.
        """
        # the leaderboard's rules are Numba code, for the judge only: imported here, not
        # with this module (the jail imports this package, and needs none of it)
        from adrs.kernels import (
            check_leaderboard_placement,
            leaderboard_balancedness,
            leaderboard_slot_loads,
        )

        phy2log, log2phy, logcnt = arrays["phy2log"], arrays["log2phy"], arrays["logcnt"]
        if self.validation == "leaderboard":
            log2phy, counts = check_leaderboard_placement(phy2log, log2phy, logcnt,
                                                          next_window, self.num_replicas)
        else:
            placement = validate_placement(
                phy2log, log2phy, logcnt, num_experts=next_window.shape[1],
                num_replicas=self.num_replicas, num_gpus=self.num_gpus,
                num_layers=next_window.shape[0],
                num_groups=self.num_groups if self.check_groups else None,
                num_nodes=self.num_nodes if self.check_groups else None)
            log2phy, counts = placement.log2phy, placement.logcnt
        if self.suite == "leaderboard":
            loads = leaderboard_slot_loads(log2phy, counts, next_window, self.num_replicas)
            gpu_score, slot_score = leaderboard_balancedness(loads, self.num_gpus)
            return slot_score, gpu_score
        loads = slot_loads(log2phy, counts, next_window, self.num_replicas)
        return balancedness(loads), balancedness(gpu_loads(loads, self.num_gpus))

    # -- workloads ----------------------------------------------------------------------

    def workload(self, split: str) -> workloads.Workload:
        """The windows of a split (loaded or generated on first use).

        Raises:
            ValueError: Unknown split, or a recorded history too short or malformed.
        """
        check_split(split)
        if split not in self._workloads:
            path = self.source.path
            if path is None:
                windows = workloads.synthetic_split(split, self.interval)
            else:
                if not self._recorded:
                    cut = (workloads.leaderboard_splits if self.suite == "leaderboard"
                           else workloads.recorded_splits)
                    self._recorded.update(cut(self._load_recorded(path), path,
                                              self.interval))
                windows = self._recorded[split]
            self._check_shape(windows)
            self._workloads[split] = workloads.Workload(split, windows, self.source.label)
        return self._workloads[split]

    def _load_recorded(self, path: os.PathLike[str]) -> np.ndarray:
        from adrs.simulators.eplb import load_windows

        return load_windows(path, self.interval)

    def _check_shape(self, windows: np.ndarray) -> None:
        experts = windows.shape[2]
        if experts % self.num_groups or self.num_replicas < experts:
            raise ValueError(f"{self.source.label}: {experts} experts do not fit "
                             f"num_groups={self.num_groups}, num_replicas={self.num_replicas}")

    # -- results ------------------------------------------------------------------------

    def _result(self, workload: workloads.Workload, slot_scores: list[float],
                gpu_scores: list[float], seconds: list[float], wall_seconds: list[float],
                started: float, repeats: int = 1) -> EvalResult:
        balance = float(np.mean(slot_scores))
        balance_gpu = float(np.mean(gpu_scores))
        median_seconds = float(np.median(seconds))
        speed = SPEED_NUMERATOR / median_seconds if median_seconds > 0 else 0.0
        combined = (balance + speed) / 2
        low, high = np.percentile(seconds, [25, 75])
        metrics = {"combined_score": combined, "balancedness": balance,
                   "balancedness_gpu": balance_gpu, "speed_score": speed,
                   "median_seconds": median_seconds, "mean_seconds": float(np.mean(seconds)),
                   "seconds_iqr": float(high - low),
                   "median_wall_seconds": float(np.median(wall_seconds)),
                   "calls": float(len(seconds) * repeats), "timing_repeats": float(repeats)}
        features = {"balancedness_gpu": balance_gpu,
                    "log10_seconds": math.log10(max(median_seconds, 1e-9))}
        lines = [
            (f"combined score {combined:.4f} = (balancedness {balance:.4f} + 0.02 / median "
             f"CPU seconds {median_seconds:.6f}) / 2 over {len(slot_scores)} rebalances "
             f"(each window's fastest of {repeats} fresh processes); per-GPU "
             f"balancedness {balance_gpu:.4f}."),
            ("Each placement is fitted on one window of loads and scored on the next; a call's "
             "time is the CPU time of the candidate's processes, measured outside them."),
            "window  balancedness(slot)  balancedness(GPU)  CPU seconds",
        ]
        for i, (b, g, t) in enumerate(zip(slot_scores, gpu_scores, seconds)):
            lines.append(f"{i:>6}  {b:>18.4f}  {g:>17.4f}  {t:>11.5f}")
        details: dict[str, Any] = {
            "split": workload.split, "data": workload.source, "path": "jail",
            "windows": len(workload.windows), "balancedness": slot_scores,
            "balancedness_gpu": gpu_scores, "call_cpu_seconds": seconds,
            "call_wall_seconds": wall_seconds,
        }
        return EvalResult(combined, metrics, features, "\n".join(lines), None, details,
                          time.perf_counter() - started)

    def _leaderboard_result(self, workload: workloads.Workload, slot_scores: list[float],
                            gpu_scores: list[float], seconds: list[float],
                            wall_seconds: list[float], started: float,
                            repeats: int = 1) -> EvalResult:
        """The leaderboard's figures: its 0-100 score from the mean per-GPU balancedness
        and the mean call time (the judge's CPU seconds)."""
        balance_gpu = float(np.mean(gpu_scores))
        balance = float(np.mean(slot_scores))
        mean_seconds = float(np.mean(seconds))
        score, speed, penalty = leaderboard_score(balance_gpu, mean_seconds)
        metrics = {"balancedness_score_gpu": balance_gpu,
                   "balancedness_score_expert": balance, "times_algorithm": mean_seconds,
                   "balancedness_score": balance_gpu * 90, "speed_score": speed,
                   "slow_penalty": penalty,
                   "median_seconds": float(np.median(seconds)),
                   "mean_wall_seconds": float(np.mean(wall_seconds)),
                   "calls": float(len(seconds) * repeats), "timing_repeats": float(repeats)}
        features = {"balancedness_gpu": balance_gpu,
                    "log10_seconds": math.log10(max(mean_seconds, 1e-9))}
        lines = [
            (f"score {score:.4f} = 90 * per-GPU balancedness {balance_gpu:.6f} + speed "
             f"{speed:.4f} (min(0.002 / {mean_seconds:.6f} s, 2) * 5) - slow penalty "
             f"{penalty:.4f} (20 * seconds when over 10 ms, at most 20), over {len(gpu_scores)} "
             f"rebalances (the ADRS Leaderboard's formula; its validation: "
             f"{self.validation}); per-slot balancedness {balance:.6f}."),
            ("Each placement is fitted on one window of loads and scored on the next; a call's "
             "time is the CPU time of the candidate's processes, measured outside them (each "
             f"window's fastest of {repeats} fresh processes), and the mean over the calls "
             "counts."),
            "window  balancedness(GPU)  balancedness(slot)  CPU seconds",
        ]
        for i, (g, b, t) in enumerate(zip(gpu_scores, slot_scores, seconds)):
            lines.append(f"{i:>6}  {g:>17.6f}  {b:>18.6f}  {t:>11.5f}")
        details: dict[str, Any] = {
            "split": workload.split, "data": workload.source, "path": "jail",
            "suite": self.suite, "validation": self.validation,
            "windows": len(workload.windows), "balancedness_gpu": gpu_scores,
            "balancedness_expert": slot_scores, "call_cpu_seconds": seconds,
            "call_wall_seconds": wall_seconds,
        }
        return EvalResult(score, metrics, features, "\n".join(lines), None, details,
                          time.perf_counter() - started)

    def _failed(self, message: str, workload: workloads.Workload, started: float,
                trace: str = "", output: str = "") -> EvalResult:
        feedback = f"The candidate failed: {message}"
        if trace:
            feedback += f"\n\n{trace.rstrip()}"
        if output.strip():
            feedback += f"\n\nIts output (last lines):\n{output.rstrip()}"
        details = {"split": workload.split, "data": workload.source, "path": "jail"}
        return EvalResult(self.failure_score, {}, {}, feedback, message, details,
                          time.perf_counter() - started)
