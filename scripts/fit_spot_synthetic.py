"""Fit the synthetic spot-trace model to the real traces; write ``spot_synthetic_params.json``.

The real traces of one zone/region are overlapping windows of one source series. Fitting on the
windows would count every run several times, so this script first stitches each group's windows
back into its source series (by their ``metadata.start_time``), then fits on the stitched series:

* single region: ``start_time`` is a tick index of the 600 s source; windows agree exactly where
  they overlap (checked; a disagreement is an error);
* multi region: ``start_time`` is an ISO timestamp; the windows were resampled at 195 s, from
  different phases, from a source sampled about every 631 s. They are chained in start order, each
  ``floor(delta / 195)`` ticks after the previous one, and the earliest window covering a tick
  wins. Overlapping windows disagree on 0.3-1.5 % of ticks, all next to a transition (reported
  with ``--table``).

Then, per collection, the source's sampling period is estimated from the run lengths (600 s for
single region, ~631 s for multi region), and per group the runs of the stitched series, converted
to source samples, are fitted as a 2-component geometric mixture by EM (up and down separately,
the first and last run censored); prices as a piecewise-constant AR(1). The model is described in
``simulators/spot_synthetic.py`` and ``docs/spot_traces.md``.

Usage::

    python scripts/fit_spot_synthetic.py --data ../shared/data/spot_traces.tar.gz [--table]

The output depends only on the data (and ``--date``); running it twice gives the same file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from adrs.simulators import spot_synthetic as synth
from adrs.simulators import spot_traces
from adrs.simulators.spot_traces import TraceSet, load_traces

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "spot_traces.tar.gz"
DEFAULT_OUT = REPO / "simulators" / "spot_synthetic_params.json"
PRICE_QUANTILES = 21  # stored quantiles of the time-weighted price distribution (0, 5%, ..., 100%)
SIGNIFICANT_DIGITS = 10


@dataclass
class Stitched:
    """One group's source series rebuilt from its windows."""

    available: np.ndarray  # uint8 [n_source]
    prices: np.ndarray  # float64 [n_source], NaN without prices
    covered: np.ndarray  # bool [n_source]
    n_overlap: int  # ticks covered by two or more windows (counted per extra window)
    n_disagree: int  # of those, ticks where availability differed
    n_price_disagree: int
    window_availability: float  # mean over windows of their availability fraction


def window_starts(data: Path) -> dict[tuple[str, str, str], Any]:
    """``metadata.start_time`` of every trace, keyed by (collection, group, id).

    Args:
        data: The archive or folder given to :func:`load_traces`.

    Returns:
        The raw start_time values (tick index for single region, ISO string for multi region).

    Raises:
        ValueError: If a trace has no ``metadata.start_time``.
    """
    starts: dict[tuple[str, str, str], Any] = {}
    for member in spot_traces._iter_members(data):  # private: TraceSet keeps no metadata
        key = (member.collection, member.group, member.trace_id)
        if key in starts:
            continue
        meta = json.loads(member.raw).get("metadata", {})
        if "start_time" not in meta:
            raise ValueError(f"{member.source}: no metadata.start_time, cannot stitch")
        starts[key] = meta["start_time"]
    return starts


def start_ticks(raw_starts: Sequence[Any], gap: float) -> np.ndarray:
    """Window start positions on the source's tick grid, the earliest at 0.

    Windows are chained in start order, each placed ``floor(delta / gap)`` ticks after the one
    before it: multi-region windows resampled at other phases then disagree with their neighbours
    on fewer ticks than on one global grid from the earliest start.
    """
    if all(isinstance(s, int) for s in raw_starts):
        seconds = np.asarray(raw_starts, dtype=np.float64) * gap
    else:
        seconds = np.array([dt.datetime.fromisoformat(str(s)).timestamp() for s in raw_starts])
    order = np.argsort(seconds, kind="stable")
    steps = np.floor(np.diff(seconds[order]) / gap + 1e-9).astype(np.int64)
    ticks = np.empty(len(raw_starts), dtype=np.int64)
    ticks[order] = np.concatenate(([0], np.cumsum(steps)))
    return ticks


def estimate_sample_seconds(lengths: np.ndarray, gap: float) -> float:
    """Sampling period of the source series behind windows observed every ``gap`` seconds.

    A source sampled every P seconds and read every ``gap`` seconds from some phase turns a run of
    k samples into ``floor(k P / gap)`` or ``ceil(k P / gap)`` ticks. The shortest run (one
    sample) fixes ``floor(P / gap)``; within that range, P is the period that makes the fewest
    observed lengths impossible (the smallest on ties), then refined as ``gap * sum(l) / sum(k)``.

    Args:
        lengths: Complete (uncensored) run lengths in ticks, from the windows.
        gap: Tick length of the windows.

    Returns:
        P in seconds (``gap`` itself when the windows are plain slices of the source).
    """
    values, counts = np.unique(lengths, return_counts=True)
    shortest = int(values.min())
    candidates = np.arange(shortest * gap, (shortest + 1) * gap, 1.0)
    bad = []
    for period in candidates:
        ratio = period / gap
        k = np.maximum(1, np.round(values / ratio))
        ok = np.zeros(values.size, dtype=bool)
        for dk in (-1, 0, 1):
            kk = np.maximum(1, k + dk)
            ok |= (np.floor(kk * ratio) <= values) & (values <= np.ceil(kk * ratio))
        bad.append(int(counts[~ok].sum()))
    period = float(candidates[int(np.argmin(bad))])
    k = np.maximum(1, np.round(values * gap / period))
    return float(gap * np.sum(values * counts) / np.sum(k * counts))


def stitch(traces: TraceSet, indices: Sequence[int], ticks: np.ndarray) -> Stitched:
    """Rebuild a source series from windows; the earliest window covering a tick wins.

    Args:
        traces: The loaded traces.
        indices: Windows of one group.
        ticks: Start tick of each window on the source grid.

    Returns:
        The stitched series and overlap statistics.
    """
    n_source = int(max(ticks[j] + traces.n_ticks(i) for j, i in enumerate(indices)))
    available = np.zeros(n_source, dtype=np.uint8)
    prices = np.full(n_source, np.nan)
    covered = np.zeros(n_source, dtype=bool)
    n_overlap = n_disagree = n_price_disagree = 0
    fractions = []
    for j in np.argsort(ticks, kind="stable"):
        i = indices[j]
        lo, hi = traces.offsets[i], traces.offsets[i + 1]
        a, p = traces.available[lo:hi], traces.prices[lo:hi]
        fractions.append(float(a.mean()))
        s = slice(int(ticks[j]), int(ticks[j]) + a.size)
        seen = covered[s]
        n_overlap += int(seen.sum())
        n_disagree += int(np.sum(available[s][seen] != a[seen]))
        n_price_disagree += int(np.sum((prices[s][seen] != p[seen]) & ~np.isnan(p[seen])))
        available[s] = np.where(seen, available[s], a)
        prices[s] = np.where(seen, prices[s], p)
        covered[s] = True
    return Stitched(
        available,
        prices,
        covered,
        n_overlap,
        n_disagree,
        n_price_disagree,
        float(np.mean(fractions)),
    )


def segment_runs(stitched: Stitched) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of every covered stretch of the stitched series, ends censored."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], stitched.covered.view(np.int8), [0]))))
    parts = [synth.run_lengths(stitched.available[a:b]) for a, b in zip(edges[::2], edges[1::2])]
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


def _round(x: Any) -> Any:
    """Round floats in a nested structure to SIGNIFICANT_DIGITS, for a readable, stable file."""
    if isinstance(x, float):
        return float(f"{x:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v) for v in x]
    return x


def fit_runs(
    states: np.ndarray,
    lengths: np.ndarray,
    censored: np.ndarray,
    state: int,
    ticks_per_sample: float,
) -> dict[str, Any]:
    """Geometric-mixture fit, in source samples, of the runs in one state.

    Args:
        states: State of each run of the stitched series.
        lengths: Run lengths in ticks.
        censored: Runs cut by an end of the series.
        state: 1 for spot-up runs, 0 for spot-down runs.
        ticks_per_sample: ``sample_seconds / gap_seconds``.

    Returns:
        The mixture (``weights``, ``p``, ``mean`` in samples), its mean in ticks, and counts.
    """
    mask = states == state
    samples = np.maximum(1, np.round(lengths[mask] / ticks_per_sample))
    fit = synth.fit_geometric_mixture(samples, censored[mask])
    complete = lengths[mask & ~censored]
    return {
        "weights": fit["weights"],
        "p": fit["p"],
        "mean": fit["mean"],
        "mean_ticks": fit["mean"] * ticks_per_sample,
        "loglik": fit["loglik"],
        "n_runs": int(mask.sum()),
        "n_censored": int((mask & censored).sum()),
        "observed_mean_ticks": float(complete.mean()) if complete.size else float("nan"),
    }


def fit_prices(stitched: Stitched, ticks_per_sample: float) -> dict[str, Any]:
    """Piecewise-constant AR(1) price model of one region, changes counted per source sample."""
    p = stitched.prices[stitched.covered]
    change = np.flatnonzero(p[1:] != p[:-1]) + 1
    levels = p[np.concatenate(([0], change))]
    level = float(p.mean())
    x, y = levels[:-1] - level, levels[1:] - level
    # Clipped below 1: the fit is a random walk (coefficient ~1), which the [min, max] clip bounds.
    ar = float(np.clip(np.dot(x, y) / np.dot(x, x), 0.0, 0.999)) if x.size > 1 else 0.0
    step_sd = float(np.std(y - ar * x)) if x.size > 1 else 0.0
    n_samples = max((p.size - 1) / ticks_per_sample, 1.0)
    return {
        "level": level,
        "min": float(p.min()),
        "max": float(p.max()),
        "change_prob": float(min(change.size / n_samples, 1.0)),
        "ar_coef": ar,
        "step_sd": step_sd,
        "quantiles": np.quantile(p, np.linspace(0.0, 1.0, PRICE_QUANTILES)).tolist(),
        "n_changes": int(change.size),
    }


def _window_runs(traces: TraceSet, indices: Sequence[int]) -> np.ndarray:
    """Complete run lengths (both states) inside the given windows."""
    runs = []
    for i in indices:
        _, lengths, censored = synth.run_lengths(
            traces.available[traces.offsets[i] : traces.offsets[i + 1]]
        )
        runs.append(lengths[~censored])
    return np.concatenate(runs)


def fit(data: Path, date: str) -> tuple[dict[str, Any], dict[tuple[str, str], Stitched]]:
    """Fit every group of the archive.

    Args:
        data: The real trace archive or folder.
        date: Date recorded in ``fitted_by``.

    Returns:
        The parameters (as written to the JSON) and the stitched series per (collection, group).

    Raises:
        ValueError: If a collection or group is missing, or single-region windows disagree.
    """
    traces = load_traces(data)
    raw_starts = window_starts(data)
    params: dict[str, Any] = {
        "fitted_by": {
            "script": "scripts/fit_spot_synthetic.py",
            "data": data.name,
            "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest() if data.is_file() else "",
            "date": date,
        },
        "model": (
            "per group, an alternating renewal process on the source's sampling grid"
            " (sample_seconds): up and down run lengths in samples, each a 2-component geometric"
            " mixture (weights, p; support 1, 2, ...), stationary start; read every gap_seconds"
            " from a uniform random phase. Multi-region prices: piecewise constant per sample,"
            " change_prob per sample, AR(1) steps (ar_coef, step_sd) around level clipped to"
            " [min, max], first price from the quantiles."
        ),
        "collections": {},
    }
    stitched_all: dict[tuple[str, str], Stitched] = {}
    expected = {"single": synth.SINGLE_GROUPS, "multi": synth.MULTI_REGIONS}
    for collection, group_names in expected.items():
        members = {
            group: [
                i
                for i in range(len(traces))
                if traces.collections[i] == collection and traces.groups[i] == group
            ]
            for group in group_names
        }
        for group, idx in members.items():
            if not idx:
                raise ValueError(f"{data}: no {collection} traces of group {group}")
        every = [i for idx in members.values() for i in idx]
        gaps = sorted(set(traces.gap_seconds[every].tolist()))
        n_ticks = sorted({traces.n_ticks(i) for i in every})
        if len(gaps) != 1 or len(n_ticks) != 1:
            raise ValueError(
                f"{collection}: traces differ in gap {gaps} or length {n_ticks};"
                " the generator needs one of each"
            )
        gap = gaps[0]
        sample_seconds = round(estimate_sample_seconds(_window_runs(traces, every), gap), 1)
        ticks_per_sample = sample_seconds / gap
        groups: dict[str, Any] = {}
        for group, idx in members.items():
            keys = [(collection, group, traces.ids[i]) for i in idx]
            ticks = start_ticks([raw_starts[k] for k in keys], gap)
            st = stitch(traces, idx, ticks)
            if collection == "single" and st.n_disagree:
                raise ValueError(
                    f"{group}: overlapping windows disagree on {st.n_disagree} ticks; the"
                    " windows are not of one source series"
                )
            stitched_all[(collection, group)] = st
            states, lengths, censored = segment_runs(st)
            up = fit_runs(states, lengths, censored, 1, ticks_per_sample)
            down = fit_runs(states, lengths, censored, 0, ticks_per_sample)
            entry: dict[str, Any] = {
                "gap_seconds": gap,
                "sample_seconds": sample_seconds,
                "availability": float(st.available[st.covered].mean()),
                "model_availability": up["mean"] / (up["mean"] + down["mean"]),
                "window_availability": st.window_availability,
                "n_windows": len(idx),
                "source_ticks": int(st.covered.sum()),
                "overlap_disagreement": st.n_disagree / max(st.n_overlap, 1),
                "up": up,
                "down": down,
            }
            if not np.all(np.isnan(st.prices[st.covered])):
                entry["price"] = fit_prices(st, ticks_per_sample)
            groups[group] = entry
        params["collections"][collection] = {
            "gap_seconds": gap,
            "n_ticks": n_ticks[0],
            "sample_seconds": sample_seconds,
            "groups": groups,
        }
    return _round(params), stitched_all


# ---------------------------------------------------------------------------------------------
# Fitted-vs-real table (for docs/spot_traces.md)


def _window_run_stats(available: np.ndarray, n: int, n_ticks: int, one_sample: int) -> list[float]:
    """Run statistics inside windows, runs cut by a window edge excluded.

    Returns:
        Mean up run, mean down run (ticks), share of runs of at most ``one_sample`` ticks, share of
        runs shorter than 3 ticks.
    """
    up, down = [], []
    for row in available.reshape(n, n_ticks):
        states, lengths, censored = synth.run_lengths(row)
        up.append(lengths[~censored & (states == 1)])
        down.append(lengths[~censored & (states == 0)])
    u, d = np.concatenate(up), np.concatenate(down)
    both = np.concatenate((u, d))
    return [
        float(u.mean()) if u.size else float("nan"),
        float(d.mean()) if d.size else float("nan"),
        float(np.mean(both <= one_sample)) if both.size else float("nan"),
        float(np.mean(both < 3)) if both.size else float("nan"),
    ]


def stats_table(
    params: dict[str, Any], stitched: dict[tuple[str, str], Stitched], data: Path
) -> str:
    """Markdown tables: real (stitched source, archive windows) vs model vs synthetic (seed 0)."""
    traces = load_traces(data)
    lines = [
        (
            "| group | avail. source / windows | avail. model / synthetic"
            " | mean up run: source / model | mean down run: source / model"
            " | in windows, mean up run: real / synth. | mean down run: real / synth."
            " | runs of 1 sample: real / synth. | runs < 3 ticks: real / synth. |"
        ),
        "|" + " --- |" * 9,
    ]
    price_lines = [
        (
            "| region | level | min | max | change prob. per sample | AR coef | step sd"
            " | mean price: real / synth. | mean prices[0]: real / synth. |"
        ),
        "|" + " --- |" * 9,
    ]
    for collection, coll in params["collections"].items():
        n_ticks = int(coll["n_ticks"])
        one_sample = int(np.ceil(coll["sample_seconds"] / coll["gap_seconds"]))
        for group, gp in coll["groups"].items():
            idx = [
                i
                for i in range(len(traces))
                if traces.collections[i] == collection and traces.groups[i] == group
            ]
            n = len(idx)
            real = traces.select(idx)
            rng = synth._group_rng(0, collection, group)  # the stream generate_traces(0) uses
            fake, fake_prices = synth._generate_group(gp, n, n_ticks, rng)
            st = stitched[(collection, group)]
            r = _window_run_stats(real.available, n, n_ticks, one_sample)
            f = _window_run_stats(fake, n, n_ticks, one_sample)
            lines.append(
                f"| {collection}/{group} | {gp['availability']:.3f} / {st.window_availability:.3f}"
                f" | {gp['model_availability']:.3f} / {fake.mean():.3f}"
                f" | {gp['up']['observed_mean_ticks']:.1f} / {gp['up']['mean_ticks']:.1f}"
                f" | {gp['down']['observed_mean_ticks']:.1f} / {gp['down']['mean_ticks']:.1f}"
                f" | {r[0]:.1f} / {f[0]:.1f} | {r[1]:.1f} / {f[1]:.1f}"
                f" | {r[2]:.2f} / {f[2]:.2f} | {r[3]:.2f} / {f[3]:.2f} |"
            )
            if fake_prices is not None:
                pr = gp["price"]
                real_p = real.prices.reshape(n, n_ticks)
                price_lines.append(
                    f"| {group} | {pr['level']:.4f} | {pr['min']:.4f} | {pr['max']:.4f}"
                    f" | {pr['change_prob']:.4f} | {pr['ar_coef']:.3f} | {pr['step_sd']:.4f}"
                    f" | {real_p.mean():.4f} / {fake_prices.mean():.4f}"
                    f" | {real_p[:, 0].mean():.4f} / {fake_prices[:, 0].mean():.4f} |"
                )
    overlap = [
        f"| {g} | {s.n_overlap} | {s.n_disagree} ({s.n_disagree / max(s.n_overlap, 1):.2%})"
        f" | {s.n_price_disagree} |"
        for (c, g), s in stitched.items()
        if c == "multi"
    ]
    return "\n".join(
        [
            *lines,
            "",
            *price_lines,
            "",
            "| region | overlapping ticks | availability disagreements | price disagreements |",
            "|" + " --- |" * 4,
            *overlap,
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        Process exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real trace archive")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="parameters JSON to write")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="date to record")
    parser.add_argument("--table", action="store_true", help="print fitted-vs-real tables")
    args = parser.parse_args(argv)
    data = args.data.resolve()
    params, stitched = fit(data, args.date)
    args.out.write_text(json.dumps(params, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if args.table:
        print(stats_table(params, stitched, data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
