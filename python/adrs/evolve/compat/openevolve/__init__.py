"""adrs's stand-in for the ``openevolve`` package, as task folders use it.

Only what an evaluator imports is here: :mod:`openevolve.evaluation_result`.
"""

from openevolve.evaluation_result import EvaluationResult

__all__ = ["EvaluationResult"]
__version__ = "0.3.2"  # the OpenEvolve release whose folders this stand-in runs
