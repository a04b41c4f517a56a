"""Real task folders whose evaluators need the ``folders`` extra (scipy, beautifulsoup4,
requests, pandas), run unchanged from ``../shared/folders``: each scores the initial
program and a changed one under adrs (jailed) and with the folder's own evaluator run
natively, and the two must agree.

Programs that draw unseeded random numbers (function_minimization's random search,
txn_scheduling's greedy starts) are compared in a seeded form, the changed program; the
unseeded initial program is checked to run and to report the same metrics.
OpenEvolve's cascade is applied to the native stages by hand (:func:`openevolve_cascade`),
and by OpenEvolve itself where ``ADRS_OPENEVOLVE_PYTHON`` names an interpreter that has
it (with the folders' packages).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from adrs.evolve.folder_problem import FolderProblem
from adrs.evolve.generators.mutator import OfflineMutator
from adrs.jail import JailRunner

from tests.evolve.test_task_folders import OPENEVOLVE_PYTHON, SHARED, native, needs_shared

pytestmark = needs_shared
OPENEVOLVE = SHARED / "openevolve" / "examples"
ADRS = SHARED / "adrs" / "openevolve" / "examples" / "ADRS"


def needs(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed (pip install -e "
                                       "'.[folders]')")


@pytest.fixture(scope="module")
def runner() -> Any:
    jails = JailRunner()
    yield jails
    jails.close()


def native_metrics(folder: Path, program: str, function: str = "evaluate",
                   tmp: Path | None = None, site: Path | None = None) -> dict[str, Any]:
    """The metrics of the folder's evaluator run natively (an ``EvaluationResult``'s
    ``metrics``, or the dict it returned)."""
    out = native(folder, program, function, tmp=tmp, site=site)
    return out["metrics"] if set(out) == {"metrics", "artifacts"} else out


def openevolve_fitness(metrics: dict[str, Any]) -> float:
    """OpenEvolve 0.3.2's score of a result: ``combined_score``, else the mean of the
    numbers (flags and ``error`` left out)."""
    if "combined_score" in metrics:
        return float(metrics["combined_score"])
    numbers = [float(v) for k, v in metrics.items()
               if k != "error" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers)


def _passes(metrics: dict[str, Any], threshold: float) -> bool:
    if "combined_score" in metrics:
        return float(metrics["combined_score"]) >= threshold
    numbers = [float(v) for k, v in metrics.items()
               if k != "error" and isinstance(v, (int, float))]
    return sum(numbers) / len(numbers) >= threshold


def openevolve_cascade(folder: Path, program: str, thresholds: list[float], tmp: Path,
                       stages: int) -> dict[str, Any]:
    """OpenEvolve's cascade, by its documented rule, over the stages run natively."""
    merged = native_metrics(folder, program, "evaluate_stage1", tmp=tmp)
    for done in range(1, stages):
        if done > len(thresholds) or not _passes(merged, thresholds[done - 1]):
            break
        merged = {k: v for k, v in merged.items() if k != "error" and
                  isinstance(v, (int, float))}
        stage = native_metrics(folder, program, f"evaluate_stage{done + 1}", tmp=tmp)
        merged.update({k: v for k, v in stage.items()
                       if k != "error" and isinstance(v, (int, float))})
    return merged


OPENEVOLVE_FOLDER_SCRIPT = """
import asyncio, json, sys
from openevolve.config import EvaluatorConfig
from openevolve.evaluator import Evaluator
config = EvaluatorConfig(cascade_evaluation=True, cascade_thresholds=json.loads(sys.argv[2]),
                         max_retries=0, timeout=300)
evaluator = Evaluator(config, sys.argv[1])
print("OE" + json.dumps(asyncio.run(evaluator.evaluate_program(open(sys.argv[3]).read(),
                                                               "p"))))
"""


def openevolve_itself(folder: Path, program: str, thresholds: list[float],
                      tmp: Path) -> dict[str, Any]:
    path = tmp / "oe_program.py"
    path.write_text(program)
    done = subprocess.run([str(OPENEVOLVE_PYTHON), "-c", OPENEVOLVE_FOLDER_SCRIPT,
                           str(folder / "evaluator.py"), json.dumps(thresholds), str(path)],
                          capture_output=True, text=True, timeout=600, check=True,
                          cwd=folder)
    line = next(x for x in done.stdout.splitlines() if x.startswith("OE"))
    return json.loads(line[2:])


# -- signal_processing: OpenEvolve's cascade over two stages, no combined_score --------

# its metrics measured on the clock: the run's execution time, and a speed bonus from it
# (1 below a second, less on a machine slow enough)
TIMED = ("execution_time", "efficiency_score")

def test_signal_processing_scores_its_cascade_as_natively(runner: Any, tmp_path: Path) -> None:
    needs("scipy")
    folder = OPENEVOLVE / "signal_processing"
    problem = FolderProblem(folder)
    assert problem.cascade is not None and problem.cascade.thresholds == (0.3, 0.6)
    changed = OfflineMutator().mutate(problem.initial_program, [], 1).program
    assert changed is not None and changed != problem.initial_program
    for program in (problem.initial_program, changed):
        ours = problem.evaluate(program, runner=runner)
        assert ours.error is None, ours.error
        expected = openevolve_cascade(folder, program, [0.3, 0.6], tmp_path, stages=2)
        # every metric but the measured execution time is the evaluator's own arithmetic
        assert {k: v for k, v in ours.metrics.items() if k not in TIMED} == \
            {k: float(v) for k, v in expected.items() if k not in TIMED}
        # and the score is OpenEvolve's mean of those numbers, with our measured time
        assert ours.score == pytest.approx(
            openevolve_fitness({**expected, **{k: ours.metrics[k] for k in TIMED}}),
            rel=1e-12)
    initial = problem.evaluate(problem.initial_program, runner=runner)
    # the published figures of the initial program: 13.73 by the cascade, and evaluate()
    # alone (its metrics' mean) 9.118
    assert initial.score == pytest.approx(13.7278, abs=1e-3)
    alone = native_metrics(folder, problem.initial_program, "evaluate", tmp=tmp_path)
    assert openevolve_fitness(alone) == pytest.approx(9.118, abs=2e-3)


# -- function_minimization: a cascade with a combined_score and one threshold ----------

SEED_LINE = "    # Initialize with a random point\n"


def seeded(program: str, seed: int) -> str:
    """function_minimization's random search, seeded: the same points natively and in
    the jail."""
    assert SEED_LINE in program
    return program.replace(SEED_LINE, f"    np.random.seed({seed})\n" + SEED_LINE)


# stage 1 (one search) gives 1.2475 with seed 0, under the 1.3 threshold: the cascade
# stops there; with seed 2 it gives 1.3704 and stage 2 (ten searches) runs
@pytest.mark.parametrize(("seed", "stage2_ran"), [(0, False), (2, True)])
def test_function_minimization_scores_as_natively(seed: int, stage2_ran: bool, runner: Any,
                                                  tmp_path: Path) -> None:
    needs("scipy")
    folder = OPENEVOLVE / "function_minimization"
    problem = FolderProblem(folder)
    assert problem.cascade is not None and problem.cascade.thresholds == (1.3,)
    program = seeded(problem.initial_program, seed)
    ours = problem.evaluate(program, runner=runner)
    assert ours.error is None, ours.error
    expected = openevolve_cascade(folder, program, [1.3], tmp_path, stages=2)
    assert ours.metrics == {k: float(v) for k, v in expected.items()}
    assert ours.score == expected["combined_score"]
    assert ("reliability_score" in ours.metrics) == stage2_ran
    first = native_metrics(folder, program, "evaluate_stage1", tmp=tmp_path)
    assert (first["combined_score"] >= 1.3) == stage2_ran


# -- telemetry_repair (the ADRS paper): pandas, data read relative to the folder -------

def test_telemetry_repair_scores_as_natively(runner: Any, tmp_path: Path) -> None:
    needs("pandas")
    folder = ADRS / "telemetry_repair"
    problem = FolderProblem(folder)
    initial = problem.evaluate(problem.initial_program, runner=runner)
    assert initial.error is None, initial.error
    expected = native_metrics(folder, problem.initial_program, tmp=tmp_path)
    assert initial.score == expected["combined_score"] == pytest.approx(0.050833, abs=1e-6)
    assert initial.metrics == {k: float(v) for k, v in expected.items()}
    changed = OfflineMutator().mutate(problem.initial_program, [], 1).program
    assert changed is not None and changed != problem.initial_program
    assert problem.evaluate(changed, runner=runner).score == \
        native_metrics(folder, changed, tmp=tmp_path)["combined_score"]


# -- web_scraper_optillm: bs4, and the program imported by its file name ---------------

def test_web_scraper_scores_as_natively(runner: Any, tmp_path: Path) -> None:
    needs("bs4")
    folder = OPENEVOLVE / "web_scraper_optillm"
    problem = FolderProblem(folder)
    initial = problem.evaluate(problem.initial_program, runner=runner)
    assert initial.error is None, initial.error
    expected = native_metrics(folder, problem.initial_program, tmp=tmp_path)
    assert initial.metrics == {k: float(v) for k, v in expected.items()}
    assert initial.score == pytest.approx(0.6863889, abs=1e-7)
    # a changed scraper that finds less must score less, and as natively (the module
    # cache of item 1 would give it the initial program's score)
    assert 'soup.find_all("dt", class_="sig")' in problem.initial_program
    changed = problem.initial_program.replace('soup.find_all("dt", class_="sig")',
                                              'soup.find_all("dt", class_="nothing")')
    after = problem.evaluate(changed, runner=runner)
    assert after.score == native_metrics(folder, changed, tmp=tmp_path)["combined_score"]
    assert after.score != initial.score


# -- txn_scheduling (the ADRS paper): the evaluator runs the program in a subprocess ---

def test_txn_scheduling_scores_a_seeded_program_as_natively(runner: Any,
                                                            tmp_path: Path) -> None:
    folder = ADRS / "txn_scheduling"
    problem = FolderProblem(folder)
    assert "import random\n" in problem.initial_program
    seeded = problem.initial_program.replace("import random\n",
                                             "import random\nrandom.seed(0)\n", 1)
    ours = problem.evaluate(seeded, runner=runner)
    assert ours.error is None, ours.error
    expected = native_metrics(folder, seeded, tmp=tmp_path)
    assert (ours.score, ours.metrics["makespan"]) == \
        (expected["combined_score"], expected["makespan"])
    assert ours.score == pytest.approx(1e6 / (ours.metrics["makespan"] + 1))


# -- OpenEvolve itself, where it is installed ----------------------------------------

@pytest.mark.skipif(not OPENEVOLVE_PYTHON, reason="set ADRS_OPENEVOLVE_PYTHON to an "
                    "interpreter with openevolve 0.3.2, scipy and bs4 to compare with "
                    "OpenEvolve itself")
@pytest.mark.parametrize(("name", "thresholds"), [("signal_processing", [0.3, 0.6]),
                                                  ("function_minimization", [1.3])])
def test_real_cascades_equal_openevolve_itself(name: str, thresholds: list[float],
                                               runner: Any, tmp_path: Path) -> None:
    folder = OPENEVOLVE / name
    problem = FolderProblem(folder)
    program = seeded(problem.initial_program, 2) if SEED_LINE in problem.initial_program \
        else problem.initial_program
    theirs = openevolve_itself(folder, program, thresholds, tmp_path)
    ours = problem.evaluate(program, runner=runner)
    assert {k: v for k, v in ours.metrics.items() if k not in TIMED} == \
        {k: float(v) for k, v in theirs.items()
         if k not in TIMED and isinstance(v, (int, float))}


# -- heilbronn_triangle (AlphaEvolve's math problems): the program imported by name ----

SEEDED_POINTS = """rng = np.random.default_rng(3)  # seeded points inside the triangle
    weights = rng.dirichlet(np.ones(3), n)
    points = weights @ np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])"""


def test_heilbronn_triangle_scores_a_changed_program_as_natively(runner: Any,
                                                                 tmp_path: Path) -> None:
    folder = OPENEVOLVE / "alphaevolve_math_problems" / "heilbronn_triangle"
    problem = FolderProblem(folder)
    initial = problem.evaluate(problem.initial_program, runner=runner)
    # the initial program puts every point at the origin: every triangle is empty
    assert (initial.error, initial.score) == (None, 0.0)
    assert native_metrics(folder, problem.initial_program, tmp=tmp_path)["combined_score"] \
        == 0.0
    assert "points = np.zeros((n, 2))" in problem.initial_program
    changed = problem.initial_program.replace("points = np.zeros((n, 2))", SEEDED_POINTS)
    after = problem.evaluate(changed, runner=runner)
    expected = native_metrics(folder, changed, tmp=tmp_path)
    assert after.error is None, after.error
    assert after.score == expected["combined_score"] > 0
    assert after.metrics["min_area_normalized"] == expected["min_area_normalized"]


# -- cloudcast (the ADRS paper): networkx < 3.3 (Edmonds), in a site of its own -------

CLOUDCAST_SITE = Path(__file__).resolve().parents[2] / ".venv" / "sites" / "adrs-cloudcast"
CLOUDCAST_SITE_INSTALL = (f"python -m pip install --target {CLOUDCAST_SITE} "
                          "'networkx==3.2.1' graphviz colorama")


@pytest.mark.skipif(not (CLOUDCAST_SITE / "networkx").is_dir(),
                    reason=f"the cloudcast folder's packages are not installed "
                           f"({CLOUDCAST_SITE_INSTALL}; .ci/run does)")
def test_cloudcast_folder_scores_as_natively_with_its_own_networkx(runner: Any,
                                                                   tmp_path: Path) -> None:
    folder = ADRS / "cloudcast"
    problem = FolderProblem(folder, site=[CLOUDCAST_SITE])
    copy = tmp_path / "cloudcast"  # the evaluator writes paths/ and evals/ into its folder
    shutil.copytree(folder, copy)
    cheapest = 'path = nx.dijkstra_path(h, src, dst, weight="cost")'
    assert cheapest in problem.initial_program
    direct = problem.initial_program.replace(  # the direct link wherever there is one
        cheapest, f"path = [src, dst] if h.has_edge(src, dst) else nx.{cheapest[7:]}")
    # the offline mutator's first proposal breaks the topology: it fails, as natively
    broken = OfflineMutator().mutate(problem.initial_program, [], 1).program
    scores = []
    for program in (problem.initial_program, direct, broken):
        expected = native_metrics(copy, program, tmp=tmp_path, site=CLOUDCAST_SITE)
        ours = problem.evaluate(program, runner=runner)
        assert ours.error == expected.get("error")
        assert ours.metrics == {k: float(v) for k, v in expected.items() if k != "error"}
        scores.append(ours.score)
    assert scores[0] == pytest.approx(0.000955237, rel=1e-6)
    assert scores[1] != scores[0] and scores[1] > 0
    assert scores[2] == 0.0
    assert not (folder / "paths").exists()  # the jail wrote into its own tmp only
    # without the site, the folder's packages are missing (graphviz), or networkx is the
    # installed one (3.3 and later have no Edmonds): it fails on its imports, saying which
    plain = FolderProblem(folder).evaluate(problem.initial_program, runner=runner)
    assert plain.error.startswith("importing the evaluator raised ")
    assert "graphviz" in plain.error or "Edmonds" in plain.error
