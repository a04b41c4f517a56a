"""The offline mutator: seeded AST edits inside the evolvable region only."""

from __future__ import annotations

import ast
import asyncio

from adrs.evolve._candidate import Candidate
from adrs.evolve._program import region_text
from adrs.evolve.config import MutatorConfig
from adrs.evolve.generators import OfflineMutator, ProposalContext
from adrs.problems.toy import INITIAL_PROGRAM, OPTIMUM_PROGRAM

PROGRAM = '''"""Policy."""
LIMIT = 3.0  # outside the block: never touched

# EVOLVE-BLOCK-START
def decide(obs, mem):
    # keep this comment
    if obs[2] > 0.5 and mem[0] < 10:
        return 1
    else:
        return 0
# EVOLVE-BLOCK-END

def helper():
    return LIMIT * 2.0
'''


def outside(program: str) -> tuple[str, str]:
    head, _, rest = program.partition("# EVOLVE-BLOCK-START")
    _, _, tail = rest.partition("# EVOLVE-BLOCK-END")
    return head, tail


def test_mutants_parse_differ_and_stay_inside_the_block() -> None:
    mutator = OfflineMutator(MutatorConfig(max_edits=3))
    kinds: set[str] = set()
    for seed in range(200):
        proposal = mutator.mutate(PROGRAM, [], seed)
        assert proposal.error is None, proposal.error
        assert proposal.program != PROGRAM
        ast.parse(proposal.program)
        assert outside(proposal.program) == outside(PROGRAM)
        assert "obs[2]" in proposal.program and "mem[0]" in proposal.program  # no index edits
        assert "return 1" in proposal.program or "return 0" in proposal.program
        kinds |= {note.split()[0] for note in proposal.meta["edits"]}
    assert kinds == {"constant", "compare", "boolop", "branches"}


def test_comments_survive_constant_edits() -> None:
    proposal = OfflineMutator().mutate(INITIAL_PROGRAM, [], seed=5)
    assert '"""Estimate the hidden curve at x (x in [-3, 3])."""' in proposal.program


def test_seeded() -> None:
    mutator = OfflineMutator()
    assert mutator.mutate(PROGRAM, [], 11).program == mutator.mutate(PROGRAM, [], 11).program
    assert len({mutator.mutate(PROGRAM, [], s).program for s in range(20)}) > 10


def test_floats_stay_floats() -> None:
    mutator = OfflineMutator(MutatorConfig(max_edits=1))
    for seed in range(100):
        tree = ast.parse(region_text(mutator.mutate("x = 0.0\ny = 2.0\n", [], seed).program))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant):
                assert isinstance(node.value, float)


def test_crossover_takes_numbers_from_the_second_parent() -> None:
    mutator = OfflineMutator(MutatorConfig(crossover_rate=1.0, max_edits=1))
    other = Candidate(9, OPTIMUM_PROGRAM)
    notes = [mutator.mutate(INITIAL_PROGRAM, [other], seed).diff for seed in range(30)]
    assert any("crossover of" in note and "#9" in note for note in notes)


def test_nothing_to_change_is_an_error_not_an_exception() -> None:
    proposal = OfflineMutator().mutate("# EVOLVE-BLOCK-START\npass\n# EVOLVE-BLOCK-END\n",
                                       [], 1)
    assert proposal.program is None and "nothing the mutator can change" in proposal.error
    broken = OfflineMutator().mutate("def f(:\n", [], 1)
    assert broken.program is None and "cannot parse" in broken.error


def test_propose_interface() -> None:
    parent = Candidate(1, INITIAL_PROGRAM, score=-0.4)
    proposal = asyncio.run(OfflineMutator().propose(parent, [], ProposalContext(seed=4)))
    assert proposal.generator == "mutator" and proposal.program
