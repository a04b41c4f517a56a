"""What ``compute_model_placement(gpu_num, models)`` receives: the leaderboard's ``Model``.

The same fields, names and types as the ADRS Leaderboard's Prism evaluator gives, so a
published solution runs unchanged. Every call gets fresh objects: what a candidate does
to them stays in its own process, and the judge scores with its own copy of the case.
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_MEM_SIZE = 80  # GB per GPU, as the candidate is told


@dataclass
class Model:
    """One model to place.

    Attributes:
        model_name: ``model_0``, ``model_1``... (its index in the case).
        model_size: GB of GPU memory its weights take.
        req_rate: Requests per second.
        slo: Latency target of its requests.
        cur_gpu_id: Its index in the case, as the leaderboard sets it (not a placement).
    """

    model_name: str
    model_size: int
    req_rate: int
    slo: int
    cur_gpu_id: int
