"""The jail side of ``prism``: hand the candidate its models, send back where it put them.

The zygote holds one split group's cases (train with its quick subset, or the held-out
test) as arrays. Every jailed process loads the program and answers ``place {case}``: it
calls ``compute_model_placement(gpu_num=..., models=...)`` as the leaderboard does, with
fresh :class:`~adrs.problems.prism._model.Model` objects, and encodes the returned
``{gpu_id: [Model, ...]}`` as two arrays in the order returned: the index of each listed
model (found by identity, as the leaderboard matches them) and its GPU id. A reply header
``invalid`` names a result that has no such encoding (not a dict, a value that is not a
list, an object that is not one of the input models). The judge checks every index, GPU
id, duplicate and memory bound itself and computes every figure with its own copy of the
case.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs.jail import CandidateError, Handler, call_candidate, entry_point, load_module
from adrs.problems.prism._model import Model

ENTRY_POINT = "compute_model_placement"
_INT64 = np.iinfo(np.int64)
MAX_ENTRIES_PER_MODEL = 4  # bounds the reply; a placement needs one entry per model


class InvalidResult(Exception):
    """The candidate's result has no encoding as a placement; the message says why."""


class PrismHandler(Handler):
    """Loads ``compute_model_placement``; ``place {case}`` returns its placement."""

    @classmethod
    def prepare(cls, shared: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        cases = {}
        for case in shared["cases"]:
            key = str(case["key"])
            columns = [arrays[f"{key}.{field}"].tolist()
                       for field in ("model_size", "req_rate", "slo")]
            cases[key] = (int(case["gpu_num"]), tuple(zip(*columns)))
        return cases

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        module = load_module(program, filename)
        self.place = entry_point(module, ENTRY_POINT,
                                 f"{filename} defines no function {ENTRY_POINT}(gpu_num, models)")
        try:  # called by keyword, as the leaderboard calls it
            inspect.signature(self.place).bind(gpu_num=1, models=[])
        except TypeError:
            raise CandidateError(f"{filename}: {ENTRY_POINT}() must take the arguments "
                                 "gpu_num and models") from None
        except ValueError:  # a callable without a signature: let the call decide
            pass

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "place":
            return super().handle(op, header, arrays)
        key = str(header["case"])
        gpu_num, rows = self.prepared[key]
        models = [Model(f"model_{j}", size, rate, slo, j)
                  for j, (size, rate, slo) in enumerate(rows)]
        index_of = {id(model): j for j, model in enumerate(models)}
        result = call_candidate(lambda: self.place(gpu_num=gpu_num, models=list(models)),
                                what=f"{key}: {ENTRY_POINT}()", filename=self.filename)
        try:
            placed, gpus = encode_placement(result, index_of, len(models))
        except InvalidResult as exc:
            return {"invalid": str(exc)}, {}
        return {}, {"models": placed, "gpus": gpus}


def encode_placement(result: Any, index_of: Mapping[int, int],
                     num_models: int) -> tuple[np.ndarray, np.ndarray]:
    """``{gpu_id: [Model, ...]}`` as (model indices, GPU ids), in the order returned.

    Args:
        result: What the candidate returned.
        index_of: ``id(model) -> index`` of the models the candidate was given (the
            objects stay alive meanwhile, so their ids are theirs alone).
        num_models: Models in the case; more than ``MAX_ENTRIES_PER_MODEL`` times as many
            entries are refused before any is encoded (fewer reach the judge, which names
            the models placed twice).

    Raises:
        InvalidResult: ``result`` is not a dict of lists, a key is not an integer, a list holds
            something other than one of the given models, or there are too many entries.
    """
    if not isinstance(result, dict):
        raise InvalidResult(f"{ENTRY_POINT} returned {type(result).__name__}, not a dict "
                            "{gpu_id: [Model, ...]}")
    total = 0
    for key, value in result.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Integral):
            raise InvalidResult(f"the placement's key {_short(key)} ({type(key).__name__}) is "
                                "not an integer GPU id")
        if not isinstance(value, list):
            raise InvalidResult(f"GPU {_short(key)}: the value is {type(value).__name__}, not a "
                                "list of models")
        total += len(value)
    if total > MAX_ENTRIES_PER_MODEL * num_models:
        raise InvalidResult(f"the placement lists {total} models; the case has {num_models}")
    placed = np.empty(total, np.int64)
    gpus = np.empty(total, np.int64)
    k = 0
    for key, value in result.items():
        gpu = int(key)
        if not _INT64.min <= gpu <= _INT64.max:
            raise InvalidResult(f"GPU id {gpu} is out of range")
        for item in value:
            index = index_of.get(id(item))
            if index is None:
                raise InvalidResult(f"GPU {gpu} holds an object ({type(item).__name__}) that is "
                                    "not one of the input models (return the objects given)")
            if k == total:  # a list subclass that yields more than its length
                raise InvalidResult("the placement changed while it was read")
            placed[k], gpus[k] = index, gpu
            k += 1
    if k != total:  # a list that changed while it was read
        raise InvalidResult("the placement changed while it was read")
    return placed, gpus


def _short(value: Any) -> str:
    # repr only of plain values: a candidate's own class could run code in __repr__
    if not isinstance(value, (int, float, str, bytes, type(None))):
        return "an object"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
