"""``adrs run``: built-in problems, OpenEvolve-style folders, errors, output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adrs.cli import main
from adrs.evolve.folder_problem import FolderProblem, translate_openevolve_config

INITIAL = '''"""A task folder's program."""
import math

# EVOLVE-BLOCK-START
def value(x):
    return 1.0 * x + 2.0
# EVOLVE-BLOCK-END
'''

EVALUATOR = '''import importlib.util


def _load(path):
    spec = importlib.util.spec_from_file_location("candidate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate(program_path):
    value = _load(program_path).value
    error = abs(value(3.0) - 10.0)
    return {"combined_score": -error, "error_at_3": error, "note": "aim for value(3) = 10"}


def evaluate_stage1(program_path):
    return {"combined_score": -abs(_load(program_path).value(0.0) - 1.0)}
'''

OPENEVOLVE_CONFIG = """\
max_iterations: 15
random_seed: 4
diff_based_evolution: true
database:
  num_islands: 2
  migration_interval: 5
  population_size: 100
evaluator:
  timeout: 20
  parallel_evaluations: 2
  cascade_evaluation: false
prompt:
  system_message: "Make value(3) equal 10."
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    task = tmp_path / "task"
    task.mkdir()
    (task / "initial_program.py").write_text(INITIAL)
    (task / "evaluator.py").write_text(EVALUATOR)
    (task / "config.yaml").write_text(OPENEVOLVE_CONFIG)
    return task


def test_folder_problem_scores_like_its_evaluator(folder: Path) -> None:
    problem = FolderProblem(folder)
    assert problem.description == "Make value(3) equal 10."
    result = problem.evaluate(problem.initial_program)
    assert result.score == -5.0 and result.metrics["error_at_3"] == 5.0
    assert "aim for value(3) = 10" in result.feedback
    assert problem.evaluate(problem.initial_program, "quick").score == -1.0
    broken = problem.evaluate("def value(:\n")
    assert broken.error.startswith("SyntaxError")
    config, ignored = problem.run_config()
    assert config["budget"] == 15 and config["islands"] == {"count": 2,
                                                            "migration_interval": 5}
    # evaluator.timeout 20 s bounds evaluate(); the evaluation gets 10 s more to start
    assert config["sandbox"] == {"timeout_s": 30.0} and config["workers"] == 2
    assert ignored == [("database.population_size ignored (adrs keeps every program; the "
                       "grid cells and islands bound what selection sees)")]


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no evaluator.py .* and no evaluate.py"):
        FolderProblem(tmp_path)
    (tmp_path / "evaluator.py").write_text(EVALUATOR)
    with pytest.raises(FileNotFoundError, match="no initial_program.py"):
        FolderProblem(tmp_path)
    (tmp_path / "a.py").write_text(INITIAL)
    (tmp_path / "b.py").write_text(INITIAL)
    with pytest.raises(ValueError, match="several programs with markers"):
        FolderProblem(tmp_path)


def test_openevolve_llm_section_translates() -> None:
    config, ignored = translate_openevolve_config({"llm": {
        "api_base": "http://127.0.0.1:8000/v1", "temperature": 0.5, "retries": 2,
        "models": [{"name": "a", "weight": 0.8}, {"name": "b", "weight": 0.2,
                                                   "api_key": "sk-in-a-file"}],
        "top_p": 0.9}})
    models = config["generator"]["models"]
    assert [m["name"] for m in models] == ["a", "b"]
    assert models[0]["base_url"] == "http://127.0.0.1:8000/v1"
    assert models[0]["temperature"] == 0.5 and config["generator"]["retries"] == 2
    assert "llm.top_p ignored (no adrs equivalent)" in ignored
    assert any(k.startswith("llm.models[].api_key ignored") for k in ignored)
    assert "sk-in-a-file" not in json.dumps(config)


def test_run_a_folder_from_the_command_line(folder: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["budget"] == 15  # from the folder's config.yaml
    assert data["counts"]["evaluated"] + data["counts"]["failed"] == 15
    assert data["best_train"] >= data["initial_train"] == -5.0
    assert (out / "best_program.py").is_file()


def test_run_builtin_with_progress_and_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "toy", "--budget", "10", "--workers", "2",
                 "--option", "points=16"]) == 0
    captured = capsys.readouterr()
    assert "best program: adrs-runs/toy-" in captured.out
    lines = captured.out.splitlines()
    assert lines[1].split() == ["train", "held-out", "test"]
    assert lines[2].startswith("  best (candidate ") and lines[3].startswith("  initial program")
    assert "10/10 evaluated" in captured.err  # the progress line (not a TTY: whole lines)
    assert len(list((tmp_path / "adrs-runs").iterdir())) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--resume"], "--resume needs --out DIR"),
    (["run", "nonesuch"], "neither a built-in problem"),
    (["run", "toy", "--option", "points"], "expected KEY=VALUE"),
    (["run", "toy", "--option", "points=2", "--budget", "3"], "points must be at least 8"),
    (["run"], "name a problem or a task folder"),
])
def test_errors_are_one_line(argv: list[str], message: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_resume_takes_the_original_command_and_refuses_only_a_change(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "run")
    original = ["run", "toy", "--out", out, "--seed", "3", "--workers", "1", "--json",
                "--option", "points=16"]
    assert main([*original, "--budget", "4"]) == 0
    capsys.readouterr()
    assert main([*original, "--budget", "6", "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["evaluated"] >= 5
    assert main(["run", "--resume", "--out", out, "--seed", "4", "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == {"error": (
        "--seed 4 cannot change the seed of the run being resumed (it is 3)")}
    assert main(["run", "--resume", "--out", out, "--option", "points=32", "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == {"error": (
        "--option points=32 cannot change the run being resumed (it has points=16)")}
    assert main(["run", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "no run to resume" in capsys.readouterr().err


def test_a_model_run_resumes_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import Reply, ScriptedServer

    server = ScriptedServer()
    new = "def decide(x):\n    return x > 0.5\n"
    server.fallback = lambda body: Reply(f"```python\n{new}```")
    models = tmp_path / "models.yaml"
    models.write_text(f"- name: fake\n  base_url: {server.base_url}\n  api_key_env: null\n")
    out = tmp_path / "run"
    try:
        assert main(["run", "toy", "--budget", "3", "--workers", "1", "--models", str(models),
                     "--out", str(out), "--json"]) == 0
    finally:
        server.close()  # the model is gone: only --offline can go on
    capsys.readouterr()
    import sqlite3
    with sqlite3.connect(out / "run.sqlite") as conn:
        (first_run,) = conn.execute("SELECT MAX(id) FROM candidates").fetchone()
    assert main(["run", "--resume", "--out", str(out), "--budget", "6", "--offline",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["evaluated"] + summary["counts"]["failed"] == 6
    with sqlite3.connect(out / "run.sqlite") as conn:
        before = {g for (g,) in conn.execute(
            "SELECT generator FROM candidates WHERE id <= ?", (first_run,))}
        after = {g for (g,) in conn.execute(
            "SELECT generator FROM candidates WHERE id > ?", (first_run,))}
    assert before == {"initial", "fake"}
    assert after == {"mutator"}
