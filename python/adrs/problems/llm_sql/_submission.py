"""An adrs llm-sql program as an ADRS Leaderboard submission, so that ``llm-sql@leaderboard``
scores our programs (the baselines, a run's best) exactly as it scores the leaderboard's.

A submission is a ``solution.py`` whose ``Solution().solve(df, col_merge=..., ...)``
returns the reordered frame. :func:`submission_source` writes such a file around a
program that defines ``reorder(table)``: ``solve()`` merges the columns as the leaderboard
names them, hands the program a :class:`~adrs.problems.llm_sql._table.Table` of the cell
texts (the evaluator's rule), and returns its rows as a frame, each row's cells in the
program's order. The file runs in the submission's jail like any other; the judge checks
and scores what ``solve()`` returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from adrs.problems.llm_sql._leaderboard import cell_texts
from adrs.problems.llm_sql._table import Table

_SOURCE = '''"""An adrs llm-sql program as an ADRS Leaderboard submission (written by adrs)."""

from adrs.problems.llm_sql._submission import program_solution

PROGRAM = {program!r}

Solution = program_solution(PROGRAM)
'''


def submission_source(program: str) -> str:
    """The ``solution.py`` text that submits ``program`` (which defines ``reorder``)."""
    return _SOURCE.format(program=program)


def program_solution(program: str) -> type:
    """A leaderboard ``Solution`` class whose ``solve()`` runs ``program``'s ``reorder``.

    Raises:
        TypeError: (at ``Solution()``) The program defines no function ``reorder``.
    """

    class Solution:
        def __init__(self) -> None:
            namespace: dict[str, Any] = {"__name__": "adrs_program"}
            exec(compile(program, "program.py", "exec"), namespace)  # noqa: S102 - jailed
            reorder = namespace.get("reorder")
            if not callable(reorder):
                raise TypeError("the program defines no function 'reorder'")
            self.reorder = reorder

        def solve(self, df: Any, col_merge: Sequence[Sequence[str]] | None = None,
                  **_options: Any) -> Any:
            return program_frame(self.reorder, df, col_merge or ())

    return Solution


def program_frame(reorder: Callable[[Table], Any], frame: Any,
                  col_merge: Sequence[Sequence[str]]) -> Any:
    """``reorder``'s rows of ``frame`` as a frame.

    Each merge group whose columns all exist becomes one column ``"a+b"`` (our
    programs' name for it), last, its cells the group's cell texts concatenated; the
    program gets the rows as tuples of cell texts and returns them in its order, each
    row's cells in its own order.
    """
    import pandas as pd

    columns = [str(column) for column in frame.columns]
    groups = [[columns.index(str(c)) for c in group] for group in col_merge
              if group and all(str(c) in columns for c in group)]
    grouped = {index for group in groups for index in group}
    kept = [index for index in range(len(columns)) if index not in grouped]
    merged = tuple("+".join(columns[i] for i in group) for group in groups)
    names = tuple(columns[i] for i in kept) + merged
    rows = [tuple([row[i] for i in kept] + ["".join(row[i] for i in group)
                                            for group in groups])
            for row in cell_texts(frame)]
    output = reorder(Table("leaderboard", names, rows, merged))
    if isinstance(output, Table):
        output = output.rows
    return pd.DataFrame([list(row) for row in output])
