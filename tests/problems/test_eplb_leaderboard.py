"""``eplb@leaderboard``: the ADRS Leaderboard's windows, checks, float32 simulation and
0-100 score. The five published solutions run on a small synthetic ``expert-load.json``
(tests/problems/eplb_history.py) and give the leaderboard evaluator's balancedness figures
measured on the same file; the simulation equals a plain-Python oracle and torch's own
indexed ``+=`` bit for bit."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the eplb problem needs the moe extra")

import torch
from adrs import leaderboard
from adrs.cli import main
from adrs.kernels import (
    InvalidPlacement,
    check_leaderboard_placement,
    leaderboard_balancedness,
    leaderboard_slot_loads,
)
from adrs.problems import get_problem
from adrs.problems.eplb import ExpertPlacementProblem
from adrs.problems.eplb._problem import LEADERBOARD_NO_DATA, leaderboard_score
from adrs.simulators.eplb import load_windows

from tests.problems import eplb_history

SOLUTIONS = sorted(eplb_history.LEADERBOARD_GOLDENS)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("eplb-leaderboard")
    eplb_history.write_history(folder / "expert-load.json")
    return folder


@pytest.fixture(scope="module")
def board_problem(history) -> ExpertPlacementProblem:
    problem = get_problem("eplb@leaderboard", data=history)
    problem.warm_jails = False
    return problem


def _solution(shared_dir: Path, name: str) -> Path:
    path = shared_dir / "leaderboard" / "solutions" / "eplb" / name / "resources" / \
        "solution.py"
    if not path.is_file():
        pytest.skip(f"{path} not found: the leaderboard snapshot lives there")
    return path


# -- the oracle: the leaderboard's rules in plain Python ------------------------------------

def oracle_slot_loads(log2phy, logcnt, weight, num_replicas: int) -> np.ndarray:
    """The leaderboard's inference loop, one expert at a time: its share ``load / cnt``
    rounded to float32, added once to each distinct slot of its first ``cnt`` entries
    (a negative id counts from the end), in float32."""
    layers, experts = len(weight), len(weight[0])
    total = [[np.float32(0.0)] * num_replicas for _ in range(layers)]
    for layer in range(layers):
        for e in range(experts):
            load, count = int(weight[layer][e]), int(logcnt[layer][e])
            if load <= 0 or count <= 0:
                continue
            share = np.float32(load / count)
            for slot in {int(s) % num_replicas for s in log2phy[layer][e][:count]}:
                total[layer][slot] = np.float32(total[layer][slot] + share)
    return np.array(total, np.float32)


def oracle_balancedness(rows: list[list[float]]) -> float:
    """sum over layers of the mean / sum over layers of the max; 0 without load."""
    peak = sum(max(row) for row in rows)
    return sum(sum(row) / len(row) for row in rows) / peak if peak > 0 else 0.0


def oracle_pair(slots: np.ndarray, num_gpus: int) -> tuple[float, float]:
    rows = [[float(v) for v in row] for row in slots]
    per = len(rows[0]) // num_gpus
    gpus = [[sum(row[g * per:(g + 1) * per]) for g in range(num_gpus)] for row in rows]
    return oracle_balancedness(gpus), oracle_balancedness(rows)


def random_lenient_placement(rng: np.random.Generator, layers: int = 3, experts: int = 16,
                             slots: int = 24, width: int = 5):
    """Loads with zeros, counts from 0 to beyond the row width, slot ids with repeats,
    negative ids and ids shared between experts: what the leaderboard accepts."""
    weight = rng.integers(0, 50, (layers, experts))
    weight[rng.random((layers, experts)) < 0.2] = 0
    logcnt = rng.integers(0, width + 3, (layers, experts))
    log2phy = rng.integers(-slots, slots, (layers, experts, width))
    log2phy[:, :, 1] = log2phy[:, :, 0]  # the same slot twice in one row
    return weight, logcnt, log2phy


def test_slot_loads_equal_the_oracle_and_torch_bit_for_bit():
    rng = np.random.default_rng(11)
    for _ in range(20):
        weight, logcnt, log2phy = random_lenient_placement(rng)
        ours = leaderboard_slot_loads(log2phy, logcnt, weight, 24)
        assert ours.dtype == np.float32
        assert np.array_equal(ours, oracle_slot_loads(log2phy, logcnt, weight, 24))
        # torch's own semantics of the leaderboard's statement
        total = torch.zeros(weight.shape[0], 24, dtype=torch.float)
        for layer, e in np.ndindex(*weight.shape):
            load, count = int(weight[layer, e]), int(logcnt[layer, e])
            if load > 0 and count > 0:
                total[layer, torch.from_numpy(log2phy[layer, e, :count])] += load / count
        assert np.array_equal(ours, total.numpy())


def test_a_slot_listed_twice_by_one_expert_gains_its_share_once():
    # expert 0: 9 tokens on 3 "replicas" that are slot 1, slot 1 and slot -1 (= slot 3):
    # 3 on slot 1 once, 3 on slot 3; expert 1 (6 tokens, 1 replica) shares slot 1
    weight = np.array([[9, 6]])
    logcnt = np.array([[3, 1]])
    log2phy = np.array([[[1, 1, -1], [1, -1, -1]]])
    loads = leaderboard_slot_loads(log2phy, logcnt, weight, 4)
    assert loads.tolist() == [[0.0, 9.0, 0.0, 3.0]]
    # the shares round to float32 before they are added: 1/3 of 1 token is float32(1/3)
    thirds = leaderboard_slot_loads(np.array([[[0, 1, 2]]]), np.array([[3]]),
                                    np.array([[1]]), 4)
    assert thirds[0, 0] == np.float32(1 / 3) and thirds[0, 3] == 0.0


def test_balancedness_equals_the_oracle():
    rng = np.random.default_rng(3)
    for _ in range(10):
        weight, logcnt, log2phy = random_lenient_placement(rng)
        slots = leaderboard_slot_loads(log2phy, logcnt, weight, 24)
        gpu, slot = leaderboard_balancedness(slots, 4)
        want_gpu, want_slot = oracle_pair(slots, 4)
        assert gpu == pytest.approx(want_gpu, rel=1e-13)
        assert slot == pytest.approx(want_slot, rel=1e-13)
    assert leaderboard_balancedness(np.zeros((2, 8), np.float32), 4) == (0.0, 0.0)


@pytest.mark.parametrize(("seconds", "speed", "penalty"), [
    (0.0, 10.0, 0.0), (0.0005, 10.0, 0.0), (0.001, 10.0, 0.0), (0.002, 5.0, 0.0),
    (0.01, 1.0, 0.0), (0.05, 0.2, 1.0), (0.5, 0.02, 10.0), (3.0, 0.002 / 3 * 5, 20.0),
])
def test_the_leaderboards_score_formula(seconds, speed, penalty):
    score, got_speed, got_penalty = leaderboard_score(0.5, seconds)
    assert got_speed == pytest.approx(speed, rel=1e-12)
    assert got_penalty == pytest.approx(penalty, rel=1e-12)
    assert score == pytest.approx(45.0 + speed - penalty, rel=1e-12)


# -- the checks -----------------------------------------------------------------------------

_W = np.ones((2, 4), np.int64)
_OK = (np.zeros((2, 8), np.int64), np.zeros((2, 4, 3), np.int64), np.full((2, 4), 2))


@pytest.mark.parametrize(("change", "message"), [
    ({"phy2log": np.zeros((2, 7), np.int64)}, "phy2log shape wrong: (2, 7)"),
    ({"phy2log": np.zeros(8, np.int64)}, "phy2log shape wrong: (8,)"),
    ({"logcnt": np.array([[2, 2, 2, 1], [2, 2, 2, 2]])}, "logcnt sums != 8: [7, 8]..."),
    ({"logcnt": np.full((2, 4), 2.0, np.float32) - np.float32(0.5)},
     "logcnt sums != 8: [6.0, 6.0]..."),
    ({"logcnt": np.array([[10, -2, 0, 0], [2, 2, 2, 2]])}, "logcnt contains negative values"),
    ({"logcnt": np.array([[4, 4, 0, 0], [8, 0, 0, 0]])},
     "Unhandled load: 5 experts have load but 0 replicas"),
    ({"logcnt": np.full((2, 2), 4)}, "logcnt has shape [2, 2], the loads [2, 4]"),
    ({"log2phy": np.zeros((2, 4, 3), np.int16)},
     ("log2phy must hold int32 or int64 slot ids (the leaderboard indexes the slots with "
      "it), got dtype int16")),
    ({"log2phy": np.zeros((2, 3, 3), np.int64)},
     "log2phy has shape [2, 3, 3]; the leaderboard reads [2, 4, replicas] of it"),
    ({"log2phy": np.concatenate([np.zeros((2, 4, 1), np.int64),
                                 np.full((2, 4, 2), 8)], axis=2)},
     "log2phy[0, 0, 1] = 8 is not a slot in [-8, 8)"),
])
def test_what_the_leaderboard_refuses(change, message):
    arrays = dict(zip(("phy2log", "log2phy", "logcnt"), _OK))
    arrays.update(change)
    with pytest.raises(InvalidPlacement) as caught:
        check_leaderboard_placement(arrays["phy2log"], arrays["log2phy"], arrays["logcnt"],
                                    _W, 8)
    assert str(caught.value) == message


def test_what_the_leaderboard_accepts():
    # phy2log of zeros, one slot for every expert, fractional counts, -1 ids, slot 7
    # listed by all, and a zero count where there is no load
    weight = np.array([[5, 5, 5, 0], [1, 1, 1, 1]])
    logcnt = np.array([[2.5, 2.5, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    log2phy = np.full((3, 5, 4), -1, np.int32)  # more layers and experts than needed
    log2phy, counts = check_leaderboard_placement(np.zeros((2, 8)), log2phy, logcnt,
                                                  weight, 8)
    assert counts.tolist() == [[2, 2, 3, 0], [2, 2, 2, 2]]
    assert log2phy.shape == (2, 4, 4) and log2phy.dtype == np.int64
    loads = leaderboard_slot_loads(log2phy, counts, weight, 8)
    assert loads[:, :7].sum() == 0.0
    assert loads[:, 7].tolist() == [np.float32(2.5) * 2 + np.float32(5 / 3), 2.0]


# -- the problem ----------------------------------------------------------------------------

def test_the_history_is_the_one_the_goldens_were_measured_on():
    records = eplb_history.records()
    assert records.shape == (450, 8, 256)
    assert int(records.sum()) == eplb_history.RECORDS_SUM
    assert int((records == 0).sum()) == eplb_history.RECORDS_ZEROS


def test_splits_are_every_window_of_the_file(board_problem, history):
    windows = load_windows(history / "expert-load.json", 100)
    assert windows.shape == (5, 8, 256)  # 4 windows of 100 records and one of 50
    assert np.array_equal(board_problem.workload("train").windows, windows)
    assert np.array_equal(board_problem.workload("test").windows, windows)
    assert np.array_equal(board_problem.workload("quick").windows, windows[:3])
    assert board_problem.validation == "leaderboard"
    assert "min(0.002 / t, 2) * 5" in board_problem.description
    assert "0.02 / median seconds" not in board_problem.description


def test_a_fractional_history_is_float32_and_a_short_one_is_refused(tmp_path):
    path = tmp_path / "expert-load.json"
    path.write_text(json.dumps({"load_history": [{"logical_expert_load": [[0.5] * 16] * 2}]
                                * 3}))
    problem = get_problem("eplb@leaderboard", data=path, interval=2, num_replicas=24,
                          num_groups=4, num_nodes=2, num_gpus=4)
    windows = problem.workload("train").windows
    assert windows.dtype == np.float32 and windows.shape == (2, 2, 16)
    problem = get_problem("eplb@leaderboard", data=path, interval=3, num_replicas=24,
                          num_groups=4, num_nodes=2, num_gpus=4)
    with pytest.raises(ValueError) as caught:
        problem.workload("train")
    assert str(caught.value) == (f"{path} holds 1 window(s) of 3 records; eplb@leaderboard "
                                 "needs at least 2 (fit on one, score on the next)")


def test_without_the_history_it_says_where_to_put_it(monkeypatch, tmp_path):
    monkeypatch.delenv("ADRS_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError) as caught:
        get_problem("eplb@leaderboard")
    assert str(caught.value) == LEADERBOARD_NO_DATA == (
        "eplb@leaderboard scores the leaderboard's recorded loads: put expert-load.json in "
        "the folder given by --data (or $ADRS_DATA_DIR); get it with: adrs data fetch eplb")
    monkeypatch.setenv("ADRS_DATA_DIR", str(tmp_path))  # a data folder without it
    with pytest.raises(FileNotFoundError, match="put expert-load.json"):
        get_problem("eplb", suite="leaderboard")
    with pytest.raises(ValueError, match="validation=leaderboard belongs to the leaderboard"):
        get_problem("eplb", validation="leaderboard")
    with pytest.raises(ValueError, match="unknown suite 'nope'"):
        get_problem("eplb@nope")


@pytest.mark.parametrize("name", SOLUTIONS)
def test_solutions_give_the_leaderboards_balancedness(shared_dir, board_problem, jail,
                                                      name):
    entry = leaderboard.lookup("eplb")
    result = leaderboard.evaluate_solution(board_problem, entry,
                                           _solution(shared_dir, name), runner=jail)
    assert result.ok, result.error
    gpu, expert = eplb_history.LEADERBOARD_GOLDENS[name]
    metrics = result.metrics
    assert metrics["balancedness_score_gpu"] == pytest.approx(
        gpu, rel=eplb_history.GOLDEN_RELATIVE)
    assert metrics["balancedness_score_expert"] == pytest.approx(
        expert, rel=eplb_history.GOLDEN_RELATIVE)
    assert len(result.details["balancedness_gpu"]) == 4  # 5 windows: 4 pairs
    # the time part: the leaderboard's formula on the judge's own CPU seconds
    seconds = result.details["call_cpu_seconds"]
    mean = float(np.mean(seconds))
    assert metrics["times_algorithm"] == pytest.approx(mean, rel=1e-12) and mean > 0
    speed = min(0.002 / mean, 2.0) * 5
    penalty = min(mean * 20, 20.0) if mean > 0.01 else 0.0
    assert metrics["speed_score"] == pytest.approx(speed, rel=1e-12)
    assert metrics["slow_penalty"] == pytest.approx(penalty, rel=1e-12, abs=0.0)
    assert result.score == pytest.approx(
        90 * metrics["balancedness_score_gpu"] + speed - penalty, rel=1e-12)


# A placement the leaderboard takes and the contract does not: phy2log all zeros (only its
# width is checked), experts 0-31 claim 2 replicas but list slot e twice (their share lands
# once: half their load is lost), slots 256-287 empty.
_HALF_LOST = textwrap.dedent("""
    import torch
    def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
        layers, experts = weight.shape
        logcnt = torch.ones(layers, experts, dtype=torch.int64)
        logcnt[:, :num_replicas - experts] = 2
        log2phy = torch.arange(experts).view(1, experts, 1).repeat(layers, 1, 2)
        return torch.zeros(layers, num_replicas, dtype=torch.int64), log2phy, logcnt
""")


def test_lenient_validation_scores_what_strict_refuses(board_problem, history, jail):
    result = board_problem.evaluate(_HALF_LOST, "quick", jail)
    assert result.ok, result.error
    windows = board_problem.workload("quick").windows
    logcnt = np.ones((8, 256), np.int64)
    logcnt[:, :32] = 2
    log2phy = np.repeat(np.arange(256).reshape(1, 256, 1), 8, axis=0).repeat(2, axis=2)
    want = [oracle_pair(oracle_slot_loads(log2phy, logcnt, windows[i + 1], 288), 32)
            for i in range(len(windows) - 1)]
    assert result.details["balancedness_gpu"] == pytest.approx([g for g, _ in want],
                                                               rel=1e-12)
    assert result.details["balancedness_expert"] == pytest.approx([s for _, s in want],
                                                                  rel=1e-12)
    strict = get_problem("eplb@leaderboard", data=history, validation="strict")
    refused = strict.evaluate(_HALF_LOST, "quick", jail)
    assert not refused.ok and refused.score == 0.0
    assert refused.error == ("window 0: invalid placement: logcnt[0, 0] = 2 but phy2log "
                             "puts expert 0 on 288 slots of layer 0")


def test_a_refused_placement_fails_with_the_leaderboards_message(history, tmp_path, capsys):
    code = textwrap.dedent("""
        import torch
        def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
            layers, experts = weight.shape
            log2phy = torch.arange(experts).view(1, experts, 1).repeat(layers, 1, 1)
            logcnt = torch.ones(layers, experts, dtype=torch.int64)
            return torch.zeros(layers, num_replicas, dtype=torch.int64), log2phy, logcnt
    """)
    path = tmp_path / "solution.py"
    path.write_text(f"class Solution:\n    def solve(self, spec_path=None):\n"
                    f"        return {code!r}\n")
    status = main(["eval", "eplb@leaderboard", str(path), "--format", "leaderboard",
                   "--data", str(history), "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert status == 1 and len(out) == 1
    data = json.loads(out[0])
    assert data["ok"] is False and data["score"] == 0.0
    assert data["error"] == "window 0: logcnt sums != 288: [256, 256, 256, 256, 256]..."
