"""The golden cases of ../shared/golden/eplb.json and the loads they were measured on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# Case 1 is the README example of the published algorithm (spec section 6).
README_WEIGHT = np.array([[90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86],
                          [20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27]], np.float32)


def golden_weight(seed: int, layers: int, experts: int) -> np.ndarray:
    """The spec's portable generator: a 64-bit LCG, u = top 53 bits, load = 1 + 999 u^3."""
    state = seed
    values = np.empty(layers * experts)
    for i in range(values.size):
        state = (6364136223846793005 * state + 1442695040888963407) % (1 << 64)
        u = (state >> 11) / float(1 << 53)
        values[i] = 1.0 + 999.0 * u ** 3
    return values.reshape(layers, experts).astype(np.float32)


def golden_cases(shared: Path) -> list[tuple[dict, np.ndarray]]:
    """Every golden case with its weight matrix."""
    cases = json.loads((shared / "golden" / "eplb.json").read_text())
    return [(case, README_WEIGHT if case["seed"] is None
             else golden_weight(case["seed"], case["L"], case["E"])) for case in cases]


def case_args(case: dict) -> tuple[int, int, int, int]:
    return case["P"], case["groups"], case["nodes"], case["gpus"]
