"""Transaction scheduling (``txn``): order a batch of transactions to minimise makespan.

The native makespan model is :class:`TxnModel` (with :class:`TxnState` for prefixes);
a candidate's ``schedule(workload)`` receives a :class:`Workload` that carries one.
"""

from adrs._core import TxnModel, TxnState
from adrs.problems.txn._candidate import Workload
from adrs.problems.txn._problem import (
    DEFAULT_TIME_LIMIT_S,
    FAILURE_SCORE,
    TransactionSchedulingProblem,
    lower_bound,
)

__all__ = ["DEFAULT_TIME_LIMIT_S", "FAILURE_SCORE", "TransactionSchedulingProblem", "TxnModel",
           "TxnState", "Workload", "lower_bound"]
