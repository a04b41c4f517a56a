"""SEARCH/REPLACE edit blocks and fenced full programs in a model's reply.

A block is::

    <<<<<<< SEARCH
    lines copied from the current program
    =======
    the lines to put there instead
    >>>>>>> REPLACE

Blocks apply in order. A SEARCH section must match whole lines of the program exactly
or, failing that, ignoring trailing whitespace or a uniform change of indentation (the
replacement is then re-indented the same way); a match in more than one place is
refused. When a block does not match, :class:`DiffError` says which block and shows
the most similar lines of the program, so the model can correct itself.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL)


class DiffError(ValueError):
    """A reply that cannot be turned into a program; the message is model feedback."""


@dataclass(frozen=True)
class EditBlock:
    """One SEARCH/REPLACE pair.

    Attributes:
        search: Lines to find (joined with newlines, no trailing newline).
        replace: Lines to put instead.
        line: 1-based line of the SEARCH marker in the reply.
    """

    search: str
    replace: str
    line: int

    def render(self) -> str:
        return f"<<<<<<< SEARCH\n{self.search}\n=======\n{self.replace}\n>>>>>>> REPLACE"


def has_blocks(reply: str) -> bool:
    """Whether the reply contains at least one SEARCH marker."""
    return any(_SEARCH.match(line) for line in reply.splitlines())


def parse_blocks(reply: str) -> list[EditBlock]:
    """Every SEARCH/REPLACE block of the reply, in order.

    Raises:
        DiffError: A block is malformed (a marker missing or out of order); the message
            names the block and the line of the reply.
    """
    blocks: list[EditBlock] = []
    state = "outside"
    search: list[str] = []
    replace: list[str] = []
    start = 0
    for number, line in enumerate(reply.splitlines(), start=1):
        if state == "outside":
            if _SEARCH.match(line):
                state, search, replace, start = "search", [], [], number
            elif _DIVIDER.match(line) or _REPLACE.match(line):
                raise DiffError(f"line {number} of the reply: {line.strip()!r} outside a "
                                "SEARCH/REPLACE block (a block starts with "
                                "'<<<<<<< SEARCH')")
        elif state == "search":
            if _DIVIDER.match(line):
                state = "replace"
            elif _SEARCH.match(line) or _REPLACE.match(line):
                raise DiffError(f"block {len(blocks) + 1} (line {start} of the reply) has no "
                                f"'=======' divider before line {number}")
            else:
                search.append(line)
        else:
            if _REPLACE.match(line):
                blocks.append(EditBlock("\n".join(search), "\n".join(replace), start))
                state = "outside"
            elif _SEARCH.match(line) or _DIVIDER.match(line):
                raise DiffError(f"block {len(blocks) + 1} (line {start} of the reply) has no "
                                f"'>>>>>>> REPLACE' end before line {number}")
            else:
                replace.append(line)
    if state != "outside":
        missing = "'=======' divider" if state == "search" else "'>>>>>>> REPLACE' end"
        raise DiffError(f"block {len(blocks) + 1} (line {start} of the reply) has no "
                        f"{missing}: the reply ends inside it")
    return blocks


def apply_blocks(program: str, blocks: list[EditBlock]) -> str:
    """Apply blocks in order to ``program``.

    Raises:
        DiffError: A SEARCH section is empty, matches nothing, or matches several places.
    """
    for index, block in enumerate(blocks, start=1):
        program = _apply_one(program, block, index, len(blocks))
    return program


def extract_program(reply: str) -> str | None:
    """The longest fenced code block (```python ... ```) of the reply, or None."""
    bodies = [m.group(1) for m in _FENCE.finditer(reply)]
    bodies = [b for b in bodies if b.strip()]
    if not bodies:
        return None
    return max(bodies, key=len).rstrip() + "\n"


def program_from_reply(reply: str, parent: str) -> tuple[str, str]:
    """Turn a model's reply into a program.

    SEARCH/REPLACE blocks win when the reply has any; otherwise the longest fenced
    code block is taken as the full new program.

    Args:
        reply: The model's text.
        parent: The program the edits apply to.

    Returns:
        ``(program, diff)``: the new program and the edit as text.

    Raises:
        DiffError: Malformed or non-matching blocks, or neither blocks nor code.
    """
    if has_blocks(reply):
        blocks = parse_blocks(reply)
        program = apply_blocks(parent, blocks)
        return program, "\n".join(block.render() for block in blocks)
    code = extract_program(reply)
    if code is None:
        raise DiffError("the reply has neither SEARCH/REPLACE blocks nor a ```python "
                        "fenced program")
    return code, reply


def _apply_one(program: str, block: EditBlock, index: int, total: int) -> str:
    name = f"SEARCH block {index} of {total} (line {block.line} of the reply)"
    if not block.search.strip():
        raise DiffError(f"{name} is empty; copy the lines to replace into it")
    lines = program.split("\n")
    wanted = block.search.split("\n")
    replacement = block.replace.split("\n") if block.replace else []
    for normalise in (_exact, _rstrip, _strip):
        hits = _find(lines, wanted, normalise)
        if len(hits) > 1:
            where = ", ".join(str(h + 1) for h in hits[:5])
            raise DiffError(f"{name} matches {len(hits)} places (lines {where}); include "
                            "more surrounding lines so that it matches one place")
        if hits:
            at = hits[0]
            if normalise is _strip:
                replacement = _reindent(replacement, wanted, lines[at:at + len(wanted)])
            return "\n".join(lines[:at] + replacement + lines[at + len(wanted):])
    # a SEARCH that covers part of a line: allow it when it occurs exactly once
    if program.count(block.search) == 1:
        return program.replace(block.search, block.replace)
    raise DiffError(_mismatch_message(name, lines, wanted))


def _exact(line: str) -> str:
    return line


def _rstrip(line: str) -> str:
    return line.rstrip()


def _strip(line: str) -> str:
    return line.strip()


def _find(lines: list[str], wanted: list[str], normalise: Callable[[str], str]) -> list[int]:
    target = [normalise(w) for w in wanted]
    size = len(target)
    hits = []
    for at in range(len(lines) - size + 1):
        if (normalise(lines[at]) == target[0]
                and [normalise(x) for x in lines[at:at + size]] == target):
            hits.append(at)
    return hits


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _reindent(replacement: list[str], wanted: list[str], found: list[str]) -> list[str]:
    pairs = [(w, f) for w, f in zip(wanted, found) if w.strip()]
    delta = _indent(pairs[0][1]) - _indent(pairs[0][0]) if pairs else 0
    if delta > 0:
        return [" " * delta + line if line.strip() else line for line in replacement]
    if delta < 0:
        return [line[min(-delta, _indent(line)):] for line in replacement]
    return replacement


def _mismatch_message(name: str, lines: list[str], wanted: list[str]) -> str:
    size = max(1, len(wanted))
    target = "\n".join(w.strip() for w in wanted)
    best_ratio, best_at = 0.0, 0
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(target)
    for at in range(max(1, len(lines) - size + 1)):
        matcher.set_seq1("\n".join(x.strip() for x in lines[at:at + size]))
        if matcher.real_quick_ratio() <= best_ratio or matcher.quick_ratio() <= best_ratio:
            continue
        ratio = matcher.ratio()
        if ratio > best_ratio:
            best_ratio, best_at = ratio, at
    closest = "\n".join(f"{best_at + i + 1:>5}| {line}"
                        for i, line in enumerate(lines[best_at:best_at + size]))
    return (f"{name} does not match the program. The most similar lines "
            f"({best_ratio:.0%} similar) are lines {best_at + 1}-{best_at + size}:\n"
            f"{closest}\nCopy the SEARCH lines exactly from the current program.")
