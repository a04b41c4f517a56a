"""Synthetic spot traces calibrated to the real ones, so adrs runs with no data on the machine.

Model, per zone (single region) or region (multi region), fitted by
``scripts/fit_spot_synthetic.py`` and stored in ``spot_synthetic_params.json`` (details and a
fitted-vs-real comparison in ``docs/spot_traces.md``):

* availability is an alternating renewal process on the source's sampling grid
  (``sample_seconds``: 600 s for the single-region traces, whose ticks are the source samples;
  about 631 s for the multi-region ones, which the reference resampled at 195 s): spot-up runs and
  spot-down runs alternate, and each run length (in samples) is drawn from a mixture of two
  geometric distributions on {1, 2, ...} (one component for the many short blips, one for the long
  runs), fitted by EM with the censored first and last runs of the stitched source counted as
  "at least this long";
* every trace starts in the stationary state: up with probability E[up] / (E[up] + E[down]), and
  its first run is drawn from the residual-life distribution of that state (for a geometric
  mixture: the same geometrics, with weights proportional to weight x mean);
* the trace reads the sample grid every ``gap_seconds`` from a uniform random phase, so a run of
  k samples lasts floor or ceil of k * sample / gap ticks, as in the real multi-region traces
  (which have no run shorter than 3 ticks);
* prices (multi region) are piecewise constant: each sample changes with a fitted probability; the
  new level is an AR(1) step around the region's mean level, clipped to the observed [min, max] and
  rounded to 4 decimals like the real prices; the first price is drawn from the observed
  (time-weighted) price distribution.

Regions are generated independently of each other (the real regions are correlated in time).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .spot_traces import TraceSet

__all__ = [
    "MULTI_GAP_SECONDS",
    "MULTI_REGIONS",
    "MULTI_TICKS",
    "PARAMS_FILE",
    "SINGLE_GAP_SECONDS",
    "SINGLE_GROUPS",
    "SINGLE_TICKS",
    "fit_geometric_mixture",
    "generate_trace",
    "generate_traces",
    "load_params",
    "mixture_mean",
    "run_lengths",
]

PARAMS_FILE = Path(__file__).with_name("spot_synthetic_params.json")

SINGLE_GROUPS = tuple(
    f"us-west-2{zone}_{gpu}" for zone in "ab" for gpu in ("k80_1", "k80_8", "v100_1", "v100_8")
)
MULTI_REGIONS = tuple(
    f"{region}_v100_1"
    for region in (
        "us-east-1a",
        "us-east-1c",
        "us-east-1d",
        "us-east-1f",
        "us-east-2a",
        "us-east-2b",
        "us-west-2a",
        "us-west-2b",
        "us-west-2c",
    )
)
SINGLE_TICKS = 554
SINGLE_GAP_SECONDS = 600.0
MULTI_TICKS = 1107
MULTI_GAP_SECONDS = 195.0

# Bounds that keep log(p) and log(1 - p) finite during fitting.
_P_MIN = 1e-9
_P_MAX = 1.0 - 1e-12


# ---------------------------------------------------------------------------------------------
# Parameters


@lru_cache(maxsize=4)
def _read_params(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """The fitted model parameters.

    Args:
        path: A parameters JSON written by ``scripts/fit_spot_synthetic.py``; default the one
            shipped beside this module.

    Returns:
        ``{"fitted_by": {...}, "collections": {"single"|"multi": {"gap_seconds", "n_ticks",
        "groups": {group: {...}}}}}``. The dict is shared: do not modify it.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not valid JSON.
    """
    file = Path(path) if path is not None else PARAMS_FILE
    try:
        return _read_params(str(file.resolve()))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: not valid JSON: {exc}") from None


def mixture_mean(mix: Mapping[str, Any]) -> float:
    """Mean of a geometric mixture ``{"weights": [...], "p": [...]}`` (support 1, 2, ...)."""
    w = np.asarray(mix["weights"], dtype=np.float64)
    p = np.asarray(mix["p"], dtype=np.float64)
    return float(np.sum(w / p))


# ---------------------------------------------------------------------------------------------
# Fitting


def run_lengths(available: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a 0/1 series into runs.

    Args:
        available: 1-D array of 0/1 (1 = spot available).

    Returns:
        ``(states, lengths, censored)``: the state of each run (uint8), its length in ticks
        (int64), and whether it touches either end of the series (its true length is unknown).
    """
    x = np.asarray(available).reshape(-1)
    if x.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty.astype(np.uint8), empty, empty.astype(bool)
    bounds = np.concatenate(([0], np.flatnonzero(x[1:] != x[:-1]) + 1, [x.size]))
    states = x[bounds[:-1]].astype(np.uint8)
    lengths = np.diff(bounds).astype(np.int64)
    censored = np.zeros(lengths.size, dtype=bool)
    censored[[0, -1]] = True
    return states, lengths, censored


def _mixture_loglik_terms(
    lengths: np.ndarray, complete: np.ndarray, weights: np.ndarray, p: np.ndarray
) -> np.ndarray:
    # log(w_j) + log P_j(L = l) for complete runs, log(w_j) + log P_j(L >= l) for censored ones.
    return (
        np.log(weights)[None, :]
        + complete[:, None] * np.log(p)[None, :]
        + (lengths[:, None] - 1) * np.log1p(-p)[None, :]
    )


def fit_geometric_mixture(
    lengths: np.ndarray,
    censored: np.ndarray | None = None,
    *,
    n_components: int = 2,
    max_iter: int = 5000,
    tol: float = 1e-12,
) -> dict[str, Any]:
    """Maximum-likelihood mixture of geometric distributions on {1, 2, ...}, by EM.

    A censored length ``l`` contributes ``P(L >= l)`` to the likelihood (its run was cut by the end
    of the observation). Several starting points are tried; the best likelihood wins.

    Args:
        lengths: Run lengths, each >= 1.
        censored: Per length, True when it is a lower bound only. Default: none censored.
        n_components: Number of geometric components.
        max_iter: EM iterations per start.
        tol: Stop when the log-likelihood improves by less than this.

    Returns:
        ``{"weights": [...], "p": [...], "mean": float, "loglik": float}``, components sorted by
        decreasing ``p`` (short runs first).

    Raises:
        ValueError: If there is no length, a length is < 1, or every length is censored.
    """
    lengths = np.asarray(lengths, dtype=np.float64).reshape(-1)
    cens = (
        np.zeros(lengths.size, dtype=bool)
        if censored is None
        else np.asarray(censored, dtype=bool).reshape(-1)
    )
    if lengths.size == 0 or cens.size != lengths.size:
        raise ValueError("fit_geometric_mixture: need one or more lengths, censored of same size")
    if np.any(lengths < 1):
        raise ValueError("fit_geometric_mixture: run lengths must be >= 1")
    complete = (~cens).astype(np.float64)
    if complete.sum() == 0:
        raise ValueError("fit_geometric_mixture: every run is censored")

    k = n_components
    qs = np.quantile(lengths, (np.arange(k) + 0.5) / k)
    starts = [1.0 / np.maximum(qs, 1.0)]
    starts += [np.geomspace(0.9, 0.9 / lengths.max(), k), np.geomspace(0.5, 0.02, k)]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for p0 in starts:
        p = np.clip(np.asarray(p0, dtype=np.float64), _P_MIN, _P_MAX)
        w = np.full(k, 1.0 / k)
        last = -np.inf
        for _ in range(max_iter):
            terms = _mixture_loglik_terms(lengths, complete, w, p)
            top = terms.max(axis=1, keepdims=True)
            resp = np.exp(terms - top)
            norm = resp.sum(axis=1, keepdims=True)
            loglik = float(np.sum(np.log(norm) + top))
            resp /= norm
            # Closed-form M step of a censored geometric: events / (events + failures).
            events = resp.T @ complete
            trials = events + resp.T @ (lengths - 1)
            w = np.clip(resp.mean(axis=0), 1e-300, None)
            w /= w.sum()
            p = np.where(trials > 0, events / np.where(trials > 0, trials, 1), p)
            p = np.clip(p, _P_MIN, _P_MAX)
            if loglik - last < tol:
                break
            last = loglik
        loglik = float(
            np.sum(np.logaddexp.reduce(_mixture_loglik_terms(lengths, complete, w, p), axis=1))
        )
        if best is None or loglik > best[0]:
            best = (loglik, w, p)
    assert best is not None
    loglik, w, p = best
    order = np.argsort(-p)
    w, p = w[order], p[order]
    return {
        "weights": w.tolist(),
        "p": p.tolist(),
        "mean": float(np.sum(w / p)),
        "loglik": loglik,
    }


# ---------------------------------------------------------------------------------------------
# Generation


def _sample_mixture(
    mix: Mapping[str, Any], size: int | tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    w = np.asarray(mix["weights"], dtype=np.float64)
    p = np.asarray(mix["p"], dtype=np.float64)
    comp = np.searchsorted(np.cumsum(w), rng.random(size) * w.sum(), side="right")
    return rng.geometric(p[np.minimum(comp, p.size - 1)]).astype(np.int64)


def _residual(mix: Mapping[str, Any]) -> dict[str, Any]:
    """Remaining length of the run in progress at a random tick (stationary start)."""
    w = np.asarray(mix["weights"], dtype=np.float64)
    p = np.asarray(mix["p"], dtype=np.float64)
    rw = w / p
    return {"weights": (rw / rw.sum()).tolist(), "p": p.tolist()}


def _generate_samples(
    params: Mapping[str, Any], n: int, n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """uint8 ``[n, n_samples]`` source-grid availability (1 = spot) from the run-length model."""
    up, down = params["up"], params["down"]
    mean_up, mean_down = mixture_mean(up), mixture_mean(down)
    up_first = rng.random(n) < mean_up / (mean_up + mean_down)
    first = np.where(
        up_first,
        _sample_mixture(_residual(up), n, rng),
        _sample_mixture(_residual(down), n, rng),
    )
    blocks = [first[:, None]]
    covered = first.copy()
    n_runs = 1
    # Enough runs to cover the window in expectation, with slack; topped up if a row falls short.
    block = int(np.ceil(3.0 * n_samples / (mean_up + mean_down))) + 8
    while np.any(covered < n_samples):
        flipped = (np.arange(n_runs, n_runs + block) % 2 == 1)[None, :]
        is_up = up_first[:, None] ^ flipped
        lengths = np.where(
            is_up, _sample_mixture(up, (n, block), rng), _sample_mixture(down, (n, block), rng)
        )
        blocks.append(lengths)
        covered += lengths.sum(axis=1)
        n_runs += block
    lengths = np.concatenate(blocks, axis=1)
    ends = np.minimum(np.cumsum(lengths, axis=1), n_samples)
    clipped = np.diff(ends, axis=1, prepend=0)
    states = up_first[:, None] ^ (np.arange(n_runs) % 2 == 1)[None, :]
    return np.repeat(states.astype(np.uint8).ravel(), clipped.ravel()).reshape(n, n_samples)


def _sample_index(
    params: Mapping[str, Any], n: int, n_ticks: int, rng: np.random.Generator
) -> tuple[np.ndarray | None, int]:
    """Which source sample each tick reads, ``[n, n_ticks]``, and the number of samples needed.

    A source sampled every ``sample_seconds`` observed every ``gap_seconds`` from a random phase:
    tick ``k`` reads sample ``floor(phase + k * gap / sample)``. None when the grids coincide.
    """
    ratio = float(params["gap_seconds"]) / float(params["sample_seconds"])
    if ratio == 1.0:
        return None, n_ticks
    phase = rng.random(n)
    index = np.floor(phase[:, None] + np.arange(n_ticks)[None, :] * ratio).astype(np.int64)
    return index, int(index.max()) + 1


def _generate_prices(
    price: Mapping[str, Any], n: int, n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """float64 ``[n, n_samples]`` piecewise-constant spot prices from a region's price model."""
    quantiles = np.asarray(price["quantiles"], dtype=np.float64)
    level, low, high = float(price["level"]), float(price["min"]), float(price["max"])
    ar, step_sd = float(price["ar_coef"]), float(price["step_sd"])
    first = np.interp(rng.random(n), np.linspace(0.0, 1.0, quantiles.size), quantiles)
    changes = rng.random((n, n_samples)) < float(price["change_prob"])
    changes[:, 0] = False
    segment = np.cumsum(changes, axis=1)
    n_changes = int(segment[:, -1].max())
    levels = np.empty((n, n_changes + 1), dtype=np.float64)
    levels[:, 0] = first
    noise = rng.standard_normal((n, n_changes))
    for c in range(n_changes):
        step = level + ar * (levels[:, c] - level) + step_sd * noise[:, c]
        levels[:, c + 1] = np.clip(step, low, high)
    levels = np.round(levels, 4)
    return np.take_along_axis(levels, segment, axis=1)


def _generate_group(
    params: Mapping[str, Any], n: int, n_ticks: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` traces of one group: uint8 availability and float64 prices (or None), ``[n, T]``."""
    index, n_samples = _sample_index(params, n, n_ticks, rng)
    available = _generate_samples(params, n, n_samples, rng)
    prices = None
    if params.get("price") is not None:
        prices = _generate_prices(params["price"], n, n_samples, rng)
    if index is not None:
        available = np.take_along_axis(available, index, axis=1)
        if prices is not None:
            prices = np.take_along_axis(prices, index, axis=1)
    return available, prices


def generate_trace(
    params: Mapping[str, Any], n_ticks: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """One synthetic trace of one zone/region.

    Args:
        params: One group's entry of :func:`load_params`
            (``load_params()["collections"]["multi"]["groups"]["us-east-1a_v100_1"]``).
        n_ticks: Length of the trace.
        rng: Source of randomness.

    Returns:
        ``(available, prices)``: uint8 ``[n_ticks]`` with 1 = spot available, and float64
        ``[n_ticks]`` prices, or None when the group has no price model (single region).

    Raises:
        ValueError: If ``n_ticks`` < 1.
    """
    if n_ticks < 1:
        raise ValueError(f"generate_trace: n_ticks must be >= 1, got {n_ticks}")
    available, prices = _generate_group(params, 1, n_ticks, rng)
    return available[0], None if prices is None else prices[0]


def _group_rng(seed: int, collection: str, group: str) -> np.random.Generator:
    # Independent, order-free streams: adding or dropping a group leaves the others unchanged.
    words = [seed, zlib.crc32(collection.encode()), zlib.crc32(group.encode())]
    return np.random.default_rng(np.random.SeedSequence(words))


def generate_traces(
    seed: int = 0, *, single_traces_per_group: int = 300, multi_traces: int = 100
) -> TraceSet:
    """A synthetic trace set with the layout of the real archive.

    Collection ``"single"``: the 8 groups of :data:`SINGLE_GROUPS`, ``single_traces_per_group``
    traces each of 554 ticks of 600 s. Collection ``"multi"``: the 9 regions of
    :data:`MULTI_REGIONS`, ``multi_traces`` windows each of 1,107 ticks of 195 s with per-tick
    prices (trace ``k`` of every region has the same length and gap, like the real aligned
    windows; the regions are drawn independently). Ids are ``"0.json"``, ``"1.json"``, ...

    Args:
        seed: Non-negative seed; the same seed gives identical arrays.
        single_traces_per_group: Traces per single-region group (0 for none).
        multi_traces: Traces per region (0 for none).

    Returns:
        The packed traces, sorted like :func:`adrs.simulators.spot_traces.load_traces` sorts them.

    Raises:
        ValueError: If an argument is negative, or both counts are 0.
    """
    if seed < 0 or single_traces_per_group < 0 or multi_traces < 0:
        raise ValueError("generate_traces: seed and trace counts must be non-negative")
    if single_traces_per_group == 0 and multi_traces == 0:
        raise ValueError("generate_traces: no traces requested")
    params = load_params()["collections"]
    plan = [
        ("multi", MULTI_REGIONS, multi_traces),
        ("single", SINGLE_GROUPS, single_traces_per_group),
    ]
    collections: list[str] = []
    groups: list[str] = []
    ids: list[str] = []
    sources: list[str] = []
    gaps: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    available: list[np.ndarray] = []
    prices: list[np.ndarray] = []
    for collection, names, count in plan:
        if count == 0:
            continue
        coll = params[collection]
        n_ticks, gap = int(coll["n_ticks"]), float(coll["gap_seconds"])
        # Lexicographic id order, as load_traces sorts: row k of the draw is "<k>.json".
        order = sorted(range(count), key=lambda k: f"{k}.json")
        for group in sorted(names):
            gp = coll["groups"][group]
            rng = _group_rng(seed, collection, group)
            avail, price = _generate_group(gp, count, n_ticks, rng)
            if price is None:
                price = np.full((count, n_ticks), np.nan)
            available.append(avail[order].ravel())
            prices.append(price[order].ravel())
            for k in order:
                collections.append(collection)
                groups.append(group)
                ids.append(f"{k}.json")
                sources.append(f"synthetic(seed={seed}):{collection}/{group}/{k}.json")
            gaps.append(np.full(count, gap))
            lengths.append(np.full(count, n_ticks, dtype=np.int64))
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths), out=offsets[1:])
    return TraceSet(
        collections=tuple(collections),
        groups=tuple(groups),
        ids=tuple(ids),
        sources=tuple(sources),
        gap_seconds=np.concatenate(gaps),
        offsets=offsets,
        available=np.concatenate(available),
        prices=np.concatenate(prices),
    )
