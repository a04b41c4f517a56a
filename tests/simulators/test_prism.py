"""The Prism scorer agrees with its pure-Python oracle (pressures, anchors, case scores,
validation) on random cases and placements, bit for bit; the leaderboard's 50 cases are
the ones its own generator draws; the generator of larger cases draws what it says."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from adrs.problems.prism._validate import InvalidPlacement, check_placement, judge_placement
from adrs.simulators import prism, prism_cases
from hypothesis import given, settings
from hypothesis import strategies as st

from . import prism_oracle as oracle

# sha256 over the 50 cases (gpu_num as int64, then the int64 rows size, rate, slo) as
# leaderboard_cases() draws them; equal to the leaderboard's generator where ../shared is
# (test_the_50_cases_are_the_leaderboards).
CASES_SHA256 = "4526de186fbe0ef803d3d797e1b606289b8ccb745774b71a6e853be387b7f9ee"


def fingerprint(cases: list[prism.PrismCase]) -> str:
    digest = hashlib.sha256()
    for case in cases:
        digest.update(np.array([case.gpu_num], np.int64).tobytes())
        digest.update(np.stack([case.model_size, case.req_rate, case.slo]).tobytes())
    return digest.hexdigest()


# -- the leaderboard's cases ------------------------------------------------------------------

def test_the_50_cases_match_their_fingerprint():
    cases = prism_cases.leaderboard_cases()
    assert len(cases) == 50 and fingerprint(cases) == CASES_SHA256
    assert [c.gpu_num for c in cases[:5]] == [8, 9, 7, 7, 8]
    assert sum(c.num_models for c in cases) == 706
    assert all(c.num_models == 2 * c.gpu_num and 5 <= c.gpu_num <= 9 for c in cases)
    assert [c.name for c in prism_cases.leaderboard_cases(3)] == ["train_0", "train_1", "train_2"]
    with pytest.raises(ValueError, match="the leaderboard has 50 cases, not 51"):
        prism_cases.leaderboard_cases(51)


def test_the_50_cases_are_the_leaderboards(shared_dir: Path):
    # the leaderboard's own generator, imported from the snapshot (reference code, run here)
    path = shared_dir / "leaderboard" / "problems" / "prism" / "evaluator.py"
    if not path.is_file():
        pytest.skip(f"{path} not found: the leaderboard snapshot holds the generator")
    spec = importlib.util.spec_from_file_location("leaderboard_prism_evaluator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    theirs = module.generate_test_gpu_models()
    ours = prism_cases.leaderboard_cases()
    assert len(theirs) == len(ours) == 50
    for (gpu_num, models), case in zip(theirs, ours):
        assert gpu_num == case.gpu_num
        assert [(m.model_size, m.req_rate, m.slo, m.cur_gpu_id, m.model_name) for m in models] \
            == [(int(s), int(r), int(o), j, f"model_{j}") for j, (s, r, o)
                in enumerate(zip(case.model_size, case.req_rate, case.slo))]


def test_generated_cases_are_seeded_and_in_range():
    one = prism_cases.generate_cases((10, 1000), seed=5)
    again = prism_cases.generate_cases((10, 1000), seed=5)
    assert [c.name for c in one] == ["test_0", "test_1"]
    assert [c.num_models for c in one] == [20, 2000]
    for a, b in zip(one, again):
        assert np.array_equal(a.model_size, b.model_size) and np.array_equal(a.slo, b.slo)
    big = one[1]
    assert big.model_size.min() >= 10 and big.model_size.max() <= 29
    assert big.req_rate.min() >= 1 and big.req_rate.max() <= 9
    assert big.slo.min() >= 5 and big.slo.max() <= 9
    other = prism_cases.generate_case("x", 1000, seed=7)  # test_1 is seed 5 + 1
    assert not np.array_equal(other.model_size, big.model_size)
    with pytest.raises(ValueError, match="gpu_num and models_per_gpu must be 1 or more"):
        prism_cases.generate_case("x", 0, seed=1)


def test_cases_refuse_bad_numbers():
    with pytest.raises(ValueError, match="rates and SLOs 1 or more"):
        prism.PrismCase("bad", 2, [10, 20], [1, 0], [5, 5])
    with pytest.raises(ValueError, match="differ in length"):
        prism.PrismCase("bad", 2, [10, 20], [1], [5, 5])


# -- the scorer against the oracle -------------------------------------------------------------

@st.composite
def placements(draw, valid_ids: bool = True):
    gpu_num = draw(st.integers(1, 12))
    n = draw(st.integers(1, 40))
    sizes = draw(st.lists(st.integers(0, 45), min_size=n, max_size=n))
    rates = draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    slos = draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    gpus = draw(st.lists(st.integers(0, gpu_num - 1), min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))
    return gpu_num, sizes, rates, slos, gpus, list(order)


@settings(max_examples=300, deadline=None)
@given(placements())
def test_pressures_equal_the_oracle_bit_for_bit(drawn):
    gpu_num, sizes, rates, slos, gpus, order = drawn
    case = prism.PrismCase("c", gpu_num, sizes, rates, slos)
    models = oracle.models_of(sizes, rates, slos)
    placement = {g: [] for g in range(gpu_num)}
    for j in order:  # each GPU's list in the order the models were drawn
        placement[gpus[j]].append(models[j])
    expected = oracle.max_kvpr(placement)
    # interleaved entries and entries grouped by GPU: the same sums, in the same order
    assert prism.max_kvpr(case, np.array(order), np.array([gpus[j] for j in order])) == expected
    grouped = [models.index(m) for g in range(gpu_num) for m in placement[g]]
    assert prism.max_kvpr(case, np.array(grouped), np.array([gpus[j] for j in grouped])) \
        == expected
    baseline, optimal = prism.anchors(case)
    assert baseline == oracle.max_kvpr(oracle.round_robin(gpu_num, models))
    assert optimal == oracle.balance(gpu_num, models)
    assert prism.case_score(baseline, optimal, expected) == \
        oracle.case_score(baseline, optimal, expected)


@settings(max_examples=300, deadline=None)
@given(st.floats(0, 2), st.floats(0, 2), st.floats(0, 2e6))
def test_case_scores_equal_the_oracle(baseline, optimal, solution):
    assert prism.case_score(baseline, optimal, solution) == \
        oracle.case_score(baseline, optimal, solution)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_validation_agrees_with_the_oracle(data):
    gpu_num = data.draw(st.integers(1, 6))
    n = data.draw(st.integers(1, 12))
    sizes = data.draw(st.lists(st.integers(10, 45), min_size=n, max_size=n))
    entries = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(-1, gpu_num)),
                                 max_size=n + 2))
    case = prism.PrismCase("c", gpu_num, sizes, [1] * n, [5] * n)
    models = oracle.models_of(sizes, [1] * n, [5] * n)
    placement: dict[int, list] = {}
    for m, g in entries:
        placement.setdefault(g, []).append(models[m])
    expected = oracle.verdict(gpu_num, models, placement)
    arrays = (np.array([m for m, _ in entries], np.int64),
              np.array([g for _, g in entries], np.int64))
    native = {"ok": prism.PLACEMENT_OK, "gpu": prism.GPU_OUT_OF_RANGE,
              "twice": prism.PLACED_TWICE, "missing": prism.NOT_PLACED,
              "memory": prism.OVER_MEMORY}
    assert prism.judge(case, *arrays)[0] == native[expected]
    if expected == "ok":
        check_placement(case, *arrays)
        assert judge_placement(case, *arrays) == oracle.max_kvpr(placement)
        return
    pattern = {"gpu": "is on GPU -?\\d+, out of range", "twice": "is placed \\d+ times",
               "missing": "models are not placed", "memory": "GB of models, over its 80 GB"}
    with pytest.raises(InvalidPlacement, match=pattern[expected]):
        check_placement(case, *arrays)
    with pytest.raises(InvalidPlacement, match=pattern[expected]):
        judge_placement(case, *arrays)


def test_validation_names_what_is_wrong():
    case = prism.PrismCase("c", 2, [40, 40, 30], [1, 1, 1], [5, 5, 5])
    a = np.array

    def error(models, gpus):
        with pytest.raises(InvalidPlacement) as caught:
            check_placement(case, a(models, np.int64), a(gpus, np.int64))
        return str(caught.value)

    assert error([0, 1, 2], [0, 2, 1]) == "model_1 is on GPU 2, out of range 0..1 (2 GPUs)"
    assert error([0, 1, 1, 2], [0, 1, 0, 1]) == "model_1 is placed 2 times (on GPUs 1, 0)"
    assert error([0], [0]) == "2 of 3 models are not placed: model_1, model_2"
    assert error([0, 1, 2], [1, 1, 1]) == ("GPU 1 holds 110 GB of models, over its 80 GB")
    full = prism.PrismCase("c", 2, [40, 40, 50], [1, 1, 1], [5, 5, 5])
    with pytest.raises(InvalidPlacement, match="^GPU 0 holds 90 GB of models, over its 80 GB$"):
        check_placement(full, a([0, 2, 1], np.int64), a([0, 0, 1], np.int64))
    # exactly full is allowed: its pressure is the leaderboard's 1,000,000
    models, gpus = check_placement(case, a([0, 1, 2], np.int64), a([0, 0, 1], np.int64))
    assert prism.max_kvpr(case, models, gpus) == prism.FULL_GPU_KVPR
    assert error([0, 1, 2], [0, 1]) == "the jail's reply holds no placement (two int64 arrays)"
    assert error([0, 1, 3], [0, 1, 1]) == "the jail's reply holds model indices outside the case"
    assert prism.judge(case, a([0, 1, 3]), a([0, 1, 1]))[0] == prism.MODEL_OUT_OF_RANGE
    with pytest.raises(ValueError, match="models and gpus must be 1-d int64 arrays"):
        prism.judge(case, a([0, 1, 2]), a([0, 1]))


def test_a_large_generated_case_scores_as_the_oracle():
    case = prism_cases.generate_case("big", 2500, seed=11)
    rng = np.random.default_rng(0)
    order = rng.permutation(case.num_models)
    gpus = rng.integers(0, case.gpu_num, case.num_models)
    models = oracle.models_of(case.model_size, case.req_rate, case.slo)
    placement = {g: [] for g in range(case.gpu_num)}
    for j in order:
        placement[int(gpus[j])].append(models[j])
    assert prism.max_kvpr(case, order, gpus[order]) == oracle.max_kvpr(placement)
    assert prism.anchors(case) == (oracle.max_kvpr(oracle.round_robin(case.gpu_num, models)),
                                   oracle.balance(case.gpu_num, models))
    with pytest.raises(ValueError, match="a GPU id is out of range"):
        prism.max_kvpr(case, order, np.full(case.num_models, case.gpu_num))
