"""Multi-cloud broadcast (``cloudcast``): route every partition of the data from one
region to every destination at the least cost (the ADRS leaderboard's Cloudcast).

:func:`score_leaderboard` scores a program on the leaderboard's five configurations.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: the jail imports this package for ``broadcast`` alone, and must
# not load the judge's model (its Numba cache cannot be written there).
_EXPORTS = {
    "BEST_COST": "adrs.problems.cloudcast._problem",
    "FAILURE_SCORE": "adrs.problems.cloudcast._problem",
    "SUITES": "adrs.problems.cloudcast._problem",
    "VALIDATIONS": "adrs.problems.cloudcast._problem",
    "WORST_COST": "adrs.problems.cloudcast._problem",
    "CloudcastProblem": "adrs.problems.cloudcast._problem",
    "score_leaderboard": "adrs.problems.cloudcast._problem",
    "BroadCastTopology": "adrs.problems.cloudcast.broadcast",
}

__all__ = ["BEST_COST", "FAILURE_SCORE", "SUITES", "VALIDATIONS", "WORST_COST",
           "BroadCastTopology", "CloudcastProblem", "score_leaderboard"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'adrs.problems.cloudcast' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
