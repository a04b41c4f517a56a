"""The transaction makespan models agree: C++ (whole sequences, batches, states extended
one transaction at a time, what-if queries) = Numba = the pure-Python oracle, on every
golden case and on random workloads, sequences and prefixes; the workload loader and the
generator read and draw what they say."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from adrs import _core
from adrs.simulators import txn as numba_txn
from adrs.simulators import txn_workloads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import txn_oracle


@pytest.fixture(scope="module")
def published(shared_dir: Path) -> dict[str, txn_workloads.TxnWorkload]:
    return txn_workloads.load_workloads(shared_dir / "data" / "txn_workloads.json")


def golden_sequence(name: str, n: int) -> list[int]:
    if name == "identity":
        return list(range(n))
    if name == "reversed":
        return list(range(n))[::-1]
    parts = name.split("_")  # lcg_seed_S or lcg_seed_S_prefix_L
    order = txn_oracle.lcg_permutation(n, int(parts[2]))
    return order[:int(parts[4])] if len(parts) == 5 else order


# -- golden values --------------------------------------------------------------------------

def test_every_published_golden_case(shared_dir, published):
    golden = json.loads((shared_dir / "golden" / "txn.json").read_text())
    assert len(golden["cases"]) == 27
    for case in golden["cases"]:
        transactions = published[case["workload"]].transactions
        sequence = golden_sequence(case["sequence"], len(transactions))
        model = _core.TxnModel(list(transactions))
        arrays = numba_txn.parse(transactions)
        state = model.state()
        for t in sequence:
            state.extend(t)
        got = {
            "cpp": model.makespan(sequence),
            "cpp_array": model.makespan(np.array(sequence)),
            "cpp_batch": int(model.makespans([sequence])[0]),
            "cpp_state": state.makespan,
            "numba": numba_txn.makespan(arrays, sequence),
            "oracle": txn_oracle.makespan(transactions, sequence),
        }
        assert got == dict.fromkeys(got, case["makespan"]), case


def test_every_random_golden_case(shared_dir):
    golden = json.loads((shared_dir / "golden" / "txn_random.json").read_text())
    cases = 0
    for entry in golden["workloads"]:
        transactions = list(entry["workload"].values())
        model = _core.TxnModel(transactions)
        arrays = numba_txn.parse(transactions)
        sequences = [case["sequence"] for case in entry["cases"]]
        expected = [case["makespan"] for case in entry["cases"]]
        assert model.makespans(sequences).tolist() == expected
        assert numba_txn.makespans(arrays, sequences).tolist() == expected
        assert [txn_oracle.makespan(transactions, s) for s in sequences] == expected
        cases += len(sequences)
    assert cases == 50


def test_published_workloads_are_what_the_spec_says(published):
    assert list(published) == list(txn_workloads.PUBLISHED)
    lengths = {name: sorted({len(t.split()) for t in w.transactions})
               for name, w in published.items()}
    assert lengths == {"workload_1": [16], "workload_2": [5, 21], "workload_3": [9]}
    assert all(len(w) == 100 for w in published.values())


# -- random workloads: C++ = Numba = oracle ---------------------------------------------------

@st.composite
def workloads_and_sequences(draw):
    num_keys = draw(st.integers(1, 12))
    keys = st.integers(1, num_keys).map(str)
    op = st.one_of(st.just("*"), st.builds(lambda kind, key: f"{kind}-{key}",
                                           st.sampled_from("rw"), keys))
    transactions = draw(st.lists(st.lists(op, min_size=0, max_size=8).map(" ".join),
                                 min_size=1, max_size=25))
    n = len(transactions)
    permutation = draw(st.permutations(range(n)))
    prefix = draw(st.integers(0, n))
    # repeats are valid input too: the model runs a repeated transaction again
    repeats = draw(st.lists(st.integers(0, n - 1), max_size=6))
    return transactions, list(permutation[:prefix]) + repeats


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads_and_sequences())
def test_models_agree_with_the_oracle(data):
    transactions, sequence = data
    model = _core.TxnModel(transactions)
    arrays = numba_txn.parse(transactions)
    expected = txn_oracle.makespan(transactions, sequence)
    assert model.makespan(sequence) == expected
    assert numba_txn.makespan(arrays, sequence) == expected
    # every prefix, through a state extended one transaction at a time
    state = model.state()
    floors, total = numba_txn.new_floors(arrays), 0
    for i, t in enumerate(sequence):
        prefix = sequence[:i + 1]
        assert state.makespan_after(t) == txn_oracle.makespan(transactions, prefix)
        assert state.extend(t) == txn_oracle.makespan(transactions, prefix)
        assert numba_txn.makespan_after(arrays, floors, total, t) == state.makespan
        total = numba_txn.extend(arrays, floors, total, t)
        assert total == state.makespan
    assert state.sequence.tolist() == sequence and len(state) == len(sequence)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads_and_sequences(), st.data())
def test_what_if_queries_leave_the_state_alone(data, draw):
    transactions, sequence = data
    model = _core.TxnModel(transactions)
    n = len(transactions)
    cut = draw.draw(st.integers(0, len(sequence)))
    prefix, suffix = sequence[:cut], sequence[cut:]
    state = model.state(prefix)
    before = state.makespan
    everything = list(range(n))
    assert state.makespan_with(suffix) == txn_oracle.makespan(transactions, sequence)
    assert state.makespans_after(everything).tolist() == [
        txn_oracle.makespan(transactions, prefix + [t]) for t in everything]
    ends = state.ends_after(everything)
    lengths = model.lengths
    assert np.array_equal(np.maximum(ends, before), state.makespans_after(everything))
    assert np.all((ends == 0) == (lengths == 0))
    suffixes = [suffix, suffix[::-1], [], everything]
    assert state.makespans_with(suffixes).tolist() == [
        txn_oracle.makespan(transactions, prefix + s) for s in suffixes]
    # the state still answers for its own prefix, and a copy is independent
    assert state.makespan == before and state.sequence.tolist() == prefix
    twin = state.copy()
    for t in suffix:
        twin.extend(t)
    assert twin.makespan == txn_oracle.makespan(transactions, sequence)
    assert state.makespan == before and state.makespan_with(suffix) == twin.makespan


@settings(max_examples=50, deadline=None)
@given(workloads_and_sequences(), st.integers(1, 6))
def test_batches_equal_single_calls(data, rows):
    transactions, sequence = data
    model = _core.TxnModel(transactions)
    arrays = numba_txn.parse(transactions)
    ragged = [sequence[:k * len(sequence) // rows] for k in range(rows + 1)]
    singles = [model.makespan(s) for s in ragged]
    assert model.makespans(ragged).tolist() == singles
    assert numba_txn.makespans(arrays, ragged).tolist() == singles
    square = np.array([sequence] * rows, dtype=np.int64).reshape(rows, len(sequence))
    assert model.makespans(square).tolist() == [model.makespan(sequence)] * rows
    assert model.makespans(square.astype(np.int32)).tolist() == [model.makespan(sequence)] * rows


def test_generated_workloads_agree_with_the_oracle():
    params = replace(txn_workloads.PROFILES["profile_2"], num_txns=300, seed=7)
    transactions = txn_workloads.generate_workload(params).transactions
    model = _core.TxnModel(list(transactions))
    arrays = numba_txn.parse(transactions)
    rng = np.random.default_rng(3)
    orders = [rng.permutation(300) for _ in range(3)]
    expected = [txn_oracle.makespan(transactions, o.tolist()) for o in orders]
    assert model.makespans(np.array(orders)).tolist() == expected
    assert numba_txn.makespans(arrays, orders).tolist() == expected


# -- parsing and input checking -------------------------------------------------------------

def test_keys_are_strings_numbered_by_first_appearance():
    transactions = ["w-05 r-5 *", "r-5 w-x w-05", "* *", ""]
    model = _core.TxnModel(transactions)
    arrays = numba_txn.parse(transactions)
    assert model.key_names == ["05", "5", "x"] and arrays.key_names == ("05", "5", "x")
    assert model.ops(1) == [(1, 1, False), (2, 2, True), (0, 3, True)]
    offsets, keys, positions, writes = model.op_arrays()
    assert offsets.tolist() == arrays.op_offsets.tolist() == [0, 2, 5, 5, 5]
    assert keys.tolist() == arrays.op_key.tolist() == [0, 1, 1, 2, 0]
    assert positions.tolist() == (arrays.op_shift + 1).tolist() == [1, 2, 1, 2, 3]
    assert writes.tolist() == arrays.op_write.tolist() == [True, False, False, True, True]
    # a transaction without keyed ops has length 0 (the reference's quirk) and costs nothing
    assert model.lengths.tolist() == arrays.lengths.tolist() == [3, 3, 0, 0]
    assert model.makespan([2, 3]) == 0 and model.makespan([0, 2]) == 3


@pytest.mark.parametrize(("transactions", "message"), [
    (["w-1 r-2", "r-1 x-2"], "transaction 1, op 2: 'x-2' is not r-<key>, w-<key> or *"),
    (["* w-"], "transaction 0, op 2: 'w-' is not r-<key>, w-<key> or *"),
    (["r1"], "transaction 0, op 1: 'r1' is not r-<key>, w-<key> or *"),
])
def test_malformed_ops_are_named(transactions, message):
    with pytest.raises(ValueError) as cpp:
        _core.TxnModel(transactions)
    with pytest.raises(ValueError) as numba:
        numba_txn.parse(transactions)
    assert str(cpp.value) == str(numba.value) == message


def test_transactions_must_be_strings_in_order():
    with pytest.raises(TypeError, match="^transaction 1 is int, not a string of ops$"):
        _core.TxnModel(["w-1", 5])
    with pytest.raises(TypeError, match="not dict"):
        _core.TxnModel({"txn0": "w-1"})


def test_bad_indices_are_refused_and_change_nothing():
    model = _core.TxnModel(["w-1 r-2", "r-1", "w-2 *"])
    with pytest.raises(ValueError, match=r"^the sequence's item 1 is transaction 3, out of "
                                         r"range 0\.\.2$"):
        model.makespan([0, 3])
    with pytest.raises(ValueError, match="^sequence 1's item 0 is transaction -1"):
        model.makespans([[0], [-1]])
    state = model.state([0])
    with pytest.raises(ValueError, match="^the transaction is transaction 7, out of range"):
        state.extend(7)
    with pytest.raises(ValueError, match="^the sequence's item 1 is transaction 9"):
        state.extend_many([1, 9])
    assert state.sequence.tolist() == [0] and state.makespan == model.makespan([0])
    with pytest.raises(ValueError, match="out of range"):
        numba_txn.makespan(numba_txn.parse(["w-1"]), [1])


@pytest.mark.parametrize(("sequence", "message"), [
    ([0, 1.0], (r"^the sequence item 1 is 1\.0 of type float, not an integer transaction "
               r"index$")),
    ([True], "^the sequence item 0 is True of type bool"),
    (np.array([0.0, 1.0]), "^the sequence has dtype float64, not an integer dtype$"),
    (np.zeros((2, 2), np.int64), r"^the sequence must be 1-D, got an array of shape \(2, 2\)$"),
    ("01", "^the sequence must be a sequence of integer transaction indices, not str$"),
])
def test_non_integer_sequences_are_refused(sequence, message):
    model = _core.TxnModel(["w-1", "r-1"])
    with pytest.raises(TypeError, match=message):
        model.makespan(sequence)


def test_numpy_integers_and_unsigned_arrays_are_indices():
    transactions = ["w-1 *", "r-1", "w-1"]
    model = _core.TxnModel(transactions)
    expected = txn_oracle.makespan(transactions, [0, 2])
    assert model.makespan([np.int64(0), np.int32(2)]) == model.makespan([0, 2]) == expected
    assert model.makespan(np.array([0, 2], np.uint8)) == expected
    assert model.makespan(range(3)) == model.makespan([0, 1, 2])


# -- workload files -------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "message"), [
    ("{", "not JSON"),
    ("[]", "expected an object of workloads"),
    ('{"w": []}', "w: expected a non-empty object of transactions"),
    ('{"w": {"txn0": 5}}', "w.txn0: expected a string of ops, got int"),
    ('{"w": {"txn0": "r-1 q-2"}}', "w.txn0: op 2 'q-2' is not r-<key>, w-<key> or \\*"),
])
def test_malformed_workload_files_name_the_field(tmp_path, content, message):
    path = tmp_path / "txn_workloads.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"^{path}: .*{message}"):
        txn_workloads.load_workloads(path)


def test_data_is_a_folder_a_file_or_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "txn_workloads.json"
    path.write_text('{"mine": {"a": "w-1 r-2", "b": "r-2"}}')
    monkeypatch.delenv("ADRS_DATA_DIR", raising=False)
    assert txn_workloads.resolve_data(None) is None
    assert txn_workloads.resolve_data(tmp_path) == path
    assert txn_workloads.resolve_data(path) == path
    monkeypatch.setenv("ADRS_DATA_DIR", str(tmp_path))
    assert txn_workloads.resolve_data(None) == path
    loaded = txn_workloads.load_workloads(path)
    assert loaded["mine"].transactions == ("w-1 r-2", "r-2")
    with pytest.raises(FileNotFoundError, match="^transaction workloads not found: "):
        txn_workloads.resolve_data(tmp_path / "nowhere")


# -- the generator ---------------------------------------------------------------------------

# Recorded from the generator when it was written: it must keep giving exactly these on
# every platform and numpy version (its numbers come from splitmix64, not numpy's RNG).
PINNED_PROFILE_3 = ("* * * w-5 r-1 * w-1 * w-1", "r-1 r-1 r-1 * * r-1 * w-1 *",
                    "* * w-1 * * * * * r-2", "* * * * * * r-2 * r-1")


def test_generator_is_pinned_and_seeded():
    params = replace(txn_workloads.PROFILES["profile_3"], num_txns=4, seed=1001)
    assert txn_workloads.generate_workload(params).transactions == PINNED_PROFILE_3
    same = txn_workloads.generate_workload(params)
    other = txn_workloads.generate_workload(replace(params, seed=1002))
    assert same.transactions == PINNED_PROFILE_3 and other.transactions != same.transactions


def test_generator_draws_what_it_is_asked():
    params = txn_workloads.GeneratorParams(num_txns=4000, min_ops=3, max_ops=7, num_keys=50,
                                           read_ratio=0.25, skew=1.2, no_key_share=0.4, seed=9)
    workload = txn_workloads.generate_workload(params)
    ops = [t.split() for t in workload.transactions]
    assert len(ops) == 4000 and {len(o) for o in ops} == {3, 4, 5, 6, 7}
    flat = [op for o in ops for op in o]
    keyed = [op for op in flat if op != "*"]
    assert abs(1 - len(keyed) / len(flat) - 0.4) < 0.02
    assert abs(sum(op[0] == "r" for op in keyed) / len(keyed) - 0.25) < 0.02
    counts = np.bincount([int(op[2:]) for op in keyed], minlength=51)
    assert counts[0] == 0 and set(np.flatnonzero(counts)) <= set(range(1, 51))
    expected = (1 / np.arange(1, 51) ** 1.2) / np.sum(1 / np.arange(1, 51) ** 1.2)
    assert abs(counts[1] / len(keyed) - expected[0]) < 0.02  # the hottest key's share
    assert counts[1] > counts[2] > counts[10]
    assert all(op == "*" for o in txn_workloads.generate_workload(
        replace(params, no_key_share=1.0, num_txns=20)).transactions for op in o.split())
    only_reads = txn_workloads.generate_workload(replace(params, read_ratio=1.0, num_txns=50))
    assert not any(op.startswith("w-") for t in only_reads.transactions for op in t.split())


@pytest.mark.parametrize(("change", "message"), [
    ({"num_txns": 0}, "num_txns must be at least 1, got 0"),
    ({"min_ops": 5, "max_ops": 4}, "need 1 <= min_ops <= max_ops, got 5, 4"),
    ({"num_keys": 0}, "num_keys must be at least 1, got 0"),
    ({"read_ratio": 1.5}, r"read_ratio must be in \[0, 1\], got 1.5"),
    ({"no_key_share": -0.1}, r"no_key_share must be in \[0, 1\], got -0.1"),
    ({"skew": -1.0}, "skew must be 0 or more, got -1.0"),
])
def test_generator_parameters_are_checked(change, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        txn_workloads.generate_workload(replace(txn_workloads.GeneratorParams(), **change))
