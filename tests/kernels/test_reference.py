"""The PyTorch implementation of the published algorithm reproduces the golden cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from adrs.kernels import (
    balancedness,
    check_arguments,
    gpu_loads,
    greedy_pack,
    rebalance_experts_reference,
    replicate_greedy,
    slot_loads,
    validate_placement,
)
from adrs.problems.eplb import ExpertPlacementProblem

from .golden import case_args


def scores(placement, weight, case):
    loads = slot_loads(placement[1].numpy(), placement[2].numpy(), weight, case["P"])
    return balancedness(loads), balancedness(gpu_loads(loads, case["gpus"]))


def test_golden_inputs_are_the_measured_ones(golden):
    for case, weight in golden:
        assert weight[0, :3] == pytest.approx(case["w_first3"], abs=1e-4), case["case"]
        assert weight.astype(np.float64).sum() == pytest.approx(case["w_sum"], abs=1e-3)


def test_reference_reproduces_every_golden_case(golden):
    for case, weight in golden:
        phy2log, log2phy, logcnt = rebalance_experts_reference(
            torch.from_numpy(weight), *case_args(case))
        name = case["case"]
        assert list(log2phy.shape) == case["log2phy_shape"], name
        assert int(logcnt.max()) == case["max_logcnt"], name
        assert int(logcnt[0].sum()) == case["sum_logcnt_row0"], name
        if "phy2log_row0" in case:
            assert phy2log[0].tolist() == case["phy2log_row0"], name
            assert logcnt[0].tolist() == case["logcnt_row0"], name
        per_slot, per_gpu = scores((phy2log, log2phy, logcnt), weight, case)
        assert per_slot == pytest.approx(case["bal_phys"], abs=1e-5), name
        assert per_gpu == pytest.approx(case["bal_gpu"], abs=1e-5), name
        validate_placement(phy2log, log2phy, logcnt, num_experts=case["E"],
                           num_replicas=case["P"], num_gpus=case["gpus"],
                           num_groups=case["groups"], num_nodes=case["nodes"])


def test_seed_program_is_the_reference(golden):
    problem = ExpertPlacementProblem()
    namespace: dict = {}
    exec(compile(problem.initial_program, "published.py", "exec"), namespace)  # noqa: S102
    for case, weight in golden[:4]:
        mine = rebalance_experts_reference(torch.from_numpy(weight), *case_args(case))
        seed = namespace["rebalance_experts"](torch.from_numpy(weight), *case_args(case))
        assert all(torch.equal(a, b) for a, b in zip(mine, seed)), case["case"]
    generator = torch.Generator().manual_seed(5)
    weight = torch.randint(0, 50, (6, 32), generator=generator)  # integer loads: many ties
    for args in ((48, 8, 4, 8), (40, 4, 3, 8)):
        mine = rebalance_experts_reference(weight, *args)
        seed = namespace["rebalance_experts"](weight, *args)
        assert all(torch.equal(a, b) for a, b in zip(mine, seed)), args


def test_greedy_pack_breaks_ties_like_the_published_code():
    # equal items go lowest index first; equal packs, lowest pack first
    # order 4, 0, 1, 2, 3, 5: 4 -> pack 0; 0 -> 1; 1 -> 2; 2 -> 1 (1 ties 2: lower);
    # 3 -> 2 (pack 1 is full); 5 -> 0
    pack, rank = greedy_pack(torch.tensor([[1.0, 1.0, 1.0, 1.0, 2.0, 0.0]]), 3)
    assert pack.tolist() == [[1, 2, 1, 2, 0, 0]]
    assert rank.tolist() == [[0, 0, 1, 1, 0, 1]]
    # one item per pack: the identity, unsorted, as published
    pack, rank = greedy_pack(torch.tensor([[3.0, 1.0, 2.0]]), 3)
    assert pack.tolist() == [[0, 1, 2]] and rank.tolist() == [[0, 0, 0]]


def test_replicate_greedy_adds_to_the_largest_load_per_replica():
    expert, rank, count = replicate_greedy(torch.tensor([[6.0, 3.0, 2.0]]), 6)
    # 6 -> (3, 3, 2): expert 0; then 3 vs 3: first maximum (expert 0 again: 6/2 = 3)
    assert expert.tolist() == [[0, 1, 2, 0, 0, 1]]
    assert rank.tolist() == [[0, 0, 0, 1, 2, 1]]
    assert count.tolist() == [[3, 2, 1]]


@pytest.mark.parametrize(("args", "message"), [
    ((10, 8, 4, 2, 4), "10 experts do not split into 4 equal groups"),
    ((16, 12, 4, 2, 4), "num_replicas 12 < 16 experts: every expert needs a slot"),
    ((16, 24, 4, 2, 16), "num_replicas 24 is not a multiple of num_gpus 16"),
    ((16, 24, 4, 4, 6), "num_gpus 6 is not a multiple of num_nodes 4"),
    ((16, 24, 0, 1, 4), "num_groups must be at least 1, got 0"),
])
def test_preconditions_are_named(args, message):
    with pytest.raises(ValueError) as caught:
        check_arguments(*args)
    assert str(caught.value) == message


def test_global_policy_ignores_num_nodes():
    # 4 % 3 != 0: global; 8 GPUs on "3 nodes" is fine there, as published
    weight = torch.arange(1, 17, dtype=torch.float32).view(1, 16)
    phy2log, log2phy, logcnt = rebalance_experts_reference(weight, 24, 4, 3, 8)
    validate_placement(phy2log, log2phy, logcnt, num_experts=16, num_replicas=24, num_gpus=8)
