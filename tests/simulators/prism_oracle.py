"""A pure-Python oracle of the Prism placement score, written from the ADRS Leaderboard's
Prism README and the rules its evaluator applies, as literally as possible: model objects
in per-GPU lists, Python sums in list order, one case at a time. Slow on purpose, so that
it can judge the Numba scorer and the problem's validation.
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_MEM_SIZE = 80
FULL = 1000000


@dataclass
class Model:
    model_name: str
    model_size: int
    req_rate: int
    slo: int
    cur_gpu_id: int


def models_of(sizes, rates, slos) -> list[Model]:
    return [Model(f"model_{j}", int(s), int(r), int(o), j)
            for j, (s, r, o) in enumerate(zip(sizes, rates, slos))]


def max_kvpr(placement: dict[int, list[Model]]) -> float:
    """Largest pressure over the GPUs the placement names."""
    worst = float("-inf")
    for models in placement.values():
        size = sum(m.model_size for m in models)
        weighted = sum(m.req_rate / m.slo for m in models)
        kvpr = weighted / (GPU_MEM_SIZE - size) if GPU_MEM_SIZE - size > 0 else FULL
        worst = max(worst, kvpr)
    return worst


def round_robin(gpu_num: int, models: list[Model]) -> dict[int, list[Model]]:
    placement: dict[int, list[Model]] = {g: [] for g in range(gpu_num)}
    for j, m in enumerate(models):
        placement[j % gpu_num].append(m)
    return placement


def balance(gpu_num: int, models: list[Model]) -> float:
    free = gpu_num * GPU_MEM_SIZE - sum(m.model_size for m in models)
    return sum(m.req_rate / m.slo for m in models) / free if free > 0 else 0.0


def case_score(baseline: float, optimal: float, solution: float) -> float:
    if baseline > optimal:
        ratio = (baseline - solution) / (baseline - optimal)
        return 100.0 * (max(0.0, min(1.0, ratio)) ** 0.5)
    return 100.0 if solution <= optimal else 0.0


def verdict(gpu_num: int, models: list[Model], placement: dict[int, list[Model]]) -> str:
    """``ok``, or the rule the placement breaks: ``gpu``, ``twice``, ``missing``, ``memory``."""
    if any(not 0 <= g < gpu_num for g in placement):
        return "gpu"
    placed = [id(m) for ms in placement.values() for m in ms]
    if len(set(placed)) != len(placed):
        return "twice"
    if set(placed) != {id(m) for m in models}:
        return "missing"
    if any(sum(m.model_size for m in ms) > GPU_MEM_SIZE for ms in placement.values()):
        return "memory"
    return "ok"
