"""The toy problem: fit a hidden piecewise curve by evolving ``predict(x)``.

A fast, dependency-free problem for trying the search loop and for its tests: the
candidate defines ``predict(x: float) -> float`` and is scored by the negated mean
squared error against a hidden target on fixed points (higher is better, 0 is the
optimum). Its numbers, its comparison and its branches are what the offline mutator
changes, so the mutator alone can reach the optimum.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs.jail import (
    CandidateError,
    CandidateFailure,
    Handler,
    JailTask,
    Runner,
    call_candidate,
    entry_point,
    load_module,
)
from adrs.problems._base import Baseline, EvalResult, Problem, check_split

FAILURE_SCORE = -1.0e9

INITIAL_PROGRAM = '''"""Candidate for the adrs toy problem: approximate a hidden curve."""

# EVOLVE-BLOCK-START
def predict(x: float) -> float:
    """Estimate the hidden curve at x (x in [-3, 3])."""
    if x > 0.0:
        return 1.0 * x * x - 1.0 * x + 1.0
    return 1.0 * x + 0.0
# EVOLVE-BLOCK-END
'''

OPTIMUM_PROGRAM = '''"""The hidden curve of the adrs toy problem."""

# EVOLVE-BLOCK-START
def predict(x: float) -> float:
    """The hidden curve itself."""
    if x > 0.7:
        return 1.5 * x * x - 2.0 * x + 0.5
    return 0.8 * x + 0.3
# EVOLVE-BLOCK-END
'''

DESCRIPTION = """\
Toy problem: curve fitting. The program defines `predict(x: float) -> float`, called for
x in [-3, 3]. It is scored by the negated mean squared error between its predictions and
a hidden target curve at fixed points (higher is better; 0 means exact). The target is
piecewise: a polynomial above some threshold of x, another below it. `predict` must
return a finite float for every x and must not use randomness or read files.
"""


def _target(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0.7, 1.5 * x * x - 2.0 * x + 0.5, 0.8 * x + 0.3)


def _mse(predicted: np.ndarray, expected: np.ndarray) -> float:
    return float(np.mean((predicted - expected) ** 2))


class ToyProblem(Problem):
    """Fit the hidden curve; see the module docstring.

    Args:
        points: Points in the ``train`` and ``test`` splits (``quick`` has an eighth).
        delay_ms: Sleep this long per evaluation (to imitate a slow evaluator).
        busy_ms: Spin the CPU this long per evaluation (to imitate a CPU-bound one).

    Raises:
        ValueError: A negative option or fewer than 8 points.
    """

    name = "toy"
    description = DESCRIPTION

    def __init__(self, points: int = 64, delay_ms: float = 0.0, busy_ms: float = 0.0) -> None:
        if int(points) < 8:
            raise ValueError(f"toy: points must be at least 8, got {points}")
        if float(delay_ms) < 0 or float(busy_ms) < 0:
            raise ValueError("toy: delay_ms and busy_ms must be 0 or more")
        points = int(points)
        self.delay_s = float(delay_ms) / 1000.0
        self.busy_s = float(busy_ms) / 1000.0
        train = np.linspace(-3.0, 3.0, points)
        # held out: the midpoints between train points, never seen by the search
        test = train[:-1] + (train[1] - train[0]) / 2.0
        self._splits: dict[str, np.ndarray] = {
            "train": train, "test": test, "quick": train[:: max(1, points // 8)]}
        self._expected = {split: _target(x) for split, x in self._splits.items()}
        self._tasks: dict[str, JailTask] = {}
        self._baselines = {
            "initial": Baseline("initial", "the starting program", INITIAL_PROGRAM),
            "optimum": Baseline("optimum", "the hidden target itself (score 0)",
                                OPTIMUM_PROGRAM),
        }

    @property
    def initial_program(self) -> str:
        return INITIAL_PROGRAM

    @property
    def baselines(self) -> Mapping[str, Baseline]:
        return self._baselines

    def jail_task(self, split: str) -> JailTask:
        """The points of ``split`` (train and quick share a jail; the expected values
        never leave the judge)."""
        check_split(split)
        group = ("test",) if split == "test" else ("train", "quick")
        if group[0] not in self._tasks:
            self._tasks[group[0]] = JailTask(
                "adrs.problems.toy:ToyHandler", f"toy/{group[0]}",
                arrays={name: self._splits[name] for name in group})
        return self._tasks[group[0]]

    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        """Score ``program`` on ``split``; see :meth:`Problem.evaluate`."""
        check_split(split)
        started = time.perf_counter()
        xs = self._splits[split]
        expected = self._expected[split]
        try:
            with self.local_runner(runner).session(self.jail_task(split), program,
                                                   filename) as session:
                reply = session.call("predict", {"split": split})
        except CandidateFailure as exc:
            return self._failed(str(exc), started)
        self._imitate_cost(started)
        predicted = reply.arrays.get("predicted")
        if predicted is None or predicted.shape != xs.shape or predicted.dtype != np.float64:
            return self._failed("the jail's reply holds no prediction per point", started)
        if not np.all(np.isfinite(predicted)):
            bad = float(xs[~np.isfinite(predicted)][0])
            return self._failed(f"predict({bad:g}) is not finite", started)
        mse = _mse(predicted, expected)
        errors = np.abs(predicted - expected)
        worst = np.argsort(-errors)[:3]
        lines = [f"mean squared error {mse:.6g} on {len(xs)} points of {split}"]
        lines += [f"x={xs[i]:+.3f}: predicted {predicted[i]:.4g}, expected "
                  f"{expected[i]:.4g}" for i in worst]
        return EvalResult(
            score=-mse,
            metrics={"mse": mse, "max_abs_error": float(errors.max())},
            feedback="\n".join(lines),
            details={"split": split, "data": "built-in points"},
            seconds=time.perf_counter() - started,
        )

    def _imitate_cost(self, started: float) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.busy_s:
            spin_until = started + self.delay_s + self.busy_s
            while time.perf_counter() < spin_until:
                pass

    def _failed(self, error: str, started: float) -> EvalResult:
        return EvalResult(score=FAILURE_SCORE, feedback=error, error=error,
                          seconds=time.perf_counter() - started)


class ToyHandler(Handler):
    """The jail side: calls the candidate's ``predict`` at each point of a split."""

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        module = load_module(program, filename)
        self.predict = entry_point(module, "predict", "the program defines no function predict(x)")

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "predict":
            return super().handle(op, header, arrays)
        _, points = self.prepared
        xs = points[str(header["split"])]
        predict = self.predict
        values = call_candidate(lambda: [predict(float(x)) for x in xs], what="predict",
                                filename=self.filename)
        try:
            predicted = np.array([float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CandidateError(f"predict returned something that is not a number: "
                                 f"{type(exc).__name__}: {exc}") from None
        return {}, {"predicted": predicted}
