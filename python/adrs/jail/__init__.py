"""The jail: where candidate code runs, apart from the judge that scores it.

The judge (the controller, the evaluation workers, ``adrs eval``) holds the workloads,
the validation, the timing and the scoring. A candidate runs in a jailed process that
receives only the inputs of one evaluation and returns only its outputs; the judge
checks them and recomputes every figure itself. A jailed process has its own user, PID,
network, mount, IPC and UTS namespaces, a read-only view of the interpreter and packages
with a private size-capped ``/tmp``, hard limits, no capabilities, no new privileges, a
seccomp filter and a clean environment; everything it starts dies with it. Where the
machine refuses a layer, the jail says which and why (``adrs doctor``).

Public names:

- :class:`Jail`, :class:`Session`, :class:`JailTask`, :class:`Reply`: the judge's handle;
- :class:`JailRunner`, :class:`InProcessRunner`, :class:`Runner`: what problems are given;
- :class:`Handler`, :class:`CandidateError`, :func:`load_module`: the jail side of a problem;
- :class:`JailLimits`, :class:`Layers`, :class:`Layer`, :data:`LAYERS`;
- :class:`CandidateFailure` (the candidate failed), :class:`JailError` (the jail did).
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: the jail's launcher imports this package before it may start a
# thread (unshare of a user namespace refuses a multithreaded process), so nothing here
# may import numpy, whose BLAS starts threads.
_EXPORTS = {
    "CandidateFailure": "adrs.jail._jail",
    "Jail": "adrs.jail._jail",
    "JailError": "adrs.jail._jail",
    "JailTask": "adrs.jail._jail",
    "Reply": "adrs.jail._jail",
    "Session": "adrs.jail._jail",
    "clean_environment": "adrs.jail._jail",
    "LAYERS": "adrs.jail._layers",
    "JailLimits": "adrs.jail._layers",
    "Layer": "adrs.jail._layers",
    "Layers": "adrs.jail._layers",
    "InProcessRunner": "adrs.jail._runner",
    "JailRunner": "adrs.jail._runner",
    "Runner": "adrs.jail._runner",
    "SessionLike": "adrs.jail._runner",
    "CandidateError": "adrs.jail.handler",
    "Handler": "adrs.jail.handler",
    "call_candidate": "adrs.jail.handler",
    "entry_point": "adrs.jail.handler",
    "load_module": "adrs.jail.handler",
}

__all__ = [
    "LAYERS",
    "CandidateError",
    "CandidateFailure",
    "Handler",
    "InProcessRunner",
    "Jail",
    "JailError",
    "JailLimits",
    "JailRunner",
    "JailTask",
    "Layer",
    "Layers",
    "Reply",
    "Runner",
    "Session",
    "SessionLike",
    "call_candidate",
    "clean_environment",
    "entry_point",
    "load_module",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'adrs.jail' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
