"""The prompt builder and its overridable templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from adrs.evolve._candidate import Candidate
from adrs.evolve.config import PromptConfig
from adrs.evolve.generators import ProposalContext
from adrs.evolve.prompts import PromptBuilder


def candidates() -> tuple[Candidate, list[Candidate], list[Candidate]]:
    parent = Candidate(7, "def f():\n    return 1\n", score=0.25, metrics={"mse": 0.5},
                       feedback="scenario A: 0.1\nscenario B: 0.9")
    top = [Candidate(3, "def f():\n    return 3\n", score=0.9), parent]
    inspirations = [Candidate(5, "def f():\n    return 5\n", score=0.1)]
    return parent, top, inspirations


def test_user_prompt_has_every_part() -> None:
    parent, top, inspirations = candidates()
    builder = PromptBuilder("Minimise the cost of the job.")
    context = ProposalContext(seed=1, top_programs=top, recent_errors=["SEARCH block 1 ..."])
    system, user = builder.messages(parent, inspirations, context)
    assert system["role"] == "system" and "Minimise the cost of the job." in system["content"]
    text = user["content"]
    assert "id 7, score 0.25" in text and '"mse": 0.5' in text
    assert "scenario B: 0.9" in text and "return 1" in text
    assert "Program 3 (score 0.9)" in text and "return 5" in text
    assert "Program 7 (score" not in text  # the parent is not repeated among the best
    assert "SEARCH block 1 ..." in text
    assert "<<<<<<< SEARCH" in text
    rewrite = PromptBuilder("d", diff_mode=False).user(parent, inspirations, context)
    assert "complete new program" in rewrite and "<<<<<<< SEARCH" not in rewrite


def test_templates_can_be_overridden(tmp_path: Path) -> None:
    (tmp_path / "system.txt").write_text("SYSTEM: $description")
    builder = PromptBuilder("task", PromptConfig(templates_dir=str(tmp_path)))
    assert builder.system() == "SYSTEM: task"


def test_template_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "user.txt").write_text("$parent_program $nonsense")
    with pytest.raises(ValueError, match=r"template user.txt: unknown placeholder \$nonsense"):
        PromptBuilder("task", PromptConfig(templates_dir=str(tmp_path)))
    (tmp_path / "user.txt").unlink()
    (tmp_path / "usr.txt").write_text("x")
    with pytest.raises(ValueError, match="usr.txt: not a template name"):
        PromptBuilder("task", PromptConfig(templates_dir=str(tmp_path)))
    with pytest.raises(FileNotFoundError):
        PromptBuilder("task", PromptConfig(templates_dir=str(tmp_path / "nope")))


def test_long_programs_are_cut() -> None:
    parent = Candidate(1, "x = 1\n" * 1000, score=1.0)
    text = PromptBuilder("d", PromptConfig(max_program_chars=200)).user(
        parent, [], ProposalContext(seed=0))
    assert "more characters cut" in text
