"""The search loop end to end on the toy problem: mutator, LLM, cascade, resume."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from adrs.evolve._candidate import Candidate
from adrs.evolve.controller import Controller
from adrs.evolve.executor import ProblemSpec
from adrs.evolve.generators import Proposal, ProposalContext
from adrs.problems.toy import INITIAL_PROGRAM

from .conftest import Reply, ScriptedServer, small_config

TOY = ProblemSpec.registered("toy")


def rows(out: Path, columns: str = "id, parent_id, status, program, score") -> list[tuple]:
    with sqlite3.connect(out / "run.sqlite") as conn:
        return conn.execute(f"SELECT {columns} FROM candidates ORDER BY id").fetchall()


def test_mutator_run_improves_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = Controller(TOY, small_config(budget=80), out).run()
    assert summary.counts["evaluated"] + summary.counts["failed"] == 80
    assert summary.counts["queued"] == 0
    assert summary.best_train > summary.initial_train  # the mutator found something better
    assert summary.best_test is not None and summary.initial_test is not None
    assert summary.stopped == "budget reached"
    best = (out / "best_program.py").read_text()
    header = "".join(best.splitlines(keepends=True)[:3])
    assert best == header + rows(out, "program")[summary.best_id - 1][0]
    assert header == (
        f"# adrs: the best program of the run {out} (toy)\n"
        f"# candidate {summary.best_id}, a parent chain of "
        f"{rows(out, 'generation')[summary.best_id - 1][0]} back to the initial program\n"
        f"# train score {summary.best_train!r}; held-out test score {summary.best_test!r}\n")
    # the diff column: a unified diff against the parent; the edits in generator_meta
    diff, meta = rows(out, "diff, generator_meta")[summary.best_id - 1]
    parent = rows(out, "parent_id")[summary.best_id - 1][0]
    assert diff.startswith(f"--- candidate {parent}\n+++ proposal\n@@ ")
    assert json.loads(meta)["edits"]
    saved = json.loads((out / "summary.json").read_text())
    assert saved["best_id"] == summary.best_id and len(saved["islands"]) == 2
    evaluated = [r for r in rows(out, "status, features, generator, eval_seq, island")
                 if r[0] == "evaluated"]
    assert all("code_length" in json.loads(r[1]) for r in evaluated)
    assert {r[2] for r in evaluated} == {"initial", "mutator"}
    assert sorted(r[3] for r in evaluated) == list(range(1, len(evaluated) + 1))
    assert {r[4] for r in evaluated} == {0, 1}
    with pytest.raises(ValueError, match="already holds a run"):
        Controller(TOY, small_config(budget=5), out).run()


def test_deterministic_mode_repeats_exactly(tmp_path: Path) -> None:
    config = small_config(budget=25, workers=1, deterministic=True)
    Controller(TOY, config, tmp_path / "a").run()
    Controller(TOY, config, tmp_path / "b").run()
    assert rows(tmp_path / "a") == rows(tmp_path / "b")
    other = small_config(budget=25, workers=1, deterministic=True, seed=99)
    Controller(TOY, other, tmp_path / "c").run()
    assert rows(tmp_path / "c") != rows(tmp_path / "a")


def test_resume_continues_to_the_new_budget(tmp_path: Path) -> None:
    out = tmp_path / "run"
    Controller(TOY, small_config(budget=20), out).run()
    before = rows(out)
    summary = Controller.resume_run(out, budget=35).run()
    after = rows(out)
    assert summary.counts["evaluated"] + summary.counts["failed"] == 35
    assert after[:len(before)] == before
    with sqlite3.connect(out / "run.sqlite") as conn:
        assert [r[0] for r in conn.execute("SELECT status FROM runs")] == ["completed"] * 2


class Repeater:
    """A generator that proposes the parent again with a new comment: all duplicates."""

    name = "repeater"

    async def propose(self, parent: Candidate, inspirations: Sequence[Candidate],
                      context: ProposalContext) -> Proposal:
        return Proposal(parent.program + f"\n# attempt {context.seed}\n", generator=self.name)

    async def aclose(self) -> None:
        return None


def test_duplicates_are_not_evaluated_and_stop_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = Controller(TOY, small_config(budget=50, max_wasted_in_a_row=7), out,
                         generator=Repeater()).run()
    assert summary.counts["evaluated"] == 1  # the initial program only
    assert summary.counts["duplicate"] >= 7
    assert "duplicates or unusable" in summary.stopped
    duplicates = [r for r in rows(out, "status, duplicate_of, score") if r[0] == "duplicate"]
    assert all(dup_of == 1 and score is None for _, dup_of, score in duplicates)


def test_cascade_filters_on_quick(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = small_config(budget=60, cascade={"enabled": True, "keep_fraction": 0.3,
                                              "min_history": 5})
    Controller(TOY, config, out).run()
    scored = [r for r in rows(out, "status, quick_score, score, feedback")
              if r[0] == "evaluated"]
    assert all(r[1] is not None for r in scored)
    stopped = [r for r in scored if r[2] is None]
    assert stopped and all("below the threshold" in r[3] for r in stopped)
    assert any(r[2] is not None for r in scored[5:])


class ModelLike:
    """Answers like a model would: diffs, full rewrites, and every third time nonsense."""

    def __init__(self) -> None:
        self.count = itertools.count(1)  # next() is atomic: the server has threads

    def __call__(self, body: dict[str, Any]) -> Reply:
        if len(body["messages"]) < 2:  # the check before the first proposal
            return Reply("OK")
        return llm_reply(body, next(self.count))


def llm_reply(body: dict[str, Any], turn: int) -> Reply:
    prompt = body["messages"][1]["content"]
    program = re.search(r"```python\n(.*?)\n```", prompt, re.DOTALL).group(1) + "\n"
    number = turn % 10
    turn %= 3
    if turn == 0:
        return Reply("Not sure what to do.")
    if turn == 1:
        return Reply(f"```python\n{program.replace('1.0 * x + 0.0', f'0.{number} * x + 0.3')}"
                     "```")
    line = next(x for x in program.splitlines() if x.strip().startswith("if x"))
    return Reply(f"<<<<<<< SEARCH\n{line}\n=======\n{line.split('>')[0]}> 0.{number}:\n"
                 ">>>>>>> REPLACE")


def test_llm_run_against_the_local_server(tmp_path: Path, server: ScriptedServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_LLM_KEY", "sk-local-secret")
    server.script.append(Reply(status=429, headers={"Retry-After": "0"}))
    server.fallback = ModelLike()
    config = small_config(budget=12, max_wasted_in_a_row=100, generator={
        "models": [{"name": "local", "base_url": server.base_url,
                    "api_key_env": "LOCAL_LLM_KEY", "input_price": 1.0,
                    "output_price": 2.0, "timeout_s": 10.0}],
        "max_in_flight": 3, "backoff_s": 0.01})
    out = tmp_path / "run"
    summary = Controller(TOY, config, out).run()
    assert summary.counts["evaluated"] + summary.counts["failed"] == 12
    assert summary.counts["invalid"] >= 1  # the "not sure" replies
    llm = summary.llm
    assert llm["calls"] == len(server.requests) and llm["errors"] >= 1
    assert llm["prompt_tokens"] == 100 * (llm["calls"] - llm["errors"])
    assert llm["cost_usd"] == pytest.approx((100 * 1.0 + 50 * 2.0) / 1e6
                                            * (llm["calls"] - llm["errors"]))
    with sqlite3.connect(out / "run.sqlite") as conn:
        # the check before the first proposal: the scripted 429, then its retry
        linked = conn.execute("SELECT COUNT(*) FROM llm_calls WHERE candidate_id IS NULL")
        assert linked.fetchone()[0] == 2
        generators = {r[0] for r in conn.execute("SELECT generator FROM candidates")}
    assert generators == {"initial", "local"}


class SameScore:
    """Proposes variants that score exactly as their parent (an unused constant added)."""

    name = "same"

    def __init__(self) -> None:
        self.count = 0

    async def propose(self, parent, inspirations, context) -> Proposal:
        self.count += 1
        return Proposal(f"UNUSED_{self.count} = {self.count}\n" + INITIAL_PROGRAM,
                        generator=self.name)

    async def aclose(self) -> None:
        return None


def test_a_tie_on_train_picks_one_best_everywhere(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = Controller(ProblemSpec.registered("toy"), small_config(budget=6), out,
                         generator=SameScore()).run()
    scores = rows(out, "id, score")
    top = max(score for _, score in scores if score is not None)
    assert summary.best_id == min(cid for cid, score in scores if score == top) == 1
    assert summary.best_test is not None  # the test split was scored for that one
    saved = json.loads((out / "summary.json").read_text())
    assert (saved["best_id"], saved["best_test"]) == (summary.best_id, summary.best_test)
    assert f"# candidate {summary.best_id}," in (out / "best_program.py").read_text()
    resumed = Controller.resume_run(out, budget=8).run()  # and after a resume, the same rule
    scores = rows(out, "id, score")
    top = max(score for _, score in scores if score is not None)
    assert resumed.best_id == min(cid for cid, score in scores if score == top)
    assert resumed.best_test is not None
