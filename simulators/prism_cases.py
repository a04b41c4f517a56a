"""The cases of the Prism problem: the ADRS Leaderboard's 50, and larger generated ones.

The leaderboard draws its cases from numpy's legacy generator seeded with 42, one scalar
at a time: per case the GPU count in [5, 10), then per model (twice as many as GPUs) its
size in [10, 30) GB, request rate in [1, 10) and SLO in [5, 10) (upper bounds exclusive).
:func:`leaderboard_cases` draws the same numbers in the same order, so the cases are
exactly the leaderboard's.

:func:`generate_cases` draws larger cases for the held-out test split from its own seeded
generator, with the same per-model ranges and any GPU count (thousands of models).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from adrs.simulators.prism import PrismCase

LEADERBOARD_SEED = 42
LEADERBOARD_CASES = 50
MODELS_PER_GPU = 2
# Ranges as numpy's randint takes them: low inclusive, high exclusive.
GPU_RANGE = (5, 10)
SIZE_RANGE = (10, 30)
RATE_RANGE = (1, 10)
SLO_RANGE = (5, 10)


def leaderboard_cases(count: int = LEADERBOARD_CASES) -> list[PrismCase]:
    """The leaderboard's cases, in its order (the first ``count`` of them).

    Raises:
        ValueError: ``count`` is not between 0 and 50.
    """
    if not 0 <= count <= LEADERBOARD_CASES:
        raise ValueError(f"the leaderboard has {LEADERBOARD_CASES} cases, not {count}")
    rng = np.random.RandomState(LEADERBOARD_SEED)  # the stream np.random.seed(42) gives
    cases = []
    for index in range(count):
        gpu_num = int(rng.randint(*GPU_RANGE))
        drawn = np.empty((gpu_num * MODELS_PER_GPU, 3), np.int64)
        for j in range(len(drawn)):  # one model's three draws, in this order
            drawn[j] = (rng.randint(*SIZE_RANGE), rng.randint(*RATE_RANGE),
                        rng.randint(*SLO_RANGE))
        cases.append(PrismCase(f"train_{index}", gpu_num, drawn[:, 0], drawn[:, 1],
                               drawn[:, 2]))
    return cases


def generate_case(name: str, gpu_num: int, seed: int,
                  models_per_gpu: int = MODELS_PER_GPU) -> PrismCase:
    """One case of ``gpu_num`` GPUs and ``models_per_gpu * gpu_num`` models, drawn with the
    leaderboard's per-model ranges from ``numpy.random.default_rng(seed)``.

    Raises:
        ValueError: ``gpu_num`` or ``models_per_gpu`` is below 1.
    """
    if gpu_num < 1 or models_per_gpu < 1:
        raise ValueError(f"gpu_num and models_per_gpu must be 1 or more, got {gpu_num} and "
                         f"{models_per_gpu}")
    rng = np.random.default_rng(seed)
    n = gpu_num * models_per_gpu
    return PrismCase(name, gpu_num, rng.integers(*SIZE_RANGE, n), rng.integers(*RATE_RANGE, n),
                     rng.integers(*SLO_RANGE, n))


def generate_cases(gpu_counts: Sequence[int], seed: int, prefix: str = "test",
                   models_per_gpu: int = MODELS_PER_GPU) -> list[PrismCase]:
    """One generated case per GPU count, case ``i`` from seed ``seed + i``.

    Raises:
        ValueError: A GPU count below 1.
    """
    return [generate_case(f"{prefix}_{i}", int(gpus), seed + i, models_per_gpu)
            for i, gpus in enumerate(gpu_counts)]
