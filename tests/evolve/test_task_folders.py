"""Task folders of OpenEvolve, the ADRS paper and ShinkaEvolve, run unchanged: every test
scores a program with ``adrs`` (the evaluator jailed) and with the folder's own evaluator
run natively (a plain subprocess in the folder, as the folder's framework runs it), and
compares the two.

The small folders are written here; the real ones come from ``../shared/folders`` (their
native scores are in its README: hexagon_packing/11 0.4912615, a changed program 0.49748,
prism 21.8916, ShinkaEvolve sine_approx 0.1045).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from adrs.cli import main
from adrs.evolve import compat
from adrs.evolve._program import region_text
from adrs.evolve.folder_problem import FolderProblem, translate_openevolve_config
from adrs.evolve.generators.mutator import OfflineMutator
from adrs.jail import JailRunner

SHARED = Path(__file__).resolve().parents[3] / "shared" / "folders"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(),
                                  reason=f"{SHARED} is absent (the real task folders)")

NATIVE = """
import importlib.util, json, os, sys
folder, evaluator, program, function = sys.argv[1:5]
os.chdir(folder)
sys.path.insert(0, os.path.dirname(evaluator))
sys.path.append(sys.argv[5])  # adrs's openevolve stand-in, where OpenEvolve is absent
spec = importlib.util.spec_from_file_location("evaluation_module", evaluator)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if function == "main":  # ShinkaEvolve: main(program_path, results_dir)
    results = os.path.join(os.path.dirname(program), "results")
    module.main(program, results)
    out = json.load(open(os.path.join(results, "metrics.json")))
else:
    out = getattr(module, function)(program)
    if hasattr(out, "metrics"):
        out = {"metrics": out.metrics, "artifacts": out.artifacts}
print("NATIVE" + json.dumps(out, default=str))
"""


def native(folder: Path, program: str, function: str = "evaluate",
           evaluator: str = "evaluator.py", tmp: Path | None = None,
           site: Path | None = None) -> Any:
    """The folder's evaluator run natively on ``program`` (written to a file of its own),
    in a subprocess whose working directory is the folder (with ``site`` on its
    ``PYTHONPATH``: the folder's own package versions)."""
    where = Path(tmp or folder.parent) / f"native_{os.getpid()}_{abs(hash(program))}"
    where.mkdir(exist_ok=True)
    path = where / "candidate_program.py"
    path.write_text(program)
    env = {**os.environ, "PYTHONPATH": str(site)} if site is not None else None
    done = subprocess.run([sys.executable, "-c", NATIVE, str(folder),
                           str(folder / evaluator), str(path), function, compat.PATH],
                          capture_output=True, text=True, timeout=300, check=True, env=env)
    line = next(x for x in done.stdout.splitlines() if x.startswith("NATIVE"))
    return json.loads(line[len("NATIVE"):])


def write_folder(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(textwrap.dedent(text))
    return folder


@pytest.fixture(scope="module")
def runner() -> Any:
    jails = JailRunner()
    yield jails
    jails.close()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("folders")


# -- 1. a program imported by its file name ------------------------------------------------

IMPORTING_EVALUATOR = """
import os, sys

def evaluate(program_path):
    directory = os.path.dirname(os.path.abspath(program_path))
    name = os.path.splitext(os.path.basename(program_path))[0]
    sys.path.insert(0, directory)
    try:
        program = __import__(name)
    finally:
        sys.path.remove(directory)
    return {"combined_score": float(program.value())}
"""
VALUE_PROGRAM = "# EVOLVE-BLOCK-START\ndef value():\n    return {}\n# EVOLVE-BLOCK-END\n"


def test_each_candidate_is_imported_afresh_by_its_file_name(root: Path, runner: Any) -> None:
    folder = write_folder(root, "by_name", {"evaluator.py": IMPORTING_EVALUATOR,
                                            "initial_program.py": VALUE_PROGRAM.format(1.5)})
    problem = FolderProblem(folder)
    scores = [problem.evaluate(VALUE_PROGRAM.format(v), runner=runner).score
              for v in (1.5, 2.5, 1.5, 7.0)]
    assert scores == [1.5, 2.5, 1.5, 7.0]
    assert native(folder, VALUE_PROGRAM.format(2.5))["combined_score"] == 2.5


@needs_shared
def test_hexagon_packing_scores_a_changed_program_as_natively(runner: Any,
                                                              tmp_path: Path) -> None:
    folder = SHARED / "openevolve/examples/alphaevolve_math_problems/hexagon_packing/11"
    problem = FolderProblem(folder)
    changed = problem.initial_program.replace("outer_hex_side_length = 8",
                                              "outer_hex_side_length = 7.9")
    assert changed != problem.initial_program
    initial = problem.evaluate(problem.initial_program, runner=runner)
    after = problem.evaluate(changed, runner=runner)
    assert initial.score == pytest.approx(0.4912615, abs=1e-7)
    assert after.score == pytest.approx(0.49748, abs=1e-5)
    assert after.score == native(folder, changed, tmp=tmp_path)["combined_score"]
    assert initial.score == native(folder, problem.initial_program,
                                   tmp=tmp_path)["combined_score"]


# -- 2. a multithreaded library started by the evaluator -------------------------------

THREADED_EVALUATOR = """
from concurrent.futures import ThreadPoolExecutor
import torch

torch.set_num_threads(2)
POOL = ThreadPoolExecutor(4)  # threads running from the evaluator's import on
WEIGHTS = torch.arange(64.0).reshape(8, 8)

def evaluate(program_path):
    namespace = {}
    exec(open(program_path).read(), namespace)
    scale = namespace["value"]()
    parts = list(POOL.map(lambda row: float((WEIGHTS[row] * scale).sum()), range(8)))
    product = float((WEIGHTS @ WEIGHTS).sum())
    return {"combined_score": sum(parts), "product": product}
"""


def test_a_threaded_library_of_the_evaluator_never_deadlocks(root: Path, runner: Any) -> None:
    folder = write_folder(root, "threaded", {"evaluator.py": THREADED_EVALUATOR,
                                             "initial_program.py": VALUE_PROGRAM.format(1)})
    problem = FolderProblem(folder)
    for value in (1, 2, 3):  # each in a process forked before anything was threaded
        result = problem.evaluate(VALUE_PROGRAM.format(value), runner=runner)
        assert result.error is None
        assert result.score == 2016.0 * value
        expected = native(folder, VALUE_PROGRAM.format(value))
        assert (result.score, result.metrics["product"]) == (
            expected["combined_score"], expected["product"])


JAX_EVALUATOR = """
import jax, jax.numpy as jnp

@jax.jit
def total(x):
    return jnp.sum(x * x)

def evaluate(program_path):
    namespace = {}
    exec(open(program_path).read(), namespace)
    return {"combined_score": float(total(jnp.arange(10.0) * namespace["value"]()))}
"""


def test_jax_evaluator_runs_jit_in_the_jail(root: Path, runner: Any) -> None:
    pytest.importorskip("jax", reason="jax is not installed here (not a dependency)")
    folder = write_folder(root, "jax", {"evaluator.py": JAX_EVALUATOR,
                                        "initial_program.py": VALUE_PROGRAM.format(1)})
    problem = FolderProblem(folder)
    for value in (1, 2):
        result = problem.evaluate(VALUE_PROGRAM.format(value), runner=runner)
        assert result.score == 285.0 * value * value
        assert result.score == native(folder, VALUE_PROGRAM.format(value))["combined_score"]


# -- 3. OpenEvolve's cascade, its thresholds and the ADRS form ------------------------

CASCADE_EVALUATOR = """
def _value(program_path):
    namespace = {}
    exec(open(program_path).read(), namespace)
    return namespace["value"]()

def evaluate_stage1(program_path):
    v = _value(program_path)
    return {"combined_score": v / 10, "stage1_only": 1.0, "runs_successfully": float(v > 0),
            "note": "stage one"}

def evaluate_stage2(program_path):
    v = _value(program_path)
    if v == 13:
        raise RuntimeError("stage two broke")
    return {"combined_score": v / 5, "stage2_only": 2.0}

def evaluate_stage3(program_path):
    return {"combined_score": _value(program_path), "stage3_only": 3.0}

def evaluate(program_path):
    return {"combined_score": -1.0}
"""


def cascade_expected(folder: Path, program: str, thresholds: list[float]) -> dict[str, Any]:
    """OpenEvolve's rule, applied by hand to the stages run natively."""
    first = native(folder, program, "evaluate_stage1")
    if first["combined_score"] < thresholds[0]:
        return first
    merged = {k: v for k, v in first.items() if isinstance(v, (int, float))}
    merged.update(native(folder, program, "evaluate_stage2"))
    if len(thresholds) < 2 or merged["combined_score"] < thresholds[1]:
        return merged
    merged.update(native(folder, program, "evaluate_stage3"))
    return merged


@pytest.mark.parametrize(("value", "stages_run"), [(3, 1), (6, 2), (9, 3)])
def test_openevolve_cascade_with_thresholds(root: Path, runner: Any, value: int,
                                            stages_run: int) -> None:
    folder = root / "cascade"
    if not folder.exists():
        write_folder(root, "cascade", {
            "evaluator.py": CASCADE_EVALUATOR, "initial_program.py": VALUE_PROGRAM.format(3),
            "config.yaml": "evaluator:\n  cascade_thresholds: [0.5, 1.6]\n"})
    problem = FolderProblem(folder)  # cascade_evaluation is on by default, as in OpenEvolve
    program = VALUE_PROGRAM.format(value)
    result = problem.evaluate(program, runner=runner)
    expected = cascade_expected(folder, program, [0.5, 1.6])
    assert result.score == expected["combined_score"] == [value / 10, value / 5,
                                                          value][stages_run - 1]
    numeric = {k: v for k, v in expected.items() if isinstance(v, (int, float))}
    assert result.metrics == numeric
    assert ("stage3_only" in result.metrics) == (stages_run == 3)
    assert ("note: stage one" in result.feedback) == (stages_run == 1)


def test_cascade_off_calls_evaluate_and_a_later_stage_failure_keeps_stage_one(
        root: Path, runner: Any) -> None:
    off = write_folder(root, "cascade_off", {
        "evaluator.py": CASCADE_EVALUATOR, "initial_program.py": VALUE_PROGRAM.format(3),
        "config.yaml": "evaluator:\n  cascade_evaluation: false\n"})
    assert FolderProblem(off).evaluate(VALUE_PROGRAM.format(9), runner=runner).score == -1.0
    assert native(off, VALUE_PROGRAM.format(9))["combined_score"] == -1.0
    on = root / "cascade"
    broken = FolderProblem(on).evaluate(VALUE_PROGRAM.format(13), runner=runner)
    assert broken.error is None and broken.score == 1.3  # stage 1's, as OpenEvolve keeps it
    assert broken.metrics["stage2_passed"] == 0.0
    assert "stage two broke" in broken.feedback


def test_adrs_cascade_form_with_stages_and_pass_metric(root: Path, runner: Any) -> None:
    folder = write_folder(root, "cascade_adrs", {
        "evaluator.py": CASCADE_EVALUATOR, "initial_program.py": VALUE_PROGRAM.format(3),
        "config.yaml": ("evaluator:\n  cascade_evaluation:\n    stages: [evaluate_stage1, "
                        "evaluate_stage3]\n    pass_metric: runs_successfully\n")})
    problem = FolderProblem(folder)
    assert problem.cascade is not None and problem.cascade.pass_metric == "runs_successfully"
    passing = problem.evaluate(VALUE_PROGRAM.format(4), runner=runner)
    first = native(folder, VALUE_PROGRAM.format(4), "evaluate_stage1")
    third = native(folder, VALUE_PROGRAM.format(4), "evaluate_stage3")
    assert passing.score == third["combined_score"] == 4.0
    assert passing.metrics["stage1_only"] == first["stage1_only"]
    stopped = problem.evaluate(VALUE_PROGRAM.format(-2), runner=runner)
    assert stopped.score == native(folder, VALUE_PROGRAM.format(-2),
                                   "evaluate_stage1")["combined_score"] == -0.2


SLOW_STAGES_EVALUATOR = """
import time

def _value(program_path):
    namespace = {}
    exec(open(program_path).read(), namespace)
    return namespace["value"]()

def evaluate_stage1(program_path):
    time.sleep(3 if _value(program_path) == 1 else 0)
    return {"combined_score": 1.0, "first": 1.0}

def evaluate_stage2(program_path):
    time.sleep(3 if _value(program_path) == 1 else 3600)
    return {"combined_score": 2.0, "second": 1.0}
"""


def test_evaluator_timeout_bounds_each_cascade_stage(root: Path, runner: Any) -> None:
    folder = write_folder(root, "slow_stages", {
        "evaluator.py": SLOW_STAGES_EVALUATOR, "initial_program.py": VALUE_PROGRAM.format(1),
        "config.yaml": "evaluator:\n  timeout: 5\n  cascade_thresholds: [0.5]\n"})
    problem = FolderProblem(folder)
    assert problem.stage_timeout_s == 5.0
    # the search's budget for one evaluation: both stages' timeouts, and the start
    assert problem.run_config()[0]["sandbox"]["timeout_s"] == 5.0 * 2 + 10.0
    # 3 s per stage: 6 s in all, past one timeout, and no stage past its own
    both = problem.evaluate(VALUE_PROGRAM.format(1), runner=runner)
    assert (both.error, both.score, both.metrics) == \
        (None, 2.0, {"combined_score": 2.0, "first": 1.0, "second": 1.0})
    # stage 2 past its 5 s: killed, and stage 1's result stands, marked as OpenEvolve does
    killed = problem.evaluate(VALUE_PROGRAM.format(2), runner=runner)
    assert (killed.error, killed.score) == (None, 1.0)
    assert killed.metrics == {"combined_score": 1.0, "first": 1.0, "stage2_passed": 0.0}
    assert "timeout: True" in killed.feedback and "stage2_timeout: True" in killed.feedback
    assert "the evaluator's evaluate_stage2: timed out after 5 s (killed)" in killed.feedback
    with pytest.raises(ValueError, match="evaluator.timeout must be a positive number of "
                                         "seconds, got 'soon'"):
        FolderProblem(write_folder(root, "bad_timeout", {
            "evaluator.py": SLOW_STAGES_EVALUATOR,
            "initial_program.py": VALUE_PROGRAM.format(1),
            "config.yaml": "evaluator:\n  timeout: soon\n"}))


# -- 4. evaluators that import openevolve ------------------------------------------------

OPENEVOLVE_EVALUATOR = """
from openevolve.evaluation_result import EvaluationResult
from openevolve import EvaluationResult as Again

assert Again is EvaluationResult

def evaluate(program_path):
    namespace = {}
    exec(open(program_path).read(), namespace)
    v = namespace["value"]()
    result = EvaluationResult(metrics={"combined_score": v * 2, "raw": v},
                              artifacts={"hint": "double it", "blob": b"xy"})
    assert result.has_artifacts() and result.get_artifact_size("blob") == 2
    assert result.get_total_artifact_size() == len("double it") + 2
    assert EvaluationResult.from_dict({"a": 1.0}).to_dict() == {"a": 1.0}
    return result
"""


def test_evaluators_importing_openevolve_run_without_it(root: Path, runner: Any) -> None:
    folder = write_folder(root, "imports_openevolve", {
        "evaluator.py": OPENEVOLVE_EVALUATOR, "initial_program.py": VALUE_PROGRAM.format(2)})
    result = FolderProblem(folder).evaluate(VALUE_PROGRAM.format(2.5), runner=runner)
    expected = native(folder, VALUE_PROGRAM.format(2.5))
    assert result.score == expected["metrics"]["combined_score"] == 5.0
    assert "hint: double it" in result.feedback


# -- 6. relative data paths -----------------------------------------------------------

DATA_EVALUATOR = """
import json, os

def evaluate(program_path):
    weights = json.load(open("data/weights.json"))  # relative to the folder
    namespace = {}
    exec(open(program_path).read(), namespace)
    os.makedirs("paths/run", exist_ok=True)  # evaluators write beside their data too
    with open("paths/run/out.txt", "w") as handle:
        handle.write("ok")
    total = sum(w * namespace["value"]() for w in weights)
    return {"combined_score": total, "wrote": float(open("paths/run/out.txt").read() == "ok")}
"""


def test_relative_data_paths_resolve_in_the_folder(root: Path, runner: Any,
                                                   tmp_path: Path) -> None:
    folder = write_folder(root, "relative", {
        "evaluator.py": DATA_EVALUATOR, "initial_program.py": VALUE_PROGRAM.format(1),
        "data/weights.json": "[1, 2, 3.5]"})
    result = FolderProblem(folder).evaluate(VALUE_PROGRAM.format(2), runner=runner)
    assert result.error is None, result.error
    copy = tmp_path / "copy"  # natively in a copy: the native run writes into it
    shutil.copytree(folder, copy)
    expected = native(copy, VALUE_PROGRAM.format(2), tmp=tmp_path)
    assert (result.score, result.metrics["wrote"]) == (expected["combined_score"], 1.0) \
        == (13.0, 1.0)
    assert not (folder / "paths").exists()  # the jail wrote into its own tmp only


@needs_shared
@pytest.mark.parametrize(("relative", "score"), [
    ("adrs/openevolve/examples/ADRS/prism", 21.8916),
    ("openevolve/examples/circle_packing", 0.36424),  # its evaluator runs a subprocess
])
def test_real_folders_score_as_natively(relative: str, score: float, runner: Any,
                                        tmp_path: Path) -> None:
    folder = SHARED / relative
    problem = FolderProblem(folder)
    result = problem.evaluate(problem.initial_program, runner=runner)
    assert result.score == pytest.approx(score, abs=1e-4)
    expected = native(folder, problem.initial_program, tmp=tmp_path)
    assert result.score == expected["combined_score"]
    # a changed program: the offline mutator's first proposal (seed 1)
    changed = OfflineMutator().mutate(problem.initial_program, [], 1).program
    assert changed is not None and changed != problem.initial_program
    assert problem.evaluate(changed, runner=runner).score \
        == native(folder, changed, tmp=tmp_path)["combined_score"]


# -- a folder's own package versions (--site) ----------------------------------------

SITE_EVALUATOR = """
import networkx  # preloaded by the zygote, unless the site holds its own
import onlyhere

def evaluate(program_path):
    namespace = {}
    exec(open(program_path).read(), namespace)
    try:
        open(onlyhere.__file__, "a").write("# changed")
        wrote = 1.0
    except OSError:
        wrote = 0.0
    return {"combined_score": namespace["value"]() + onlyhere.BONUS,
            "site_networkx": float(networkx.__version__ == "0.site"), "wrote_site": wrote}
"""


def test_site_packages_come_first_and_read_only(root: Path, runner: Any,
                                                tmp_path: Path) -> None:
    site = root / "site"
    (site / "networkx").mkdir(parents=True)
    (site / "networkx" / "__init__.py").write_text('__version__ = "0.site"\n')
    (site / "onlyhere.py").write_text("BONUS = 10.0\n")
    before = {p.name: p.read_text() for p in site.rglob("*.py")}
    folder = write_folder(root, "with_site", {"evaluator.py": SITE_EVALUATOR,
                                              "initial_program.py": VALUE_PROGRAM.format(1)})
    with pytest.raises(NotADirectoryError, match="--site .*nosuch: no such folder"):
        FolderProblem(folder, site=[root / "nosuch"])
    problem = FolderProblem(folder, site=[site])
    assert problem.jail_task("train").preload == ()  # networkx: the site's, per process
    result = problem.evaluate(VALUE_PROGRAM.format(2), runner=runner)
    assert (result.error, result.score, result.metrics["site_networkx"],
            result.metrics["wrote_site"]) == (None, 12.0, 1.0, 0.0)
    assert {p.name: p.read_text() for p in site.rglob("*.py")} == before
    copy = tmp_path / "site_copy"  # natively the site is writable: a copy of it
    shutil.copytree(site, copy)
    expected = native(folder, VALUE_PROGRAM.format(2), tmp=tmp_path, site=copy)
    assert (expected["combined_score"], expected["site_networkx"]) == (12.0, 1.0)
    # without the site the installed networkx is found, and onlyhere is missing
    plain = FolderProblem(folder).evaluate(VALUE_PROGRAM.format(2), runner=runner)
    assert plain.error == "importing the evaluator raised ModuleNotFoundError: No module " \
        "named 'onlyhere' (line 3)"


def test_adrs_run_takes_site_folders(root: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    site = root / "run_site"
    site.mkdir()
    (site / "onlyhere.py").write_text("BONUS = 10.0\n")
    folder = write_folder(root, "run_with_site", {
        "evaluator.py": SITE_EVALUATOR, "initial_program.py": VALUE_PROGRAM.format(1)})
    base = ["run", str(folder), "--budget", "2", "--workers", "1", "--json"]
    # the workers rebuild the folder's problem, site included
    assert main([*base, "--out", str(tmp_path / "a"), "--site", str(site)]) == 0
    assert json.loads(capsys.readouterr().out)["initial_train"] == 11.0
    assert (site / "onlyhere.py").read_text() == "BONUS = 10.0\n"  # its write failed
    assert main([*base, "--out", str(tmp_path / "b"), "--site", str(root / "nosuch")]) == 2
    assert json.loads(capsys.readouterr().out) == {
        "error": f"--site {root / 'nosuch'}: no such folder"}
    assert main(["run", "toy", "--site", str(site), "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == {
        "error": "--site applies to task folders, not to built-in problems"}


# -- 7. markers, explicit files, config keys and their warnings ---------------------

SPACED_PROGRAM = "# EVOLVE-BLOCK START\ndef value():\n    return 4.0\n# EVOLVE-BLOCK END\n"
EXEC_EVALUATOR = """
def evaluate(program_path):
    namespace = {}
    exec(open(program_path).read(), namespace)
    return {"combined_score": namespace["value"]()}
"""


def test_marker_variants_and_explicit_files(root: Path, runner: Any) -> None:
    folder = write_folder(root, "markers", {"solver.py": SPACED_PROGRAM,
                                            "evaluator.py": EXEC_EVALUATOR})
    problem = FolderProblem(folder)
    assert problem.program_path.name == "solver.py"
    assert region_text(SPACED_PROGRAM) == "def value():\n    return 4.0"
    assert problem.evaluate(SPACED_PROGRAM, runner=runner).score == 4.0 \
        == native(folder, SPACED_PROGRAM)["combined_score"]
    elsewhere = write_folder(root, "explicit", {"judge.py": EXEC_EVALUATOR,
                                                "start.py": VALUE_PROGRAM.format(6)})
    named = FolderProblem(elsewhere, initial=elsewhere / "start.py",
                          evaluator=elsewhere / "judge.py")
    assert named.evaluate(named.initial_program, runner=runner).score == 6.0


OPENEVOLVE_KEYS = {
    "max_iterations": 7, "checkpoint_interval": 10, "max_code_length": 5000,
    "log_level": "INFO",
    "prompt": {"num_top_programs": 4, "num_diverse_programs": 1, "include_artifacts": True},
    "database": {"population_size": 50, "archive_size": 20, "elite_selection_ratio": 0.1,
                 "feature_dimensions": ["complexity", "diversity", "score"],
                 "feature_bins": {"complexity": 6, "diversity": 4}},
    "evaluator": {"cascade_evaluation": True, "cascade_thresholds": [0.5], "max_retries": 3,
                  "timeout": 30},
    "llm": {"models": [{"name": "m", "api_key": "${MY_MODEL_KEY}"}], "top_p": 0.9},
}


def test_openevolve_config_keys_translate_or_warn() -> None:
    config, warnings = translate_openevolve_config(OPENEVOLVE_KEYS)
    assert config["budget"] == 7
    assert config["generator"]["max_program_chars"] == 5000  # a rejection limit
    assert config["selection"]["num_top"] == 4 and config["selection"]["num_inspirations"] == 1
    assert config["selection"]["elite_pool"] == 5
    # complexity and diversity are ours; score (any other name) an adaptive axis
    assert config["archive"] == {"dims": [{"name": "code_length", "bins": 6},
                                          {"name": "ast_distance", "bins": 4},
                                          {"name": "score"}]}
    assert config["generator"]["models"][0]["api_key_env"] == "MY_MODEL_KEY"
    assert config["sandbox"] == {"timeout_s": 30.0}
    assert warnings == [
        "log_level ignored (progress goes to stderr; the run database records everything)",
        "prompt.include_artifacts ignored (no adrs equivalent)",
        ("database.population_size ignored (adrs keeps every program; the grid cells and "
        "islands bound what selection sees)"),
        ("database.archive_size ignored (adrs keeps every program; the MAP-Elites grid is "
        "the archive)"),
        ("evaluator.max_retries ignored (a failed evaluation is the candidate's result, not "
        "retried)"),
        "llm.top_p ignored (no adrs equivalent)",
    ]


def test_run_with_openevolve_config_offline_records_warnings(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    folder = write_folder(root, "with_models", {
        "evaluator.py": EXEC_EVALUATOR, "initial_program.py": VALUE_PROGRAM.format(1)})
    config = tmp_path / "oe.yaml"
    config.write_text("max_iterations: 3\nlog_level: INFO\nllm:\n  models:\n"
                      "    - name: gpt-x\n")
    argv = ["run", "--initial", str(folder / "initial_program.py"), "--evaluator",
            str(folder / "evaluator.py"), "--config", str(config), "--workers", "1",
            "--json"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert "OPENAI_API_KEY (api_key_env) is not set" in error and "--offline" in error
    assert main([*argv, "--out", str(tmp_path / "b"), "--offline"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["budget"] == 3  # max_iterations of the OpenEvolve file given to --config
    assert data["warnings"] == [("oe.yaml: log_level ignored (progress goes to stderr; the "
                                "run database records everything)")]
    assert data["initial_train"] == 1.0
    with sqlite3.connect(tmp_path / "b" / "run.sqlite") as db:
        stored = db.execute("SELECT value FROM meta WHERE key = 'config_warnings'").fetchone()
    assert json.loads(stored[0]) == data["warnings"]


QUALITY_EVALUATOR = """
def evaluate(program_path):
    namespace = {}
    exec(open(program_path).read(), namespace)
    value = namespace["value"]()
    return {"combined_score": value, "quality": value * value}
"""


LOOP_PROGRAM = """# EVOLVE-BLOCK-START
def value():
    a = 3.0
    b = 2.0
    total = 0.0
    for i in range(4):
        total += a * i - b
    return total / 10.0
# EVOLVE-BLOCK-END
"""  # value() = 1.0; enough code for the offline mutator to change


def test_openevolve_custom_feature_dimensions_are_adaptive_axes(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from adrs.report import read_run

    folder = write_folder(root, "custom_features", {
        "evaluator.py": QUALITY_EVALUATOR, "initial_program.py": LOOP_PROGRAM,
        "config.yaml": ("max_iterations: 8\ndatabase:\n  feature_dimensions: [complexity, "
                        "quality]\n  feature_bins: {complexity: 3, quality: 5}\n")})
    assert main(["run", str(folder), "--workers", "1", "--json",
                 "--out", str(tmp_path / "run")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["warnings"] == [] and data["counts"]["evaluated"] >= 2
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:
        stored = db.execute("SELECT value FROM meta WHERE key = 'archive_dims'").fetchone()
        qualities = [json.loads(row[0])["quality"] for row in db.execute(
            "SELECT metrics FROM candidates WHERE status = 'evaluated'")]
    dims = json.loads(stored[0])
    assert [(d["name"], d["bins"], d["adaptive"]) for d in dims] == [
        ("code_length", 3, False), ("quality", 5, True)]
    # the report draws the adaptive axis over the range the candidates span
    grid = read_run(tmp_path / "run")["grid"]
    quality = next(d for d in grid["dims"] if d["name"] == "quality")
    assert quality["observed"] is True
    assert (quality["low"], quality["high"]) == (min(qualities), max(qualities))


# -- 8. keys for the evaluator, 9. exit status, 11. warm-up ---------------------------

ENV_EVALUATOR = """
import os

def evaluate(program_path):
    return {"combined_score": float(len(os.environ.get("ADRS_TEST_JUDGE_KEY", "")))}
"""


def test_pass_env_gives_the_evaluator_a_named_variable_only(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADRS_TEST_JUDGE_KEY", "zq-9x7")
    folder = write_folder(root, "env", {"evaluator.py": ENV_EVALUATOR,
                                        "initial_program.py": VALUE_PROGRAM.format(1)})
    base = ["run", str(folder), "--budget", "1", "--workers", "1", "--json"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert json.loads(capsys.readouterr().out)["initial_train"] == 0.0  # never by default
    assert main([*base, "--out", str(tmp_path / "b"), "--pass-env",
                 "ADRS_TEST_JUDGE_KEY"]) == 0
    assert json.loads(capsys.readouterr().out)["initial_train"] == 6.0
    with sqlite3.connect(tmp_path / "b" / "run.sqlite") as db:
        rows = "".join(str(r) for r in db.execute("SELECT * FROM meta"))
    assert "zq-9x7" not in rows  # the name is recorded, never the value
    monkeypatch.delenv("ADRS_TEST_JUDGE_KEY")
    assert main([*base, "--out", str(tmp_path / "c"), "--pass-env",
                 "ADRS_TEST_JUDGE_KEY"]) == 2
    assert json.loads(capsys.readouterr().out) == {
        "error": "--pass-env ADRS_TEST_JUDGE_KEY: ADRS_TEST_JUDGE_KEY is not set"}


FAILING_EVALUATOR = """
def evaluate(program_path):
    raise ValueError("the simulator is missing")
"""


def test_a_run_where_nothing_succeeded_exits_non_zero(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_folder(root, "failing", {"evaluator.py": FAILING_EVALUATOR,
                                            "initial_program.py": VALUE_PROGRAM.format(1)})
    status = main(["run", str(folder), "--budget", "3", "--workers", "1", "--json",
                   "--out", str(tmp_path / "run")])
    data = json.loads(capsys.readouterr().out)
    assert status == 1
    # the initial program failed, so the mutator had no parent: the run ends there
    assert data["error"] == ("no candidate succeeded: 1 of 1 failed: ValueError: the "
                             "simulator is missing")
    assert data["counts"]["failed"] == 1


COUNTING_EVALUATOR = """
import os, sys

def evaluate(program_path):
    # outside a jail this file is writable: the test checks it never appears
    try:
        with open({marker!r}, "a") as handle:
            handle.write("outside the jail\\n")
    except OSError:
        pass
    print("EVALUATED", os.path.basename(program_path))
    namespace = {{}}
    exec(open(program_path).read(), namespace)
    return {{"combined_score": namespace["value"]()}}
"""


def test_the_initial_program_is_scored_once_and_only_in_the_jail(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "outside.log"
    folder = write_folder(root, "counting", {
        "evaluator.py": COUNTING_EVALUATOR.format(marker=str(marker)),
        "initial_program.py": VALUE_PROGRAM.format(1.5)})
    out = tmp_path / "run"
    assert main(["run", str(folder), "--budget", "4", "--workers", "2", "--json",
                 "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["evaluated"] == 4
    assert not marker.exists()
    with sqlite3.connect(out / "run.sqlite") as db:
        initial = db.execute("SELECT output, eval_attempts FROM candidates "
                             "WHERE generator = 'initial'").fetchone()
    assert initial[1] == 1  # one evaluation started for it, in a jail
    assert initial[0].count("EVALUATED tmp") == 1


# -- 10. ShinkaEvolve folders ------------------------------------------------------------

SHINKA_EVALUATE = """
import json, os

def main(program_path, results_dir):
    namespace = {}
    exec(open(program_path).read(), namespace)
    v = namespace["value"]()
    os.makedirs(results_dir, exist_ok=True)
    metrics = {"combined_score": 1.0 / (1.0 + abs(v - 3)), "public": {"gap": abs(v - 3)},
               "private": {"hidden": 1.0}, "text_feedback": "aim for 3"}
    json.dump(metrics, open(os.path.join(results_dir, "metrics.json"), "w"))
    json.dump({"correct": v >= 0, "error": "" if v >= 0 else "negative value"},
              open(os.path.join(results_dir, "correct.json"), "w"))
"""


def test_shinka_folders_score_as_natively(root: Path, runner: Any) -> None:
    folder = write_folder(root, "shinka", {"evaluate.py": SHINKA_EVALUATE,
                                           "initial.py": VALUE_PROGRAM.format(1)})
    problem = FolderProblem(folder)
    assert problem.format == "shinka" and problem.program_path.name == "initial.py"
    result = problem.evaluate(VALUE_PROGRAM.format(2), runner=runner)
    expected = native(folder, VALUE_PROGRAM.format(2), "main", "evaluate.py")
    assert result.score == expected["combined_score"] == 0.5
    assert result.metrics["gap"] == expected["public"]["gap"] == 1.0
    assert "hidden" not in result.metrics and "aim for 3" in result.feedback
    wrong = problem.evaluate(VALUE_PROGRAM.format(-1), runner=runner)
    assert wrong.error == "negative value"


@needs_shared
def test_shinka_sine_approx_scores_as_natively(runner: Any, tmp_path: Path) -> None:
    folder = SHARED / "shinka/examples/sine_approx_headless"
    problem = FolderProblem(folder)
    result = problem.evaluate(problem.initial_program, runner=runner)
    expected = native(folder, problem.initial_program, "main", "evaluate.py", tmp=tmp_path)
    assert result.score == expected["combined_score"] == pytest.approx(0.1045, abs=1e-4)


# -- OpenEvolve itself, where an interpreter with it is named --------------------------

OPENEVOLVE_PYTHON = os.environ.get("ADRS_OPENEVOLVE_PYTHON")
OPENEVOLVE_SCRIPT = """
import asyncio, json, sys
from openevolve.config import EvaluatorConfig
from openevolve.evaluator import Evaluator
config = EvaluatorConfig(cascade_evaluation=True, cascade_thresholds=[0.5, 1.6],
                         max_retries=0)
evaluator = Evaluator(config, sys.argv[1])
for value in json.loads(sys.argv[2]):
    program = "# EVOLVE-BLOCK-START\\ndef value():\\n    return %r\\n# EVOLVE-BLOCK-END\\n" % value
    print("OE" + json.dumps(asyncio.run(evaluator.evaluate_program(program, f"p{value}"))))
"""


@pytest.mark.skipif(not OPENEVOLVE_PYTHON, reason="set ADRS_OPENEVOLVE_PYTHON to an "
                    "interpreter with openevolve 0.3.2 to compare with OpenEvolve itself")
def test_cascade_equals_openevolve_itself(root: Path, runner: Any) -> None:
    folder = root / "cascade"
    if not folder.exists():
        write_folder(root, "cascade", {
            "evaluator.py": CASCADE_EVALUATOR, "initial_program.py": VALUE_PROGRAM.format(3),
            "config.yaml": "evaluator:\n  cascade_thresholds: [0.5, 1.6]\n"})
    values = [3, 6, 9, 13, -2]
    done = subprocess.run([str(OPENEVOLVE_PYTHON), "-c", OPENEVOLVE_SCRIPT,
                           str(folder / "evaluator.py"), json.dumps(values)],
                          capture_output=True, text=True, timeout=300, check=True)
    theirs = [json.loads(line[2:]) for line in done.stdout.splitlines()
              if line.startswith("OE")]
    problem = FolderProblem(folder)
    for value, expected in zip(values, theirs, strict=True):
        ours = problem.evaluate(VALUE_PROGRAM.format(value), runner=runner)
        assert ours.score == expected["combined_score"]
        assert ours.metrics == {k: v for k, v in expected.items()
                                if isinstance(v, (int, float))}


def test_the_zygote_preloads_only_fork_safe_libraries_the_evaluator_imports(
        root: Path, runner: Any) -> None:
    folder = write_folder(root, "preload", {
        "evaluator.py": ("import numpy as np\nimport json\nimport torch\n"
                         "from numpy.linalg import norm\n\n"
                         "def evaluate(program_path):\n    import nosuchlibrary_xyz\n"),
        "initial_program.py": VALUE_PROGRAM.format(1)})
    problem = FolderProblem(folder)
    # torch (thread pools) and the missing library are imported per candidate, if at all
    assert problem.jail_task("train").preload == ("numpy", "numpy.linalg")


@needs_shared
def test_shinka_circle_packing_runs_with_adrs_run_shinka_eval(runner: Any,
                                                              tmp_path: Path) -> None:
    folder = SHARED / "shinka/examples/circle_packing"
    problem = FolderProblem(folder)
    result = problem.evaluate(problem.initial_program, runner=runner)
    assert result.error is None, result.error
    expected = native(folder, problem.initial_program, "main", "evaluate.py", tmp=tmp_path)
    assert result.score == expected["combined_score"] > 0
    assert result.metrics["num_valid_runs"] == expected["num_valid_runs"] == 1
