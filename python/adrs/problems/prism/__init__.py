"""GPU model placement (``prism``): minimise the largest KV-cache pressure over the GPUs.

A candidate's ``compute_model_placement(gpu_num, models)`` receives :class:`Model`
objects, as the ADRS Leaderboard's evaluator gives them; :func:`score_leaderboard_code`
scores such code on the leaderboard's 50 cases exactly as its evaluator does.
"""

from adrs.problems.prism._model import GPU_MEM_SIZE, Model
from adrs.problems.prism._problem import (
    DEFAULT_TIME_LIMIT_S,
    FAILED_CASES,
    FAILURE_SCORE,
    SUITES,
    PrismProblem,
    score_leaderboard_code,
)

__all__ = ["DEFAULT_TIME_LIMIT_S", "FAILED_CASES", "FAILURE_SCORE", "GPU_MEM_SIZE", "SUITES",
           "Model", "PrismProblem", "score_leaderboard_code"]
