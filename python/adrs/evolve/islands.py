"""Islands of MAP-Elites grids with ring migration, and parent selection.

The controller :meth:`IslandModel.ask` s for a parent and its inspirations and
:meth:`IslandModel.tell` s it every scored candidate. All choices come from one seeded
``random.Random``: the same seed and the same sequence of ``ask``/``tell`` calls give
the same choices.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from adrs.evolve._candidate import Candidate
from adrs.evolve.archive import Dimension, GridArchive
from adrs.evolve.config import IslandsConfig, SelectionConfig


@dataclass(frozen=True)
class Selection:
    """What :meth:`IslandModel.ask` returns.

    Attributes:
        island: The island the child will belong to.
        parent: The program to improve.
        inspirations: Elites of other cells (this island first, then others).
        top: The island's best programs, best first, parent excluded.
        strategy: ``exploitation``, ``exploration``, ``random`` or ``fallback``.
    """

    island: int
    parent: Candidate
    inspirations: tuple[Candidate, ...]
    top: tuple[Candidate, ...]
    strategy: str


class Island:
    """One island: a grid of elites plus every scored program it received."""

    def __init__(self, index: int, dims: Sequence[Dimension]) -> None:
        self.index = index
        self.archive = GridArchive(dims)
        self.members: list[Candidate] = []
        self._member_ids: set[int] = set()

    def add(self, candidate: Candidate) -> str:
        """Add a scored candidate; returns the grid's verdict (see GridArchive.add)."""
        if candidate.id not in self._member_ids:
            self._member_ids.add(candidate.id)
            self.members.append(candidate)
        return self.archive.add(candidate)

    def best(self) -> Candidate | None:
        return self.archive.best()


class IslandModel:
    """Several islands, ring migration, and exploitation/exploration/random sampling.

    Args:
        dims: Grid axes (shared by all islands).
        islands: Island count and migration settings.
        selection: Sampling ratios and how many programs go into a prompt.
        seed: Seed of every choice.
    """

    def __init__(self, dims: Sequence[Dimension], islands: IslandsConfig,
                 selection: SelectionConfig, seed: int) -> None:
        self.islands = [Island(i, dims) for i in range(islands.count)]
        self._migration = islands
        self._selection = selection
        self._rng = random.Random(seed)
        self._next_island = 0
        self._told = 0
        self._fallback: Candidate | None = None
        self.migrations = 0

    # -- ask --------------------------------------------------------------------------

    def ask(self) -> Selection:
        """Choose the next island (round robin), a parent and its inspirations.

        Raises:
            ValueError: Nothing has been told yet and no fallback parent is set.
        """
        index = self._next_island
        self._next_island = (self._next_island + 1) % len(self.islands)
        island = self.islands[index]
        if not island.members:
            if self._fallback is None:
                raise ValueError("no scored program to select a parent from")
            return Selection(index, self._fallback, (), (), "fallback")
        parent, strategy = self._sample_parent(island)
        top = tuple(c for c in island.archive.ranked() if c.id != parent.id)
        top = top[: self._selection.num_top]
        inspirations = self._sample_inspirations(island, parent, {c.id for c in top})
        return Selection(index, parent, inspirations, top, strategy)

    def _sample_parent(self, island: Island) -> tuple[Candidate, str]:
        sel = self._selection
        draw = self._rng.random() * (sel.exploitation + sel.exploration + sel.random)
        if draw < sel.exploitation:
            pool = island.archive.ranked()[: sel.elite_pool]
            return self._rng.choice(pool), "exploitation"
        if draw < sel.exploitation + sel.exploration:
            return self._rng.choice(island.archive.elites()), "exploration"
        return self._rng.choice(island.members), "random"

    def _sample_inspirations(self, island: Island, parent: Candidate,
                             exclude: set[int]) -> tuple[Candidate, ...]:
        wanted = self._selection.num_inspirations
        if wanted == 0:
            return ()
        parent_cell = island.archive.cell(parent)
        skip = exclude | {parent.id}
        own = [c for c in island.archive.elites()
               if c.id not in skip and island.archive.cell(c) != parent_cell]
        chosen = self._rng.sample(own, min(wanted, len(own)))
        if len(chosen) < wanted:
            # too few cells here: borrow elites of the other islands
            taken = skip | {c.id for c in chosen}
            others = [c for other in self.islands if other is not island
                      for c in other.archive.elites() if c.id not in taken]
            others = list({c.id: c for c in others}.values())
            chosen += self._rng.sample(others, min(wanted - len(chosen), len(others)))
        return tuple(chosen)

    # -- tell -------------------------------------------------------------------------

    def set_fallback(self, candidate: Candidate) -> None:
        """Parent to return while an island is empty (the initial program)."""
        self._fallback = candidate

    def tell(self, candidate: Candidate) -> str:
        """Record a scored candidate in its island (the initial program: in every island).

        Every ``migration_interval`` tells, each island sends its best
        ``migration_count`` elites to the next island of the ring.

        Returns:
            The verdict of the candidate's own island's grid (``new``, ``improved``,
            ``rejected``); ``rejected`` too when the candidate has no score.
        """
        if candidate.score is None:
            return "rejected"
        if candidate.parent_id is None:
            verdicts = [island.add(candidate) for island in self.islands]
            verdict = verdicts[0]
        else:
            verdict = self.islands[candidate.island % len(self.islands)].add(candidate)
        self._told += 1
        if len(self.islands) > 1 and self._told % self._migration.migration_interval == 0:
            self.migrate()
        return verdict

    def migrate(self) -> None:
        """Copy each island's best elites to the next island of the ring."""
        emigrants = [island.archive.ranked()[: self._migration.migration_count]
                     for island in self.islands]
        for index, group in enumerate(emigrants):
            target = self.islands[(index + 1) % len(self.islands)]
            for candidate in group:
                target.add(candidate)
        self.migrations += 1

    # -- views ------------------------------------------------------------------------

    def best(self) -> Candidate | None:
        """Best candidate over all islands (ties: older first)."""
        bests = [c for c in (island.best() for island in self.islands) if c is not None]
        return min(bests, key=lambda c: (-(c.score or 0.0), c.id)) if bests else None

    def summary(self) -> list[dict[str, float | int | None]]:
        """Per island: members, occupied cells, coverage and best score."""
        rows: list[dict[str, float | int | None]] = []
        for island in self.islands:
            best = island.best()
            rows.append({"island": island.index, "members": len(island.members),
                         "cells": len(island.archive),
                         "coverage": round(island.archive.coverage(), 4),
                         "best_score": None if best is None else best.score,
                         "best_id": None if best is None else best.id})
        return rows
