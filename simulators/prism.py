"""The Prism placement model in Numba: KV-cache pressure of a model placement, and the
figures the leaderboard scores it against.

A GPU of ``GPU_MEM_SIZE`` GB that holds models ``M`` has the KV-cache pressure

    KVPR = sum(req_rate / slo over M) / (GPU_MEM_SIZE - sum(model_size over M))

(``FULL_GPU_KVPR`` when the models fill it exactly). A placement is judged by its largest
KVPR over the GPUs. The leaderboard's 0-100 score of one case compares it with two
anchors: the round-robin placement (model ``j`` on GPU ``j % gpu_num``, 0 points) and the
perfect balance ``sum(req_rate / slo) / (gpu_num * GPU_MEM_SIZE - sum(model_size))``
(100 points; no placement beats it).

Sums run in the order the placement lists the models, one float addition at a time, as
the leaderboard's evaluator adds them: the figures are bit-for-bit its own. A placement is
two arrays of equal length, in the order the candidate returned them: ``models[k]`` is a
model's index in its case, ``gpus[k]`` its GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

GPU_MEM_SIZE = 80  # GB per GPU
FULL_GPU_KVPR = 1000000.0  # the leaderboard's pressure of a GPU with no memory left


@dataclass(frozen=True, eq=False)
class PrismCase:
    """One placement problem: ``gpu_num`` GPUs and the models to place on them.

    Attributes:
        name: ``train_0``... as the split names it.
        gpu_num: GPUs available, ids ``0 .. gpu_num - 1``.
        model_size: int64 GB of each model.
        req_rate: int64 requests per second of each model (1 or more).
        slo: int64 latency target of each model (1 or more).
    """

    name: str
    gpu_num: int
    model_size: np.ndarray
    req_rate: np.ndarray
    slo: np.ndarray

    def __post_init__(self) -> None:
        for field in ("model_size", "req_rate", "slo"):
            values = np.ascontiguousarray(getattr(self, field), np.int64)
            values.setflags(write=False)
            object.__setattr__(self, field, values)
        n = len(self.model_size)
        if len(self.req_rate) != n or len(self.slo) != n:
            raise ValueError(f"{self.name}: model_size, req_rate and slo differ in length")
        if self.gpu_num < 1:
            raise ValueError(f"{self.name}: gpu_num must be 1 or more, got {self.gpu_num}")
        # positive rates keep every pressure above 0, so an empty GPU never holds the max
        if n and (self.model_size.min() < 0 or self.req_rate.min() < 1 or self.slo.min() < 1):
            raise ValueError(f"{self.name}: sizes must be 0 or more, rates and SLOs 1 or more")

    @property
    def num_models(self) -> int:
        return len(self.model_size)


@numba.njit(cache=True)
def max_kvpr_kernel(model_size: np.ndarray, req_rate: np.ndarray, slo: np.ndarray,
                    gpu_num: int, models: np.ndarray, gpus: np.ndarray) -> float:
    """Largest KVPR of a placement (the arrays must be valid: see :func:`max_kvpr`)."""
    weighted = np.zeros(gpu_num)
    used = np.zeros(gpu_num, np.int64)
    for k in range(len(models)):
        m = models[k]
        g = gpus[k]
        weighted[g] += req_rate[m] / slo[m]
        used[g] += model_size[m]
    worst = -np.inf
    for g in range(gpu_num):
        free = GPU_MEM_SIZE - used[g]
        kvpr = weighted[g] / free if free > 0 else FULL_GPU_KVPR
        worst = max(worst, kvpr)
    return worst


# judge_kernel's verdicts, in the order it checks them
PLACEMENT_OK, MODEL_OUT_OF_RANGE, GPU_OUT_OF_RANGE, PLACED_TWICE, NOT_PLACED, OVER_MEMORY = \
    range(6)


@numba.njit(cache=True)
def judge_kernel(model_size: np.ndarray, req_rate: np.ndarray, slo: np.ndarray,
                 gpu_num: int, models: np.ndarray, gpus: np.ndarray) -> tuple[int, float]:
    """(verdict, largest KVPR) of any placement arrays: the verdict is the first rule
    broken (``PLACEMENT_OK`` when none is), the KVPR is meaningful only then."""
    n = len(model_size)
    seen = np.zeros(n, np.int64)
    for k in range(len(models)):
        if models[k] < 0 or models[k] >= n:
            return MODEL_OUT_OF_RANGE, 0.0
    for k in range(len(gpus)):
        if gpus[k] < 0 or gpus[k] >= gpu_num:
            return GPU_OUT_OF_RANGE, 0.0
    for k in range(len(models)):
        seen[models[k]] += 1
    for m in range(n):
        if seen[m] > 1:
            return PLACED_TWICE, 0.0
    for m in range(n):
        if seen[m] == 0:
            return NOT_PLACED, 0.0
    used = np.zeros(gpu_num, np.int64)
    for k in range(len(models)):
        used[gpus[k]] += model_size[models[k]]
    for g in range(gpu_num):
        if used[g] > GPU_MEM_SIZE:
            return OVER_MEMORY, 0.0
    return PLACEMENT_OK, max_kvpr_kernel(model_size, req_rate, slo, gpu_num, models, gpus)


@numba.njit(cache=True)
def anchors_kernel(model_size: np.ndarray, req_rate: np.ndarray, slo: np.ndarray,
                   gpu_num: int) -> tuple[float, float]:
    """(round-robin max KVPR, perfect-balance KVPR) of one case."""
    n = len(model_size)
    # round robin: model j on GPU j % gpu_num, each GPU's models in index order
    models = np.arange(n)
    baseline = max_kvpr_kernel(model_size, req_rate, slo, gpu_num, models, models % gpu_num)
    total_weighted = 0.0
    total_size = 0
    for m in models:
        total_weighted += req_rate[m] / slo[m]
        total_size += model_size[m]
    free = gpu_num * GPU_MEM_SIZE - total_size
    optimal = total_weighted / free if free > 0 else 0.0
    return baseline, optimal


def max_kvpr(case: PrismCase, models: np.ndarray, gpus: np.ndarray) -> float:
    """Largest KVPR over the GPUs of ``case`` under a placement.

    Args:
        case: The case.
        models: int64 model indices, in the order the placement lists them.
        gpus: int64 GPU id of each entry of ``models``.

    Raises:
        ValueError: The arrays differ in length or hold an id out of range (checking
            that every model appears once and memory holds is the validator's job).
    """
    models = np.ascontiguousarray(models, np.int64)
    gpus = np.ascontiguousarray(gpus, np.int64)
    if models.shape != gpus.shape or models.ndim != 1:
        raise ValueError("models and gpus must be 1-d arrays of the same length")
    if models.size and (models.min() < 0 or models.max() >= case.num_models):
        raise ValueError("a model index is out of range")
    if gpus.size and (gpus.min() < 0 or gpus.max() >= case.gpu_num):
        raise ValueError("a GPU id is out of range")
    return float(max_kvpr_kernel(case.model_size, case.req_rate, case.slo, case.gpu_num,
                                 models, gpus))


def judge(case: PrismCase, models: np.ndarray, gpus: np.ndarray) -> tuple[int, float]:
    """(verdict, largest KVPR) of a placement, in one pass: see :func:`judge_kernel`.

    Raises:
        ValueError: The arrays are not two 1-d int64 arrays of the same length.
    """
    if not (isinstance(models, np.ndarray) and isinstance(gpus, np.ndarray)
            and models.ndim == 1 and models.shape == gpus.shape
            and models.dtype == np.int64 and gpus.dtype == np.int64):
        raise ValueError("models and gpus must be 1-d int64 arrays of the same length")
    verdict, kvpr = judge_kernel(case.model_size, case.req_rate, case.slo, case.gpu_num,
                                 models, gpus)
    return int(verdict), float(kvpr)


def anchors(case: PrismCase) -> tuple[float, float]:
    """The case's round-robin max KVPR (0 points) and perfect-balance KVPR (100 points)."""
    baseline, optimal = anchors_kernel(case.model_size, case.req_rate, case.slo, case.gpu_num)
    return float(baseline), float(optimal)


def case_score(baseline_kvpr: float, optimal_kvpr: float, solution_kvpr: float) -> float:
    """The leaderboard's 0-100 score of one case: the square root of the share of the way
    from round robin to perfect balance, clamped to [0, 1], times 100."""
    if baseline_kvpr > optimal_kvpr:
        ratio = (baseline_kvpr - solution_kvpr) / (baseline_kvpr - optimal_kvpr)
        # ** 0.5, not math.sqrt: the leaderboard's own expression, to the last bit
        return 100.0 * (max(0.0, min(1.0, ratio)) ** 0.5)
    return 100.0 if solution_kvpr <= optimal_kvpr else 0.0


def finite_or_zero(value: float) -> float:
    """``value``, or 0.0 where it is NaN or infinite (as the leaderboard records figures)."""
    value = float(value)
    return value if np.isfinite(value) else 0.0
