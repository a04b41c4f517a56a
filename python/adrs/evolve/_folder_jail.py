"""The jail side of a task folder: the folder's own evaluator, run next to the candidate.

In a task folder the evaluator is the judge the user chose, and it imports the candidate
itself, so both run together in a fresh jailed process per candidate: the program is
written to the jail's private ``/tmp`` under the folder's program name, the evaluator is
imported from the folder (visible read-only at its own path) and called on it. What it
returns is sent back as plain data (numbers and text), and the judge outside takes it as
the folder defines it. Nothing of one candidate survives into the next: each is a fresh
process, and nothing of the evaluator is imported before the fork.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs.jail import CandidateError, Handler, call_candidate
from adrs.jail.handler import trace_of

EVALUATOR_MODULE = "adrs_task_evaluator"
_TEXT_CHARS = 4000


class FolderHandler(Handler):
    """``evaluate {function}``: the evaluator's function on the program's file."""

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        shared, _ = prepared
        self.path = os.path.join(os.getcwd(), str(shared["program_name"]))
        with open(self.path, "w") as handle:
            handle.write(program)
        folder = str(shared["folder"])
        if folder not in sys.path:
            sys.path.insert(0, folder)  # evaluators import their helpers
        spec = importlib.util.spec_from_file_location(EVALUATOR_MODULE, shared["evaluator"])
        if spec is None or spec.loader is None:
            raise CandidateError(f"{shared['evaluator']}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[EVALUATOR_MODULE] = module
        call_candidate(spec.loader.exec_module, module, what="importing the evaluator",
                       filename=str(shared["evaluator"]))
        self.module = module

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "evaluate":
            return super().handle(op, header, arrays)
        name = str(header["function"])
        function = getattr(self.module, name, None) or getattr(self.module, "evaluate", None)
        if not callable(function):
            raise CandidateError(f"{self.prepared[0]['evaluator']} defines no "
                                 "evaluate(program_path)")
        try:
            raw = function(self.path)
        except BaseException as exc:  # noqa: BLE001 - the evaluator ran candidate code
            raise CandidateError(f"{type(exc).__name__}: {exc}", trace_of(exc)) from None
        return plain_result(raw), {}


def plain_result(raw: Any) -> dict[str, Any]:
    """An evaluator's result as plain data: ``metrics`` (numbers, or text where the
    evaluator put text) and ``artifacts`` (text), from a dict or an OpenEvolve-style
    ``EvaluationResult``."""
    artifacts: Mapping[str, Any] = {}
    if hasattr(raw, "metrics") and not isinstance(raw, Mapping):
        artifacts = getattr(raw, "artifacts", None) or {}
        raw = raw.metrics
    if not isinstance(raw, Mapping):
        raise CandidateError(f"evaluate() returned {type(raw).__name__}, expected a dict of "
                             "metrics")
    metrics: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, (bool, int, float, np.integer, np.floating)):
            number = float(value)
            metrics[str(key)] = number if math.isfinite(number) else str(number)
        else:
            metrics[str(key)] = str(value)[:_TEXT_CHARS]
    return {"metrics": metrics,
            "artifacts": {str(k): str(v)[:_TEXT_CHARS] for k, v in dict(artifacts).items()}}
