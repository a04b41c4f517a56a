"""MAP-Elites grid, islands, migration, and seeded selection."""

from __future__ import annotations

from adrs.evolve._candidate import Candidate
from adrs.evolve.archive import Dimension, GridArchive, resolve_dimensions
from adrs.evolve.config import IslandsConfig, SelectionConfig
from adrs.evolve.islands import IslandModel

DIMS = [Dimension("code_length", 4, 0.0, 100.0), Dimension("ast_distance", 2, 0.0, 1.0)]


def cand(cid: int, score: float, length: float, distance: float = 0.0, island: int = 0,
         parent: int | None = 0) -> Candidate:
    return Candidate(cid, f"x = {cid}", parent_id=parent, island=island, status="evaluated",
                     score=score, features={"code_length": length, "ast_distance": distance})


def test_grid_keeps_the_best_per_cell() -> None:
    grid = GridArchive(DIMS)
    assert grid.add(cand(1, 1.0, 10)) == "new"
    assert grid.add(cand(2, 0.5, 12)) == "rejected"  # same cell, worse
    assert grid.add(cand(3, 2.0, 15)) == "improved"
    assert grid.add(cand(4, 0.1, 90, 0.9)) == "new"
    assert grid.add(cand(5, 9.0, 500, -3)) == "new"  # clipped into the edge cells
    assert [c.id for c in grid.ranked()] == [5, 3, 4]
    assert grid.cell(cand(0, 0, 500, -3)) == (3, 0)
    assert 2 not in grid and 3 in grid
    assert grid.coverage() == 3 / 8


def test_resolved_ranges() -> None:
    dims = resolve_dimensions([("code_length", 5, None), ("ast_distance", 3, None),
                               ("mse", 2, (0.0, 4.0))], initial_code_length=50)
    assert [(d.low, d.high) for d in dims] == [(0.0, 100.0), (0.0, 1.0), (0.0, 4.0)]


def test_a_metric_of_no_known_range_gets_an_adaptive_axis() -> None:
    dims = resolve_dimensions([("code_length", 2, None), ("quality", 4, None)],
                              initial_code_length=50)
    assert [d.adaptive for d in dims] == [False, True]
    assert dims[1].describe() == {"name": "quality", "bins": 4, "low": 0.0, "high": 1.0,
                                  "adaptive": True}
    grid, other = GridArchive(dims), GridArchive(dims)  # two islands share the axis

    def scored(cid: int, quality: float) -> Candidate:
        return Candidate(cid, f"x = {cid}", parent_id=0, island=0, status="evaluated",
                         score=float(cid), features={"code_length": 10.0},
                         metrics={"quality": quality})

    # OpenEvolve's min-max rule, at the moment each is placed: one value seen -> the
    # middle cell; then (v - lowest) / (highest - lowest) of the values seen so far
    cells = []
    for cid, quality, archive in ((1, 5.0, grid), (2, 1.0, grid), (3, 9.0, other),
                                  (4, 3.0, grid)):
        assert archive.add(scored(cid, quality)) == "new"
        cells.append(archive.cell(scored(cid, quality))[1])
    assert cells == [2, 0, 3, 1]  # 0.5, 0.0, 1.0 (the last cell), 0.25 of 4 bins
    # an elite stays in the cell it was placed in when the range widens later
    assert grid.cell(scored(1, 5.0)) == (0, 2)
    assert other.add(scored(5, -7.0)) == "new"
    assert grid.cell(scored(1, 5.0)) == (0, 2)
    assert grid.cell(scored(9, 5.0)) == (0, 3)  # a newcomer: (5 + 7) / 16 = 0.75 of 4 bins


def test_score_as_an_axis_falls_back_to_the_candidates_score() -> None:
    (dim,) = resolve_dimensions([("score", 2, (0.0, 10.0))], initial_code_length=1)
    grid = GridArchive([dim])
    grid.add(Candidate(1, "x = 1", parent_id=0, island=0, status="evaluated", score=7.0))
    assert grid.cell(grid.best()) == (1,)


def model(seed: int, islands: int = 3) -> IslandModel:
    return IslandModel(DIMS, IslandsConfig(count=islands, migration_interval=4,
                                           migration_count=1),
                       SelectionConfig(num_top=2, num_inspirations=2), seed)


def feed(islands: IslandModel) -> None:
    islands.tell(cand(1, 0.0, 50, 0.0, parent=None))
    for i in range(2, 30):
        islands.tell(cand(i, float(i % 7), (i * 13) % 100, (i % 3) / 3, island=i % 3))


def test_same_seed_same_choices() -> None:
    a, b = model(7), model(7)
    feed(a)
    feed(b)
    picks_a = [(s.island, s.parent.id, [c.id for c in s.inspirations], s.strategy)
               for s in (a.ask() for _ in range(50))]
    picks_b = [(s.island, s.parent.id, [c.id for c in s.inspirations], s.strategy)
               for s in (b.ask() for _ in range(50))]
    assert picks_a == picks_b
    c = model(8)
    feed(c)
    assert [(s.parent.id) for s in (c.ask() for _ in range(50))] != [p[1] for p in picks_a]


def test_round_robin_islands_and_all_strategies() -> None:
    islands = model(1)
    feed(islands)
    selections = [islands.ask() for _ in range(300)]
    assert [s.island for s in selections[:6]] == [0, 1, 2, 0, 1, 2]
    assert {s.strategy for s in selections} == {"exploitation", "exploration", "random"}
    for s in selections:
        assert s.parent.id not in {c.id for c in s.inspirations}
        assert s.parent.id not in {c.id for c in s.top}


def test_initial_goes_everywhere_and_migration_moves_elites() -> None:
    islands = model(0)
    islands.tell(cand(1, 0.0, 50, parent=None))
    assert all(1 in island.archive for island in islands.islands)
    islands.tell(cand(2, 5.0, 10, island=0))
    islands.tell(cand(3, 1.0, 30, island=1))
    assert 2 not in islands.islands[1].archive
    islands.tell(cand(4, 0.5, 70, island=2))  # the 4th tell triggers a migration
    assert islands.migrations == 1
    assert 2 in islands.islands[1].archive  # island 0's best went to island 1
    assert islands.best().id == 2


def test_fallback_parent_before_anything_is_scored() -> None:
    islands = model(0)
    initial = Candidate(1, "x = 1", status="failed", error="boom")
    islands.set_fallback(initial)
    selection = islands.ask()
    assert selection.parent is initial and selection.strategy == "fallback"
