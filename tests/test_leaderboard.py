"""The ADRS Leaderboard suite: its spot grids and 0-100 scores, its solutions loaded
through ``Solution.solve()`` in the jail and played through the sky_spot adapter, and
``adrs leaderboard``.

Goldens: the published scores are the leaderboard's own ``results/<problem>/<name>/
results.json`` (snapshot of UCB-ADRS/ADRS-Leaderboard at f856497, in ../shared/leaderboard);
the tests read them from there, so a mismatch names both numbers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from adrs import leaderboard
from adrs.cli import main
from adrs.jail import InProcessRunner
from adrs.problems import get_problem

PUBLISHED = ("baseline", "gepa", "openevolve", "shinkaevolve")


@pytest.fixture(scope="module")
def board(shared_dir: Path) -> Path:
    root = shared_dir / "leaderboard"
    if not (root / "solutions").is_dir():
        pytest.skip(f"{root} not found: the leaderboard snapshot lives there")
    return root


@pytest.fixture(scope="module")
def spot_board(shared_dir: Path):
    return get_problem("spot@leaderboard", data=str(shared_dir / "data"))


@pytest.fixture(scope="module")
def multi_board(shared_dir: Path):
    return get_problem("spot-multi", suite="leaderboard", data=str(shared_dir / "data"))


def _published(board: Path, folder: str, name: str) -> dict:
    return json.loads((board / "results" / folder / name / "results.json").read_text())


def test_leaderboard_grid_is_the_evaluators(spot_board) -> None:
    workload = spot_board.workload("train")
    assert len(workload) == 6 * 30 * 2 * 3
    assert sorted(set(workload.groups)) == sorted(
        ["us-west-2a_k80_8", "us-west-2b_k80_1", "us-west-2b_k80_8", "us-west-2a_v100_1",
         "us-west-2a_v100_8", "us-west-2b_v100_1"])
    assert {tuple(s) for s in workload.scenarios_hours.tolist()} == {
        (48.0, d, o) for d in (52.0, 70.0) for o in (0.02, 0.05, 0.1)}
    test = spot_board.workload("test")
    train_ids = {(g, t) for g, t in zip(workload.groups, workload.trace_ids)}
    assert len(test) == len(workload)
    assert not train_ids & {(g, t) for g, t in zip(test.groups, test.trace_ids)}


def test_builtin_greedy_scores_the_published_baseline(board: Path, spot_board) -> None:
    # the leaderboard's cant_be_late baseline is the greedy seed, which is our built-in
    published = _published(board, "cant_be_late", "baseline")
    result = spot_board.evaluate_baseline("greedy")
    assert result.score == published["score"] == 28
    assert result.metrics["avg_cost"] == pytest.approx(published["avg_cost"], rel=1e-9)
    assert result.metrics["od_anchor"] == pytest.approx(published["od_anchor"], rel=1e-12)
    assert result.metrics["spot_anchor"] == pytest.approx(published["spot_anchor"], rel=1e-12)


@pytest.mark.parametrize("name", PUBLISHED)
def test_multi_region_solutions_equal_published(board: Path, multi_board, jail,
                                                name: str) -> None:
    published = _published(board, "cant_be_late_multi", name)
    path = board / "solutions" / "cant_be_late_multi" / name / "resources" / "solution.py"
    result = leaderboard.evaluate_solution(multi_board, leaderboard.lookup("cant_be_late_multi"),
                                           path, runner=jail)
    assert result.ok, result.error
    assert result.score == published["score"]
    assert result.metrics["avg_cost"] == pytest.approx(published["avg_cost"], rel=1e-6)
    assert result.metrics["od_anchor"] == pytest.approx(published["od_anchor"], rel=1e-12)
    assert result.metrics["spot_anchor"] == pytest.approx(published["spot_anchor"], rel=1e-12)


# the whole 1,080-run grid, each strategy interpreted step by step in the jail, costs a few
# seconds a solution: two here (and LEVI below); bench/leaderboard.py --check runs them all
@pytest.mark.parametrize("name", ["baseline", "gepa"])
def test_single_region_solutions_equal_published(board: Path, spot_board, jail,
                                                 name: str) -> None:
    published = _published(board, "cant_be_late", name)
    path = board / "solutions" / "cant_be_late" / name / "resources" / "solution.py"
    result = leaderboard.evaluate_solution(spot_board, leaderboard.lookup("cant_be_late"), path,
                                           runner=jail)
    assert result.ok, result.error
    assert result.score == published["score"]
    assert result.metrics["avg_cost"] == pytest.approx(published["avg_cost"], rel=1e-6)
    assert result.metrics["od_anchor"] == pytest.approx(published["od_anchor"], rel=1e-12)
    assert result.metrics["spot_anchor"] == pytest.approx(published["spot_anchor"], rel=1e-12)


# LEVI published no results.json: these are the leaderboard's own evaluators run here on
# its solutions (a copy of problems/<name> of the snapshot in /tmp, traces unpacked as its
# README says, numpy/pandas/configargparse/pyyaml/filelock/tqdm/wandb in a venv of their
# own; PYTHONPATH=resources/cant-be-late-simulator for the single-region one):
#   python evaluator.py --solution .../solutions/<name>/LEVI/resources/solution.py
REFERENCE_RUNS = {
    "cant_be_late": {"score": 52, "avg_cost": 95.07038625000006},
    "cant_be_late_multi": {"score": 72.35, "avg_cost": 74.40910479166739},
}


@pytest.mark.parametrize("folder", sorted(REFERENCE_RUNS))
def test_levi_equals_the_reference_evaluator_run_here(board: Path, shared_dir: Path, jail,
                                                      folder: str) -> None:
    entry = leaderboard.lookup(folder)
    problem = get_problem(entry.problem, data=str(shared_dir / "data"))
    path = board / "solutions" / folder / "LEVI" / "resources" / "solution.py"
    result = leaderboard.evaluate_solution(problem, entry, path, runner=jail)
    assert result.ok, result.error
    assert result.score == REFERENCE_RUNS[folder]["score"]
    assert result.metrics["avg_cost"] == pytest.approx(REFERENCE_RUNS[folder]["avg_cost"],
                                                       rel=1e-9)


def test_txn_leaderboard_anchors_and_seeded_solution(board: Path, shared_dir: Path,
                                                     jail) -> None:
    problem = get_problem("txn@leaderboard", data=str(shared_dir / "data"))
    cache = json.loads((board / "problems" / "txn_scheduling" / "baseline_cache.json")
                       .read_text())
    sequential, effective = problem.leaderboard_anchors("train")
    assert sequential == cache["baseline_makespan"] == 537.0
    assert effective == pytest.approx(cache["optimal_makespan"] + 0.1 * (537.0 - 46.0))
    # human_SOTA seeds random with 42, so it is deterministic; the reference evaluator run
    # here (python evaluator.py --solution .../txn_scheduling/human_SOTA/...) gave
    # makespan 352, score 41.86467526589727
    path = board / "solutions" / "txn_scheduling" / "human_SOTA" / "resources" / "solution.py"
    result = leaderboard.evaluate_solution(problem, leaderboard.lookup("txn"), path,
                                           runner=jail)
    assert result.ok, result.error
    assert result.metrics["makespan_sum"] == 352.0
    assert result.score == pytest.approx(41.86467526589727, rel=1e-12)
    assert result.score == pytest.approx(100 * (537 - 352) / (537 - 95.1), rel=1e-12)


def test_txn_program_without_entry_point_fails(shared_dir: Path, jail) -> None:
    problem = get_problem("txn@leaderboard", data=str(shared_dir / "data"))
    result = problem.evaluate_leaderboard("def get_best_schedule(w, n):\n    return 0, []\n",
                                          runner=jail)
    assert not result.ok and result.score == 0.0
    assert result.error == "the program defines no function get_random_costs()"
    lying = ("def get_random_costs():\n    return 1, [[0, 0], [1], [2]], 0.0\n")
    result = problem.evaluate_leaderboard(lying, runner=jail)
    assert not result.ok and result.error.startswith("WORKLOAD_1:")


_GOOD_STRATEGY = '''
from sky_spot.strategies.multi_strategy import MultiRegionStrategy
from sky_spot.utils import ClusterType

class OnDemand(MultiRegionStrategy):
    NAME = "od"

    def _step(self, last_cluster_type, has_spot):
        if self.task_duration - sum(self.task_done_time) <= 0:
            return ClusterType.NONE
        return ClusterType.ON_DEMAND
'''

BAD_SOLUTIONS = {
    "no_solution.py": ("x = 1\n", "defines no Solution class"),
    "raises.py": (("class Solution:\n    def solve(self, spec_path=None):\n"
                  "        raise RuntimeError('boom')\n"),
                  "Solution.solve() raised RuntimeError: boom (line 3)"),
    "garbage.py": ("class Solution:\n    def solve(self, spec_path=None):\n        return 42\n",
                   ("solve() must return a code string, {'code': ...} or {'program_path': "
                   "...}; it returned int")),
    "no_strategy.py": (("class Solution:\n    def solve(self, spec_path=None):\n"
                       "        return {'code': 'def f():\\n    return 1\\n'}\n"),
                       "the program defines no sky_spot Strategy subclass"),
}


@pytest.mark.parametrize("filename", sorted(BAD_SOLUTIONS))
def test_bad_solutions_fail_in_one_line(tmp_path: Path, shared_dir: Path, capsys,
                                        filename: str) -> None:
    source, message = BAD_SOLUTIONS[filename]
    path = tmp_path / filename
    path.write_text(source)
    status = main(["eval", "spot-multi", str(path), "--format", "leaderboard", "--data",
                   str(shared_dir / "data"), "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert status == 1 and len(out) == 1
    data = json.loads(out[0])
    assert data["ok"] is False and data["score"] == 0.0
    assert message in data["error"]
    assert "\n" not in data["error"]


@pytest.mark.parametrize("form", ["string", "code", "program_path"])
def test_three_forms_of_solve(tmp_path: Path, multi_board, jail, form: str) -> None:
    strategy = tmp_path / "strategy.py"
    strategy.write_text(_GOOD_STRATEGY)
    returned = {"string": repr(_GOOD_STRATEGY), "code": f"{{'code': {_GOOD_STRATEGY!r}}}",
                "program_path": f"{{'program_path': {str(strategy)!r}}}"}[form]
    path = tmp_path / "solution.py"
    path.write_text(f"class Solution:\n    def solve(self, spec_path=None):\n"
                    f"        return {returned}\n")
    # a jail shows only the checkout the solution lies in, and pytest's tmp is private to
    # root: this test's own (trusted) file returning a path there runs in process
    runner = InProcessRunner() if form == "program_path" else jail
    result = leaderboard.evaluate_solution(multi_board, leaderboard.lookup("spot-multi"), path,
                                           runner=runner)
    assert result.ok, result.error
    # on demand throughout: the on-demand anchor's 48 h plus the first start's overhead
    assert result.score == 0.0
    assert result.metrics["avg_cost"] > result.metrics["od_anchor"]


def test_suite_names_and_options() -> None:
    with pytest.raises(ValueError, match="the name says suite 'leaderboard', the options "
                                         "say 'default'"):
        get_problem("spot@leaderboard", suite="default", data="x")
    with pytest.raises(ValueError, match="problem 'toy' has no suites"):
        get_problem("toy@leaderboard")
    with pytest.raises(ValueError, match="unknown suite 'nope'"):
        get_problem("spot@nope")


def test_unavailable_problems_say_so(monkeypatch, capsys) -> None:
    entry = leaderboard.LeaderboardProblem("someday", "someday@leaderboard", "function",
                                           "its workload is not public")
    monkeypatch.setitem(leaderboard.PROBLEMS, "someday", entry)
    status = main(["eval", "someday", "x.py", "--format", "leaderboard", "--json"])
    assert status == 2
    assert json.loads(capsys.readouterr().out)["error"] == (
        "someday: not available in this build (its workload is not public)")


def test_eplb_without_its_history_says_where_to_put_it(tmp_path: Path, monkeypatch,
                                                      capsys) -> None:
    pytest.importorskip("torch", reason="the eplb problem needs the moe extra")
    monkeypatch.delenv("ADRS_DATA_DIR", raising=False)
    path = tmp_path / "solution.py"
    path.write_text("x = 1\n")
    status = main(["eval", "eplb", str(path), "--format", "leaderboard", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert status == 2 and len(out) == 1
    assert json.loads(out[0])["error"] == (
        "eplb@leaderboard scores the leaderboard's recorded loads: put expert-load.json in "
        "the folder given by --data (or $ADRS_DATA_DIR); get it with: adrs data fetch eplb")
    status = main(["eval", "eplb", str(path), "--format", "leaderboard", "--data",
                   str(tmp_path), "--json"])
    assert status == 2
    assert json.loads(capsys.readouterr().out)["error"] == (
        f"no load history at {tmp_path / 'expert-load.json'} (get it with: adrs data fetch "
        "eplb)")


def test_leaderboard_command_table(tmp_path: Path, board: Path, shared_dir: Path,
                                   capsys) -> None:
    # a small checkout: two published multi-region pairs, plus eplb, whose history the
    # workloads folder lacks
    root = tmp_path / "board"
    for name in ("baseline", "gepa"):
        for part in ("solutions", "results"):
            source = board / part / "cant_be_late_multi" / name
            shutil.copytree(source, root / part / "cant_be_late_multi" / name)
    shutil.copytree(board / "problems" / "cant_be_late_multi",
                    root / "problems" / "cant_be_late_multi", symlinks=True)
    (root / "solutions" / "eplb" / "x" / "resources").mkdir(parents=True)
    (root / "solutions" / "eplb" / "x" / "resources" / "solution.py").write_text("x = 1\n")
    page = tmp_path / "table.html"
    status = main(["leaderboard", str(root), "--workloads", str(shared_dir / "data"),
                   "--json", "--html", str(page)])
    data = json.loads(capsys.readouterr().out)
    assert status == 0
    rows = {(r["problem"], r["solution"]): r for r in data["rows"]}
    for name in ("baseline", "gepa"):
        row = rows[("cant_be_late_multi", name)]
        assert row["score"] == row["published"] == _published(
            board, "cant_be_late_multi", name)["score"]
        assert row["difference"] == 0.0
    sota = rows[("cant_be_late_multi", "multi_uniform_progress")]
    assert sota["kind"] == "adrs baseline" and sota["score"] == 69.43
    history = shared_dir / "data" / "expert-load.json"
    note = (f"eplb: not available here (no load history at {history} (get it with: adrs data "
            "fetch eplb))")
    assert data["not_available"] == [note]
    assert "<td>gepa</td>" in page.read_text()


def test_leaderboard_command_runs_and_errors(tmp_path: Path, board: Path, shared_dir: Path,
                                             capsys) -> None:
    # an adrs run folder whose best program is our multi-region seed: scored on the
    # leaderboard suite, as the built-in baseline of the same policy is
    from adrs.problems.spot import MultiRegionSpotProblem

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    best = run_dir / "best_program.py"
    best.write_text(MultiRegionSpotProblem().baseline("multi_seed").program)
    (run_dir / "summary.json").write_text(json.dumps(
        {"problem": "spot-multi", "best_program_path": str(best)}))
    status = main(["leaderboard", str(board), "--problem", "cant_be_late_multi", "--solution",
                   "none", "--workloads", str(shared_dir / "data"), "--runs", str(run_dir),
                   "--json"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert status == 0
    run_row = next(r for r in rows if r["kind"] == "adrs run")
    seed_row = next(r for r in rows if r["solution"] == "multi_seed")
    assert run_row["score"] == seed_row["score"] == 58.4
    status = main(["leaderboard", str(tmp_path), "--json"])
    assert status == 2
    assert json.loads(capsys.readouterr().out)["error"] == (
        f"{tmp_path} is no leaderboard checkout (it has no solutions/)")


def test_leaderboard_command_scores_eplb(tmp_path: Path, board: Path, capsys) -> None:
    pytest.importorskip("torch", reason="the eplb problem needs the moe extra")
    from tests.problems import eplb_history

    # two eplb solutions and the synthetic history the goldens were measured on
    root = tmp_path / "board"
    for name in ("openevolve", "shinkaevolve"):
        shutil.copytree(board / "solutions" / "eplb" / name, root / "solutions" / "eplb" / name)
    shutil.copytree(board / "problems" / "eplb", root / "problems" / "eplb")
    data = tmp_path / "data"
    data.mkdir()
    eplb_history.write_history(data / "expert-load.json")
    status = main(["leaderboard", str(root), "--workloads", str(data), "--no-baselines",
                   "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and out["not_available"] == []
    rows = {r["solution"]: r for r in out["rows"]}
    assert sorted(rows) == ["openevolve", "shinkaevolve"]
    for name, row in rows.items():
        assert row["error"] is None and row["published"] is None
        gpu = row["metrics"]["balancedness_score_gpu"]
        assert gpu == pytest.approx(eplb_history.LEADERBOARD_GOLDENS[name][0],
                                    rel=eplb_history.GOLDEN_RELATIVE)
        seconds = row["metrics"]["times_algorithm"]
        penalty = min(seconds * 20, 20.0) if seconds > 0.01 else 0.0
        assert row["score"] == pytest.approx(90 * gpu + min(0.002 / seconds, 2) * 5 - penalty,
                                             rel=1e-12)
