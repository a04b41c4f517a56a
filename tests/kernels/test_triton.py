"""The Triton kernels equal the PyTorch reference exactly. Without a GPU they run under
Triton's interpreter (TRITON_INTERPRET=1, which must be set before triton is imported: its
own library functions such as tl.sort are decorated then), on small shapes: the
interpreter pays about 0.2 s per 128-wide sort."""

from __future__ import annotations

import os
import sys

import pytest
import torch

if not torch.cuda.is_available():
    if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("triton was imported before TRITON_INTERPRET=1 could be set; run these "
                    "tests in their own process", allow_module_level=True)
    os.environ["TRITON_INTERPRET"] = "1"

pytest.importorskip("triton", reason="the Triton kernels need the moe extra")

from adrs.kernels import (
    greedy_pack,
    greedy_pack_triton,
    rebalance_experts_reference,
    rebalance_experts_triton,
    replicate_greedy,
    replicate_triton,
    triton_device,
)

from .golden import case_args


def same(a, b) -> bool:
    return all(torch.equal(x.cpu(), y.cpu()) for x, y in zip(a, b))


@pytest.mark.parametrize(("rows", "items", "packs"), [(3, 16, 4), (5, 24, 8), (2, 12, 3)])
def test_pack_kernel_equals_the_reference_greedy(rows, items, packs):
    generator = torch.Generator().manual_seed(rows * 100 + items)
    weight = torch.rand(rows, items, generator=generator)
    weight[0, 1] = weight[0, 2]  # a tie between items
    weight[1, :4] = 0.5  # and a run of them
    device = triton_device()
    assert same(greedy_pack_triton(weight.to(device), packs), greedy_pack(weight, packs))


def test_pack_kernel_with_integer_loads_and_one_item_per_pack():
    weight = torch.randint(0, 3, (4, 8), generator=torch.Generator().manual_seed(1)).float()
    device = triton_device()
    assert same(greedy_pack_triton(weight.to(device), 2), greedy_pack(weight, 2))
    assert same(greedy_pack_triton(weight.to(device), 8), greedy_pack(weight, 8))


@pytest.mark.parametrize(("rows", "experts", "slots"), [(4, 16, 24), (3, 10, 17), (2, 8, 8)])
def test_replicate_kernel_equals_the_reference_greedy(rows, experts, slots):
    weight = torch.randint(1, 20, (rows, experts),
                           generator=torch.Generator().manual_seed(experts)).float()
    assert same(replicate_triton(weight.to(triton_device()), slots),
                replicate_greedy(weight, slots))


def test_full_rebalance_equals_the_reference_on_golden_cases(golden):
    for case, weight in golden[:3]:  # case 4 (global, 80 items) takes ~1 s interpreted
        weight = torch.from_numpy(weight)
        assert same(rebalance_experts_triton(weight, *case_args(case)),
                    rebalance_experts_reference(weight, *case_args(case))), case["case"]


def test_global_policy_equals_the_reference():
    weight = torch.rand(2, 16, generator=torch.Generator().manual_seed(9))
    assert same(rebalance_experts_triton(weight, 24, 4, 3, 4),
                rebalance_experts_reference(weight, 24, 4, 3, 4))


def test_without_gpu_or_interpreter_says_what_to_do(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError) as caught:
        triton_device()
    assert str(caught.value) == (
        "the Triton kernels need a CUDA GPU, or TRITON_INTERPRET=1 in the environment to run "
        "on the CPU under Triton's interpreter (slow)")
