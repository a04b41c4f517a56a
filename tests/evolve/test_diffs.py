"""SEARCH/REPLACE blocks and fenced programs in model replies."""

from __future__ import annotations

import pytest
from adrs.evolve.generators.diffs import (
    DiffError,
    apply_blocks,
    extract_program,
    parse_blocks,
    program_from_reply,
)
from hypothesis import given
from hypothesis import strategies as st

PROGRAM = """def f(x):
    if x > 1.0:
        return 2.0 * x
    return x + 0.5
"""


def block(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE"


def test_applies_blocks_in_order() -> None:
    reply = "Idea: tweak.\n" + block("    if x > 1.0:", "    if x >= 1.5:") + "\n" + block(
        "    return x + 0.5", "    return x + 0.25")
    program, diff = program_from_reply(reply, PROGRAM)
    assert "if x >= 1.5:" in program and "x + 0.25" in program
    assert diff.count("SEARCH") == 2


def test_trailing_whitespace_and_indentation_are_tolerated() -> None:
    # the model dropped the indentation: the replacement is re-indented to match
    program = apply_blocks(PROGRAM, parse_blocks(block("if x > 1.0:\n    return 2.0 * x",
                                                       "if x > 3.0:\n    return 3.0 * x")))
    assert "    if x > 3.0:\n        return 3.0 * x" in program
    program = apply_blocks(PROGRAM, parse_blocks(block("    return x + 0.5   ", "    pass")))
    assert "    pass" in program


def test_mismatch_names_the_block_and_shows_closest_lines() -> None:
    reply = block("    if x > 1.0:", "    if x > 2.0:") + "\n" + block(
        "    return y + 0.5", "    return y")
    with pytest.raises(DiffError) as info:
        program_from_reply(reply, PROGRAM)
    message = str(info.value)
    assert "SEARCH block 2 of 2" in message
    assert "does not match" in message
    assert "return x + 0.5" in message  # the closest line, shown with its number
    assert "    4|" in message


def test_ambiguous_and_empty_search_are_refused() -> None:
    program = "a = 1\nb = 2\na = 1\n"
    with pytest.raises(DiffError, match="matches 2 places"):
        apply_blocks(program, parse_blocks(block("a = 1", "a = 3")))
    with pytest.raises(DiffError, match="is empty"):
        apply_blocks(program, parse_blocks(block("", "a = 3")))


@pytest.mark.parametrize(("reply", "message"), [
    ("<<<<<<< SEARCH\nx\n>>>>>>> REPLACE", "no '=======' divider"),
    ("<<<<<<< SEARCH\nx\n=======\ny\n", "no '>>>>>>> REPLACE' end"),
    ("=======\n", "outside a SEARCH/REPLACE block"),
    ("<<<<<<< SEARCH\nx\n=======\ny\n<<<<<<< SEARCH\n", "no '>>>>>>> REPLACE' end"),
])
def test_malformed_blocks(reply: str, message: str) -> None:
    with pytest.raises(DiffError, match=message):
        parse_blocks(reply)


def test_full_rewrite_takes_the_longest_fence() -> None:
    reply = "Short: ```python\nx = 1\n```\nFull:\n```python\n" + PROGRAM + "```\n"
    program, _ = program_from_reply(reply, "old")
    assert program == PROGRAM
    assert extract_program("no code here") is None
    with pytest.raises(DiffError, match="neither SEARCH/REPLACE blocks nor"):
        program_from_reply("I think we should...", PROGRAM)


@given(st.lists(st.text(alphabet="abc =1\t", max_size=12), min_size=1, max_size=8),
       st.integers(min_value=0, max_value=7))
def test_replacing_a_unique_line_with_itself_is_identity(lines: list[str], pick: int) -> None:
    program = "\n".join(f"line{i} {text}" for i, text in enumerate(lines))
    target = program.split("\n")[pick % len(lines)]
    assert apply_blocks(program, parse_blocks(block(target, target))) == program
