"""The offline mutator: AST-guided edits of the evolvable region, no model needed.

Edits, each applied to the program text so that everything it does not touch (comments,
layout) stays as it was:

- ``constant``: scale a float by a log-normal factor (or shift a zero), step an int (an
  int that is an operand of arithmetic or of a comparison, such as the 2 of
  ``2 * overhead``, half the time becomes a scaled float instead); numbers used as
  subscripts (``obs[3]``) and bare ``return`` integers (action ids) are left alone.
- ``compare``: swap a comparison operator (``<`` with ``<=`` or ``>``, ``==`` with ``!=``).
- ``boolop``: swap ``and`` with ``or``.
- ``branches``: swap the body and the ``else`` of an ``if``.
- ``crossover`` (before the edits, with an inspiration as second parent): take each number
  from either parent when both regions have the same structure, else take one function of
  the region from the second parent.

Only nodes inside EVOLVE-BLOCK regions (the whole program when it has no markers) are
touched. All choices come from ``random.Random(context.seed)``.
"""

from __future__ import annotations

import ast
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from adrs.evolve._candidate import Candidate
from adrs.evolve._program import evolve_regions
from adrs.evolve.config import MutatorConfig
from adrs.evolve.generators._base import Proposal, ProposalContext

_COMPARE_SWAPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE),
    ast.Gt: (ast.GtE, ast.Lt), ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,),
}
_ATTEMPTS = 20


@dataclass(frozen=True)
class _Edit:
    start: int  # character offsets in the program text
    end: int
    text: str
    description: str


class OfflineMutator:
    """Seeded AST edits; the default generator when no model is configured.

    Args:
        config: Edit counts and scales.
    """

    name = "mutator"

    def __init__(self, config: MutatorConfig | None = None) -> None:
        self.config = config or MutatorConfig()

    async def propose(self, parent: Candidate, inspirations: Sequence[Candidate],
                      context: ProposalContext) -> Proposal:
        """See :class:`adrs.evolve.generators.Generator`."""
        return self.mutate(parent.program, [c for c in inspirations if c.program],
                           context.seed)

    async def aclose(self) -> None:
        return None

    def mutate(self, program: str, others: Sequence[Candidate], seed: int) -> Proposal:
        """Make one mutant of ``program``.

        Args:
            program: The parent's source.
            others: Candidates that may serve as second parent for crossover.
            seed: Seed of this proposal's choices.

        Returns:
            A proposal whose ``diff`` lists the edits; ``error`` set when the program
            cannot be parsed or its region offers nothing to change.
        """
        started = time.perf_counter()
        rng = random.Random(seed)
        try:
            regions = evolve_regions(program)
            ast.parse(program)
        except (SyntaxError, ValueError) as exc:
            return Proposal(None, generator=self.name, error=f"mutator cannot parse the "
                            f"parent: {exc}", seconds=time.perf_counter() - started)
        for _ in range(_ATTEMPTS):
            text, notes = program, []
            if others and rng.random() < self.config.crossover_rate:
                other = rng.choice(list(others))
                text, note = _crossover(text, other.program, regions, rng)
                if note:
                    notes.append(f"{note} with #{other.id}")
            low = 0 if notes else 1
            for _ in range(rng.randint(low, self.config.max_edits)):
                edit = self._one_edit(text, regions, rng)
                if edit is None:
                    break
                text = text[:edit.start] + edit.text + text[edit.end:]
                notes.append(edit.description)
            if text != program and notes and _parses(text):
                return Proposal(text, diff="\n".join(notes), generator=self.name,
                                meta={"edits": notes}, seconds=time.perf_counter() - started)
        return Proposal(None, generator=self.name, error="the evolvable region has nothing "
                        "the mutator can change (numbers, comparisons, and/or, if/else)",
                        seconds=time.perf_counter() - started)

    def _one_edit(self, program: str, regions: list[tuple[int, int]],
                  rng: random.Random) -> _Edit | None:
        tree = ast.parse(program)
        spots = _Spots(program, regions, self.config.mutate_ints)
        spots.visit(tree)
        kinds = [k for k, nodes in (("constant", spots.constants), ("compare", spots.compares),
                                    ("boolop", spots.boolops), ("branches", spots.ifs))
                 if nodes]
        if not kinds:
            return None
        # numbers are the most common knob; weight them up
        weights = [4 if k == "constant" else 1 for k in kinds]
        kind = rng.choices(kinds, weights)[0]
        offsets = _Offsets(program)
        if kind == "constant":
            node = rng.choice(spots.constants)
            old = node.value
            # an int that is arithmetic on a measure (2 * overhead) is a knob worth tuning
            # continuously; elsewhere (range(3), an action id) it must stay an int
            as_float = id(node) in spots.scalable and rng.random() < 0.5
            new = self._perturb(float(old) if as_float else old, rng)
            start, end = offsets.span(node)
            return _Edit(start, end, _literal(new),
                         f"constant line {node.lineno}: {_literal(old)} -> {_literal(new)}")
        if kind == "compare":
            node, index = rng.choice(spots.compares)
            old_op = node.ops[index]
            new_op = rng.choice(_COMPARE_SWAPS[type(old_op)])()
            ops = list(node.ops)
            ops[index] = new_op
            new_node = ast.Compare(node.left, ops, node.comparators)
            start, end = offsets.span(node)
            return _Edit(start, end, ast.unparse(new_node),
                         f"compare line {node.lineno}: {_op(old_op)} -> {_op(new_op)}")
        if kind == "boolop":
            node = rng.choice(spots.boolops)
            new_bool = ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(),
                                  node.values)
            start, end = offsets.span(node)
            return _Edit(start, end, ast.unparse(new_bool),
                         f"boolop line {node.lineno}: "
                         f"{'and -> or' if isinstance(node.op, ast.And) else 'or -> and'}")
        node = rng.choice(spots.ifs)
        swapped = ast.If(node.test, node.orelse, node.body)
        lines = ast.unparse(swapped).split("\n")
        indent = " " * node.col_offset
        start = offsets.line_start(node.lineno)
        end = offsets.line_end(node.end_lineno or node.lineno)
        return _Edit(start, end, "\n".join(indent + line for line in lines),
                     f"branches line {node.lineno}: swap if/else")

    def _perturb(self, value: float, rng: random.Random) -> int | float:
        sigma = self.config.sigma
        if isinstance(value, int):
            step = max(1, round(abs(value) * sigma))
            return value + rng.choice((-1, 1)) * rng.randint(1, step)
        for _ in range(10):
            if value == 0.0:
                new = rng.gauss(0.0, sigma)
            else:
                new = value * math.exp(rng.gauss(0.0, sigma))
            if _literal(new) != _literal(value):
                return new
        return value + (sigma if value >= 0 else -sigma)


class _Spots(ast.NodeVisitor):
    """Nodes of the evolvable regions an edit may touch."""

    def __init__(self, program: str, regions: list[tuple[int, int]], ints: bool) -> None:
        self.lines = program.split("\n")
        self.regions = regions
        self.ints = ints
        self.constants: list[ast.Constant] = []
        self.compares: list[tuple[ast.Compare, int]] = []
        self.boolops: list[ast.BoolOp] = []
        self.ifs: list[ast.If] = []
        self.scalable: set[int] = set()  # ids of int constants that are operands

    def _inside(self, node: ast.AST) -> bool:
        first = getattr(node, "lineno", 0) - 1
        last = (getattr(node, "end_lineno", None) or first + 1) - 1
        return any(a <= first and last < b for a, b in self.regions)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.visit(node.value)  # indices are field positions, not knobs

    def visit_Return(self, node: ast.Return) -> None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, int):
            return  # an action id
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if isinstance(value, int) and not self.ints:
            return
        if isinstance(value, float) and not math.isfinite(value):
            return
        if self._inside(node):
            self.constants.append(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        for operand in (node.left, node.right):
            if isinstance(operand, ast.Constant) and type(operand.value) is int:
                self.scalable.add(id(operand))
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        for operand in (node.left, *node.comparators):
            if isinstance(operand, ast.Constant) and type(operand.value) is int:
                self.scalable.add(id(operand))
        if self._inside(node):
            for index, op in enumerate(node.ops):
                if type(op) in _COMPARE_SWAPS:
                    self.compares.append((node, index))
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        if self._inside(node):
            self.boolops.append(node)
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        line = self.lines[node.lineno - 1].lstrip()
        if node.orelse and not line.startswith("elif") and self._inside(node):
            self.ifs.append(node)
        self.generic_visit(node)


class _Offsets:
    """Convert AST (line, UTF-8 byte column) positions to character offsets."""

    def __init__(self, program: str) -> None:
        self.lines = program.split("\n")
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def _char(self, lineno: int, byte_col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:byte_col].decode(errors="ignore"))

    def span(self, node: ast.expr) -> tuple[int, int]:
        return (self._char(node.lineno, node.col_offset),
                self._char(node.end_lineno or node.lineno, node.end_col_offset or 0))

    def line_start(self, lineno: int) -> int:
        return self.starts[lineno - 1]

    def line_end(self, lineno: int) -> int:
        return self.starts[lineno] - 1


def _literal(value: float) -> str:
    if isinstance(value, int):
        text = str(value)
    else:
        text = f"{value:.6g}"
        if not any(ch in text for ch in ".einf"):
            text += ".0"  # keep it a float: Numba types the policy from its literals
    return f"({text})" if text.startswith("-") else text


def _op(op: ast.cmpop) -> str:
    return {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
            ast.NotEq: "!="}[type(op)]


def _parses(program: str) -> bool:
    try:
        ast.parse(program)
    except SyntaxError:
        return False
    return True


def _crossover(program: str, other: str, regions: list[tuple[int, int]],
               rng: random.Random) -> tuple[str, str]:
    """Recombine ``program`` with ``other``; returns the text and a note ('' if none)."""
    try:
        tree, other_tree = ast.parse(program), ast.parse(other)
        other_regions = evolve_regions(other)
    except (SyntaxError, ValueError):
        return program, ""
    mine = _region_nodes(tree, regions)
    theirs = _region_nodes(other_tree, other_regions)
    if [_shape(n) for n in mine] == [_shape(n) for n in theirs]:
        # same structure: uniform crossover of the numbers
        pairs = [(a, b) for x, y in zip(mine, theirs)
                 for a, b in zip(_numbers(x), _numbers(y)) if a.value != b.value]
        taken = [(a, b) for a, b in pairs if rng.random() < 0.5]
        if not taken:
            return program, ""
        offsets = _Offsets(program)
        for a, b in sorted(taken, key=lambda p: offsets.span(p[0]), reverse=True):
            start, end = offsets.span(a)
            program = program[:start] + _literal(b.value) + program[end:]
        return program, f"crossover of {len(taken)} numbers"
    # different structure: take one function the two regions share by name
    their_functions = {n.name: n for n in theirs if isinstance(n, ast.FunctionDef)}
    shared = [n for n in mine if isinstance(n, ast.FunctionDef) and n.name in their_functions]
    if not shared:
        return program, ""
    target = rng.choice(shared)
    source = their_functions[target.name]
    other_lines = other.split("\n")
    first = min([d.lineno for d in source.decorator_list] + [source.lineno])
    body = other_lines[first - 1:source.end_lineno]
    lines = program.split("\n")
    start = min([d.lineno for d in target.decorator_list] + [target.lineno])
    new_lines = lines[:start - 1] + body + lines[target.end_lineno or target.lineno:]
    return "\n".join(new_lines), f"crossover of function {target.name}()"


def _region_nodes(tree: ast.Module, regions: list[tuple[int, int]]) -> list[ast.stmt]:
    return [n for n in tree.body
            if any(a <= n.lineno - 1 and (n.end_lineno or n.lineno) - 1 < b
                   for a, b in regions)]


def _numbers(node: ast.AST) -> list[ast.Constant]:
    found = [n for n in ast.walk(node) if isinstance(n, ast.Constant)
             and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)
             and not (isinstance(n.value, float) and not math.isfinite(n.value))]
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def _shape(node: ast.AST) -> str:
    class Blank(ast.NodeTransformer):
        def visit_Constant(self, c: ast.Constant) -> ast.Constant:
            if isinstance(c.value, (int, float)) and not isinstance(c.value, bool):
                return ast.Constant(0)
            return c
    return ast.dump(Blank().visit(ast.parse(ast.unparse(node))))
