"""The jail side of the spot problems: compile the policy, run it on the traces the jail
holds, send back every action it took.

The zygote holds one split group's runs (the train runs and their quick subset, or the
held-out test runs, never both) packed with only the traces those runs read. Each
jailed process checks the program against the policy subset again, compiles it with
Numba in nopython mode (no interpreted fallback: a program Numba cannot compile fails),
runs the C++ loop with the compiled policy and records the action it returned at every
tick. The judge replays those actions in its own simulator: the cost of a run is
computed from what the policy did, never taken from this process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs import _core
from adrs.bridge import compile_policy
from adrs.jail import CandidateError, Handler
from adrs.problems.spot._subset import check_policy_program
from adrs.simulators.spot_layout import STATUS_POLICY_ERROR

PACKED = ("available", "prices", "offsets", "gaps", "run_traces", "run_offsets",
          "scenarios_hours")
RESULT_COLUMNS = ("cost", "ticks", "finish_tick", "spot_ticks", "on_demand_ticks",
                  "final_region", "status", "status_tick", "bad_action")
_WARM_POLICY = "def decide(obs, mem):\n    return 0\n"
_MESSAGE_CHARS = 2000


def pack(workload: Any, prefix: str) -> dict[str, np.ndarray]:
    """A workload's runs with only the traces they read, as arrays named ``prefix.X``."""
    traces = workload.traces
    used = np.unique(workload.run_traces)
    remap = np.full(len(traces), -1, np.int64)
    remap[used] = np.arange(used.size)
    lengths = traces.offsets[used + 1] - traces.offsets[used]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    pieces = [slice(traces.offsets[i], traces.offsets[i + 1]) for i in used]
    arrays = {
        "available": np.concatenate([traces.available[p] for p in pieces]),
        "prices": np.concatenate([traces.prices[p] for p in pieces]),
        "offsets": offsets,
        "gaps": traces.gap_seconds[used],
        "run_traces": remap[workload.run_traces],
        "run_offsets": workload.run_offsets,
        "scenarios_hours": np.ascontiguousarray(workload.scenarios_hours, np.float64),
    }
    return {f"{prefix}.{name}": value for name, value in arrays.items()}


class SpotHandler(Handler):
    """Compiles one policy; ``simulate {split}`` runs it and returns its actions."""

    @classmethod
    def prepare(cls, shared: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        # copies: the wire's arrays are read-only views, which Numba's loop does not take
        workloads = {split: tuple(np.array(arrays[f"{split}.{name}"]) for name in PACKED)
                     for split in shared["splits"]}
        # Numba's first compiles in a process cost the most (typing templates, math and
        # numpy overloads): compile our own programs now, so candidates start warm
        for program in [_WARM_POLICY, *shared.get("warm_programs", ())]:
            compile_policy(program)
        return dict(shared), workloads

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        try:
            check_policy_program(program, filename)
            self.policy = compile_policy(program, filename=filename)
        except ValueError as exc:
            raise CandidateError(str(exc)) from None
        shared = prepared[0]
        if shared["path"] != "interpreted" and not self.policy.compiled:
            raise CandidateError(str(self.policy.compile_error))

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "simulate":
            return super().handle(op, header, arrays)
        shared, workloads = self.prepared
        packed = workloads[str(header["split"])]
        path = shared["path"]
        args = (*packed, bool(shared["multi_region"]), str(shared["fidelity"]))
        if path == "cpp":
            runs = _core.spot_simulate(*args, self.policy.address, False, True)
            out = {"actions": runs["actions"], "action_offsets": runs["action_offsets"]}
        else:  # trusted paths, for cross-checking the simulators: results as they are
            policy = self.policy.interpreted if path == "interpreted" else \
                self.policy.numba_function()
            if path == "interpreted":
                runs = _core.spot_simulate(*args, policy, False)
            else:
                from adrs.simulators import spot as numba_spot

                runs = numba_spot.simulate(*args, policy, False)
            out = {name: np.asarray(runs[name]) for name in RESULT_COLUMNS}
        return {"messages": self._messages(args, runs)}, out

    def _messages(self, args: tuple, runs: Mapping[str, Any]) -> dict[str, str]:
        """Why the first run that failed failed, in words (a compiled policy's exception
        cannot cross the C function: that run is replayed interpreted to name it)."""
        status = np.asarray(runs["status"])
        failed = np.flatnonzero(status != 0)
        if failed.size == 0:
            return {}
        i = int(failed[0])
        message = str(runs["messages"][i]) if "messages" in runs else ""
        if not message and status[i] == STATUS_POLICY_ERROR:
            message = self._interpreted_error(args, i)
        return {str(i): message[:_MESSAGE_CHARS]} if message else {}

    def _interpreted_error(self, args: tuple, i: int) -> str:
        available, prices, offsets, gaps, run_traces, run_offsets, scenarios, *rest = args
        lo, hi = run_offsets[i], run_offsets[i + 1]
        one = (available, prices, offsets, gaps, run_traces[lo:hi],
               np.array([0, hi - lo], np.int64), scenarios[i:i + 1], *rest)
        replay = _core.spot_simulate(*one, self.policy.interpreted, False)
        return str(replay["messages"][0])
