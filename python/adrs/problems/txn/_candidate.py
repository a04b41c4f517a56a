"""The jail side of ``txn``: what ``schedule(workload)`` receives, and the handler that
calls it.

The zygote holds one split group's workloads (train with its quick subset, or the
held-out test) and a native model of each. Every jailed process loads the program
(its module code is the load, under the per-workload time limit) and answers
``schedule {index}``: it calls ``schedule`` on that workload, with a model of its own
(a copy-on-write copy of the zygote's: whatever the candidate does to it stays in its
process), and sends back the indices. The judge enforces the time limit from outside,
checks the schedule is a permutation and recomputes the makespan with its own model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from adrs import _core
from adrs.jail import CandidateError, Handler, call_candidate, entry_point, load_module
from adrs.problems.txn._validate import InvalidSchedule, check_schedule


@dataclass(frozen=True, eq=False)
class Workload:
    """What ``schedule(workload)`` receives.

    Attributes:
        name: ``workload_1``... or the generated workload's name.
        transactions: Op strings in order (``"w-17 r-5 * ..."``); transaction i is entry i.
        model: The native makespan model of this workload (``adrs._core.TxnModel``):
            ``model.makespan(seq)``, ``model.makespans(seqs)``, ``model.state()``...
        time_limit_s: Wall-clock seconds this call may take (None: no limit).
        deadline: ``time.perf_counter()`` value when the limit runs out (inf: none).
    """

    name: str
    transactions: tuple[str, ...]
    model: _core.TxnModel
    time_limit_s: float | None
    deadline: float

    @property
    def num_txns(self) -> int:
        return len(self.transactions)

    def time_left(self) -> float:
        """Seconds left before the limit (inf without one)."""
        return self.deadline - time.perf_counter()


class TxnHandler(Handler):
    """Loads ``schedule``; ``schedule {index}`` returns its order for that workload."""

    @classmethod
    def prepare(cls, shared: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        workloads = [(str(item["name"]), tuple(item["transactions"]))
                     for item in shared["workloads"]]
        models = [_core.TxnModel(list(transactions)) for _, transactions in workloads]
        return dict(shared), workloads, models

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        module = load_module(program, filename)
        self.schedule = entry_point(module, "schedule",
                                    "the program defines no function schedule(workload)")

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "schedule":
            return super().handle(op, header, arrays)
        shared, workloads, models = self.prepared
        index = int(header["index"])
        name, transactions = workloads[index]
        limit = shared["time_limit_s"]
        deadline = time.perf_counter() + limit if limit is not None else float("inf")
        view = Workload(name, transactions, models[index], limit, deadline)
        returned = call_candidate(self.schedule, view, what=f"{name}: schedule",
                                  filename=self.filename)
        try:  # named here, where the object exists; the judge checks the indices again
            order = check_schedule(returned, len(transactions))
        except InvalidSchedule as exc:
            raise CandidateError(f"{name}: {exc}") from None
        return {}, {"order": order}
