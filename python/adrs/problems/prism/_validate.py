"""The judge's check of a placement: every model once, GPU ids in range, memory held.

The arrays come from the jail (:func:`adrs.problems.prism._jail.encode_placement`) and
are believed in nothing: their shape, every index and every GPU id are checked here, and
the memory of each GPU is added up from the judge's own copy of the case.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adrs.simulators.prism import GPU_MEM_SIZE, PLACEMENT_OK, PrismCase, judge

_SHOWN = 6  # models listed in a message before "..."


class InvalidPlacement(ValueError):
    """The placement breaks a rule; the message says which, naming models and GPUs."""


def judge_placement(case: PrismCase, models: Any, gpus: Any) -> float:
    """The placement's largest KVPR, if it passes :func:`check_placement` (one native pass;
    the reason of a failure is worked out only when there is one).

    Raises:
        InvalidPlacement: As :func:`check_placement`.
    """
    check_arrays(models, gpus)
    verdict, kvpr = judge(case, models, gpus)
    if verdict != PLACEMENT_OK:
        check_placement(case, models, gpus)  # raises, naming what is wrong
        raise AssertionError(f"the native verdict {verdict} has no reason")  # unreachable
    return kvpr


def check_arrays(models: Any, gpus: Any) -> None:
    """Raises InvalidPlacement unless the reply holds two 1-d int64 arrays of one length."""
    if not (isinstance(models, np.ndarray) and isinstance(gpus, np.ndarray)
            and models.ndim == 1 and models.shape == gpus.shape
            and models.dtype == np.int64 and gpus.dtype == np.int64):
        raise InvalidPlacement("the jail's reply holds no placement (two int64 arrays)")


def check_placement(case: PrismCase, models: Any, gpus: Any) -> tuple[np.ndarray, np.ndarray]:
    """The placement as two int64 arrays, if it places every model of ``case`` exactly
    once, on GPUs ``0 .. gpu_num - 1``, none of them holding more than ``GPU_MEM_SIZE``.

    Args:
        case: The judge's copy of the case.
        models: Model index of each entry, in the order the candidate listed them.
        gpus: GPU id of each entry.

    Raises:
        InvalidPlacement: Malformed arrays, an index out of range, a GPU id out of range,
            a model placed twice or not at all, a GPU over its memory.
    """
    check_arrays(models, gpus)
    n = case.num_models
    if models.size and (models.min() < 0 or models.max() >= n):
        raise InvalidPlacement("the jail's reply holds model indices outside the case")
    outside = np.flatnonzero((gpus < 0) | (gpus >= case.gpu_num))
    if outside.size:
        k = int(outside[0])
        more = f" ({outside.size} models on GPUs out of range)" if outside.size > 1 else ""
        raise InvalidPlacement(f"model_{int(models[k])} is on GPU {int(gpus[k])}, out of range "
                               f"0..{case.gpu_num - 1} ({case.gpu_num} GPUs){more}")
    counts = np.bincount(models, minlength=n)
    twice = np.flatnonzero(counts > 1)
    if twice.size:
        m = int(twice[0])
        where = ", ".join(str(int(g)) for g in gpus[models == m])
        more = f"; {twice.size - 1} more models are placed more than once" \
            if twice.size > 1 else ""
        raise InvalidPlacement(f"model_{m} is placed {int(counts[m])} times (on GPUs "
                               f"{where}){more}")
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        shown = ", ".join(f"model_{int(m)}" for m in missing[:_SHOWN])
        raise InvalidPlacement(f"{missing.size} of {n} models are not placed: {shown}"
                               f"{', ...' if missing.size > _SHOWN else ''}")
    used = np.bincount(gpus, weights=case.model_size[models], minlength=case.gpu_num)
    over = np.flatnonzero(used > GPU_MEM_SIZE)
    if over.size:
        g = int(over[0])
        more = f" ({over.size} GPUs over their memory)" if over.size > 1 else ""
        raise InvalidPlacement(f"GPU {g} holds {int(used[g])} GB of models, over its "
                               f"{GPU_MEM_SIZE} GB{more}")
    return models, gpus
