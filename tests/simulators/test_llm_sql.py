"""The prefix-hit model: the golden counts of the beer table, C++ = the pure-Python oracle
on random tables (unbounded and bounded LRU), and the table tools around it (CSV, merges,
checking a candidate's output, the generator)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from adrs import _core
from adrs.simulators.llm_sql import (
    ColumnSpec,
    PackedTable,
    TableSpec,
    check_rearrangement,
    encode_rows,
    generate_table,
    merge_columns,
    prefix_hit_count,
    prefix_hits,
    read_csv,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import llm_sql_oracle as oracle


@pytest.fixture(scope="module")
def golden(shared_dir: Path) -> dict:
    return json.loads((shared_dir / "golden" / "llm_sql.json").read_text())


@pytest.fixture(scope="module")
def beer(shared_dir: Path) -> PackedTable:
    return read_csv(shared_dir / "data" / "llm_sql_beer.csv")


def _case(golden: dict, ordering: str) -> dict:
    return next(c for c in golden["cases"] if c["ordering"].startswith(ordering))


# -- goldens -------------------------------------------------------------------------------


def test_beer_table_reads_as_the_reference_reads_it(beer, golden):
    assert beer.columns == tuple(golden["cols"])
    assert beer.n_rows == golden["rows"] == 28479
    assert beer.total_chars == golden["total_characters"] == 2271333


@pytest.mark.parametrize("ordering", ["original", "rows sorted", "original rows reversed"])
def test_golden_hit_counts_of_the_whole_table(beer, golden, ordering):
    case = _case(golden, ordering)
    if ordering == "rows sorted":
        rows = beer.rows()
        order = sorted(range(beer.n_rows), key=rows.__getitem__)  # stable, header order
    elif ordering == "original rows reversed":
        order = list(range(beer.n_rows))[::-1]
    else:
        order = None
    result = prefix_hits(beer, row_order=order)
    assert result.hit_count == case["hit_count"] == 332115
    assert result.total_chars == golden["total_characters"]
    assert 100 * result.hit_rate == case["hit_rate_percent"]


def test_golden_hit_count_of_the_first_thousand_rows(beer, golden):
    case = _case(golden, "first 1000 rows")
    result = prefix_hits(beer.take(range(1000)))
    assert result.hit_count == case["hit_count"] == 7220
    assert 100 * result.hit_rate == case["hit_rate_percent"]


def test_an_lru_cache_larger_than_the_table_is_the_unbounded_cache(beer):
    unbounded = prefix_hits(beer)
    bounded = prefix_hits(beer, capacity=beer.total_chars)
    assert np.array_equal(bounded.hits, unbounded.hits)
    smaller = prefix_hits(beer, capacity=100_000)
    assert smaller.hit_count < unbounded.hit_count
    assert np.all(smaller.hits <= unbounded.hits)


def test_lru_row_order_matters_where_unbounded_does_not(beer):
    rows = beer.rows()
    order = sorted(range(beer.n_rows), key=rows.__getitem__)
    shuffled = np.random.default_rng(0).permutation(beer.n_rows)
    assert prefix_hits(beer, row_order=shuffled).hit_count == 332115
    assert prefix_hits(beer, row_order=order, capacity=20_000).hit_count \
        > prefix_hits(beer, row_order=shuffled, capacity=20_000).hit_count


# -- C++ = oracle ----------------------------------------------------------------------------

ALPHABETS = {
    "ascii": st.sampled_from(["", "a", "b", "ab", "ba", "aab", "abc", "1", "12", "123"]),
    "unicode": st.sampled_from(["", "é", "éa", "a", "中", "中文", "😀", "😀a", "a😀"]),
}


@st.composite
def tables(draw, alphabet: str = "ascii"):
    n_cols = draw(st.integers(1, 4))
    n_rows = draw(st.integers(0, 25))
    cells = st.lists(ALPHABETS[alphabet], min_size=n_cols, max_size=n_cols)
    rows = draw(st.lists(cells, min_size=n_rows, max_size=n_rows))
    row_order = draw(st.permutations(range(n_rows)))
    field_orders = [draw(st.permutations(range(n_cols))) for _ in range(n_rows)]
    return rows, row_order, field_orders


def _pack(rows: list[list[str]], n_cols: int) -> PackedTable:
    return PackedTable.from_rows(tuple(f"c{i}" for i in range(n_cols)), rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables(), alphabet=st.sampled_from(["ascii", "unicode"]))
def test_unbounded_cpp_equals_the_oracle_per_row(data, alphabet):
    rows, row_order, field_orders = data
    if alphabet == "unicode":  # same shape, code points beyond one byte (and beyond 16 bits)
        swap = {"a": "é", "b": "中", "1": "😀", "2": "文"}
        rows = [["".join(swap.get(ch, ch) for ch in cell) for cell in row] for row in rows]
    n_cols = len(field_orders[0]) if field_orders else 1
    table = _pack(rows, n_cols)
    texts = oracle.row_texts(rows, row_order, field_orders)
    expected = oracle.unbounded_hits(texts)
    assert expected == oracle.hits_by_definition(texts)
    result = prefix_hits(table, row_order=row_order, field_order=np.array(field_orders, np.int32)
                         .reshape(len(rows), n_cols))
    assert result.hits.tolist() == expected
    assert result.lengths.tolist() == [len(t) for t in texts]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables(), capacity=st.integers(0, 40))
def test_lru_cpp_equals_the_oracle_per_row(data, capacity):
    rows, row_order, field_orders = data
    n_cols = len(field_orders[0]) if field_orders else 1
    table = _pack(rows, n_cols)
    texts = oracle.row_texts(rows, row_order, field_orders)
    result = prefix_hits(table, row_order=row_order, field_order=np.array(field_orders, np.int32)
                         .reshape(len(rows), n_cols), capacity=capacity)
    assert result.hits.tolist() == oracle.lru_hits(texts, capacity)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(alphabet="abc", max_size=12), max_size=40),
       capacity=st.integers(0, 60))
def test_lru_on_raw_texts_with_long_shared_runs(texts, capacity):
    rows = [[t] for t in texts]
    table = _pack(rows, 1)
    assert prefix_hits(table, capacity=capacity).hits.tolist() == oracle.lru_hits(texts, capacity)
    assert prefix_hits(table).hits.tolist() == oracle.unbounded_hits(texts)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_every_code_unit_width_gives_the_same_hits(dtype):
    texts = ["ab", "abc", "b", "abd", "", "a"]
    units = np.array([ord(ch) for ch in "".join(texts)], dtype)
    offsets = np.cumsum([0] + [len(t) for t in texts]).astype(np.int64)
    cells = np.array([[1, 0], [0, 3], [2, 4], [0, 1], [4, 4]], np.int32)
    hits, lengths = _core.llm_sql_prefix_hits(cells, units, offsets)
    rows = [[texts[i] for i in row] for row in cells.tolist()]
    assert hits.tolist() == oracle.unbounded_hits(oracle.row_texts(rows))
    assert lengths.tolist() == [5, 5, 1, 5, 0]


def test_capacity_zero_caches_nothing_and_repeats_hit_their_whole_text():
    table = _pack([["ab", "c"], ["ab", "c"], ["ab", "d"]], 2)
    assert prefix_hits(table, capacity=0).hits.tolist() == [0, 0, 0]
    assert prefix_hits(table, capacity=3).hits.tolist() == [0, 3, 2]
    assert prefix_hits(table).hits.tolist() == [0, 3, 2]


def test_prefix_hit_count_helper_takes_rows_of_any_length():
    assert prefix_hit_count([("ab", "c"), ("abc",), ("a", "b", "d")]) == 3 + 2
    assert prefix_hit_count([]) == 0
    with pytest.raises(ValueError, match=r"row 1, column 0 is an int, not a str"):
        prefix_hit_count([("a",), (1,)])


def test_bad_orders_and_ids_are_refused_with_where():
    table = _pack([["a", "b"], ["b", "a"]], 2)
    with pytest.raises(ValueError, match=r"^row_order\[1\] = 0 repeats a row: row_order must "
                                         r"be a permutation$"):
        prefix_hits(table, row_order=[0, 0])
    with pytest.raises(ValueError, match=r"^row_order\[0\] = 2 is not a row of a 2-row table$"):
        prefix_hits(table, row_order=[2, 0])
    with pytest.raises(ValueError, match=r"^field_order of row 1 is not a permutation of the 2 "
                                         r"columns \(entry 1 = 1\)$"):
        prefix_hits(table, field_order=np.array([[0, 1], [1, 1]]))
    with pytest.raises(ValueError, match=r"^capacity must be 0 or more characters, got -5$"):
        prefix_hits(table, capacity=-5)
    units = np.frombuffer(b"ab", np.uint8)
    offsets = np.array([0, 1, 2], np.int64)
    with pytest.raises(ValueError, match=r"^row 1, column 0: text id 2 is not in \[0, 2\)$"):
        _core.llm_sql_prefix_hits(np.array([[0], [2]], np.int32), units, offsets)
    with pytest.raises(ValueError, match=r"^text_offsets end at 2 but the text buffer holds 3 "):
        _core.llm_sql_prefix_hits(np.array([[0]], np.int32), np.frombuffer(b"abc", np.uint8),
                                  offsets)


# -- tables: CSV, merges, output checks ------------------------------------------------------


def test_beer_merge_is_the_reference_merge(beer):
    merged = merge_columns(beer, [["beer/beerId", "beer/name"]])
    assert merged.columns == (
        "review/profileName", "review/time", "review/overall", "review/taste", "review/palate",
        "review/appearance", "beer/style", "beer/name+beer/beerId")
    first = merged.rows()[0]
    assert first[-1] == "John Harvards Simcoe IPA63836"  # name then id: header order
    assert merged.total_chars == beer.total_chars
    assert prefix_hits(merged).hit_count == 328152


def test_merges_are_checked(beer):
    with pytest.raises(ValueError, match=r"merge group \['beer/name', 'beer/style'\]: its columns "
                                         r"differ in number of distinct values \(beer/name "
                                         r"1423, beer/style 78\); the reference refuses"):
        merge_columns(beer, [["beer/name", "beer/style"]])
    with pytest.raises(ValueError, match=r"no column 'beer/colour'"):
        merge_columns(beer, [["beer/name", "beer/colour"]])
    with pytest.raises(ValueError, match=r"column 'beer/name' is in merge groups 0 and 1"):
        merge_columns(beer, [["beer/name", "beer/beerId"], ["beer/name", "review/time"]])
    with pytest.raises(ValueError, match=r"needs at least two columns"):
        merge_columns(beer, [["beer/name"]])


def test_csv_errors_name_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n\n3\n")
    with pytest.raises(ValueError, match=r"t.csv: line 4 has 1 fields, the header has 2$"):
        read_csv(path)
    path.write_text("a,a\n1,2\n")
    with pytest.raises(ValueError, match=r"repeated column names \['a'\]"):
        read_csv(path)
    with pytest.raises(FileNotFoundError, match="table not found"):
        read_csv(tmp_path / "missing.csv")
    path.write_text('x,y\n"é,1",\n')
    table = read_csv(path)
    assert table.rows() == [("é,1", "")] and table.units.dtype == np.uint32


@pytest.fixture(scope="module")
def small() -> PackedTable:
    return PackedTable.from_rows(("a", "b", "c"), [("x", "y", "z"), ("x", "y", "w"),
                                                   ("u", "y", "z"), ("x", "y", "z")])


def test_any_order_of_rows_and_of_each_rows_cells_is_accepted(small):
    rows = small.rows()
    shuffled = [rows[3][::-1], rows[0], (rows[2][1], rows[2][0], rows[2][2]), rows[1]]
    check_rearrangement(small, encode_rows(small, shuffled))


@pytest.mark.parametrize(("output", "message"), [
    ([("x", "y", "z")] * 4,
     "output row 0 ['x', 'y', 'z'] appears 4 times in the output but 2 times in the table"),
    ([],
     ("the output has 0 rows, the table has 4: table row 0 ['x', 'y', 'z'] is missing from "
     "the output")),
    ([("x", "y", "z"), ("x", "y", "w"), ("u", "y", "z")],
     ("the output has 3 rows, the table has 4: table row 0 ['x', 'y', 'z'] is missing from "
     "the output")),
    ([("x", "y", "z"), ("x", "y", "z"), ("x", "y", "w"), ("u", "y", "w")],
     ("output row 3 ['u', 'y', 'w'] is not a row of the table: no table row holds these cells "
     "(a row may reorder its own cells, nothing else)")),
    ([("x", "y", "z"), ("x", "y", "z"), ("u", "y", "w"), ("x", "y", "z")],
     ("output row 2 ['u', 'y', 'w'] is not a row of the table: no table row holds these cells "
     "(a row may reorder its own cells, nothing else)")),
])
def test_outputs_that_are_not_a_rearrangement_are_refused(small, output, message):
    with pytest.raises(ValueError) as caught:
        check_rearrangement(small, encode_rows(small, output))
    assert str(caught.value) == message


@pytest.mark.parametrize(("output", "message"), [
    (None, "expected a list of rows, got a NoneType"),
    ("xyz", "expected a list of rows, got a str"),
    ([("x", "y")], "output row 0 has 2 cells, the table has 3 columns"),
    ([5], "output row 0 is an int, not a sequence of cells"),
    (["xyz"], "output row 0 is a str, not a sequence of cells"),
    ([("x", "y", 1)], "output row 0, cell 2 is an int (1), not a str"),
    ([("x", "y", "q")], "output row 0, cell 2 ('q') is not a cell of the table"),
    ([("x", "y", ["z"])], "output row 0, cell 2 is a list (['z']), not a str"),
])
def test_malformed_outputs_are_refused_with_where(small, output, message):
    with pytest.raises(ValueError) as caught:
        encode_rows(small, output)
    assert str(caught.value) == message


# -- the generator ---------------------------------------------------------------------------

SPEC = TableSpec(
    name="shop",
    columns=(
        ColumnSpec("item", 50, "words", length=20.0),
        ColumnSpec("item_id", 50, "code", length=6, parent="item"),
        ColumnSpec("kind", 6, "words", length=8.0, parent="item"),
        ColumnSpec("stars", 5, "fraction", parent="item", dependence=0.5),
        ColumnSpec("when", 100, "timestamp"),
        ColumnSpec("user", 300, "code", length=8, skew=0.0),
        ColumnSpec("flag", 2, "boolean"),
        ColumnSpec("price", 40, "integer", length=3),
    ),
    merges=(("item", "item_id"),),
    cluster_by="item",
    header=("user", "when", "stars", "item", "kind", "item_id", "flag", "price"),
)


def test_generated_tables_are_seeded_and_shaped_by_their_spec():
    a = generate_table(SPEC, 3000, seed=7)
    again = generate_table(SPEC, 3000, seed=7)
    other = generate_table(SPEC, 3000, seed=8)
    assert np.array_equal(a.cells, again.cells) and a.texts == again.texts
    assert not np.array_equal(a.cells, other.cells)
    assert a.columns == SPEC.header and a.n_rows == 3000
    rows = a.rows()
    column = {name: [row[k] for row in rows] for k, name in enumerate(a.columns)}
    for name, spec in zip([c.name for c in SPEC.columns], SPEC.columns):
        assert len(set(column[name])) <= spec.cardinality
    # functional dependencies hold, the id is one-to-one with the item
    kind_of = dict(zip(column["item"], column["kind"]))
    assert all(kind_of[i] == k for i, k in zip(column["item"], column["kind"]))
    assert len(set(zip(column["item"], column["item_id"]))) == len(set(column["item"])) \
        == len(set(column["item_id"]))
    assert set(column["flag"]) == {"True", "False"}
    assert all(len(t) == 10 and t.isdigit() for t in column["when"])
    assert all(s.endswith("/5") for s in column["stars"])
    # clustered by item: each item's rows are contiguous
    items = column["item"]
    runs = [item for k, item in enumerate(items) if k == 0 or items[k - 1] != item]
    assert len(runs) == len(set(runs))
    merged = merge_columns(a, SPEC.merges)
    assert merged.columns[-1] == "item+item_id"


def test_generator_refuses_bad_specs():
    bad = TableSpec("t", (ColumnSpec("x", 5, parent="y"),))
    with pytest.raises(ValueError, match=r"t.x: parent 'y' is not an earlier column"):
        generate_table(bad, 10, 0)
    with pytest.raises(ValueError, match=r"t.x: unknown kind 'float'"):
        generate_table(TableSpec("t", (ColumnSpec("x", 5, kind="float"),)), 10, 0)
    with pytest.raises(ValueError, match=r"t: header \['y'\] must name every column once"):
        generate_table(TableSpec("t", (ColumnSpec("x", 5),), header=("y",)), 10, 0)
