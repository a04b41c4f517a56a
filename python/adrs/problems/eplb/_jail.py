"""The jail side of ``eplb``: call the candidate's ``rebalance_experts`` on one window at
a time.

The zygote has torch imported and holds no loads at all: the judge sends window ``i``
only after it has the placement fitted on window ``i - 1``, so no process of the
candidate ever holds a window it must not see yet. Each call converts the window to a
tensor, calls the candidate, waits for the GPU when it returned GPU tensors, and sends
the three tensors back as arrays; the judge times the call from outside (CPU seconds of
every process of the jail from before the window is sent to after the placement
arrived: any code of this process, conversions included, may be the candidate's, so
nothing in between is left out), validates the placement and scores it on the next
window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs.jail import CandidateError, Handler, call_candidate, entry_point, load_module
from adrs.jail._wire import WIRE_DTYPES
from adrs.jail.handler import in_jail

ENTRY = "rebalance_experts"
OUTPUTS = ("phy2log", "log2phy", "logcnt")


class EplbHandler(Handler):
    """Loads ``rebalance_experts``; ``rebalance {args}`` + ``weight`` returns a placement."""

    @classmethod
    def prepare(cls, shared: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        import torch  # in the zygote: every candidate starts with torch imported

        del torch
        return dict(shared)

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        import torch

        self.torch = torch
        if prepared.get("threads") and in_jail():
            torch.set_num_threads(int(prepared["threads"]))
        module = load_module(program, filename)
        self.function = entry_point(module, ENTRY, f"the program defines no {ENTRY}(weight, "
                                    "num_replicas, num_groups, num_nodes, num_gpus)")

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "rebalance":
            return super().handle(op, header, arrays)
        torch = self.torch
        weight = torch.from_numpy(np.array(arrays["weight"]))
        args = [int(a) for a in header["args"]]
        result = call_candidate(self.function, weight, *args, what=ENTRY,
                                filename=self.filename)
        outputs = _outputs(result, torch)
        if any(t.is_cuda for t in outputs):
            torch.cuda.synchronize()
        return {}, {name: _to_numpy(name, t) for name, t in zip(OUTPUTS, outputs)}


def _outputs(result: Any, torch: Any) -> tuple[Any, ...]:
    """The three tensors, or a CandidateError saying why the result is not that."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        kind = type(result).__name__
        size = f" of {len(result)}" if isinstance(result, (tuple, list)) else ""
        raise CandidateError(f"{ENTRY} must return (phy2log, log2phy, logcnt), three "
                             f"tensors; it returned a {kind}{size}")
    for name, value in zip(OUTPUTS, result):
        # exactly torch.Tensor: a subclass could defer its work past the call
        if type(value) is not torch.Tensor:
            raise CandidateError(f"{ENTRY} returned {name} as a {type(value).__name__}, "
                                 "not a torch.Tensor")
    return tuple(result)


def _to_numpy(name: str, tensor: Any) -> np.ndarray:
    try:
        array = tensor.detach().cpu().contiguous().numpy()
    except (TypeError, RuntimeError) as exc:
        raise CandidateError(f"{name} ({tensor.dtype}) cannot be read: {exc}") from None
    if array.dtype.name not in WIRE_DTYPES:
        raise CandidateError(f"{name} has dtype {array.dtype}, not a number type")
    return array
