"""Expert-load workloads for MoE expert placement (the ``eplb`` problem).

Two sources of ``[windows, layers, experts]`` token counts:

* :func:`generate_windows`, a seeded generator of realistic loads (the model of
  ``../shared/specs/eplb.md`` section 2, "synthetic offline equivalent"): each layer ranks
  its experts at random and gives rank ``r`` the log-popularity ``-skew * log(r + 1)``
  (Zipf); an AR(1) drift moves every expert's log-popularity a little each step; every
  ``regime_period`` steps the request mix shifts (the log-popularity moves
  ``regime_blend`` of the way toward a fresh random Zipf ranking); each step routes
  ``tokens * top_k`` expert assignments per layer, drawn multinomially;
* :func:`load_windows`, the reader of the reference evaluator's recorded history: a JSON
  object whose ``load_history`` is a list of records, each with ``logical_expert_load``
  (``[layers][experts]`` numbers); consecutive blocks of ``interval`` records are summed
  (the last block may be shorter), as the reference does.

:func:`write_load_history` writes records in that JSON format, so generated loads can be
fed to the reference evaluator and recorded loads to ours.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_INTERVAL", "LoadModel", "generate_records", "generate_windows",
           "load_windows", "write_load_history"]

DEFAULT_INTERVAL = 100  # records summed per window (the reference's REBALANCE_INTERVAL)


@dataclass(frozen=True)
class LoadModel:
    """Parameters of the synthetic load generator.

    Attributes:
        num_layers: MoE layers.
        num_experts: Logical experts per layer.
        skew: Zipf exponent of each layer's expert popularity. 0.85-0.9 puts the published
            algorithm near the ADRS metric the reference reports on its recorded file
            (about 0.21-0.23 per slot); larger is more skewed.
        drift: AR(1) coefficient of the per-step log-popularity drift.
        drift_sigma: Standard deviation of each drift step.
        regime_period: Steps between shifts of the request mix (0: never).
        regime_blend: How far each shift moves the log-popularity toward a fresh ranking.
        tokens: Tokens per step.
        top_k: Experts each token is routed to.
    """

    num_layers: int = 58
    num_experts: int = 256
    skew: float = 0.88
    drift: float = 0.995
    drift_sigma: float = 0.02
    regime_period: int = 500
    regime_blend: float = 0.5
    tokens: int = 4096
    top_k: int = 8

    def __post_init__(self) -> None:
        for name in ("num_layers", "num_experts", "tokens", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"LoadModel.{name} must be at least 1, got {getattr(self, name)}")
        if self.regime_period < 0:
            raise ValueError(f"LoadModel.regime_period must be >= 0, got {self.regime_period}")
        if not 0.0 <= self.regime_blend <= 1.0:
            raise ValueError(f"LoadModel.regime_blend must be in [0, 1], got {self.regime_blend}")


def _zipf_log_popularity(model: LoadModel, rng: np.random.Generator) -> np.ndarray:
    ranks = rng.permuted(np.tile(np.arange(model.num_experts), (model.num_layers, 1)), axis=1)
    return -model.skew * np.log1p(ranks.astype(np.float64))


def generate_records(model: LoadModel, steps: int, seed: int) -> Iterator[np.ndarray]:
    """Yield the per-step loads of the synthetic model.

    Args:
        model: Generator parameters.
        steps: Number of records.
        seed: Seed of every random draw; the same seed gives the same records.

    Yields:
        int64 ``[layers, experts]`` token counts; each row sums to ``tokens * top_k``.
    """
    rng = np.random.default_rng(seed)
    log_popularity = _zipf_log_popularity(model, rng)
    drift = np.zeros_like(log_popularity)
    assignments = model.tokens * model.top_k
    for step in range(steps):
        if model.regime_period and step and step % model.regime_period == 0:
            target = _zipf_log_popularity(model, rng)
            log_popularity += model.regime_blend * (target - log_popularity)
        drift = model.drift * drift + model.drift_sigma * rng.standard_normal(drift.shape)
        logits = log_popularity + drift
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        yield rng.multinomial(assignments, probabilities).astype(np.int64)


def generate_windows(model: LoadModel, num_windows: int, seed: int,
                     interval: int = DEFAULT_INTERVAL) -> np.ndarray:
    """Synthetic loads summed in windows, as the reference sums recorded ones.

    Args:
        model: Generator parameters.
        num_windows: Windows to produce.
        seed: Seed of every random draw.
        interval: Records per window.

    Returns:
        int64 ``[num_windows, layers, experts]``.

    Raises:
        ValueError: ``num_windows`` or ``interval`` is below 1.
    """
    if num_windows < 1 or interval < 1:
        raise ValueError(f"need num_windows >= 1 and interval >= 1, got {num_windows} and "
                         f"{interval}")
    windows = np.zeros((num_windows, model.num_layers, model.num_experts), np.int64)
    for step, record in enumerate(generate_records(model, num_windows * interval, seed)):
        windows[step // interval] += record
    return windows


def write_load_history(path: str | os.PathLike[str], records: Iterable[np.ndarray]) -> Path:
    """Write records in the reference's load-history JSON format.

    Args:
        path: File to write.
        records: ``[layers, experts]`` loads, one per step.

    Returns:
        The path written.
    """
    path = Path(path)
    history = [{"logical_expert_load": np.asarray(r).tolist()} for r in records]
    with path.open("w") as handle:
        json.dump({"load_history": history}, handle)
    return path


def load_windows(path: str | os.PathLike[str],
                 interval: int = DEFAULT_INTERVAL) -> np.ndarray:
    """Read a recorded load history and sum it in windows of ``interval`` records.

    Args:
        path: A JSON file with ``load_history[i].logical_expert_load`` = ``[layers][experts]``.
        interval: Records per window; the last window holds what is left.

    Returns:
        ``[windows, layers, experts]``: int64 when every load is an integer, else float64.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not JSON, or a record that is missing, ragged, non-numeric, negative or
            shaped unlike the first (the message names the record).
    """
    path = Path(path)
    if interval < 1:
        raise ValueError(f"interval must be at least 1, got {interval}")
    if not path.is_file():
        raise FileNotFoundError(f"load history not found: {path}")
    try:
        with path.open("rb") as handle:
            document = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON load history ({exc})") from None
    history = document.get("load_history") if isinstance(document, dict) else None
    if not isinstance(history, list):
        raise ValueError(  # noqa: TRY004 - a malformed file is bad input
            f"{path}: expected a JSON object with a 'load_history' list")
    if not history:
        raise ValueError(f"{path}: 'load_history' is empty")
    records = [_record(path, i, entry) for i, entry in enumerate(history)]
    shape = records[0].shape
    for i, record in enumerate(records):
        if record.shape != shape:
            raise ValueError(f"{path}: load_history[{i}].logical_expert_load has shape "
                             f"{list(record.shape)}, but record 0 has {list(shape)}")
    integral = all(r.dtype.kind in "iu" for r in records)
    dtype = np.int64 if integral else np.float64
    count = -(-len(records) // interval)
    windows = np.zeros((count, *shape), dtype)
    for i, record in enumerate(records):
        windows[i // interval] += record.astype(dtype, copy=False)
    return windows


def _record(path: Path, i: int, entry: object) -> np.ndarray:
    where = f"{path}: load_history[{i}]"
    if not isinstance(entry, dict) or "logical_expert_load" not in entry:
        raise ValueError(f"{where} has no 'logical_expert_load'")
    try:
        load = np.asarray(entry["logical_expert_load"])
    except ValueError:
        raise ValueError(f"{where}.logical_expert_load is ragged: rows of different lengths")\
            from None
    if load.ndim != 2 or load.size == 0:
        raise ValueError(f"{where}.logical_expert_load must be a non-empty [layers][experts] "
                         f"list, got {load.ndim} dimensions")
    if load.dtype.kind not in "iuf":
        raise ValueError(f"{where}.logical_expert_load holds non-numbers ({load.dtype})")
    if load.dtype.kind == "f" and not np.isfinite(load).all():
        raise ValueError(f"{where}.logical_expert_load holds NaN or infinity")
    if (load < 0).any():
        raise ValueError(f"{where}.logical_expert_load holds a negative load")
    return load
