"""Where the ``llm-sql`` tables come from, and which tables make each split.

``train`` is the beer table of the reference evaluator with its merge (beer/beerId and
beer/name), or, with no data, a generated table shaped like it. ``test`` is three
generated tables of other shapes, held out. ``quick`` is the first rows of ``train``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from adrs.simulators.llm_sql import (
    ColumnSpec,
    PackedTable,
    TableSpec,
    generate_table,
    merge_columns,
    read_csv,
)

DATA_ENV_VAR = "ADRS_DATA_DIR"
BEER_FILE = "llm_sql_beer.csv"
BEER_MERGES = (("beer/beerId", "beer/name"),)  # the reference evaluator's col_merge
BEER_ROWS = 28479
QUICK_ROWS = 4000
TEST_ROWS = 10000
SYNTHETIC_SEED = 0
TEST_SEEDS = (101, 102, 103)

# Shaped like the beer table (cardinalities and lengths measured on it): a beer with a long
# name, its id and its style; reviewers, review days and four ratings leaning to the beer.
BEER_LIKE = TableSpec(
    name="beer",
    columns=(
        ColumnSpec("beer/name", 1423, "words", length=29.4, skew=0.9),
        ColumnSpec("beer/beerId", 1423, "integer", length=5, parent="beer/name"),
        ColumnSpec("beer/style", 78, "words", length=13.0, skew=0.8, parent="beer/name"),
        ColumnSpec("review/profileName", 4862, "code", length=8.2, skew=0.9),
        ColumnSpec("review/time", 3738, "timestamp", skew=0.3),
        ColumnSpec("review/overall", 20, "fraction", skew=0.4, parent="beer/name",
                   dependence=0.4),
        ColumnSpec("review/taste", 10, "fraction", skew=0.4, parent="review/overall",
                   dependence=0.6),
        ColumnSpec("review/palate", 5, "fraction", skew=0.3, parent="review/taste",
                   dependence=0.6),
        ColumnSpec("review/appearance", 5, "fraction", skew=0.3, parent="review/palate",
                   dependence=0.5),
    ),
    merges=BEER_MERGES,
    cluster_by="beer/name",
    header=("review/profileName", "review/time", "review/overall", "review/taste",
            "review/palate", "review/appearance", "beer/name", "beer/style", "beer/beerId"),
)

# Held out: shapes the beer table does not have.
TEST_SPECS = (
    # product reviews: a long title and its id (merged), a category path, many reviewers
    TableSpec(
        name="reviews",
        columns=(
            ColumnSpec("product_title", 2000, "words", length=42.0, skew=1.1),
            ColumnSpec("parent_asin", 2000, "code", length=10, parent="product_title"),
            ColumnSpec("category", 40, "words", length=24.0, skew=0.9,
                       parent="product_title"),
            ColumnSpec("user_id", 7000, "code", length=12, skew=0.6),
            ColumnSpec("timestamp", 3000, "timestamp", skew=0.2),
            ColumnSpec("rating", 5, "fraction", skew=0.8, parent="product_title",
                       dependence=0.5),
            ColumnSpec("helpful_votes", 40, "integer", length=2, skew=1.5),
        ),
        merges=(("product_title", "parent_asin"),),
        cluster_by="product_title",
        header=("user_id", "rating", "helpful_votes", "timestamp", "product_title",
                "category", "parent_asin"),
    ),
    # service logs, shuffled: hosts determine services, services lean to message templates
    TableSpec(
        name="logs",
        columns=(
            ColumnSpec("host", 240, "code", length=14, skew=0.7),
            ColumnSpec("service", 24, "words", length=11.0, skew=0.8, parent="host"),
            ColumnSpec("level", 4, "words", length=5.0, skew=1.6),
            ColumnSpec("message", 400, "words", length=38.0, skew=1.0, parent="service",
                       dependence=0.7),
            ColumnSpec("status", 12, "integer", length=3, skew=1.2, parent="message",
                       dependence=0.8),
            ColumnSpec("request_id", 10000, "code", length=16, skew=0.0),
        ),
        header=("request_id", "status", "level", "message", "host", "service"),
    ),
    # a score catalogue like PDMX: a path and its metadata file (merged), six flags
    # (merged, as the reference does for PDMX), a composer, a rating
    TableSpec(
        name="catalog",
        columns=(
            ColumnSpec("path", 6000, "words", length=30.0, skew=0.5),
            ColumnSpec("metadata", 6000, "code", length=20, parent="path"),
            ColumnSpec("composer", 500, "words", length=16.0, skew=1.2),
            ColumnSpec("genre", 30, "words", length=9.0, skew=1.0, parent="composer",
                       dependence=0.8),
            ColumnSpec("hasmetadata", 2, "boolean", skew=1.0),
            ColumnSpec("isofficial", 2, "boolean", skew=2.0, parent="composer",
                       dependence=0.9),
            ColumnSpec("isuserpublisher", 2, "boolean", skew=0.5),
            ColumnSpec("isdraft", 2, "boolean", skew=3.0),
            ColumnSpec("hasannotations", 2, "boolean", skew=1.0),
            ColumnSpec("subsetall", 2, "boolean", skew=0.2),
            ColumnSpec("rating", 50, "integer", length=2, skew=0.7, parent="composer",
                       dependence=0.3),
        ),
        merges=(("path", "metadata"), ("hasmetadata", "isofficial", "isuserpublisher",
                                       "isdraft", "hasannotations", "subsetall")),
        cluster_by="composer",
    ),
)


@dataclass(frozen=True, eq=False)
class Case:
    """One table of a split, ready for the candidate and the hit model.

    Attributes:
        name: Short name (``beer``, ``reviews``...).
        table: The table after the declared merges.
        merged: Names of the merged columns.
        rows: ``table.rows()``, kept so each evaluation only copies the list.
        original_hit_rate: Hit rate of the table as given, for the feedback.
    """

    name: str
    table: PackedTable
    merged: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    original_hit_rate: float


def make_case(name: str, table: PackedTable, merges: Sequence[Sequence[str]]) -> Case:
    """Merge the declared groups and keep what the evaluator needs.

    Raises:
        ValueError: A merge group the table refuses (see
            :func:`~adrs.simulators.llm_sql.merge_columns`).
    """
    from adrs.simulators.llm_sql import prefix_hits

    merged_table = merge_columns(table, merges)
    merged_names = merged_table.columns[merged_table.n_cols - len(merges):] if merges else ()
    return Case(name, merged_table, tuple(merged_names), tuple(merged_table.rows()),
                prefix_hits(merged_table).hit_rate)


def resolve_beer(data: str | os.PathLike[str] | None) -> PackedTable:
    """The beer table (before merges): from ``data`` (a folder holding
    ``llm_sql_beer.csv``, or the file), else ``$ADRS_DATA_DIR``, else a generated
    beer-like table (seed 0). Its ``source`` says which.

    Raises:
        FileNotFoundError: The path, or the file in the folder, does not exist.
        ValueError: The file is not a well-formed CSV.
    """
    if data is None:
        data = os.environ.get(DATA_ENV_VAR) or None
    if data is None:
        return generate_table(BEER_LIKE, BEER_ROWS, SYNTHETIC_SEED)
    path = Path(data).expanduser()
    if path.is_dir():
        path = path / BEER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"llm-sql: {path} not found (give the folder that holds "
                                f"{BEER_FILE}, or the file)")
    return read_csv(path)


def parse_merges(value: str | Sequence[Sequence[str]] | None) -> tuple[tuple[str, ...], ...]:
    """Merge groups from ``"a+b;c+d"`` (the command-line form) or a list of lists.

    Raises:
        ValueError: A group of fewer than two columns.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        groups = [tuple(name.strip() for name in group.split("+"))
                  for group in value.split(";") if group.strip()]
    else:
        groups = [tuple(group) for group in value]
    for group in groups:
        if len(group) < 2 or not all(group):
            raise ValueError(f"col_merge group {'+'.join(group)!r} needs two or more column "
                             "names (groups are A+B, separated by ;)")
    return tuple(groups)


def split_cases(split: str, beer: PackedTable) -> list[Case]:
    """The tables of a built-in split (``beer`` is the train table before merges)."""
    if split == "test":
        return [make_case(spec.name, generate_table(spec, TEST_ROWS, seed), spec.merges)
                for spec, seed in zip(TEST_SPECS, TEST_SEEDS)]
    if split == "quick":
        rows = min(QUICK_ROWS, beer.n_rows)
        beer = beer.take(range(rows), f"{beer.source}, first {rows} rows")
    return [make_case("beer", beer, BEER_MERGES)]
