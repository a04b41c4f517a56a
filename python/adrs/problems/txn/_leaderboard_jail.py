"""The jail side of a leaderboard ``txn_scheduling`` program: ``get_random_costs()`` with
the modules it imports.

The leaderboard's programs import ``from txn_simulator import Workload`` and ``from
workloads import WORKLOAD_1, WORKLOAD_2, WORKLOAD_3`` and return ``(makespan, schedules,
seconds)``. Here both modules are our own stand-ins, made in this process before the
program loads: ``workloads`` holds the split's workloads as the leaderboard's JSON strings,
``txn_simulator.Workload`` presents the reference class's fields (``num_txns``, ``txns`` as
``(op, key, position, length)`` tuples, ``debug``) and answers ``get_opt_seq_cost`` with our
native model. The judge ignores the makespan the program reports: it checks each schedule
and recomputes its makespan itself.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs import _core
from adrs.jail import CandidateError, Handler, call_candidate, entry_point, load_module
from adrs.problems.txn._validate import InvalidSchedule, check_schedule


class Workload:
    """The reference simulator's ``Workload`` as its programs use it.

    Args:
        workload_json: ``{"txn0": "w-17 r-5 ...", ...}`` as a JSON string.
        debug: Kept for programs that read it.
        verify: Kept for programs that pass it.
    """

    def __init__(self, workload_json: str, debug: bool = False, verify: bool = False) -> None:
        self.workload = list(json.loads(workload_json).values())
        self.debug = debug
        self.verify = verify
        self.txns = []
        for text in self.workload:
            ops = text.split(" ")
            self.txns.append([(op.split("-")[0], op.split("-")[1], i + 1, len(ops))
                              for i, op in enumerate(ops) if op != "*"])
        self.num_txns = len(self.txns)
        self._model = _core.TxnModel(list(self.workload))

    def get_opt_seq_cost(self, txn_seq: Any) -> int:
        """Makespan of running ``txn_seq`` (any prefix or subset, in order)."""
        return int(self._model.makespan([int(t) for t in txn_seq]))


def install_modules(workload_texts: list[str]) -> None:
    """Make ``txn_simulator`` and ``workloads`` importable as the leaderboard's programs
    expect them."""
    simulator = types.ModuleType("txn_simulator")
    simulator.Workload = Workload  # type: ignore[attr-defined]
    data = types.ModuleType("workloads")
    for i, text in enumerate(workload_texts, start=1):
        setattr(data, f"WORKLOAD_{i}", text)
    sys.modules["txn_simulator"] = simulator
    sys.modules["workloads"] = data


class LeaderboardTxnHandler(Handler):
    """Loads a leaderboard program; ``costs`` calls its ``get_random_costs()`` and returns
    each workload's schedule."""

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        shared = prepared[0]
        texts = [json.dumps(dict(zip([f"txn{i}" for i in range(len(item["transactions"]))],
                                     item["transactions"])))
                 for item in shared["workloads"]]
        self.counts = [len(item["transactions"]) for item in shared["workloads"]]
        install_modules(texts)
        module = load_module(program, filename)
        self.costs = entry_point(module, "get_random_costs",
                                 "the program defines no function get_random_costs()")

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "costs":
            return super().handle(op, header, arrays)
        returned = call_candidate(self.costs, what="get_random_costs()",
                                  filename=self.filename)
        if not isinstance(returned, (tuple, list)) or len(returned) != 3:
            raise CandidateError("get_random_costs() must return (makespan, schedules, "
                                 f"seconds); it returned {type(returned).__name__}")
        schedules = returned[1]
        if not isinstance(schedules, (list, tuple)) or len(schedules) != len(self.counts):
            raise CandidateError(f"get_random_costs() must return {len(self.counts)} "
                                 "schedules, one per workload")
        out = {}
        for i, (schedule, count) in enumerate(zip(schedules, self.counts)):
            try:
                out[f"order{i}"] = check_schedule(schedule, count)
            except InvalidSchedule as exc:
                raise CandidateError(f"WORKLOAD_{i + 1}: {exc}") from None
        return {}, out
