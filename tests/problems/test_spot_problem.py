"""The spot problems score like the reference evaluators and reject what they must."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from adrs.problems import get_problem
from adrs.problems.spot import MultiRegionSpotProblem, SingleRegionSpotProblem

# Combined scores of the reference evaluators (spec 4.3).
SINGLE_GOLDEN = {
    "greedy": -106.74569918383592,
    "uniform_progress_simplified": -104.942234355226,
    "uniform_progress": -101.04191088799374,
}
MULTI_GOLDEN = {"multi_seed": -88.37793479456109, "multi_uniform_progress": -77.33419258680624}
# The 30 trace ids the reference single-region evaluator picks per zone (spec 2.4).
REFERENCE_IDS = {0, 8, 9, 20, 21, 33, 42, 51, 61, 70, 99, 107, 117, 126, 135, 145, 154, 163,
                 172, 182, 191, 219, 228, 238, 247, 256, 266, 275, 284, 294}


@pytest.fixture(scope="module")
def spot(shared_dir: Path) -> SingleRegionSpotProblem:
    return get_problem("spot", data=shared_dir / "data")


@pytest.fixture(scope="module")
def spot_multi(shared_dir: Path) -> MultiRegionSpotProblem:
    return get_problem("spot-multi", data=shared_dir / "data")


@pytest.mark.parametrize("name", list(SINGLE_GOLDEN))
def test_single_region_train_scores_equal_the_reference(spot, name):
    builtin = spot.evaluate_baseline(name)
    program = spot.evaluate(spot.baselines[name].program)
    assert builtin.score == pytest.approx(SINGLE_GOLDEN[name], rel=1e-12, abs=0)
    assert program.score == builtin.score
    assert program.metrics["runs"] == 1080
    assert program.details["path"] == "cpp" and builtin.details["path"] == "cpp-builtin"


@pytest.mark.parametrize("name", list(MULTI_GOLDEN))
def test_multi_region_train_scores_equal_the_reference(spot_multi, name):
    builtin = spot_multi.evaluate_baseline(name)
    program = spot_multi.evaluate(spot_multi.baselines[name].program)
    assert builtin.score == pytest.approx(MULTI_GOLDEN[name], rel=1e-12, abs=0)
    assert program.score == builtin.score
    assert program.metrics["runs"] == 34


def test_reference_greedy_statistics(spot):
    result = spot.evaluate_baseline("greedy")
    assert result.metrics["avg_cost"] == pytest.approx(96.51543611111127, rel=1e-12)
    assert result.metrics["std_cost"] == pytest.approx(40.921052290898636, rel=1e-12)
    costs = [run["cost"] for run in result.details["runs"]]
    assert min(costs) == 46.87098333333329 and max(costs) == 148.8965500000002


@pytest.mark.parametrize("path", ["numba", "interpreted"])
def test_other_paths_score_identically(shared_dir, path):
    problem = get_problem("spot", data=shared_dir / "data")
    problem.path = path
    result = problem.evaluate(problem.baselines["uniform_progress"].program, "quick")
    official = get_problem("spot", data=shared_dir / "data").evaluate_baseline(
        "uniform_progress", "quick")
    assert result.score == official.score
    assert result.details["path"] == path


def test_train_is_the_reference_selection(spot):
    workload = spot.workload("train")
    assert len(workload) == 1080
    for env in ("us-west-2a_k80_1", "us-west-2b_k80_1", "us-west-2a_v100_1", "us-west-2b_v100_1"):
        ids = {int(t[:-5]) for g, t in zip(workload.groups, workload.trace_ids) if g == env}
        assert ids == REFERENCE_IDS
    # Order: (duration, deadline) outermost, then overhead, zone, trace.
    assert workload.scenario_label(0) == "48:52:0.02"
    assert workload.scenario_label(1079) == "48:92:0.4"


def test_test_split_is_held_out_and_quick_is_inside_train(spot, spot_multi):
    for problem in (spot, spot_multi):
        train = problem.workload("train")
        test = problem.workload("test")
        quick = problem.workload("quick")
        train_runs = {(g, t, tuple(s)) for g, t, s in
                      zip(train.groups, train.trace_ids, train.scenarios_hours)}
        quick_runs = {(g, t, tuple(s)) for g, t, s in
                      zip(quick.groups, quick.trace_ids, quick.scenarios_hours)}
        assert quick_runs < train_runs
        train_files = {(g, t) for g, t in zip(train.groups, train.trace_ids)}
        assert not train_files & set(zip(test.groups, test.trace_ids))
    assert (len(spot.workload("test")), len(spot.workload("quick"))) == (2160, 36)
    assert (len(spot_multi.workload("test")), len(spot_multi.workload("quick"))) == (240, 6)


def test_invalid_action_fails_the_candidate_with_the_reference_score(spot, spot_multi):
    source = "def decide(obs, mem):\n    return 3 if obs[0] > 6000.0 else 1\n"
    result = spot.evaluate(source, "quick")
    assert not result.ok and result.score == -100000.0
    assert result.error == (
        "run us-west-2a_k80_1/0.json (scenario 48:52:0.2) at tick 11: the policy returned 3, "
        "not an action (0 NONE, 1 SPOT, 2 ON_DEMAND) (36 of 36 runs failed)")
    multi = spot_multi.evaluate("def decide(obs, mem):\n    return 30\n", "quick")
    assert multi.score == -1e9
    assert "the policy returned 30, not an action (0 NONE, 1 SPOT, 2 ON_DEMAND or " \
           "cluster_type + 3 * (region + 1))" in multi.error


def test_a_raising_policy_fails_with_its_own_message(spot):
    source = ("def decide(obs, mem):\n    if obs[1] > 36000.0:\n"
              "        raise RuntimeError('out of ideas')\n    return 2\n")
    result = spot.evaluate(source, "quick")
    assert not result.ok
    assert result.error == ("run us-west-2a_k80_1/0.json (scenario 48:52:0.2) at tick 62: the "
                            "policy raised RuntimeError: out of ideas (line 3) (36 of 36 runs "
                            "failed)")


@pytest.mark.parametrize("source, error", [
    ("def decide(obs, mem)\n    return 1\n",
     "syntax error in candidate.py at line 1: expected ':'"),
    ("def decide(obs, mem):\n    return 0.5\n",
     ("decide() returns float64, not an integer action (return 0 NONE, 1 SPOT or 2 ON_DEMAND "
     "as an int)")),
])
def test_programs_that_cannot_run_fail_with_the_reason(spot, source, error):
    result = spot.evaluate(source, "quick")
    assert result.error == error
    assert result.feedback == f"The candidate failed: {error}"


def test_a_policy_numba_cannot_compile_fails_with_the_reason(spot, jail):
    # inside the subset, but not typable: it never runs interpreted
    source = spot.baselines["greedy"].program.replace(
        "def decide(obs, mem):", "def decide(obs, mem):\n    if (1, 'a')[int(obs[0]) % 2] == 1:\n        return 2")
    result = spot.evaluate(source, "quick", jail)
    assert not result.ok and result.score == -100000.0
    assert result.error.startswith("Numba could not compile the policy")


def test_a_policy_outside_the_subset_is_refused_before_it_runs(spot, jail):
    source = spot.baselines["greedy"].program.replace(
        "def decide(obs, mem):", "class Unused:\n    pass\n\n\ndef decide(obs, mem):")
    result = spot.evaluate(source, "quick", jail)
    assert result.error == ("candidate.py line 33: a module-level class definition is not "
                            "allowed: a spot policy is numbers, math, numpy arrays and plain "
                            "functions (see the problem's description)")


def test_feedback_is_the_per_scenario_breakdown(spot):
    result = spot.evaluate_baseline("greedy")
    lines = result.feedback.splitlines()
    assert lines[0] == ("combined score -106.7457 = -mean 96.5154 - 0.25 * std 40.9211 over "
                        "1080 runs; 0 finished after the deadline.")
    assert lines[3].split() == ["48:52:0.02", "54.055", "139.324", "122.745", "132.751"]
    assert len(lines) == 3 + 9 + 1


def test_simplified_uniform_progress_misses_deadlines(spot):
    # 19 runs one tick late (spec 1.5) plus 2 that finish on the trace's last tick, past
    # the 92 h deadline, whose final extra tick the reference skips.
    assert spot.evaluate_baseline("uniform_progress_simplified").metrics["deadline_missed"] == 21


def test_corrected_fidelity_bills_where_each_tick_ran(shared_dir, spot_multi):
    corrected = get_problem("spot-multi", data=shared_dir / "data", fidelity="corrected")
    reference = spot_multi.evaluate_baseline("multi_uniform_progress")
    fixed = corrected.evaluate_baseline("multi_uniform_progress")
    assert fixed.ok and fixed.details["fidelity"] == "corrected"
    assert fixed.score != reference.score
    assert -160 < fixed.score < -40



def _late_by(problem, run: int, ticks: int):
    """The greedy baseline's quick runs, with run ``run`` moved to finish ``ticks`` past
    its deadline: what a late candidate's runs look like to the judge."""
    workload = problem.workload("quick")
    runs = problem._simulate(workload, "greedy", "cpp")
    runs["messages"] = [""] * len(workload)
    gap = float(workload.traces.gap_seconds[workload.run_traces[workload.run_offsets[run]]])
    deadline_tick = workload.scenarios_hours[run, 1] * 3600.0 / gap
    runs["finish_tick"][run] = int(deadline_tick) + ticks
    return problem._result(workload, runs, 0.0, "cpp-builtin", {}), gap


def test_corrected_fidelity_prices_a_late_run_as_a_failed_job(shared_dir, spot):
    corrected = get_problem("spot", data=shared_dir / "data", fidelity="corrected")
    on_time = corrected.evaluate_baseline("greedy", "quick")
    late, gap = _late_by(corrected, 0, 3)
    hours_late = 3 * gap / 3600.0
    penalty = 3.06 * (48.0 + hours_late)  # the job again on demand, and each hour late
    assert late.metrics["deadline_missed"] == 1
    assert late.metrics["late_penalty_usd"] == pytest.approx(penalty, rel=1e-12)
    assert [r["late_penalty"] for r in late.details["runs"]] == [penalty] + [0.0] * 35
    assert late.metrics["avg_cost"] == pytest.approx(on_time.metrics["avg_cost"] + penalty / 36)
    assert late.feedback.splitlines()[0].endswith(
        f"1 finished after the deadline, each priced as a failed job ({penalty:.2f} $ added "
        "in all).")
    later, _ = _late_by(corrected, 0, 6)
    assert later.score < late.score < on_time.score
    # reference keeps the reference rule: a late run costs what it used, nothing more
    reference_late, _ = _late_by(spot, 0, 3)
    assert reference_late.metrics["deadline_missed"] == 1
    assert reference_late.score == spot.evaluate_baseline("greedy", "quick").score
    assert "late_penalty_usd" not in reference_late.metrics
    assert on_time.metrics["late_penalty_usd"] == 0.0


@pytest.mark.parametrize("name", ["spot", "spot-multi"])
def test_the_description_states_the_lateness_rule_of_its_fidelity(name):
    reference = get_problem(name).description
    corrected = get_problem(name, fidelity="corrected").description
    assert "not penalised beyond its cost (the reference rule)" in reference
    assert "a failed job" not in reference
    assert ("it costs what it spent, plus the whole job again on demand (duration x 3.06 $/h), "
            "plus 3.06 $ per hour late") in corrected
    assert "<<" not in reference + corrected

def test_custom_traces_and_scenarios(shared_dir, tmp_path):
    import shutil
    import tarfile

    with tarfile.open(shared_dir / "data" / "spot_traces.tar.gz") as archive:
        for name in ("0.json", "1.json"):
            member = archive.getmember(f"full/single/us-west-2a_k80_1/{name}")
            (tmp_path / name).write_bytes(archive.extractfile(member).read())
    problem = get_problem("spot", traces=tmp_path, scenarios=["48:52:0.02", "10:20:0"])
    result = problem.evaluate_baseline("greedy", "test")
    assert result.details["split"] == "custom"
    assert [(r["trace"], r["duration"], r["deadline"]) for r in result.details["runs"]] == [
        ("0.json", 48, 52), ("1.json", 48, 52), ("0.json", 10, 20), ("1.json", 10, 20)]
    assert result.details["runs"][0]["cost"] == 46.87098333333329  # spec 6.6 case 1
    shutil.rmtree(tmp_path)
    with pytest.raises(ValueError, match="impossible scenario '48:44:1'"):
        get_problem("spot", traces=shared_dir / "data", scenarios=["48:44:1"])
    with pytest.raises(ValueError, match="give traces too"):
        get_problem("spot", scenarios=["48:52:1"])


def test_runs_on_synthetic_traces_without_data(monkeypatch):
    monkeypatch.delenv("ADRS_DATA_DIR", raising=False)
    problem = get_problem("spot")
    result = problem.evaluate_baseline("uniform_progress", "quick")
    again = get_problem("spot").evaluate(problem.initial_program, "quick")
    assert result.ok and again.ok
    assert problem.trace_source == "synthetic traces (seed 0)"
    assert np.isfinite(result.score) and result.score > -160
    assert again.score == get_problem("spot").evaluate_baseline("greedy", "quick").score


def test_results_cross_process_boundaries(spot):
    result = spot.evaluate_baseline("greedy", "quick")
    assert pickle.loads(pickle.dumps(result)) == result


def test_problem_contract(spot, spot_multi):
    assert spot.name == "spot" and spot_multi.name == "spot-multi"
    assert "decide(obs, mem)" in spot.description and "REGION_HAS_SPOT" in spot_multi.description
    assert "# EVOLVE-BLOCK-START" in spot.initial_program
    assert spot.initial_program == spot.baselines["greedy"].program
    assert spot_multi.initial_program == spot_multi.baselines["multi_seed"].program
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        spot.evaluate_baseline("greedy", "dev")
    with pytest.raises(ValueError, match="unknown fidelity 'exact'"):
        get_problem("spot", fidelity="exact")


def test_the_first_policy_of_the_docs_works_as_written(spot, jail):
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "spot.md").read_text()
    section = text.split("## Writing a first policy", 1)[1]
    program = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    result = spot.evaluate(program, "quick", jail)
    assert result.ok, result.error
    assert result.metrics["minus_avg_cost"] == -result.metrics["avg_cost"]
