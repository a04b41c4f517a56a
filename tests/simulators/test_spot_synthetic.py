"""Tests of the synthetic spot-trace generator and its fitting (simulators/spot_synthetic.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from adrs.simulators import spot_synthetic as synth
from adrs.simulators.spot_synthetic import (
    MULTI_REGIONS,
    SINGLE_GROUPS,
    fit_geometric_mixture,
    generate_trace,
    generate_traces,
    load_params,
    mixture_mean,
    run_lengths,
)
from adrs.simulators.spot_traces import TraceSet, load_traces

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
ARCHIVE = DATA_DIR / "spot_traces.tar.gz"


@pytest.fixture(scope="module")
def synthetic() -> TraceSet:
    return generate_traces(0)


@pytest.fixture(scope="module")
def params() -> dict[str, Any]:
    return load_params()


def group_params(params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (collection, group, gp)
        for collection, coll in params["collections"].items()
        for group, gp in coll["groups"].items()
    ]


def rows(traces: TraceSet, collection: str, group: str) -> np.ndarray:
    """The traces of one group as a [n, n_ticks] array of availability."""
    idx = [
        i
        for i in range(len(traces))
        if traces.collections[i] == collection and traces.groups[i] == group
    ]
    sub = traces.select(idx)
    return sub.available.reshape(len(idx), -1)


# ---------------------------------------------------------------------------------------------
# Fitting helpers


def test_run_lengths() -> None:
    states, lengths, censored = run_lengths(np.array([1, 1, 0, 1, 1, 1, 0, 0], dtype=np.uint8))
    assert states.tolist() == [1, 0, 1, 0]
    assert lengths.tolist() == [2, 1, 3, 2]
    assert censored.tolist() == [True, False, False, True]
    states, lengths, censored = run_lengths(np.ones(5, dtype=np.uint8))
    assert lengths.tolist() == [5] and censored.tolist() == [True]


def test_fit_geometric_mixture_recovers_parameters() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    short = rng.random(n) < 0.6
    lengths = np.where(short, rng.geometric(0.5, n), rng.geometric(0.02, n))
    fit = fit_geometric_mixture(lengths)
    assert fit["weights"] == pytest.approx([0.6, 0.4], abs=0.02)
    assert fit["p"] == pytest.approx([0.5, 0.02], rel=0.06)
    # An uncensored geometric-mixture MLE reproduces the sample mean.
    assert fit["mean"] == pytest.approx(lengths.mean(), rel=1e-6)
    assert mixture_mean(fit) == pytest.approx(fit["mean"])


def test_fit_geometric_mixture_handles_censoring() -> None:
    rng = np.random.default_rng(3)
    true = rng.geometric(0.01, 5_000)
    cap = 80  # observation windows end after 80 ticks: longer runs are cut
    observed = np.minimum(true, cap)
    censored = true > cap
    fit = fit_geometric_mixture(observed, censored, n_components=1)
    assert fit["p"][0] == pytest.approx(0.01, rel=0.06)
    naive = fit_geometric_mixture(observed, n_components=1)
    assert naive["p"][0] > 0.015  # ignoring the censoring makes runs look much shorter
    # Two components, the long one often cut: parameters and likelihood, computed independently.
    long = rng.random(20_000) < 0.4
    true = np.where(long, rng.geometric(0.01, long.size), rng.geometric(0.5, long.size))
    observed, censored = np.minimum(true, 60), true > 60
    fit = fit_geometric_mixture(observed, censored)
    assert fit["weights"] == pytest.approx([0.6, 0.4], abs=0.02)
    assert fit["p"] == pytest.approx([0.5, 0.01], rel=0.08)
    w, p = np.asarray(fit["weights"]), np.asarray(fit["p"])
    survive = (1 - p[None, :]) ** (observed[:, None] - 1)
    like = np.where(censored[:, None], survive, p[None, :] * survive) @ w
    assert fit["loglik"] == pytest.approx(np.log(like).sum(), rel=1e-9)
    with pytest.raises(ValueError, match="every run is censored"):
        fit_geometric_mixture([3, 4], [True, True])
    with pytest.raises(ValueError, match=">= 1"):
        fit_geometric_mixture([0, 4])


# ---------------------------------------------------------------------------------------------
# Parameters file


def test_params_cover_every_group(params: dict[str, Any]) -> None:
    assert "fit_spot_synthetic.py" in params["fitted_by"]["script"]
    assert params["fitted_by"]["data"] == "spot_traces.tar.gz" and params["fitted_by"]["date"]
    single, multi = params["collections"]["single"], params["collections"]["multi"]
    assert sorted(single["groups"]) == sorted(SINGLE_GROUPS)
    assert sorted(multi["groups"]) == sorted(MULTI_REGIONS)
    assert (single["n_ticks"], single["gap_seconds"], single["sample_seconds"]) == (554, 600, 600)
    assert (multi["n_ticks"], multi["gap_seconds"]) == (1107, 195)
    assert 600 < multi["sample_seconds"] < 660  # the multi-region source is sampled ~10.5 min
    for collection, group, gp in group_params(params):
        for state in ("up", "down"):
            mix = gp[state]
            assert sum(mix["weights"]) == pytest.approx(1.0)
            assert all(0 < p <= 1 for p in mix["p"])
            assert mixture_mean(mix) == pytest.approx(mix["mean"], rel=1e-6)
        up, down = gp["up"]["mean"], gp["down"]["mean"]
        assert gp["model_availability"] == pytest.approx(up / (up + down), rel=1e-6)
        assert abs(gp["model_availability"] - gp["availability"]) < 0.05, group
        assert ("price" in gp) == (collection == "multi")
        if collection == "multi":
            price = gp["price"]
            assert 0 < price["min"] <= price["level"] <= price["max"]
            assert price["quantiles"][0] == price["min"] and price["quantiles"][-1] == price["max"]


def test_params_are_reproducible_from_the_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, params: dict[str, Any]
) -> None:
    if not ARCHIVE.is_file():
        pytest.skip(f"../shared/data not found: {ARCHIVE} is absent, the refit needs it")
    monkeypatch.setenv("ADRS_CACHE_DIR", str(tmp_path))
    spec = importlib.util.spec_from_file_location(
        "fit_spot_synthetic", REPO / "scripts" / "fit_spot_synthetic.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # dataclasses look their module up
    spec.loader.exec_module(script)
    out = tmp_path / "params.json"
    assert script.main(["--data", str(ARCHIVE), "--out", str(out), "--date", "x"]) == 0
    refit = json.loads(out.read_text())
    refit["fitted_by"]["date"] = params["fitted_by"]["date"]
    assert _nested_close(refit, params)


def _nested_close(a: Any, b: Any, path: str = "") -> bool:
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), path
        return all(_nested_close(a[k], b[k], f"{path}.{k}") for k in a)
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        return all(_nested_close(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    if isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-7, abs=1e-12), path
        return True
    assert a == b, path
    return True


# ---------------------------------------------------------------------------------------------
# Generated sets


def test_layout(synthetic: TraceSet) -> None:
    assert len(synthetic) == 8 * 300 + 9 * 100
    collections = np.array(synthetic.collections)
    single = collections == "single"
    assert single.sum() == 2400 and (collections == "multi").sum() == 900
    assert set(np.diff(synthetic.offsets)[single].tolist()) == {554}
    assert set(np.diff(synthetic.offsets)[~single].tolist()) == {1107}
    assert set(synthetic.gap_seconds[single].tolist()) == {600.0}
    assert set(synthetic.gap_seconds[~single].tolist()) == {195.0}
    assert {g for g, c in zip(synthetic.groups, collections) if c == "single"} == set(SINGLE_GROUPS)
    assert {g for g, c in zip(synthetic.groups, collections) if c == "multi"} == set(MULTI_REGIONS)
    keys = list(zip(synthetic.collections, synthetic.groups, synthetic.ids))
    assert keys == sorted(keys)  # the order load_traces gives
    one = synthetic.index("us-west-2a_k80_1", "1.json")
    assert synthetic.index("us-west-2a_k80_1", "10.json") == one + 1
    for region in MULTI_REGIONS:  # every aligned window exists in every region
        assert synthetic.n_ticks(synthetic.index(region, "99.json", "multi")) == 1107
    assert synthetic.available.dtype == np.uint8 and synthetic.prices.dtype == np.float64
    assert set(np.unique(synthetic.available).tolist()) == {0, 1}
    assert np.isnan(synthetic.prices[np.repeat(single, np.diff(synthetic.offsets))]).all()


def test_prices(synthetic: TraceSet, params: dict[str, Any]) -> None:
    for region in MULTI_REGIONS:
        price = params["collections"]["multi"]["groups"][region]["price"]
        idx = [synthetic.index(region, f"{k}.json", "multi") for k in range(100)]
        values = synthetic.select(idx).prices.reshape(100, 1107)
        assert values.min() >= price["min"] and values.max() <= price["max"]
        np.testing.assert_array_equal(values, np.round(values, 4))
        # Piecewise constant: changes are rare, as in the real traces (~1 per 100 ticks).
        per_tick = price["change_prob"] * 195 / params["collections"]["multi"]["sample_seconds"]
        assert 0.5 * per_tick < np.mean(values[:, 1:] != values[:, :-1]) < 1.5 * per_tick
        assert abs(values.mean() - price["level"]) < 0.25 * (price["max"] - price["min"])


def test_determinism_and_independent_streams(synthetic: TraceSet) -> None:
    again = generate_traces(0)
    np.testing.assert_array_equal(again.available, synthetic.available)
    np.testing.assert_array_equal(again.prices, synthetic.prices)
    assert again.names() == synthetic.names() and again.sources == synthetic.sources
    other = generate_traces(1)
    assert np.mean(other.available != synthetic.available) > 0.1
    # Each group has its own stream: fewer traces elsewhere leave a group's traces unchanged.
    small = generate_traces(0, single_traces_per_group=300, multi_traces=0)
    assert set(small.collections) == {"single"} and len(small) == 2400
    np.testing.assert_array_equal(
        rows(small, "single", "us-west-2b_k80_1"), rows(synthetic, "single", "us-west-2b_k80_1")
    )
    tiny = generate_traces(5, single_traces_per_group=2, multi_traces=3)
    assert len(tiny) == 8 * 2 + 9 * 3
    with pytest.raises(ValueError, match="non-negative"):
        generate_traces(-1)
    with pytest.raises(ValueError, match="no traces"):
        generate_traces(0, single_traces_per_group=0, multi_traces=0)


def test_availability_calibration(synthetic: TraceSet, params: dict[str, Any]) -> None:
    for collection, group, gp in group_params(params):
        fraction = rows(synthetic, collection, group).mean()
        assert abs(fraction - gp["model_availability"]) < 0.05, group
        assert abs(fraction - gp["availability"]) < 0.05, group  # the stitched real source
        # The archive's windows overlap, so they weigh the middle of the source more than its
        # ends; us-west-2b_k80_1 differs by 0.045 from its own source on that account alone.
        assert abs(fraction - gp["window_availability"]) < 0.08, group


def test_availability_matches_real_archive() -> None:
    if not ARCHIVE.is_file():
        pytest.skip(f"../shared/data not found: {ARCHIVE} is absent")
    real = load_traces(ARCHIVE, cache=False)
    synthetic = generate_traces(0)
    for collection, names in (("single", SINGLE_GROUPS), ("multi", MULTI_REGIONS)):
        for group in names:
            gap = rows(real, collection, group).mean() - rows(synthetic, collection, group).mean()
            assert abs(gap) < 0.08, group


def test_run_lengths_match_model(params: dict[str, Any]) -> None:
    """Complete runs of a long generated trace have the model's mean length (in ticks)."""
    rng = np.random.default_rng(11)
    for collection, group, gp in group_params(params):
        ticks_per_sample = gp["sample_seconds"] / gp["gap_seconds"]
        available, _ = generate_trace(gp, 400_000, rng)
        states, lengths, censored = run_lengths(available)
        for state, name in ((1, "up"), (0, "down")):
            runs = lengths[(states == state) & ~censored]
            mix = gp[name]
            w, p = np.asarray(mix["weights"]), np.asarray(mix["p"])
            sd = np.sqrt(np.sum(w * (2 - p) / p**2) - mix["mean"] ** 2) * ticks_per_sample
            tolerance = 5 * sd / np.sqrt(runs.size) + 0.5
            assert abs(runs.mean() - mix["mean"] * ticks_per_sample) < tolerance, (group, name)


def test_multi_region_runs_are_quantized(synthetic: TraceSet) -> None:
    """As in the real multi-region traces: a run lasts >= 1 sample (~3.2 ticks), never 1-2 ticks,
    while single-region runs of 1 tick are common."""
    for region in MULTI_REGIONS:
        shortest = min(
            run_lengths(row)[1][~run_lengths(row)[2]].min(initial=10**9)
            for row in rows(synthetic, "multi", region)
        )
        assert shortest == 3, region
    single = rows(synthetic, "single", "us-west-2b_v100_8")
    assert any(1 in run_lengths(row)[1][1:-1] for row in single)


def test_traces_are_independent(synthetic: TraceSet, params: dict[str, Any]) -> None:
    """Each trace reads the source grid from its own phase, and regions use separate streams."""
    ratio = 195 / params["collections"]["multi"]["sample_seconds"]
    for region in MULTI_REGIONS[:3]:
        windows = rows(synthetic, "multi", region)
        positions = np.flatnonzero(np.any(windows[:, 1:] != windows[:, :-1], axis=0))
        # One shared phase would allow changes at only ~ratio of the ticks.
        assert positions.size > 2 * ratio * 1106, region
    streams = [
        synth._group_rng(0, c, g).random(4).tolist()
        for c, names in (("single", SINGLE_GROUPS), ("multi", MULTI_REGIONS))
        for g in names
    ]
    assert len({tuple(x) for x in streams}) == len(SINGLE_GROUPS) + len(MULTI_REGIONS)
    # us-west-2a_v100_1 is a zone and a region: its two collections get different streams.
    a, b = (synth._group_rng(0, c, "us-west-2a_v100_1").random(4) for c in ("single", "multi"))
    assert not np.array_equal(a, b)


def test_generate_trace_helper(params: dict[str, Any]) -> None:
    gp = params["collections"]["multi"]["groups"]["us-east-1a_v100_1"]
    available, prices = generate_trace(gp, 50, np.random.default_rng(0))
    assert available.shape == (50,) and available.dtype == np.uint8
    assert prices is not None and prices.shape == (50,)
    available2, prices2 = generate_trace(gp, 50, np.random.default_rng(0))
    np.testing.assert_array_equal(available, available2)
    np.testing.assert_array_equal(prices, prices2)
    gp = params["collections"]["single"]["groups"]["us-west-2a_k80_1"]
    available, prices = generate_trace(gp, 1, np.random.default_rng(0))
    assert available.shape == (1,) and prices is None
    with pytest.raises(ValueError, match="n_ticks must be >= 1"):
        generate_trace(gp, 0, np.random.default_rng(0))


def test_stationary_start(params: dict[str, Any]) -> None:
    """Tick 0 is up with the stationary probability, not always in one state."""
    gp = params["collections"]["single"]["groups"]["us-west-2a_v100_1"]
    first = synth._generate_group(gp, 20_000, 1, np.random.default_rng(2))[0][:, 0]
    assert first.mean() == pytest.approx(gp["model_availability"], abs=0.02)
