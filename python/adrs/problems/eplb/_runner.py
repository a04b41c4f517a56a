"""Run one candidate ``rebalance_experts`` for the eplb evaluator, in a fresh interpreter.

Started by :class:`~adrs.problems.eplb._isolation.CandidateProcess` as
``python -m adrs.problems.eplb._runner READ_FD WRITE_FD``. It imports torch, loads the
candidate from a file (so tracebacks and ``inspect``, which Triton's ``jit`` needs, see its
source), then serves calls: it receives one window of loads, answers ``ready``, waits for
``go``, calls the candidate, answers ``done`` the moment it returns (after a CUDA
synchronise when it returned GPU tensors) and then sends the placement. The evaluator times
``go`` to ``done``. It only ever holds the windows the candidate may see: the evaluator
sends window ``i`` after it has the placement fitted on window ``i - 1``.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from adrs.problems.eplb._wire import WIRE_DTYPES, encode, read_frame, write_frame

ENTRY = "rebalance_experts"
OUTPUTS = ("phy2log", "log2phy", "logcnt")


def _describe(exc: BaseException) -> dict[str, Any]:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"op": "error", "message": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(lines[-12:])[-4000:]}


def _load(source: str, folder: Path) -> Any:
    path = folder / "candidate.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("candidate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["candidate"] = module
    spec.loader.exec_module(module)
    return module


def _outputs(result: Any, torch: Any) -> tuple[Any, ...] | str:
    """The three tensors, or why the result is not three tensors."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        kind = type(result).__name__
        size = f" of {len(result)}" if isinstance(result, (tuple, list)) else ""
        return (f"{ENTRY} must return (phy2log, log2phy, logcnt), three tensors; it "
                f"returned a {kind}{size}")
    for name, value in zip(OUTPUTS, result):
        # exactly torch.Tensor: a subclass could defer its work past the timer
        if type(value) is not torch.Tensor:
            return f"{ENTRY} returned {name} as a {type(value).__name__}, not a torch.Tensor"
    return tuple(result)


def _to_numpy(name: str, tensor: Any) -> np.ndarray | str:
    try:
        array = tensor.detach().cpu().contiguous().numpy()
    except (TypeError, RuntimeError) as exc:
        return f"{name} ({tensor.dtype}) cannot be read: {exc}"
    if array.dtype.name not in WIRE_DTYPES:
        return f"{name} has dtype {array.dtype}, not a number type"
    return array


def serve(read_fd: int, write_fd: int) -> int:
    """Serve the evaluator until it says ``exit`` or goes away."""
    # Bind what the protocol uses before candidate code runs: it cannot rebind these.
    clock, send, receive, frame = time.perf_counter, write_frame, read_frame, encode
    header, _ = receive(read_fd)
    import torch

    if header.get("threads"):
        torch.set_num_threads(int(header["threads"]))
    folder = Path(tempfile.mkdtemp(prefix="adrs-eplb-candidate-"))
    started = clock()
    try:
        module = _load(str(header["program"]), folder)
        function = getattr(module, ENTRY, None)
        if not callable(function):
            send(write_fd, frame({"op": "error", "message": (
                f"the program defines no {ENTRY}(weight, num_replicas, num_groups, "
                "num_nodes, num_gpus)"), "traceback": ""}))
            return 0
    except BaseException as exc:  # noqa: BLE001 - the candidate's failure, reported
        send(write_fd, frame(_describe(exc)))
        return 0
    send(write_fd, frame({"op": "loaded", "seconds": clock() - started}))
    while True:
        header, arrays = receive(read_fd)
        if header.get("op") != "call":
            return 0
        weight = torch.from_numpy(arrays["weight"].copy())
        args = [int(a) for a in header["args"]]
        send(write_fd, frame({"op": "ready"}))
        receive(read_fd)  # go
        began = clock()
        try:
            result = function(weight, *args)
            outputs = _outputs(result, torch)
            if not isinstance(outputs, str) and any(t.is_cuda for t in outputs):
                torch.cuda.synchronize()
        except BaseException as exc:  # noqa: BLE001 - the candidate's failure, reported
            send(write_fd, frame(_describe(exc)))
            return 0
        ended = clock()
        send(write_fd, frame({"op": "done", "seconds": ended - began}))
        if isinstance(outputs, str):
            send(write_fd, frame({"op": "error", "message": outputs, "traceback": ""}))
            return 0
        converted = {name: _to_numpy(name, t) for name, t in zip(OUTPUTS, outputs)}
        problems = [c for c in converted.values() if isinstance(c, str)]
        if problems:
            send(write_fd, frame({"op": "error", "message": problems[0], "traceback": ""}))
            return 0
        send(write_fd, frame({"op": "result"}, converted))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return serve(int(args[0]), int(args[1]))


if __name__ == "__main__":  # pragma: no cover - started as a subprocess
    sys.exit(main())
