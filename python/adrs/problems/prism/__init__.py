"""GPU model placement (``prism``): minimise the largest KV-cache pressure over the GPUs.

A candidate's ``compute_model_placement(gpu_num, models)`` receives :class:`Model`
objects, as the ADRS Leaderboard's evaluator gives them; :func:`score_leaderboard_code`
scores such code on the leaderboard's 50 cases exactly as its evaluator does.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: the jail's handler imports this package for Model alone, and
# must not load the judge's Numba scorer (its cache folder is read-only in the jail).
_EXPORTS = {
    "GPU_MEM_SIZE": "adrs.problems.prism._model",
    "Model": "adrs.problems.prism._model",
    "DEFAULT_TIME_LIMIT_S": "adrs.problems.prism._problem",
    "FAILED_CASES": "adrs.problems.prism._problem",
    "FAILURE_SCORE": "adrs.problems.prism._problem",
    "SUITES": "adrs.problems.prism._problem",
    "PrismProblem": "adrs.problems.prism._problem",
    "score_leaderboard_code": "adrs.problems.prism._problem",
}

__all__ = ["DEFAULT_TIME_LIMIT_S", "FAILED_CASES", "FAILURE_SCORE", "GPU_MEM_SIZE", "SUITES",
           "Model", "PrismProblem", "score_leaderboard_code"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'adrs.problems.prism' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
