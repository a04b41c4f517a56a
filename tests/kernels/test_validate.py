"""The validator names the first violation; the balance metric is the reference's."""

from __future__ import annotations

import numpy as np
import pytest
from adrs.kernels import (
    InvalidPlacement,
    balancedness,
    gpu_loads,
    slot_loads,
    validate_placement,
)

# 1 layer, 4 experts, 6 slots on 3 GPUs: expert 0 twice, expert 1 twice
PHY2LOG = np.array([[0, 1, 2, 0, 3, 1]])
LOG2PHY = np.array([[[0, 3], [1, 5], [2, -1], [4, -1]]])
LOGCNT = np.array([[2, 2, 1, 1]])
SHAPE = {"num_experts": 4, "num_replicas": 6, "num_gpus": 3}


def check(phy2log=PHY2LOG, log2phy=LOG2PHY, logcnt=LOGCNT, **shape) -> str:
    with pytest.raises(InvalidPlacement) as caught:
        validate_placement(phy2log, log2phy, logcnt, **{**SHAPE, **shape})
    return str(caught.value)


def test_a_valid_placement_passes_as_int64():
    placement = validate_placement(PHY2LOG.astype(np.int32), LOG2PHY, LOGCNT, **SHAPE)
    assert placement.phy2log.dtype == np.int64
    assert np.array_equal(placement.log2phy, LOG2PHY)


def test_the_reference_exploit_is_rejected_though_the_reference_scores_it_near_one():
    # every expert claims every slot: the reference evaluator scores 0.99999999
    layers, experts, slots = 2, 16, 24
    log2phy = np.broadcast_to(np.arange(slots), (layers, experts, slots)).copy()
    logcnt = np.full((layers, experts), slots)
    phy2log = np.zeros((layers, slots), np.int64)
    weight = np.random.default_rng(0).integers(1, 100, (layers, experts))
    assert balancedness(slot_loads(log2phy, logcnt, weight, slots)) == pytest.approx(1.0)
    with pytest.raises(InvalidPlacement) as caught:
        validate_placement(phy2log, log2phy, logcnt, num_experts=experts, num_replicas=slots,
                           num_gpus=4)
    assert str(caught.value) == "logcnt of layer 0 sums to 384 replicas, not the 24 slots"


def test_every_violation_is_named():
    assert check(phy2log=PHY2LOG.astype(float)) == \
        "phy2log must hold integers, got dtype float64"
    assert check(log2phy=LOG2PHY[0]) == \
        "log2phy must have 3 dimensions, got shape [4, 2]"
    assert check(num_replicas=7, num_gpus=7) == "phy2log has shape [1, 6], expected [1, 7]"
    assert check(num_gpus=4) == "6 slots do not split equally over 4 GPUs"
    assert check(num_layers=2) == "phy2log has shape [1, 6], expected [2, 6]"
    assert check(phy2log=np.array([[0, 1, 2, 0, 4, 1]])) == \
        "phy2log[0, 4] = 4 is not an expert id in [0, 4)"
    assert check(logcnt=np.array([[3, 2, 1, 0]])) == \
        "logcnt[0, 3] = 0: expert 3 of layer 0 has no replica"
    assert check(logcnt=np.array([[2, 2, 2, 1]])) == \
        "logcnt of layer 0 sums to 7 replicas, not the 6 slots"
    assert check(logcnt=np.array([[3, 1, 1, 1]])) == \
        "logcnt[0, 0] = 3 but phy2log puts expert 0 on 2 slots of layer 0"
    assert check(log2phy=LOG2PHY[:, :, :1]) == \
        "log2phy lists 1 replicas per expert but logcnt[0, 0] = 2"
    assert check(log2phy=np.array([[[0, 6], [1, 5], [2, -1], [4, -1]]])) == \
        "log2phy[0, 0, 1] = 6 is not a slot in [0, 6)"
    assert check(log2phy=np.array([[[0, 3], [1, 5], [2, 2], [4, -1]]])) == \
        "log2phy[0, 2, 1] = 2 beyond logcnt[0, 2] = 1: padding must be -1"
    assert check(log2phy=np.array([[[0, 1], [3, 5], [2, -1], [4, -1]]])) == \
        "log2phy[0, 0, 1] = 1 but slot 1 of layer 0 holds expert 1"
    assert check(log2phy=np.array([[[0, 0], [1, 5], [2, -1], [4, -1]]])) == \
        "slot 0 of layer 0 appears 2 times in log2phy; every slot must appear exactly once"


def test_groups_on_one_node_when_asked():
    # 2 groups (experts 0-1, 2-3) on 2 nodes (slots 0-2, 3-5): expert 0 sits on both
    assert check(num_groups=2, num_nodes=2) == (
        "group 0 of layer 0 spans nodes 0 to 1; the hierarchical policy keeps a group on "
        "one node")
    validate_placement(PHY2LOG, LOG2PHY, LOGCNT, **SHAPE, num_groups=2, num_nodes=3)  # global


def test_balancedness_is_a_ratio_of_sums_over_layers():
    loads = slot_loads(LOG2PHY, LOGCNT, np.array([[4.0, 2.0, 3.0, 0.0]]), 6)
    assert loads.tolist() == [[2.0, 1.0, 3.0, 2.0, 0.0, 1.0]]
    assert balancedness(loads) == pytest.approx(1.5 / 3.0)
    assert gpu_loads(loads, 3).tolist() == [[3.0, 5.0, 1.0]]
    two_layers = np.array([[1.0, 3.0], [2.0, 2.0]])
    assert balancedness(two_layers) == pytest.approx((2.0 + 2.0) / (3.0 + 2.0))
    assert balancedness(np.zeros((2, 3))) == 0.0


def test_slot_loads_follow_the_reference_rules_on_unchecked_placements():
    # no replica: the load is lost; a -1 inside logcnt counts from the end, as indexing does
    log2phy = np.array([[[0, -1], [1, -1]]])
    loads = slot_loads(log2phy, np.array([[2, 0]]), np.array([[4.0, 5.0]]), 3)
    assert loads.tolist() == [[2.0, 0.0, 2.0]]
    with pytest.raises(ValueError):
        slot_loads(np.array([[[3]]]), np.array([[1]]), np.array([[1.0]]), 3)
