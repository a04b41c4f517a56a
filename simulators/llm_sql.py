"""Tables for the LLM-SQL prefix-reuse problem: packing, CSV loading, column merges, the
seeded generator, and the prefix-hit model (C++ core ``adrs._core.llm_sql_prefix_hits``).

A table is packed as a :class:`PackedTable`: the distinct cell texts once, and an int32
matrix of text ids. That is what the C++ model reads, what a 1-million-row generated
table fits in, and what makes checking a candidate's output cheap (compare id matrices).

The hit model (``../shared/specs/llm_sql.md``, docs/llm_sql.md): rows are sent one after
another; a row's text is its cells concatenated in the row's field order; its hits are
the characters of the longest common prefix with any earlier row (unbounded cache), or
with what a bounded LRU cache of ``capacity`` characters still holds.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, repeat
from pathlib import Path

import numpy as np

__all__ = [
    "ColumnSpec",
    "PackedTable",
    "PrefixHits",
    "TableSpec",
    "check_rearrangement",
    "encode_rows",
    "generate_table",
    "merge_columns",
    "prefix_hit_count",
    "prefix_hits",
    "read_csv",
]


@dataclass(frozen=True, eq=False)
class PackedTable:
    """A table as distinct cell texts plus a matrix of text ids.

    Attributes:
        columns: Column names, in order.
        cells: int32 ``[rows, columns]``: ``texts[cells[r, c]]`` is the cell's text.
            Read-only.
        texts: The distinct cell texts (an id is an index into it).
        source: Where the table came from, for messages.
    """

    columns: tuple[str, ...]
    cells: np.ndarray
    texts: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        """Coerce ``cells`` to read-only int32 and check it against the columns and texts.

        Raises:
            ValueError: Wrong shape, an id outside ``texts``, repeated texts (an output is
                checked id by id) or repeated column names.
        """
        cells = np.ascontiguousarray(self.cells, dtype=np.int32)
        if cells.ndim != 2 or cells.shape[1] != len(self.columns):
            raise ValueError(f"{self.source or 'table'}: cells of shape {cells.shape} do not "
                             f"match {len(self.columns)} columns")
        if cells.size and (cells.min() < 0 or cells.max() >= len(self.texts)):
            raise ValueError(f"{self.source or 'table'}: a cell id is outside the "
                             f"{len(self.texts)} texts")
        if len(set(self.texts)) != len(self.texts):
            raise ValueError(f"{self.source or 'table'}: texts must be distinct")
        if len(set(self.columns)) != len(self.columns):
            repeated = sorted({c for c in self.columns if self.columns.count(c) > 1})
            raise ValueError(f"{self.source or 'table'}: repeated column names {repeated}")
        if cells is self.cells:
            cells = cells.view()
        cells.setflags(write=False)
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "texts", tuple(self.texts))

    @property
    def n_rows(self) -> int:
        return int(self.cells.shape[0])

    @property
    def n_cols(self) -> int:
        return int(self.cells.shape[1])

    @cached_property
    def text_lengths(self) -> np.ndarray:
        """int64 characters of each text."""
        return np.fromiter(map(len, self.texts), np.int64, len(self.texts))

    @cached_property
    def units(self) -> np.ndarray:
        """Every text's characters concatenated: uint8 when the texts are ASCII, else uint32
        code points (one unit is one character either way)."""
        joined = "".join(self.texts)
        if joined.isascii():
            return np.frombuffer(joined.encode("ascii"), np.uint8)
        return np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), "<u4")

    @cached_property
    def text_offsets(self) -> np.ndarray:
        """int64 ``[texts + 1]``: text ``t`` is ``units[offsets[t]:offsets[t + 1]]``."""
        offsets = np.zeros(len(self.texts) + 1, np.int64)
        np.cumsum(self.text_lengths, out=offsets[1:])
        return offsets

    @property
    def total_chars(self) -> int:
        """Characters in all rows' texts (any arrangement of the same cells has as many)."""
        return int(self.text_lengths[self.cells].sum())

    @cached_property
    def text_ids(self) -> dict[str, int]:
        """Text -> id."""
        return {text: i for i, text in enumerate(self.texts)}

    def rows(self) -> list[tuple[str, ...]]:
        """The rows as tuples of cell texts in column order (a new list each call)."""
        if not self.n_cols:
            return [() for _ in range(self.n_rows)]
        texts = np.empty(len(self.texts), dtype=object)
        texts[:] = self.texts
        return list(map(tuple, texts[self.cells].tolist()))

    def take(self, rows: Sequence[int] | np.ndarray, source: str | None = None) -> PackedTable:
        """The table of the given rows, in that order (texts shared)."""
        return PackedTable(self.columns, self.cells[np.asarray(rows, np.int64)], self.texts,
                           self.source if source is None else source)

    @classmethod
    def from_rows(cls, columns: Sequence[str], rows: Iterable[Sequence[str]],
                  source: str = "") -> PackedTable:
        """Pack rows of cell texts.

        Raises:
            ValueError: A row whose length differs from the columns', or a cell that is not
                a str.
        """
        ids: dict[str, int] = {}
        width = len(columns)
        flat: list[int] = []
        count = 0
        for r, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(f"{source or 'table'}: row {r} has {len(row)} cells, "
                                 f"expected {width}")
            for c, cell in enumerate(row):
                if not isinstance(cell, str):
                    raise ValueError(  # noqa: TRY004 - bad input, one-line errors
                        f"{source or 'table'}: row {r}, column {c} is {_a(cell)}, not a str")
                flat.append(ids.setdefault(cell, len(ids)))
            count += 1
        cells = np.array(flat, np.int32).reshape(count, width)
        return cls(tuple(columns), cells, tuple(ids), source)


def read_csv(path: str | os.PathLike[str]) -> PackedTable:
    """Read a CSV file with a header (UTF-8, the csv module's default dialect).

    Cell text is the field text. (The reference reads with pandas, whose type inference
    rewrites some fields, "1.50" as "1.5", "007" as "7", an empty field as "nan"; for the
    beer table the field text is exactly what it uses.) Blank lines are skipped.

    Raises:
        FileNotFoundError: No such file.
        ValueError: No header, repeated column names, or a line whose field count differs
            from the header's (the message gives the line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"table not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path}: no header line")
        ids: dict[str, int] = {}
        flat: list[int] = []
        width = len(header)
        for fields in reader:
            if not fields:
                continue
            if len(fields) != width:
                raise ValueError(f"{path}: line {reader.line_num} has {len(fields)} fields, "
                                 f"the header has {width}")
            flat.extend(ids.setdefault(f, len(ids)) for f in fields)
    cells = np.array(flat, np.int32).reshape(-1, width)
    return PackedTable(tuple(header), cells, tuple(ids), str(path))


def merge_columns(table: PackedTable, groups: Sequence[Sequence[str]]) -> PackedTable:
    """Apply column merges as the reference does (spec "Column merge").

    Each group is replaced by one column named ``"+".join(group)`` (its columns in header
    order) whose cell is the concatenation, with no separator, of the group's cells in
    header order; merged columns come after the remaining columns, in group order.

    Raises:
        ValueError: A group of fewer than two columns, an unknown column, a column in two
            groups, or a group whose columns differ in number of distinct values (the
            reference refuses those).
    """
    if not groups:
        return table
    where = table.source or "table"
    taken: dict[str, int] = {}
    ordered_groups = []
    for g, group in enumerate(groups):
        group = list(group)
        if len(group) < 2:
            raise ValueError(f"{where}: merge group {group} needs at least two columns")
        for name in group:
            if name not in table.columns:
                raise ValueError(f"{where}: merge group {group}: no column {name!r}; columns: "
                                 f"{', '.join(table.columns)}")
            if name in taken:
                raise ValueError(f"{where}: column {name!r} is in merge groups {taken[name]} "
                                 f"and {g}")
            taken[name] = g
        indices = sorted(table.columns.index(name) for name in group)
        distinct = {table.columns[i]: len(np.unique(table.cells[:, i])) for i in indices}
        if len(set(distinct.values())) > 1:
            counts = ", ".join(f"{name} {n}" for name, n in distinct.items())
            raise ValueError(f"{where}: merge group {group}: its columns differ in number of "
                             f"distinct values ({counts}); the reference refuses such a group")
        ordered_groups.append(indices)
    keep = [i for i in range(table.n_cols) if table.columns[i] not in taken]
    columns = [table.columns[i] for i in keep]
    blocks = [table.cells[:, keep]]
    texts = list(table.texts)
    ids = dict(table.text_ids)
    for indices in ordered_groups:
        name = "+".join(table.columns[i] for i in indices)
        if name in columns or name in table.columns:
            raise ValueError(f"{where}: merged column name {name!r} is already a column")
        columns.append(name)
        combos, inverse = np.unique(table.cells[:, indices], axis=0, return_inverse=True)
        merged_ids = np.empty(len(combos), np.int32)
        for k, combo in enumerate(combos.tolist()):
            text = "".join(table.texts[t] for t in combo)
            merged_ids[k] = ids.setdefault(text, len(ids))
            if merged_ids[k] == len(texts):
                texts.append(text)
        blocks.append(merged_ids[inverse.reshape(-1)][:, None])
    cells = np.hstack(blocks) if blocks else np.zeros((table.n_rows, 0), np.int32)
    return PackedTable(tuple(columns), cells, tuple(texts), table.source)


# -- the prefix-hit model --------------------------------------------------------------


@dataclass(frozen=True)
class PrefixHits:
    """Hits of a table's rows in send order.

    Attributes:
        hits: int64 per row in send order: characters served from the cache.
        lengths: int64 per row in send order: characters of its text.
        capacity: The bounded cache's characters, or None for the unbounded cache.
    """

    hits: np.ndarray
    lengths: np.ndarray
    capacity: int | None

    @property
    def hit_count(self) -> int:
        return int(self.hits.sum())

    @property
    def total_chars(self) -> int:
        return int(self.lengths.sum())

    @property
    def hit_rate(self) -> float:
        """Hits / characters (0 for an empty table)."""
        total = self.total_chars
        return self.hit_count / total if total else 0.0


def prefix_hits(table: PackedTable, row_order: Sequence[int] | np.ndarray | None = None,
                field_order: np.ndarray | None = None,
                capacity: int | None = None) -> PrefixHits:
    """Prefix-cache hits of the table's rows sent one after another (C++ core).

    Args:
        table: The table.
        row_order: Table rows in send order (a permutation); None: table order.
        field_order: int ``[rows, columns]``: each table row's own field order (a
            permutation of the columns per row); None: column order.
        capacity: Characters of the bounded LRU cache; None: the unbounded (reference)
            cache.

    Raises:
        ValueError: A row order or field order that is not a permutation (the message
            names the row), or a negative capacity.
    """
    from adrs import _core

    if capacity is not None and capacity < 0:
        raise ValueError(f"capacity must be 0 or more characters, got {capacity}")
    hits, lengths = _core.llm_sql_prefix_hits(
        table.cells, table.units, table.text_offsets,
        None if row_order is None else np.asarray(row_order, np.int64),
        None if field_order is None else np.asarray(field_order, np.int32),
        -1 if capacity is None else int(capacity))
    return PrefixHits(hits, lengths, capacity)


def prefix_hit_count(rows: Iterable[Sequence[str]], capacity: int | None = None) -> int:
    """Hit count of rows of cell texts sent in the order given (a helper for candidates).

    Args:
        rows: Each row's cells, in the order they are sent (rows may differ in length).
        capacity: Characters of the bounded LRU cache; None: unbounded.

    Raises:
        ValueError: A cell that is not a str.
    """
    rows = [tuple(row) for row in rows]
    width = max(map(len, rows), default=0)
    # pad short rows with the empty text: it adds no characters
    padded = [row + ("",) * (width - len(row)) for row in rows]
    table = PackedTable.from_rows(tuple(str(i) for i in range(width)), padded)
    return prefix_hits(table, capacity=capacity).hit_count


# -- checking a candidate's output -----------------------------------------------------


def encode_rows(table: PackedTable, rows: object) -> np.ndarray:
    """The id matrix of a candidate's rows, checked for shape and known cells.

    Args:
        table: The table the candidate was given.
        rows: What it returned: a sequence of rows, each a sequence of str cells.

    Returns:
        int32 ``[len(rows), table.n_cols]``.

    Raises:
        ValueError: Not a sequence of rows, a row of the wrong length, a cell that is not a
            str or not a cell of the table; the message names the row and cell.
    """
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise ValueError(  # noqa: TRY004 - a bad candidate is bad input
            f"expected a list of rows, got {_a(rows)}")
    rows = list(rows)
    width = table.n_cols
    try:
        lengths = list(map(len, rows))
    except TypeError:
        bad = next(i for i, row in enumerate(rows) if not hasattr(row, "__len__"))
        raise ValueError(f"output row {bad} is {_a(rows[bad])}, not a sequence of cells"
                         ) from None
    if any(length != width for length in lengths):
        bad = next(i for i, length in enumerate(lengths) if length != width)
        raise ValueError(f"output row {bad} has {lengths[bad]} cells, the table has {width} "
                         "columns")
    for bad, row in enumerate(rows):
        if isinstance(row, (str, bytes)):
            raise ValueError(  # noqa: TRY004 - a bad candidate is bad input
                f"output row {bad} is {_a(row)}, not a sequence of cells")
    flat = list(chain.from_iterable(rows))
    ids_of = table.text_ids
    try:
        ids = np.fromiter(map(ids_of.get, flat, repeat(-1)), np.int64, len(flat))
    except TypeError:  # an unhashable cell
        ids = np.array([ids_of.get(c, -1) if _hashable(c) else -1 for c in flat], np.int64)
    unknown = np.flatnonzero(ids < 0)
    if unknown.size:
        k = int(unknown[0])
        row, column = divmod(k, width)
        cell = flat[k]
        if not isinstance(cell, str):
            raise ValueError(f"output row {row}, cell {column} is {_a(cell)} "
                             f"({_short(repr(cell))}), not a str")
        raise ValueError(f"output row {row}, cell {column} ({_short(repr(cell))}) is not a cell "
                         "of the table")
    return ids.astype(np.int32).reshape(len(rows), width)


def check_rearrangement(table: PackedTable, cells: np.ndarray) -> None:
    """Check that ``cells`` holds the table's rows, each once, each with its own cells.

    A row may come anywhere and may order its own cells any way; nothing else may change
    (no row lost, repeated, invented or altered). Rows are compared as multisets of cells.

    Raises:
        ValueError: The first difference: an output row no table row matches, an output
            row that comes too often, or a table row that is missing.
    """
    expected_keys, expected_counts, expected_first = _row_multiset(table.cells)
    got_keys, got_counts, got_first = _row_multiset(cells)
    if np.array_equal(got_keys, expected_keys) and np.array_equal(got_counts, expected_counts):
        return
    prefix = (f"the output has {cells.shape[0]} rows, the table has {table.n_rows}: "
              if cells.shape[0] != table.n_rows else "")
    want = _counts_of(expected_keys, expected_counts, got_keys)
    invented = np.flatnonzero(want == 0)
    if invented.size:
        row = int(got_first[invented].min())
        raise ValueError(f"{prefix}output row {row} {_show(table, cells[row])} is not a row of "
                         "the table: no table row holds these cells (a row may reorder its "
                         "own cells, nothing else)")
    repeated = np.flatnonzero(got_counts > want)
    if repeated.size:
        k = int(repeated[np.argmin(got_first[repeated])])
        row = int(got_first[k])
        times = "once" if want[k] == 1 else f"{int(want[k])} times"
        raise ValueError(f"{prefix}output row {row} {_show(table, cells[row])} appears "
                         f"{int(got_counts[k])} times in the output but {times} in the table")
    have = _counts_of(got_keys, got_counts, expected_keys)
    missing = np.flatnonzero(have < expected_counts)
    row = int(expected_first[missing].min())
    raise ValueError(f"{prefix}table row {row} {_show(table, table.cells[row])} is missing "
                     "from the output")


def _counts_of(keys: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
    """How often each ``query`` key occurs, given sorted distinct ``keys`` and ``counts``."""
    if not len(keys):
        return np.zeros(len(query), np.int64)
    position = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[position] == query, counts[position], 0)


def _show(table: PackedTable, ids: np.ndarray) -> str:
    return _short(repr([table.texts[i] for i in ids.tolist()]))


def _row_keys(sorted_cells: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(sorted_cells.astype(">i4"))
    return rows.view(np.dtype((np.void, 4 * rows.shape[1]))).reshape(-1)


def _row_multiset(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each distinct row-as-multiset (sorted ids as bytes), its count, and its first row."""
    if cells.shape[1] == 0:
        key = np.zeros(cells.shape[0], np.dtype((np.void, 1)))
    else:
        key = _row_keys(np.sort(cells, axis=1))
    keys, first, counts = np.unique(key, return_index=True, return_counts=True)
    return keys, counts, first


def _a(value: object) -> str:
    """``a str``, ``an int``: the type of ``value`` with its article."""
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


# -- the seeded generator --------------------------------------------------------------

KINDS = ("words", "code", "integer", "timestamp", "fraction", "boolean")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a generated table.

    Attributes:
        name: Column name.
        cardinality: Distinct values it draws from (for ``fraction``: the denominator, so
            values are ``1/d`` .. ``d/d``).
        kind: ``words`` (phrases of pseudo-words; values share leading words in families,
            like a brewery's beers), ``code`` (random alphanumeric identifiers),
            ``integer``, ``timestamp`` (10-digit seconds on day boundaries),
            ``fraction`` (ratings such as ``4/5``) or ``boolean`` (``True``/``False``;
            cardinality 2).
        length: Mean characters of a ``words`` or ``code`` value, digits of an ``integer``.
        skew: Zipf exponent of value popularity (0: uniform; 1: a few values dominate).
        parent: A column generated earlier that this one depends on, or None.
        dependence: With a parent, the probability that a row takes the value its parent's
            value maps to (1.0: a functional dependency, like a beer's style), else an
            independent draw. A child with dependence 1.0 and its parent's cardinality is
            a one-to-one relabelling (like a beer's id), so the two can be merged.
    """

    name: str
    cardinality: int
    kind: str = "words"
    length: float = 8.0
    skew: float = 1.0
    parent: str | None = None
    dependence: float = 1.0


@dataclass(frozen=True)
class TableSpec:
    """A generated table: its columns, the merges its evaluation declares, and the row
    order (clustered by one column, like a table dumped entity by entity, or shuffled).

    Attributes:
        name: Short name (shown in feedback).
        columns: Column specs, parents before children.
        merges: Column groups the evaluator merges (see :func:`merge_columns`).
        cluster_by: Sort the rows by this column's value index (stable), or None to keep
            them in random order.
        header: The column order of the table (default: the order of ``columns``).
    """

    name: str
    columns: tuple[ColumnSpec, ...]
    merges: tuple[tuple[str, ...], ...] = ()
    cluster_by: str | None = None
    header: tuple[str, ...] = ()


def generate_table(spec: TableSpec, n_rows: int, seed: int) -> PackedTable:
    """Generate a table from its spec (deterministic in ``seed``; fast at 1 million rows).

    Raises:
        ValueError: An unknown kind, a parent that is not an earlier column, a cardinality
            below 1, a negative row count, or a dependence outside [0, 1].
    """
    if n_rows < 0:
        raise ValueError(f"{spec.name}: n_rows must be 0 or more, got {n_rows}")
    rng = np.random.default_rng([seed, _stable_hash(spec.name)])
    index: dict[str, np.ndarray] = {}
    vocab: dict[str, list[str]] = {}
    for col in spec.columns:
        if col.kind not in KINDS:
            raise ValueError(f"{spec.name}.{col.name}: unknown kind {col.kind!r}; expected one "
                             f"of {', '.join(KINDS)}")
        if col.cardinality < 1:
            raise ValueError(f"{spec.name}.{col.name}: cardinality must be at least 1")
        if not 0.0 <= col.dependence <= 1.0:
            raise ValueError(f"{spec.name}.{col.name}: dependence must be in [0, 1]")
        values = _values(col, rng)
        weights = _zipf(len(values), col.skew, rng)
        drawn = rng.choice(len(values), size=n_rows, p=weights)
        if col.parent is not None:
            if col.parent not in index:
                raise ValueError(f"{spec.name}.{col.name}: parent {col.parent!r} is not an "
                                 "earlier column")
            parent_values = len(vocab[col.parent])
            if col.dependence == 1.0 and parent_values == len(values):
                mapping = rng.permutation(len(values))  # one-to-one: an id of the parent
            else:
                mapping = rng.choice(len(values), size=parent_values, p=weights)
            follow = rng.random(n_rows) < col.dependence
            drawn = np.where(follow, mapping[index[col.parent]], drawn)
        index[col.name] = drawn
        vocab[col.name] = values
    order = np.arange(n_rows)
    if spec.cluster_by is not None:
        if spec.cluster_by not in index:
            raise ValueError(f"{spec.name}: cluster_by {spec.cluster_by!r} is not a column")
        order = np.argsort(index[spec.cluster_by], kind="stable")
    header = spec.header or tuple(c.name for c in spec.columns)
    if sorted(header) != sorted(index):
        raise ValueError(f"{spec.name}: header {list(header)} must name every column once")
    ids: dict[str, int] = {}
    blocks = []
    for name in header:
        lookup = np.array([ids.setdefault(v, len(ids)) for v in vocab[name]], np.int32)
        blocks.append(lookup[index[name][order]])
    cells = np.stack(blocks, axis=1) if blocks else np.zeros((n_rows, 0), np.int32)
    return PackedTable(tuple(header), cells, tuple(ids),
                       f"generated {spec.name} (seed {seed}, {n_rows} rows)")


_SYLLABLES = ("ba", "be", "bi", "bo", "ka", "ke", "ko", "la", "le", "lo", "ma", "me", "mi",
              "mo", "na", "ne", "no", "ra", "re", "ri", "ro", "sa", "se", "so", "ta", "te",
              "ti", "to", "va", "ve", "za", "zo")
_FIRST_DAY = 1_000_080_000  # 2001-09-10 00:00 UTC: the first whole day of 10-digit seconds
_ALNUM = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))


def _word(rng: np.random.Generator) -> str:
    n = int(rng.integers(1, 4))
    word = "".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), n))
    return word.capitalize()


def _values(col: ColumnSpec, rng: np.random.Generator) -> list[str]:
    """``col.cardinality`` distinct value texts."""
    n = col.cardinality
    values: list[str] = []
    seen: set[str] = set()

    def add(text: str) -> None:
        while text in seen:  # keep values distinct
            text = f"{text}{len(seen) % 10}"
        seen.add(text)
        values.append(text)

    if col.kind == "boolean":
        values = ["True", "False"][:n]
        return values
    if col.kind == "fraction":
        for k in range(1, n + 1):
            add(f"{k}/{n}")
    elif col.kind == "integer":
        digits = max(1, round(col.length))
        low = 10 ** (digits - 1) if digits > 1 else 0
        for v in rng.integers(low, 10 ** digits, size=n):
            add(str(int(v)))
    elif col.kind == "timestamp":
        days = rng.choice(np.arange(4000), size=min(n, 4000), replace=False)
        for d in np.sort(days):
            add(str(_FIRST_DAY + 86400 * int(d)))
        while len(values) < n:
            add(str(_FIRST_DAY + int(rng.integers(0, 400_000_000))))
    elif col.kind == "code":
        length = max(1, round(col.length))
        for _ in range(n):
            add("".join(rng.choice(_ALNUM, size=length)))
    else:  # words: families of phrases sharing a leading word or two
        families = max(1, n // 6)
        heads = [" ".join(_word(rng) for _ in range(int(rng.integers(1, 3))))
                 for _ in range(families)]
        for k in range(n):
            text = heads[int(rng.integers(0, families))] if families > 1 else heads[0]
            target = max(1.0, rng.normal(col.length, col.length / 4))
            while len(text) < target:
                text = f"{text} {_word(rng)}"
            add(text)
    return values


def _zipf(n: int, skew: float, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** skew
    rng.shuffle(weights)
    return weights / weights.sum()


def _stable_hash(text: str) -> int:
    value = 0
    for ch in text.encode():
        value = (value * 131 + ch) % (1 << 31)
    return value
