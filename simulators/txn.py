"""The transaction-scheduling cost model in Numba: the twin of ``cpp/include/adrs/txn.hpp``.

Same rules (``../shared/specs/txn.md``), same state: per key two floors, the key_start a
read sees and the one a write sees (the header's comment says why they are exact). The
C++ model (``adrs._core.TxnModel``) is what the evaluator and candidates use from Python;
this module serves candidates that search inside their own ``numba.njit`` code, which can
call the ``*_kernel`` functions directly on the arrays of a :class:`TxnArrays`::

    arrays = parse(transactions)
    floors = new_floors(arrays)                    # empty lock state
    total = extend_kernel(*arrays.kernel_args(), floors, total, t)   # in njit code
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class TxnArrays:
    """A parsed workload as flat arrays (what the kernels take).

    Attributes:
        op_offsets: int64, ``n + 1``: transaction t's keyed ops are
            ``op_offsets[t]:op_offsets[t + 1]``.
        op_key: int64 key id of each keyed op (ids in order of first appearance).
        op_shift: int64 1-based position minus one of each keyed op.
        op_write: bool, whether each keyed op writes.
        lengths: int64 length in steps of each transaction (ops including ``*``; 0 for a
            transaction without keyed ops, as the reference computes it).
        key_names: The key strings by id.
    """

    op_offsets: np.ndarray
    op_key: np.ndarray
    op_shift: np.ndarray
    op_write: np.ndarray
    lengths: np.ndarray
    key_names: tuple[str, ...]

    @property
    def num_txns(self) -> int:
        return len(self.lengths)

    @property
    def num_keys(self) -> int:
        return len(self.key_names)

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """The arrays every kernel takes first, in order."""
        return self.op_offsets, self.op_key, self.op_shift, self.op_write, self.lengths


def parse(transactions: Sequence[str]) -> TxnArrays:
    """Parse op strings (``"w-17 r-5 * ..."``) as the C++ model does.

    Raises:
        TypeError: A transaction that is not a string.
        ValueError: An op that is not ``r-<key>``, ``w-<key>`` or ``*``.
    """
    ids: dict[str, int] = {}
    offsets, keys, shifts, writes, lengths = [0], [], [], [], []
    for t, text in enumerate(transactions):
        if not isinstance(text, str):
            raise TypeError(f"transaction {t} is {type(text).__name__}, not a string of ops")
        tokens = text.split()
        for position, token in enumerate(tokens, start=1):
            if token == "*":
                continue
            if len(token) < 3 or token[0] not in "rw" or token[1] != "-":
                raise ValueError(f"transaction {t}, op {position}: {token!r} is not "
                                 "r-<key>, w-<key> or *")
            keys.append(ids.setdefault(token[2:], len(ids)))
            shifts.append(position - 1)
            writes.append(token[0] == "w")
        offsets.append(len(keys))
        lengths.append(len(tokens) if offsets[-1] > offsets[-2] else 0)
    return TxnArrays(np.array(offsets, np.int64), np.array(keys, np.int64),
                     np.array(shifts, np.int64), np.array(writes, np.bool_),
                     np.array(lengths, np.int64), tuple(ids))


def new_floors(arrays: TxnArrays) -> np.ndarray:
    """An empty lock state: ``(num_keys, 2)`` int64, columns read floor and write floor."""
    return np.zeros((arrays.num_keys, 2), np.int64)


@numba.njit(cache=True, nogil=True)
def end_after_kernel(op_offsets, op_key, op_shift, op_write, lengths, floors, t):
    """The step at which transaction t would end after ``floors`` (0 without keyed ops)."""
    lo, hi = op_offsets[t], op_offsets[t + 1]
    if lo == hi:
        return 0
    start = 1
    for o in range(lo, hi):
        key_start = floors[op_key[o], 1] if op_write[o] else floors[op_key[o], 0]
        start = max(start, key_start - op_shift[o])
    return start + lengths[t] - 1


@numba.njit(cache=True, nogil=True)
def extend_kernel(op_offsets, op_key, op_shift, op_write, lengths, floors, total, t):
    """Run transaction t after ``floors`` (updated in place); returns the new makespan."""
    end = end_after_kernel(op_offsets, op_key, op_shift, op_write, lengths, floors, t)
    if end == 0:
        return total
    start = end - lengths[t] + 1
    for o in range(op_offsets[t], op_offsets[t + 1]):
        k = op_key[o]
        step_after = start + op_shift[o] + 1
        # a write lands after the write floor, so max() sets it for writes and reads alike;
        # only a write moves the read floor (as the C++ model, without branching on it)
        floors[k, 1] = max(floors[k, 1], step_after)
        if op_write[o]:
            floors[k, 0] = step_after
    return max(total, end)


@numba.njit(cache=True, nogil=True)
def makespan_kernel(op_offsets, op_key, op_shift, op_write, lengths, num_keys, sequence):
    """The makespan of ``sequence`` from an empty lock state (indices unchecked)."""
    floors = np.zeros((num_keys, 2), np.int64)
    total = 0
    for i in range(len(sequence)):
        total = extend_kernel(op_offsets, op_key, op_shift, op_write, lengths, floors, total,
                              sequence[i])
    return total


@numba.njit(cache=True, nogil=True)
def makespans_kernel(op_offsets, op_key, op_shift, op_write, lengths, num_keys, flat,
                     row_offsets):
    """Makespans of many sequences, row r being ``flat[row_offsets[r]:row_offsets[r+1]]``."""
    rows = len(row_offsets) - 1
    out = np.empty(rows, np.int64)
    for r in range(rows):
        out[r] = makespan_kernel(op_offsets, op_key, op_shift, op_write, lengths, num_keys,
                                 flat[row_offsets[r]:row_offsets[r + 1]])
    return out


def _checked(arrays: TxnArrays, sequence: Iterable[int] | np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(sequence)
    if values.size == 0:
        return np.zeros(0, np.int64)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise TypeError(f"{what} must be a 1-D sequence of integer transaction indices")
    values = values.astype(np.int64, copy=False)
    bad = np.flatnonzero((values < 0) | (values >= arrays.num_txns))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{what}'s item {i} is transaction {int(values[i])}, out of range "
                         f"0..{arrays.num_txns - 1}")
    return values


def makespan(arrays: TxnArrays, sequence: Iterable[int] | np.ndarray) -> int:
    """The makespan of a sequence of transaction indices.

    Raises:
        TypeError: Not a 1-D sequence of integers.
        ValueError: An index out of range.
    """
    seq = _checked(arrays, sequence, "the sequence")
    return int(makespan_kernel(*arrays.kernel_args(), arrays.num_keys, seq))


def makespans(arrays: TxnArrays, sequences: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """Makespans of many sequences (a 2-D integer array or a list of sequences).

    Raises:
        TypeError: A row that is not a 1-D sequence of integers.
        ValueError: An index out of range.
    """
    rows = [_checked(arrays, row, f"sequence {r}") for r, row in enumerate(sequences)]
    offsets = np.zeros(len(rows) + 1, np.int64)
    offsets[1:] = np.cumsum([len(row) for row in rows])
    flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return makespans_kernel(*arrays.kernel_args(), arrays.num_keys, flat, offsets)


def extend(arrays: TxnArrays, floors: np.ndarray, total: int, t: int) -> int:
    """Append transaction t to the state ``floors`` (changed in place) whose makespan is
    ``total``; returns the new makespan.

    Raises:
        ValueError: t out of range.
    """
    _checked(arrays, [t], "the transaction")
    return int(extend_kernel(*arrays.kernel_args(), floors, total, t))


def makespan_after(arrays: TxnArrays, floors: np.ndarray, total: int, t: int) -> int:
    """The makespan if t were appended to the state ``floors`` (left unchanged).

    Raises:
        ValueError: t out of range.
    """
    _checked(arrays, [t], "the transaction")
    return max(total, int(end_after_kernel(*arrays.kernel_args(), floors, t)))
