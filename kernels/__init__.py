"""MoE expert placement: the published load balancer and faster implementations of it.

Three implementations of ``rebalance_experts(weight, num_replicas, num_groups, num_nodes,
num_gpus) -> (phy2log, log2phy, logcnt)`` (the published signature):

* :func:`rebalance_experts_reference`: the published algorithm (DeepSeek EPLB) in plain
  PyTorch, outputs and cost profile as published;
* :func:`rebalance_experts_vectorized`: batched top-k replication and snake packing with
  exchange rounds, no Python loop over layers, experts or GPUs;
* :func:`rebalance_experts_triton`: the published algorithm with its two greedy steps as
  Triton kernels (:func:`replicate_triton`, :func:`greedy_pack_triton`), equal to the
  reference; on a CUDA GPU, or on the CPU with ``TRITON_INTERPRET=1`` (slowly).

And, in NumPy: :func:`validate_placement` (names the first violation of the contract),
:func:`slot_loads`, :func:`gpu_loads` and :func:`balancedness` (the reference evaluator's
metric); in Numba, the ADRS Leaderboard's rules (:func:`check_leaderboard_placement`,
:func:`leaderboard_slot_loads`, :func:`leaderboard_balancedness`: its lenient checks and
its float32 inference simulation). The NumPy and Numba parts import without torch; the
implementations need the ``moe`` extra (``pip install -e .[moe]``) and import torch on
first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._balance import balancedness, gpu_loads, slot_loads
from ._validate import InvalidPlacement, Placement, validate_placement

_LAZY = {
    "check_leaderboard_placement": "_leaderboard",
    "leaderboard_balancedness": "_leaderboard",
    "leaderboard_slot_loads": "_leaderboard",
    "check_arguments": "_reference",
    "greedy_pack": "_reference",
    "place_experts": "_reference",
    "rebalance_experts_reference": "_reference",
    "replicate_greedy": "_reference",
    "SWAP_ROUNDS": "_vectorized",
    "rebalance_experts_vectorized": "_vectorized",
    "replicate_topk": "_vectorized",
    "snake_pack": "_vectorized",
    "greedy_pack_triton": "_triton",
    "rebalance_experts_triton": "_triton",
    "replicate_triton": "_triton",
    "triton_device": "_triton",
}

__all__ = [
    "SWAP_ROUNDS",
    "InvalidPlacement",
    "Placement",
    "balancedness",
    "check_arguments",
    "check_leaderboard_placement",
    "gpu_loads",
    "greedy_pack",
    "greedy_pack_triton",
    "leaderboard_balancedness",
    "leaderboard_slot_loads",
    "place_experts",
    "rebalance_experts_reference",
    "rebalance_experts_triton",
    "rebalance_experts_vectorized",
    "replicate_greedy",
    "replicate_topk",
    "replicate_triton",
    "slot_loads",
    "snake_pack",
    "triton_device",
    "validate_placement",
]


def __getattr__(name: str) -> Any:
    # torch and triton load only when an implementation is asked for (numba only when
    # the leaderboard's rules are)
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
    except ModuleNotFoundError as exc:
        if exc.name in ("torch", "triton"):
            raise ModuleNotFoundError(
                f"adrs.kernels.{name} needs {exc.name}: pip install -e .[moe] (install "
                "torch==2.13.0 first for the CPU build)", name=exc.name) from None
        raise
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(__all__)
