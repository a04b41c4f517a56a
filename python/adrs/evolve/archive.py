"""A MAP-Elites grid: the best program found in each cell of a feature grid."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from adrs.evolve._candidate import Candidate


@dataclass(frozen=True)
class Dimension:
    """One resolved axis of the grid.

    Attributes:
        name: Key looked up in a candidate's features, then its metrics.
        bins: Number of cells.
        low: Lower edge of the first cell (lower values fall in it too).
        high: Upper edge of the last cell (higher values fall in it too).
    """

    name: str
    bins: int
    low: float
    high: float

    def index(self, value: float | None) -> int:
        """Cell index of ``value`` along this axis (missing or NaN: the first cell)."""
        if value is None or not math.isfinite(value) or self.bins == 1:
            return 0
        position = (value - self.low) / (self.high - self.low) * self.bins
        return min(self.bins - 1, max(0, int(position)))


class GridArchive:
    """The elite (highest score) of each occupied cell.

    Args:
        dims: The axes.

    Raises:
        ValueError: No axis, or an axis with ``low >= high`` or fewer than one bin.
    """

    def __init__(self, dims: Sequence[Dimension]) -> None:
        if not dims:
            raise ValueError("a grid archive needs at least one dimension")
        for dim in dims:
            if dim.bins < 1 or not dim.low < dim.high:
                raise ValueError(f"dimension {dim.name!r}: need bins >= 1 and low < high, "
                                 f"got bins={dim.bins}, range=[{dim.low}, {dim.high}]")
        self.dims = tuple(dims)
        self._cells: dict[tuple[int, ...], Candidate] = {}
        self._ids: set[int] = set()

    def cell(self, candidate: Candidate) -> tuple[int, ...]:
        """The cell a candidate falls in."""
        return tuple(dim.index(_lookup(candidate, dim.name)) for dim in self.dims)

    def add(self, candidate: Candidate) -> str:
        """Offer a scored candidate to the grid.

        Returns:
            ``new`` (it took an empty cell), ``improved`` (it beat the cell's elite) or
            ``rejected`` (not scored, already here, or not better).
        """
        if candidate.score is None or candidate.id in self._ids:
            return "rejected"
        key = self.cell(candidate)
        current = self._cells.get(key)
        if current is not None and not candidate.score > current.score:  # type: ignore[operator]
            return "rejected"
        if current is not None:
            self._ids.discard(current.id)
        self._cells[key] = candidate
        self._ids.add(candidate.id)
        return "new" if current is None else "improved"

    def __len__(self) -> int:
        return len(self._cells)

    def __contains__(self, candidate_id: object) -> bool:
        return candidate_id in self._ids

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.elites())

    def elites(self) -> list[Candidate]:
        """Every elite, in cell order (a deterministic order)."""
        return [self._cells[key] for key in sorted(self._cells)]

    def ranked(self) -> list[Candidate]:
        """Every elite, best first (ties: older first)."""
        return sorted(self._cells.values(), key=lambda c: (-(c.score or 0.0), c.id))

    def best(self) -> Candidate | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def coverage(self) -> float:
        """Fraction of cells occupied."""
        return len(self._cells) / math.prod(dim.bins for dim in self.dims)


def _lookup(candidate: Candidate, name: str) -> float | None:
    value: object = candidate.features.get(name)
    if value is None:
        value = candidate.metrics.get(name)
    return float(value) if isinstance(value, (int, float)) else None


def resolve_dimensions(specs: Sequence[tuple[str, int, tuple[float, float] | None]],
                       initial_code_length: float,
                       declared: Mapping[str, tuple[float, float]] | None = None,
                       ) -> list[Dimension]:
    """Turn configured axes into :class:`Dimension` with concrete ranges.

    Args:
        specs: ``(name, bins, range or None)`` per axis.
        initial_code_length: ``code_length`` of the initial program (sets that axis's
            automatic range to twice it).
        declared: Ranges a problem declares for its own features.

    Raises:
        ValueError: A problem feature with no range given or declared.
    """
    dims = []
    for name, bins, value_range in specs:
        if value_range is None:
            if name == "code_length":
                value_range = (0.0, max(2.0 * initial_code_length, 1.0))
            elif name == "ast_distance":
                value_range = (0.0, 1.0)
            elif declared and name in declared:
                value_range = declared[name]
            else:
                raise ValueError(f"archive dimension {name!r} needs a range "
                                 "(archive.dims[].range in the config)")
        dims.append(Dimension(name, bins, float(value_range[0]), float(value_range[1])))
    return dims
