"""The table a candidate reorders, in the form it receives it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from adrs.simulators.llm_sql import prefix_hit_count


@dataclass(frozen=True)
class Table:
    """One table handed to ``reorder(table)``.

    Attributes:
        name: Short name of the table (``beer``...).
        columns: Column names, after the evaluator's merges: a merged column is named
            ``"a+b"`` and each of its cells is the concatenation of the merged cells.
        rows: The rows, each a tuple of str cells in column order. A fresh list for every
            call: the candidate may sort it in place.
        merged: Names of the merged columns (the merge groups the evaluation declares;
            they are wide keys, such as a beer's name and id).
    """

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    merged: tuple[str, ...] = ()

    def hit_count(self, rows: Iterable[Sequence[str]], capacity: int | None = None) -> int:
        """Prefix hits of ``rows`` sent in that order, each row's cells in its own order
        (the evaluator's model, computed natively; ``capacity``: the bounded LRU cache's
        characters, None for the unbounded cache the score uses)."""
        return prefix_hit_count(rows, capacity)
