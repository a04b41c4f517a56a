"""Names of the built-in problems and how to build each one.

Problems are imported lazily so that ``adrs problems`` stays fast and a problem whose
optional dependencies are missing does not break the others.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from adrs.problems._base import Problem

# name -> ("module:factory", one-line summary)
_PROBLEMS: dict[str, tuple[str, str]] = {
    "spot": (
        "adrs.problems.spot:SingleRegionSpotProblem",
        ("Schedule a deadline-bound job on spot vs on-demand instances, one region "
        "(Can't Be Late, NSDI'24)"),
    ),
    "spot-multi": (
        "adrs.problems.spot:MultiRegionSpotProblem",
        "Schedule a deadline-bound job on spot vs on-demand instances across regions",
    ),
    "txn": (
        "adrs.problems.txn:TransactionSchedulingProblem",
        "Order a batch of transactions to minimise makespan under lock conflicts",
    ),
    "llm-sql": (
        "adrs.problems.llm_sql:LlmSqlProblem",
        "Reorder table rows and fields so LLM prompts reuse cached prefixes",
    ),
    "eplb": (
        "adrs.problems.eplb:ExpertPlacementProblem",
        "Replicate and place MoE experts on GPUs to balance load (needs adrs[moe])",
    ),
    "prism": (
        "adrs.problems.prism:PrismProblem",
        "Place models on GPUs to minimise the largest KV-cache pressure (ADRS Leaderboard)",
    ),
    "cloudcast": (
        "adrs.problems.cloudcast:CloudcastProblem",
        ("Route a broadcast across AWS, Azure and GCP regions at the least cost "
         "(needs adrs[cloudcast])"),
    ),
    "toy": ("adrs.problems.toy:ToyProblem", "Fit a hidden piecewise curve (a fast demo problem)"),
}


def problem_names() -> list[str]:
    """Names of every built-in problem, in display order."""
    return list(_PROBLEMS)


def problem_summaries() -> dict[str, str]:
    """One-line summary of every built-in problem."""
    return {name: summary for name, (_, summary) in _PROBLEMS.items()}


def split_variant(name: str) -> tuple[str, str | None]:
    """``spot@leaderboard`` -> ``("spot", "leaderboard")``; ``spot`` -> ``("spot", None)``:
    a problem name may name a suite (the problem's ``suite`` option) after an ``@``."""
    base, sep, suite = name.partition("@")
    return base, (suite if sep else None)


def problem_factory(name: str) -> Callable[..., Problem]:
    """The class (or function) that builds the problem called ``name`` (a suite after
    ``@`` does not change it).

    Raises:
        ValueError: Unknown name.
    """
    name = split_variant(name)[0]
    try:
        target, _ = _PROBLEMS[name]
    except KeyError:
        raise ValueError(
            f"unknown problem {name!r}; known: {', '.join(_PROBLEMS)}"
        ) from None
    module_name, factory_name = target.split(":")
    return getattr(importlib.import_module(module_name), factory_name)


def get_problem(name: str, **options: Any) -> Problem:
    """Build the problem called ``name``.

    Args:
        name: A name from :func:`problem_names`.
        **options: Problem-specific options (for spot: ``data``, ``fidelity``...).

    Raises:
        ValueError: Unknown name, an option the problem rejects, or a suite given twice
            (``spot@leaderboard`` with another ``suite``) or to a problem without suites.
    """
    factory = problem_factory(name)
    base, suite = split_variant(name)
    if suite is not None:
        if options.get("suite", suite) != suite:
            raise ValueError(f"{name}: the name says suite {suite!r}, the options say "
                             f"{options['suite']!r}")
        options = {**options, "suite": suite}
    if "suite" in options and "suite" not in inspect.signature(factory).parameters:
        raise ValueError(f"problem {base!r} has no suites (no {options['suite']!r} variant)")
    return factory(**options)
