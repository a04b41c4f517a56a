"""A pure-Python oracle of the transaction-scheduling cost model, written from
``../shared/specs/txn.md`` alone, as literally as possible: a lock table of sorted entry
lists, walked exactly as the spec says. It is slow on purpose (no shortcut such as the
two floors per key that the C++ and Numba models keep) so that it can judge them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    """One keyed op: ``kind`` is ``"r"`` or ``"w"``; ``pos`` is 1-based; ``length`` is
    the number of ops of its transaction, ``*`` included."""

    kind: str
    key: str
    pos: int
    length: int


@dataclass
class Entry:
    kind: str
    start: int
    end: int
    owner: int  # position of the owning transaction in the sequence


def parse(transactions: Sequence[str]) -> list[list[Op]]:
    """The keyed ops of each transaction.

    Raises:
        ValueError: An op that is not ``r-<key>``, ``w-<key>`` or ``*``.
    """
    parsed = []
    for t, text in enumerate(transactions):
        tokens = text.split()
        ops = []
        for pos, token in enumerate(tokens, start=1):
            if token == "*":
                continue
            if len(token) < 3 or token[0] not in "rw" or token[1] != "-":
                raise ValueError(f"transaction {t}, op {pos}: {token!r}")
            ops.append(Op(token[0], token[2:], pos, len(tokens)))
        parsed.append(ops)
    return parsed


def _insert(entries: list[Entry], entry: Entry) -> None:
    # after the last entry whose start is <= the new start; at the front if none is
    index = 0
    for i, existing in enumerate(entries):
        if existing.start <= entry.start:
            index = i + 1
    entries.insert(index, entry)


def _key_start(entries: list[Entry], op: Op) -> int | None:
    if not entries:
        return None
    last = entries[-1]
    if last.kind == "w" or op.kind == "w":
        return last.end + 1
    i = len(entries) - 1
    while i >= 0 and entries[i].kind == "r":
        i -= 1
    if i < 0:
        return 0
    return entries[i].end + 1


def makespan(transactions: Sequence[str], sequence: Sequence[int]) -> int:
    """The makespan of ``sequence`` (any sequence of indices, prefixes included)."""
    return makespan_parsed(parse(transactions), sequence)


def makespan_parsed(ops: list[list[Op]], sequence: Sequence[int]) -> int:
    """:func:`makespan` of transactions already parsed by :func:`parse`."""
    table: dict[str, list[Entry]] = {}
    total = 0
    for position, t in enumerate(sequence):
        txn = ops[t]
        start = 1
        for op in txn:
            key_start = _key_start(table.get(op.key, []), op)
            if key_start is not None:
                start = max(start, key_start - op.pos + 1)
        length = txn[-1].length if txn else 0
        end = start + length - 1
        if end - total > 0:
            total += end - total
        for op in txn:
            step = start + op.pos - 1
            _insert(table.setdefault(op.key, []), Entry(op.kind, step, step, position))
    return total


def lcg_permutation(n: int, seed: int) -> list[int]:
    """The portable permutation ``lcg_seed_S`` of the spec."""
    a = list(range(n))
    x = seed
    for i in range(n - 1, 0, -1):
        x = (6364136223846793005 * x + 1442695040888963407) % 2**64
        j = (x >> 33) % (i + 1)
        a[i], a[j] = a[j], a[i]
    return a
