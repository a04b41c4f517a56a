"""Expert-load workloads: the generator's model and the recorded-history format."""

from __future__ import annotations

import json

import numpy as np
import pytest
from adrs.simulators.eplb import (
    LoadModel,
    generate_records,
    generate_windows,
    load_windows,
    write_load_history,
)

SMALL = LoadModel(num_layers=3, num_experts=16, tokens=64, regime_period=5)


def test_generator_is_seeded_and_sums_records_in_windows():
    records = list(generate_records(SMALL, 7, seed=3))
    assert all(r.shape == (3, 16) and r.dtype == np.int64 for r in records)
    assert all((r.sum(axis=1) == 64 * 8).all() for r in records)
    windows = generate_windows(SMALL, 3, seed=3, interval=2)
    assert windows.shape == (3, 3, 16)
    assert np.array_equal(windows[1], records[2] + records[3])
    assert np.array_equal(generate_windows(SMALL, 3, seed=3, interval=2), windows)
    assert not np.array_equal(generate_windows(SMALL, 3, seed=4, interval=2), windows)


def test_generated_loads_are_zipf_skewed_per_layer():
    window = generate_windows(LoadModel(num_layers=4, num_experts=256), 1, seed=0)[0]
    share = np.sort(window, axis=1)[:, ::-1] / window.sum(axis=1, keepdims=True)
    # Zipf 0.88 over 256 experts: rank r carries r^-0.88 / 8.5 of a layer (the top expert
    # about 12%, the median about 0.16%); and the hot experts differ between layers
    assert 0.08 < share[:, 0].mean() < 0.16
    assert 0.0008 < share[:, 128].mean() < 0.0030
    assert len(set(np.argmax(window, axis=1).tolist())) > 1


def test_recorded_history_round_trips_in_windows(tmp_path):
    records = list(generate_records(SMALL, 5, seed=1))
    path = write_load_history(tmp_path / "expert-load.json", records)
    windows = load_windows(path, interval=2)
    assert windows.dtype == np.int64 and windows.shape == (3, 3, 16)
    assert np.array_equal(windows[0], records[0] + records[1])
    assert np.array_equal(windows[2], records[4])  # the last window holds what is left
    floats = tmp_path / "floats.json"
    floats.write_text(json.dumps({"load_history": [{"logical_expert_load": [[0.5, 1.0]]}]}))
    assert load_windows(floats).dtype == np.float64


@pytest.mark.parametrize(("document", "message"), [
    ("[1, 2]", "expected a JSON object with a 'load_history' list"),
    ('{"load_history": []}', "'load_history' is empty"),
    ('{"load_history": [{"x": 1}]}', "load_history[0] has no 'logical_expert_load'"),
    ('{"load_history": [{"logical_expert_load": [[1, 2], [3]]}]}',
     "load_history[0].logical_expert_load is ragged: rows of different lengths"),
    ('{"load_history": [{"logical_expert_load": [[1, -2]]}]}',
     "load_history[0].logical_expert_load holds a negative load"),
    ('{"load_history": [{"logical_expert_load": [[1, 2]]}, {"logical_expert_load": [[1]]}]}',
     "load_history[1].logical_expert_load has shape [1, 1], but record 0 has [1, 2]"),
    ("{not json", "not a JSON load history"),
])
def test_malformed_histories_are_named(tmp_path, document, message):
    path = tmp_path / "history.json"
    path.write_text(document)
    with pytest.raises(ValueError) as caught:
        load_windows(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_missing_history_is_a_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_windows(tmp_path / "nothing.json")
