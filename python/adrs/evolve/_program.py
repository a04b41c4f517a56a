"""Program text helpers: evolvable regions, normalised hashes, code features."""

from __future__ import annotations

import ast
import hashlib
import re
from collections import Counter
from collections.abc import Mapping

BLOCK_START = "# EVOLVE-BLOCK-START"
BLOCK_END = "# EVOLVE-BLOCK-END"
# OpenEvolve's examples also write the markers with a space ("# EVOLVE-BLOCK START")
_START_RE = re.compile(r"#\s*EVOLVE-BLOCK[-_ ]START\b")
_END_RE = re.compile(r"#\s*EVOLVE-BLOCK[-_ ]END\b")


def is_block_start(line: str) -> bool:
    """Whether ``line`` is an EVOLVE-BLOCK start marker, in any of its spellings."""
    return _START_RE.match(line.strip()) is not None


def is_block_end(line: str) -> bool:
    """Whether ``line`` is an EVOLVE-BLOCK end marker, in any of its spellings."""
    return _END_RE.match(line.strip()) is not None


def has_block(program: str) -> bool:
    """Whether ``program`` holds a start marker in any of its spellings."""
    return any(is_block_start(line) for line in program.splitlines())


def evolve_regions(program: str) -> list[tuple[int, int]]:
    """Line ranges ``[start, end)`` (0-based) strictly between EVOLVE-BLOCK markers.

    Returns:
        One range per START/END pair; the whole program when it has no markers.

    Raises:
        ValueError: A START without END, or an END without START.
    """
    lines = program.splitlines()
    regions: list[tuple[int, int]] = []
    start: int | None = None
    for number, line in enumerate(lines):
        if is_block_start(line):
            if start is not None:
                raise ValueError(f"line {number + 1}: {BLOCK_START} inside another block")
            start = number + 1
        elif is_block_end(line):
            if start is None:
                raise ValueError(f"line {number + 1}: {BLOCK_END} without {BLOCK_START}")
            regions.append((start, number))
            start = None
    if start is not None:
        raise ValueError(f"line {start}: {BLOCK_START} without {BLOCK_END}")
    return regions or [(0, len(lines))]


def region_text(program: str) -> str:
    """The evolvable text of ``program``: its regions joined, or the whole program."""
    try:
        regions = evolve_regions(program)
    except ValueError:
        return program
    lines = program.splitlines()
    return "\n".join("\n".join(lines[a:b]) for a, b in regions)


def unusable(program: str, max_chars: int) -> str | None:
    """Why a proposed program cannot be evaluated, or None when it can.

    Nothing a reply holds may stop the search: any failure of Python's own parser
    (a recursion or memory error on deeply nested code, text that is not valid UTF-8)
    is a reason, never an exception.
    """
    if len(program) > max_chars:
        return (f"the program has {len(program):,} characters, over the limit of "
                f"{max_chars:,} (generator.max_program_chars)")
    try:
        program.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"the program is not valid text: {exc.reason} at character {exc.start} "
                f"({program[exc.start]!a})")
    try:
        compile(program, "<candidate>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        return f"the program cannot be parsed: {type(exc).__name__}: {str(exc)[:200]}"
    return None


def normalise(program: str) -> str:
    """Text that is equal for programs that differ only in comments and layout.

    The AST dump when the program parses; otherwise the text with runs of whitespace
    collapsed and blank lines dropped.
    """
    try:
        return ast.dump(ast.parse(program))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "\n".join(" ".join(line.split()) for line in program.splitlines()
                         if line.strip())


def program_hash(program: str) -> str:
    """SHA-256 (hex) of :func:`normalise`."""
    return hashlib.sha256(normalise(program).encode("utf-8", "replace")).hexdigest()


def node_histogram(text: str) -> Counter[str]:
    """Counts of AST node types of ``text`` (empty when it does not parse)."""
    try:
        tree = ast.parse(_dedent_block(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Counter()
    return Counter(type(node).__name__ for node in ast.walk(tree))


def histogram_distance(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Total-variation distance between two node-type histograms, in [0, 1]."""
    total_a = sum(a.values())
    total_b = sum(b.values())
    if total_a == 0 or total_b == 0:
        return 0.0 if total_a == total_b else 1.0
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.get(k, 0) / total_a - b.get(k, 0) / total_b) for k in keys)


def code_features(program: str, reference: Mapping[str, int]) -> dict[str, float]:
    """The built-in MAP-Elites features of a program.

    Args:
        program: Full program text.
        reference: Node-type histogram of the initial program's region.

    Returns:
        ``code_length`` (characters of the evolvable region) and ``ast_distance``.
    """
    text = region_text(program)
    return {
        "code_length": float(len(text)),
        "ast_distance": histogram_distance(node_histogram(text), reference),
    }


def _dedent_block(text: str) -> str:
    # a region may sit inside a class or function; parse it at top level
    lines = [line for line in text.splitlines()]
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines)
