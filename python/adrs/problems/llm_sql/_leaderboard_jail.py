"""The jail side of ``llm-sql@leaderboard`` for leaderboard submissions: import the
submission's ``solution.py`` (with the ``.py`` files beside it, staged where the
leaderboard stages them), call ``Solution().solve(df, ...)`` on one table, send back the
cell texts of the frame it returns.

Everything a submission runs happens here. ``solve`` answers with nothing, so that the
judge's clock around that call measures ``solve()`` alone; ``rows`` then sends the
result's cell texts, by the evaluator's rule. The judge checks they are a rearrangement
of its own copy of the table and computes the hit rate itself.
"""

from __future__ import annotations

import glob
import io
import os
import shutil
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs.jail import CandidateError, Handler
from adrs.jail.handler import call_candidate, describe
from adrs.leaderboard._solve_jail import load_solution_class, stage
from adrs.problems.llm_sql._leaderboard import SOLVE_ARGUMENTS, cell_texts


class LeaderboardSolutionHandler(Handler):
    """``solve {table}`` runs the submission on a table; ``rows`` returns the result's
    cell texts (``data``: their UTF-8 concatenation, ``lengths``: each cell's characters,
    row by row; header ``rows``, ``columns``)."""

    @classmethod
    def prepare(cls, shared: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        import pandas as pd

        frames = {name: pd.read_csv(io.BytesIO(arrays[f"{name}.csv"].tobytes()),
                                    low_memory=False)
                  for name in shared["tables"]}
        return shared, frames

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        shared, self.frames = prepared
        self.merges = shared["merges"]
        source = str(shared["path"])
        path = stage(source, shared.get("root"), shared.get("folder"), program)
        here = os.path.dirname(path)
        # the leaderboard copies every .py of the submission's resources beside it
        if path != source:
            for sibling in glob.glob(os.path.join(os.path.dirname(source), "*.py")):
                if os.path.basename(sibling) != "solution.py":
                    shutil.copy(sibling, here)
        # its evaluator puts the problem's resources, then the solution's folder, first
        resources = os.path.dirname(os.path.dirname(here))
        for folder in (resources, here):
            if os.path.isdir(folder) and folder not in sys.path:
                sys.path.insert(0, folder)
        solution_class = load_solution_class(program, path, filename, "solution")
        self.solver = call_candidate(solution_class, what="Solution()", filename=path)
        if not callable(getattr(self.solver, "solve", None)):
            raise CandidateError("the Solution class has no solve() method")
        self.path = path
        self.result: Any = None

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op == "solve":
            name = str(header["table"])
            frame = self.frames[name].copy()
            merges = [list(group) for group in self.merges[name]]
            self.result = call_candidate(
                lambda: self.solver.solve(frame, col_merge=merges, **SOLVE_ARGUMENTS),
                what="Solution.solve()", filename=self.path)
            return {}, {}
        if op == "rows":
            import pandas as pd

            if not isinstance(self.result, pd.DataFrame):
                raise CandidateError("Solution.solve() must return a pandas DataFrame; it "
                                     f"returned {type(self.result).__name__}")
            try:
                rows = cell_texts(self.result)
            except Exception as exc:  # noqa: BLE001 - the frame is the submission's object
                raise CandidateError(f"the frame solve() returned cannot be read: "
                                     f"{describe(exc, self.path)}") from None
            cells = [cell for row in rows for cell in row]
            data = np.frombuffer("".join(cells).encode("utf-8", "surrogatepass"), np.uint8)
            lengths = np.fromiter((len(cell) for cell in cells), np.int64, len(cells))
            return ({"rows": len(rows), "columns": int(self.result.shape[1])},
                    {"data": data, "lengths": lengths})
        return super().handle(op, header, arrays)
