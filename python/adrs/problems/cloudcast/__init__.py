"""Multi-cloud broadcast (``cloudcast``): route every partition of the data from one
region to every destination at the least cost (the ADRS leaderboard's Cloudcast).

:func:`score_leaderboard` scores a program on the leaderboard's five configurations.
"""

from adrs.problems.cloudcast._problem import (
    BEST_COST,
    FAILURE_SCORE,
    SUITES,
    VALIDATIONS,
    WORST_COST,
    CloudcastProblem,
    score_leaderboard,
)
from adrs.problems.cloudcast.broadcast import BroadCastTopology

__all__ = ["BEST_COST", "FAILURE_SCORE", "SUITES", "VALIDATIONS", "WORST_COST",
           "BroadCastTopology", "CloudcastProblem", "score_leaderboard"]
