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
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs.kernels import InvalidPlacement, balancedness, gpu_loads, slot_loads, validate_placement
from adrs.problems._base import Baseline, EvalResult, Problem, check_split, package_text
from adrs.problems.eplb import _workloads as workloads
from adrs.problems.eplb._isolation import CandidateError, CandidateProcess

_PROGRAMS = "adrs.problems.eplb.programs"  # the bundled candidate programs

INSTALL_HINT = "pip install -e .[moe] (install torch==2.13.0 first for the CPU build)"
SPEED_NUMERATOR = 0.02  # the reference's speed_score = 0.02 / avg_time

_BASELINES = (
    ("published", "the published algorithm (DeepSeek EPLB) in plain PyTorch: the seed program"),
    ("vectorized", ("adrs.kernels' batched implementation: top-k replication, snake packing "
                    "with exchange rounds")),
    ("triton", ("the published algorithm with its greedy steps as Triton kernels (needs a "
                "GPU, or TRITON_INTERPRET=1 and patience)")),
)


class MissingDependency(ValueError):
    """An optional dependency is not installed (a ValueError so the CLI prints one line)."""




class ExpertPlacementProblem(Problem):
    """``eplb``: replicate and place MoE experts so the busiest GPU carries little.

    Args:
        data: The recorded load history (``expert-load.json``) or a folder holding it; None
            means ``$ADRS_DATA_DIR`` if it holds one, else synthetic loads.
        num_replicas: Physical expert slots per layer (the reference: 288).
        num_groups: Expert groups (8).
        num_nodes: Nodes (4).
        num_gpus: GPUs (32).
        interval: Load records summed per window (100).
        call_timeout: Seconds one ``rebalance_experts`` call may take.
        threads: torch CPU threads in the candidate's process (None: torch's default).
        check_groups: Also require each group's replicas on one node when the hierarchical
            policy applies (the reference does not; the global policy breaks it).

    Raises:
        MissingDependency: torch is not installed.
        ValueError: A shape argument the published algorithm rejects.
    """

    name = "eplb"
    summary_metrics = ("balancedness", "balancedness_gpu", "mean_seconds")
    failure_score = 0.0  # the reference's score for a failed candidate

    def __init__(self, data: str | os.PathLike[str] | None = None, num_replicas: int = 288,
                 num_groups: int = 8, num_nodes: int = 4, num_gpus: int = 32,
                 interval: int = 100, call_timeout: float = 60.0, threads: int | None = None,
                 check_groups: bool = False) -> None:
        if importlib.util.find_spec("torch") is None:
            raise MissingDependency(f"the eplb problem needs torch: {INSTALL_HINT}")
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
        self.threads = threads
        self.check_groups = bool(check_groups)
        self.source = workloads.resolve_source(data)
        self._recorded: dict[str, np.ndarray] = {}
        self._workloads: dict[str, workloads.Workload] = {}

    # -- the Problem contract -------------------------------------------------------------

    @property
    def description(self) -> str:  # type: ignore[override]
        return package_text("adrs.problems.eplb", "description.md")

    @property
    def initial_program(self) -> str:
        return package_text(_PROGRAMS, "published.py")

    @property
    def baselines(self) -> Mapping[str, Baseline]:
        return {name: Baseline(name, summary, package_text(_PROGRAMS, f"{name}.py"))
                for name, summary in _BASELINES}

    def evaluate(self, program: str, split: str = "train") -> EvalResult:
        started = time.perf_counter()
        workload = self.workload(split)
        args = (self.num_replicas, self.num_groups, self.num_nodes, self.num_gpus)
        windows = workload.windows
        slot_scores, gpu_scores, seconds, self_seconds = [], [], [], []
        runner: CandidateProcess | None = None
        try:
            runner = CandidateProcess(program, self.threads)
            # One untimed call first, so one-off costs (torch's lazy set-up, a Triton
            # compile) are not billed to the first window. Its loads are window 0's experts
            # in reverse: nothing the candidate will not see anyway, and not a cache hit.
            runner.call(np.ascontiguousarray(windows[0][:, ::-1]), args, self.call_timeout)
            for i in range(len(windows) - 1):
                call = runner.call(windows[i], args, self.call_timeout)
                arrays = call.arrays
                placement = validate_placement(
                    arrays["phy2log"], arrays["log2phy"], arrays["logcnt"],
                    num_experts=windows.shape[2], num_replicas=self.num_replicas,
                    num_gpus=self.num_gpus, num_layers=windows.shape[1],
                    num_groups=self.num_groups if self.check_groups else None,
                    num_nodes=self.num_nodes if self.check_groups else None)
                loads = slot_loads(placement.log2phy, placement.logcnt, windows[i + 1],
                                   self.num_replicas)
                slot_scores.append(balancedness(loads))
                gpu_scores.append(balancedness(gpu_loads(loads, self.num_gpus)))
                seconds.append(call.seconds)
                self_seconds.append(call.self_seconds)
        except CandidateError as exc:
            where = f"window {len(seconds)}: " if runner is not None else "loading the program: "
            return self._failed(f"{where}{exc}", workload, started, exc.trace, exc.output)
        except InvalidPlacement as exc:
            return self._failed(f"window {len(seconds)}: invalid placement: {exc}",
                                workload, started)
        finally:
            if runner is not None:
                runner.close()
        return self._result(workload, slot_scores, gpu_scores, seconds, self_seconds, started)

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
                    self._recorded.update(workloads.recorded_splits(
                        self._load_recorded(path), path, self.interval))
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
                gpu_scores: list[float], seconds: list[float], self_seconds: list[float],
                started: float) -> EvalResult:
        balance = float(np.mean(slot_scores))
        balance_gpu = float(np.mean(gpu_scores))
        mean_seconds = float(np.mean(seconds))
        speed = SPEED_NUMERATOR / mean_seconds if mean_seconds > 0 else 0.0
        combined = (balance + speed) / 2
        metrics = {"combined_score": combined, "balancedness": balance,
                   "balancedness_gpu": balance_gpu, "speed_score": speed,
                   "mean_seconds": mean_seconds, "calls": float(len(seconds))}
        features = {"balancedness_gpu": balance_gpu,
                    "log10_seconds": math.log10(max(mean_seconds, 1e-9))}
        lines = [
            (f"combined score {combined:.4f} = (balancedness {balance:.4f} + 0.02 / mean "
             f"seconds {mean_seconds:.6f}) / 2 over {len(seconds)} rebalances; per-GPU "
             f"balancedness {balance_gpu:.4f}."),
            "Each placement is fitted on one window of loads and scored on the next.",
            "window  balancedness(slot)  balancedness(GPU)  seconds",
        ]
        for i, (b, g, t) in enumerate(zip(slot_scores, gpu_scores, seconds)):
            lines.append(f"{i:>6}  {b:>18.4f}  {g:>17.4f}  {t:>8.5f}")
        details: dict[str, Any] = {
            "split": workload.split, "data": workload.source, "path": "subprocess",
            "windows": len(workload.windows), "balancedness": slot_scores,
            "balancedness_gpu": gpu_scores, "call_seconds": seconds,
            "call_self_seconds": self_seconds,
        }
        return EvalResult(combined, metrics, features, "\n".join(lines), None, details,
                          time.perf_counter() - started)

    def _failed(self, message: str, workload: workloads.Workload, started: float,
                trace: str = "", output: str = "") -> EvalResult:
        feedback = f"The candidate failed: {message}"
        if trace:
            feedback += f"\n\n{trace.rstrip()}"
        if output.strip():
            feedback += f"\n\nIts output (last lines):\n{output.rstrip()}"
        details = {"split": workload.split, "data": workload.source, "path": "subprocess"}
        return EvalResult(self.failure_score, {}, {}, feedback, message, details,
                          time.perf_counter() - started)
