"""The problem contract: what every task that adrs can evolve provides.

A problem owns its workloads, its scoring and its validation: it is the judge. The
search loop sees only this interface: it asks for the initial program and the
description that the model is told, and hands candidate programs (source text) to
:meth:`Problem.evaluate` together with a runner (:mod:`adrs.jail`) that runs the
candidate apart from the judge: in a jail during a search and in ``adrs eval``, in the
caller's own process only for trusted code. The problem sends the runner the inputs of
one evaluation, validates what comes back and recomputes every figure itself.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adrs.jail import JailTask, Runner

SPLITS = ("train", "test", "quick")


@dataclass(frozen=True)
class EvalResult:
    """The outcome of evaluating one program on one split.

    Attributes:
        score: Higher is better. A failed candidate gets the problem's failure score
            (for the published problems, the value the reference evaluator gives).
        metrics: Named numbers worth showing (``avg_cost``, ``deadline_missed``...).
        features: Numbers the search may use as MAP-Elites dimensions.
        feedback: Text for the model: per-scenario breakdown, compile errors.
        error: Why the candidate failed, or None when it is valid.
        details: Everything else a script may want (every run's cost...); JSON-safe.
        seconds: Wall time of the evaluation.
    """

    score: float
    metrics: Mapping[str, float] = field(default_factory=dict)
    features: Mapping[str, float] = field(default_factory=dict)
    feedback: str = ""
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "ok": self.ok,
            "error": self.error,
            "metrics": dict(self.metrics),
            "features": dict(self.features),
            "feedback": self.feedback,
            "details": dict(self.details),
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Baseline:
    """A named reference program of a problem.

    Attributes:
        name: Short identifier used on the command line (``--baseline NAME``).
        summary: One line saying what it is and where it comes from.
        program: Source text of the baseline as a candidate program.
        builtin: Identifier of a native (C++) implementation of the same policy, or
            None when the baseline exists only as a program.
    """

    name: str
    summary: str
    program: str
    builtin: str | None = None


class Problem(abc.ABC):
    """A task that adrs evolves programs for.

    Subclasses set :attr:`name` and :attr:`description` and implement the abstract
    methods. Higher scores are better.
    """

    name: str = ""
    description: str = ""
    # Metrics worth a column when results are shown side by side (adrs baselines).
    summary_metrics: tuple[str, ...] = ()
    # The baseline that is the published state of the art, to compare a search's result
    # with (None: the problem names none).
    state_of_the_art: str | None = None
    # Metrics that say what a result costs in constraints (shown beside the scores).
    constraint_metrics: tuple[str, ...] = ()
    # Whether a jail may spend its start warming up for many candidates (a search) rather
    # than start at once for one (adrs eval sets it False).
    warm_jails: bool = True

    @property
    @abc.abstractmethod
    def initial_program(self) -> str:
        """Source text of the program the search starts from."""

    @property
    @abc.abstractmethod
    def baselines(self) -> Mapping[str, Baseline]:
        """Named reference programs, the published state of the art among them."""

    @abc.abstractmethod
    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        """Score a candidate program on one split of the workloads.

        Args:
            program: Source text of the candidate.
            split: ``train`` (seen by the search), ``test`` (held out) or ``quick``
                (a small subset of ``train`` for cascade filtering).
            runner: Runs the candidate: a :class:`~adrs.jail.JailRunner` for untrusted
                code; None runs it in this process (:class:`~adrs.jail.InProcessRunner`),
                for trusted code only.
            filename: The program's file name, as its errors name it.

        Returns:
            The result; an invalid or crashing candidate is a result with ``error``
            set, never an exception.

        Raises:
            ValueError: ``split`` is not one of :data:`SPLITS`.
            adrs.jail.JailError: The jail itself failed (not the candidate).
        """

    def jail_task(self, split: str) -> JailTask:
        """What a jail for ``split`` runs next to candidates, with the inputs it may
        hold (a worker starts the ``train`` jail before the first candidate arrives).

        Raises:
            ValueError: Unknown split.
        """
        raise NotImplementedError(f"problem {self.name!r} has no jail task")

    def evaluate_baseline(self, name: str, split: str = "train",
                          runner: Runner | None = None) -> EvalResult:
        """Score a named baseline, through its native implementation when it has one.

        Raises:
            ValueError: No baseline of that name.
        """
        return self.evaluate(self.baseline(name).program, split, runner, f"{name}.py")

    def local_runner(self, runner: Runner | None) -> Runner:
        """``runner``, or this problem's own in-process runner when it is None."""
        if runner is not None:
            return runner
        local = self.__dict__.get("_in_process_runner")
        if local is None:
            from adrs.jail import InProcessRunner

            local = InProcessRunner()
            self.__dict__["_in_process_runner"] = local
        return local

    def explain_gain(self, best: Mapping[str, float],
                     initial: Mapping[str, float]) -> str | None:
        """Words on where a search's gain comes from, when its score alone would mislead
        (the end of ``adrs run`` prints them beside the scores).

        Args:
            best: The best program's metrics on one split.
            initial: The initial program's metrics on the same split.

        Returns:
            A sentence, or None when there is nothing to add (the default).
        """
        return None

    def baseline(self, name: str) -> Baseline:
        """Look a baseline up by name.

        Raises:
            ValueError: No baseline of that name; the message lists the known ones.
        """
        try:
            return self.baselines[name]
        except KeyError:
            known = ", ".join(self.baselines)
            raise ValueError(
                f"problem {self.name!r} has no baseline {name!r}; known: {known}"
            ) from None


def package_text(package: str, filename: str) -> str:
    """A text file shipped inside a package: a bundled program, a problem description.

    Args:
        package: e.g. ``"adrs.problems.spot.programs"``.
        filename: e.g. ``"greedy.py"``.
    """
    from importlib import resources

    return resources.files(package).joinpath(filename).read_text()


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (a problem option such as ``suite``).

    Raises:
        ValueError: It is not; the message names the option and the choices.
    """
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(choices)}")
    return str(value)


def check_split(split: str) -> str:
    """Return ``split`` if it names a split.

    Raises:
        ValueError: It does not.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split
