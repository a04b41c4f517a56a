"""The ADRS Leaderboard's llm_sql rules, on the judge's side.

The leaderboard scores a ``Solution.solve(df, ...) -> DataFrame`` on five tables (movies,
beer, BIRD, PDMX, products). Per table: the hit rate of the returned frame, each row's
text being ``"".join(row.fillna("").astype(str).values)``, and the wall time of
``solve()``; per evaluation:

    normalized = clip((avg_hit - baseline_hit) / (1 - baseline_hit) * 100, 0, 100)
    runtime_component = (10 - min(10, avg_runtime)) / 10 * 100
    score = 0.95 * normalized + 0.05 * runtime_component

with ``baseline_hit`` the mean hit rate of the tables in their own column order after
the evaluator's column merges (merged column last, its sources dropped). Averages are
over the tables scored. Only the tables present are scored (the leaderboard's evaluator
does the same with what it finds); the published scores used all five.

One departure, on purpose: the leaderboard's evaluator pairs the merge specs with the
tables it finds by position (``col_merges[:len(found)]``), so with fewer than five tables
a table gets another table's merges. We pair them by name, which is what the evaluator
does when all five are present.

The judge reads the tables itself (pandas, as the evaluator does), computes every cell's
text by the rule above, checks the rows the candidate returns are a rearrangement of the
table's (each output row holds exactly one input row's cells, in any columns, a merge
group's cells either apart or concatenated in any order), and computes the hit rate with our own
native model (``adrs.simulators.llm_sql``).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adrs.simulators.llm_sql import prefix_hit_count

# the leaderboard's tables, in its order, with its merge specs (problems/llm_sql/evaluator.py)
TABLES: dict[str, list[list[str]]] = {
    "movies.csv": [["movieinfo", "movietitle", "rottentomatoeslink"]],
    "beer.csv": [["beer/beerId", "beer/name"]],
    "BIRD.csv": [["PostId", "Body"]],
    "PDMX.csv": [["path", "metadata"], ["hasmetadata", "isofficial", "isuserpublisher",
                                        "isdraft", "hasannotations", "subsetall"]],
    "products.csv": [["product_title", "parent_asin"]],
}
# ../shared/data names the beer table this way; the same table as the leaderboard's beer.csv
ALIASES = {"beer.csv": ("llm_sql_beer.csv",)}
# solve()'s arguments, as the evaluator passes them (col_merge is the table's own)
SOLVE_ARGUMENTS: dict[str, Any] = {"early_stop": 100000, "row_stop": 4, "col_stop": 2,
                                   "one_way_dep": [], "distinct_value_threshold": 0.7,
                                   "parallel": True}
RUNTIME_THRESHOLD_S = 10.0
HIT_WEIGHT = 0.95
RUNTIME_WEIGHT = 0.05


def find_tables(data: str | os.PathLike[str] | None) -> dict[str, Path]:
    """The leaderboard tables in folder ``data`` (``$ADRS_DATA_DIR`` when None), by the
    leaderboard's file name, in its order.

    Raises:
        ValueError: No folder given, or none of the five tables is in it.
    """
    root = data if data is not None else os.environ.get("ADRS_DATA_DIR")
    if root is None:
        raise ValueError("llm-sql@leaderboard needs --data DIR holding any of "
                         f"{', '.join(TABLES)}")
    folder = Path(root).expanduser()
    if folder.is_file():
        folder = folder.parent
    found = {}
    for name in TABLES:
        for candidate in (name, *ALIASES.get(name, ())):
            if (folder / candidate).is_file():
                found[name] = folder / candidate
                break
    if not found:
        raise ValueError(f"llm-sql@leaderboard: none of the leaderboard's tables "
                         f"({', '.join(TABLES)}) is in {folder}")
    return found


def cell_texts(frame: Any) -> list[list[str]]:
    """Every row's cell texts by the evaluator's rule: ``row.fillna("").astype(str)``
    over ``iterrows()`` (whose rows take the frame's common dtype, ``frame.values``)."""
    import pandas as pd

    values = frame.to_numpy()
    missing = pd.isna(values)
    return [["" if gone else str(value) for value, gone in zip(row, gaps)]
            for row, gaps in zip(values.tolist(), missing.tolist())]


def merged_frame(frame: Any, merges: Sequence[Sequence[str]]) -> Any:
    """The evaluator's merge for its baseline: each group whose columns all exist becomes
    one column ``"_".join(group)`` (the cells' ``f"{value}"`` concatenated), appended last,
    its sources dropped."""
    for group in merges:
        if all(column in frame.columns for column in group):
            frame = frame.copy()
            frame["_".join(group)] = frame[list(group)].apply(
                lambda x: "".join([f"{val}" for val in x]), axis=1)
            frame = frame.drop(columns=list(group))
    return frame


@dataclass(frozen=True)
class LeaderboardTable:
    """One table as the judge holds it.

    Attributes:
        name: The leaderboard's file name (``beer.csv``).
        path: The CSV read.
        csv: Its bytes (the jail reads the same bytes).
        rows: Every row's cell texts, in the file's column order.
        merges: The evaluator's merge specs for it.
        merge_index: Per merge group present, the column indices it joins.
        baseline_hit_rate: Hit rate of the merged table in its own order.
    """

    name: str
    path: Path
    csv: bytes
    rows: tuple[tuple[str, ...], ...]
    merges: tuple[tuple[str, ...], ...]
    merge_index: tuple[tuple[int, ...], ...]
    baseline_hit_rate: float

    @property
    def total_chars(self) -> int:
        return sum(len(cell) for row in self.rows for cell in row)


def load_table(name: str, path: Path) -> LeaderboardTable:
    """Read one table as the evaluator does (``pd.read_csv(path, low_memory=False)``)."""
    import pandas as pd

    frame = pd.read_csv(path, low_memory=False)
    merges = TABLES[name]
    rows = tuple(tuple(row) for row in cell_texts(frame))
    columns = list(frame.columns)
    present = tuple(tuple(columns.index(c) for c in group) for group in merges
                    if all(c in columns for c in group))
    baseline_rows = cell_texts(merged_frame(frame, merges))
    total = sum(len(cell) for row in baseline_rows for cell in row)
    hits = prefix_hit_count(baseline_rows)
    return LeaderboardTable(name, path, Path(path).read_bytes(), rows,
                            tuple(tuple(g) for g in merges), present,
                            hits / total if total else 0.0)


def _fits(cells: Sequence[str], row: Sequence[str],
          merge_index: Sequence[Sequence[int]]) -> bool:
    """Whether output ``cells`` hold exactly input ``row``'s cells: each cell outside the
    merge groups as it is, each group's cells apart or concatenated in any order (GGR
    solvers merge ``beer/name`` before ``beer/beerId``). Empty texts are left out: they add
    no characters."""
    grouped = {i for group in merge_index for i in group}
    left = Counter(cell for cell in cells if cell)
    for i, cell in enumerate(row):
        if i not in grouped and cell:
            if left[cell] == 0:
                return False
            left[cell] -= 1
    remaining = list(left.elements())
    pool = [[row[i] for i in group if row[i]] for group in merge_index]
    return _cover(remaining, pool)


def _cover(cells: list[str], pool: list[list[str]]) -> bool:
    """Whether ``cells`` split into the pool's groups' texts, every text used once, each
    cell the concatenation of some texts of one group."""
    if not cells:
        return not any(pool)
    cell, rest = cells[0], cells[1:]
    for g, texts in enumerate(pool):
        for used, remainder in _spell(cell, texts):
            if used and _cover(rest, [*pool[:g], remainder, *pool[g + 1:]]):
                return True
    return False


def _spell(cell: str, texts: list[str]):
    """Ways to write ``cell`` as a concatenation of distinct ``texts``: yields (how many
    used, the texts left)."""
    if not cell:
        yield 0, texts
        return
    for k, text in enumerate(texts):
        if text and cell.startswith(text) and text not in texts[:k]:
            for used, left in _spell(cell[len(text):], texts[:k] + texts[k + 1:]):
                yield used + 1, left


def check_rows(table: LeaderboardTable, output: Sequence[Sequence[str]]) -> None:
    """Check ``output`` is a rearrangement of the table: as many rows, each holding one
    input row's cells (in any columns; merge groups apart or concatenated), every input
    row used once.

    Raises:
        ValueError: It is not; the message names the first row that does not fit.
    """
    if len(output) != len(table.rows):
        raise ValueError(f"{table.name}: solve() returned {len(output):,} rows, the table "
                         f"has {len(table.rows):,}")
    # rows are first matched on their characters, then checked cell by cell
    owners: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(table.rows):
        owners["".join(sorted("".join(row)))].append(index)
    used = np.zeros(len(table.rows), dtype=bool)
    for number, cells in enumerate(output):
        candidates = owners.get("".join(sorted("".join(cells))), [])
        match = next((i for i in candidates if not used[i]
                      and _fits(cells, table.rows[i], table.merge_index)), None)
        if match is None:
            shown = "".join(cells)[:120]
            raise ValueError(f"{table.name}: row {number} of solve()'s result is no "
                             f"rearrangement of a row of the table left over: {shown!r}")
        used[match] = True


def score(hit_rates: Sequence[float], runtimes: Sequence[float],
          baseline_hit_rate: float) -> dict[str, float]:
    """The leaderboard's 0-100 score and its parts (the evaluator's names)."""
    avg_hit = sum(hit_rates) / len(hit_rates)
    avg_runtime = sum(runtimes) / len(runtimes)
    if baseline_hit_rate >= 1.0:
        normalized = 100.0 if avg_hit >= 1.0 else 0.0
    else:
        normalized = (avg_hit - baseline_hit_rate) / (1.0 - baseline_hit_rate) * 100
        normalized = max(0, min(100, normalized))
    runtime_component = (RUNTIME_THRESHOLD_S - min(RUNTIME_THRESHOLD_S, avg_runtime)) \
        / RUNTIME_THRESHOLD_S * 100
    return {"score": HIT_WEIGHT * normalized + RUNTIME_WEIGHT * runtime_component,
            "avg_hit_rate": avg_hit * 100, "normalized_hit_score": float(normalized),
            "runtime_component": runtime_component, "total_runtime": float(sum(runtimes)),
            "avg_runtime": avg_runtime, "baseline_hit_rate": baseline_hit_rate}
