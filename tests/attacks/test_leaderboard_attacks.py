"""A leaderboard submission is candidate code too: its ``Solution().solve()`` runs in the
jail through the real ``adrs eval --format leaderboard`` path, sees no key and no home,
writes nothing outside, and scores what the honest submission scores."""

from __future__ import annotations

import json

from adrs.problems import get_problem

from tests.attacks.conftest import CANARY, HOME_SECRET, cli_env, processes, run_cli
from tests.attacks.test_problem_attacks import left_behind, steal

SOLUTION = """
class Solution:
    def solve(self, spec_path=None):
        for target in (PWNED, "/root/pwned", "/pwned"):
            try:
                with open(target, "w") as handle:
                    handle.write("written by a submission")
            except OSError:
                pass
        return PROGRAM
"""


def submission(program: str, prefix: str = "", pwned: str = "/nonexistent") -> str:
    return (f"{prefix}PROGRAM = {program!r}\nPWNED = {pwned!r}\n" + SOLUTION)


def test_cli_eval_leaderboard_solution_that_steals_and_writes_scores_as_the_honest_one(
        tmp_path, hostile_home, isolated):
    program = get_problem("prism").baseline("human_sota").program
    pwned = hostile_home / "pwned"
    honest_path, cheat_path = tmp_path / "honest.py", tmp_path / "cheat.py"
    honest_path.write_text(submission(program))
    # the theft runs at import (raising if it found anything), the writes in solve()
    cheat_path.write_text(submission(program, steal(hostile_home), str(pwned)))
    args = ["--format", "leaderboard", "--json"]
    before = processes()
    done = run_cli(["eval", "prism", str(cheat_path), *args], cli_env(hostile_home), tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert left_behind(before) == ([], [])
    reference = run_cli(["eval", "prism", str(honest_path), *args], cli_env(hostile_home),
                        tmp_path)
    got, expected = json.loads(done.stdout), json.loads(reference.stdout)
    assert got["ok"] and got["score"] == expected["score"] == 60.81740098838651
    assert not pwned.exists()
    assert (hostile_home / ".secret").read_text() == HOME_SECRET
    for secret in (CANARY, HOME_SECRET):
        assert secret not in done.stdout + done.stderr


# an adrs llm-sql program scored on the leaderboard's scale runs as a submission: in the
# submission's jail, its rows checked and its hits counted by the judge
FORGED_ROWS = """
import os
for target in (PWNED, os.path.expanduser("~/pwned")):
    try:
        with open(target, "w") as handle:
            handle.write("written by a program")
    except OSError:
        pass

def reorder(table):
    # the first row everywhere: every prefix a hit, if the judge took the rows on trust
    return [table.rows[0]] * len(table.rows)
"""


def test_cli_eval_llm_sql_program_on_the_leaderboard_scale_cannot_forge_rows(
        tmp_path, hostile_home, isolated, shared_dir):
    beer = tmp_path / "tables"
    beer.mkdir()
    lines = (shared_dir / "data" / "llm_sql_beer.csv").read_text().splitlines()[:101]
    (beer / "beer.csv").write_text("\n".join(lines) + "\n")
    pwned = hostile_home / "pwned"
    program = tmp_path / "forged.py"
    program.write_text(f"PWNED = {str(pwned)!r}\n" + steal(hostile_home) + FORGED_ROWS)
    before = processes()
    done = run_cli(["eval", "llm-sql", str(program), "--option", "suite=leaderboard",
                    "--option", f"data={beer}", "--json"], cli_env(hostile_home), tmp_path)
    assert left_behind(before) == ([], [])
    result = json.loads(done.stdout)
    assert not result["ok"]
    assert result["error"].startswith("beer.csv: row 1 of solve()'s result is no "
                                      "rearrangement of a row of the table left over"), result
    assert not pwned.exists() and not (hostile_home / "pwned").exists()
    assert (hostile_home / ".secret").read_text() == HOME_SECRET
    for secret in (CANARY, HOME_SECRET):
        assert secret not in done.stdout + done.stderr
