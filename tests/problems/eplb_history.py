"""A small synthetic ``expert-load.json`` in the ADRS Leaderboard's format, for the goldens
of ``eplb@leaderboard``.

Portable on purpose: every number comes from a splitmix64 hash of (seed, record, layer,
expert) and IEEE-exact float64 arithmetic (no library random stream, no ``pow``), so the
file, and the goldens measured on it, are the same on every machine and NumPy version.

Shape: 450 records (4 full windows of 100 and a last one of 50, as the leaderboard sums
them) of 8 layers x 256 experts (the leaderboard's DeepSeek-like 256 experts on 288
slots, fewer layers than production so the reference evaluator runs in seconds). Loads
are Zipf over a per-layer ranking (``1 / (rank + 1)``), re-ranked from record 250 on (a
shift of the request mix); about 3% of the experts never get load, and another 4% are
idle through records 200-299 (one whole window), so some loads are 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SEED = 20240917
LAYERS = 8
EXPERTS = 256
RECORDS = 450
SHIFT_AT = 250  # records from here on use a fresh ranking
IDLE_RECORDS = range(200, 300)
SCALE = 2000.0  # the top expert's mean load per record

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix(keys: np.ndarray) -> np.ndarray:
    """splitmix64 of each uint64 key (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (keys + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def _uniform(*parts: np.ndarray | int) -> np.ndarray:
    """Uniform [0, 1) numbers hashed from integer coordinates (broadcast together)."""
    key = np.uint64(SEED)
    with np.errstate(over="ignore"):
        for part in parts:
            key = _splitmix(np.asarray(key, np.uint64) ^ np.asarray(part, np.uint64))
    return (key >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _ranks(regime: int) -> np.ndarray:
    """``[layers, experts]``: each layer's popularity rank of every expert."""
    layer = np.arange(LAYERS)[:, None]
    expert = np.arange(EXPERTS)[None, :]
    order = np.argsort(_uniform(1000 + regime, layer, expert), axis=1, kind="stable")
    return np.argsort(order, axis=1, kind="stable")


def records() -> np.ndarray:
    """int64 ``[records, layers, experts]`` loads."""
    layer = np.arange(LAYERS)[None, :, None]
    expert = np.arange(EXPERTS)[None, None, :]
    step = np.arange(RECORDS)[:, None, None]
    ranks = np.where(step < SHIFT_AT, _ranks(0)[None], _ranks(1)[None])
    noise = _uniform(2, step, layer, expert)
    loads = np.floor(SCALE * (0.5 + noise) / (ranks + 1.0)).astype(np.int64)
    dead = _uniform(3, layer, expert) < 0.03
    idle = (_uniform(4, layer, expert) < 0.04) & np.isin(step, list(IDLE_RECORDS))
    loads[np.broadcast_to(dead, loads.shape) | idle] = 0
    return loads


def write_history(path: str | Path) -> Path:
    """Write the history as ``{"load_history": [{"logical_expert_load": [[...]]}, ...]}``."""
    path = Path(path)
    document = {"load_history": [{"logical_expert_load": r.tolist()} for r in records()]}
    path.write_text(json.dumps(document))
    return path


# What this file is: a fingerprint, so that a change to the generator is named as such
# rather than as a golden mismatch.
RECORDS_SUM = 41808596
RECORDS_ZEROS = 35150

# The leaderboard's own figures on this file: its evaluator (problems/eplb/evaluator.py of
# the snapshot of UCB-ADRS/ADRS-Leaderboard at f856497, ../shared/leaderboard), copied to
# /tmp/ref/problems/eplb with this file as /tmp/ref/datasets/eplb/expert-load.json, each
# solution staged at resources/execution_env/solution_env/solution.py and run there with
# the project's venv (torch 2.13.0, CPU, AVX512):
#     python evaluator.py --solution resources/execution_env/solution_env/solution.py
# Three runs (two with 2 torch threads, one with OMP_NUM_THREADS=1) gave the same figures
# to the last digit. (balancedness_score_gpu, balancedness_score_expert) per solution:
LEADERBOARD_GOLDENS = {
    "LEVI": (0.6876179111737697, 0.1727299225059518),
    "gepa": (0.6855213932014997, 0.1727299225059518),
    "human_SOTA": (0.5401034681526413, 0.12117320185232194),
    "openevolve": (0.5075053315520526, 0.12117319889791142),
    "shinkaevolve": (0.49442304275773374, 0.12117319715231864),
}
# The leaderboard sums its float32 slot loads in float32 (torch's vectorised order), we sum
# the same float32 loads in float64: the figures differ by float32 rounding, measured at
# most 4.6e-8 relative (human_SOTA, OpenEvolve and ShinkaEvolve place the same slot loads
# in different orders, and the leaderboard's per-slot figure differs between them in the
# 8th digit for that reason alone). 1e-9 is out of reach without reproducing torch's
# summation order, which depends on the CPU's vector width.
GOLDEN_RELATIVE = 1e-7
