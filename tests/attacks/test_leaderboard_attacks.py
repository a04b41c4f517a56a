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
