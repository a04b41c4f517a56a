"""Validation of a returned schedule: only a permutation of every transaction passes.

The reference evaluator accepted any list holding every index below its own length, so
an empty or truncated schedule passed (``../shared/specs/txn.md``); this one names what is
wrong instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_SHOWN = 8  # indices listed in a message before "..."


class InvalidSchedule(ValueError):
    """The schedule is not a permutation of all transactions; the message says why."""


def check_schedule(value: Any, num_txns: int) -> np.ndarray:
    """The schedule as an int64 array, if it is a permutation of ``0..num_txns-1``.

    Args:
        value: What the candidate returned: a list, tuple or 1-D integer array.
        num_txns: Number of transactions of the workload.

    Raises:
        InvalidSchedule: Wrong type, an item that is not an integer, empty, an index out
            of range, a transaction repeated or missing.
    """
    schedule = _as_indices(value)
    expected = f"a permutation of all {num_txns} transactions (0..{num_txns - 1})"
    if schedule.size == 0:
        raise InvalidSchedule(f"the schedule is empty; expected {expected}")
    bad = np.flatnonzero((schedule < 0) | (schedule >= num_txns))
    if bad.size:
        more = f" ({bad.size} items out of range)" if bad.size > 1 else ""
        raise InvalidSchedule(f"item {int(bad[0])} of the schedule is {int(schedule[bad[0]])}, "
                              f"out of range 0..{num_txns - 1}{more}")
    counts = np.bincount(schedule, minlength=num_txns)
    problems = []
    repeated = np.flatnonzero(counts > 1)
    if repeated.size:
        t = int(repeated[0])
        items = np.flatnonzero(schedule == t)
        shown = ", ".join(str(int(i)) for i in items[:_SHOWN])
        problems.append(f"transaction {t} appears {int(counts[t])} times (items {shown}"
                        f"{', ...' if items.size > _SHOWN else ''})")
        if repeated.size > 1:
            problems[-1] += f", and {repeated.size - 1} more transactions appear more than once"
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        problems.append(f"{missing.size} of {num_txns} transactions missing: "
                        + _listing(missing))
    if problems:
        length = f"{schedule.size} items for {num_txns} transactions; " \
            if schedule.size != num_txns else ""
        raise InvalidSchedule(f"the schedule is not {expected}: {length}" + "; ".join(problems))
    return schedule


def _listing(values: np.ndarray) -> str:
    shown = ", ".join(str(int(v)) for v in values[:_SHOWN])
    return shown + (", ..." if values.size > _SHOWN else "")


def _as_indices(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise InvalidSchedule(f"the schedule is an array of shape {value.shape}; expected "
                                  "a 1-D list of transaction indices")
        if value.dtype.kind not in "iu":
            raise InvalidSchedule(f"the schedule is an array of dtype {value.dtype}; expected "
                                  "integer transaction indices")
        if value.dtype.kind == "u" and value.size and value.max() > np.iinfo(np.int64).max:
            raise InvalidSchedule("the schedule holds an index too large for int64")
        return value.astype(np.int64)
    if not isinstance(value, (list, tuple)):
        raise InvalidSchedule(f"schedule returned {type(value).__name__}, not a list of "
                              "transaction indices")
    for i, item in enumerate(value):
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise InvalidSchedule(f"item {i} of the schedule is {_short_repr(item)} "
                                  f"({type(item).__name__}), not an integer transaction index")
    try:
        return np.array(value, dtype=np.int64)
    except OverflowError:
        raise InvalidSchedule("the schedule holds an index too large for int64") from None


def _short_repr(item: Any) -> str:
    # repr only of plain values: a candidate's own class could run code in __repr__
    if not isinstance(item, (bool, float, complex, str, bytes, np.generic, type(None))):
        return "an object"
    text = repr(item)
    return text if len(text) <= 40 else text[:37] + "..."
