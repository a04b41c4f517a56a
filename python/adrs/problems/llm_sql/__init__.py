"""The ``llm-sql`` problem: reorder table rows and fields for prefix-cache reuse."""

from adrs.problems.llm_sql._problem import CACHE_MODELS, SCORERS, LlmSqlProblem
from adrs.problems.llm_sql._table import Table

__all__ = ["CACHE_MODELS", "SCORERS", "LlmSqlProblem", "Table"]
