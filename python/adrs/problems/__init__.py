"""Problems adrs can evolve programs for, and the registry that names them."""

from __future__ import annotations

from adrs.problems._base import SPLITS, Baseline, EvalResult, Problem, check_split
from adrs.problems._registry import get_problem, problem_names, problem_summaries

__all__ = [
    "SPLITS",
    "Baseline",
    "EvalResult",
    "Problem",
    "check_split",
    "get_problem",
    "problem_names",
    "problem_summaries",
]
