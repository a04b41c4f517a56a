"""A MAP-Elites grid: the best program found in each cell of a feature grid."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from adrs.evolve._candidate import Candidate


class ObservedRange:
    """The lowest and highest value an adaptive axis has seen so far."""

    def __init__(self) -> None:
        self.low: float | None = None
        self.high: float | None = None

    def observe(self, value: float | None) -> None:
        if value is None or not math.isfinite(value):
            return
        self.low = value if self.low is None else min(self.low, value)
        self.high = value if self.high is None else max(self.high, value)


@dataclass(frozen=True)
class Dimension:
    """One resolved axis of the grid.

    Attributes:
        name: Key looked up in a candidate's features, then its metrics (``score``: the
            candidate's score when neither has it).
        bins: Number of cells.
        low: Lower edge of the first cell (lower values fall in it too).
        high: Upper edge of the last cell (higher values fall in it too).
        seen: For an adaptive axis (a feature of no known range), the range its values
            have spanned so far; None for a fixed axis. An adaptive axis scales a value by
            that range at the moment it is placed, as OpenEvolve's min-max scaling does
            (one value seen: the middle cell); ``low`` and ``high`` are then unused.
    """

    name: str
    bins: int
    low: float
    high: float
    seen: ObservedRange | None = field(default=None, compare=False, repr=False)

    @property
    def adaptive(self) -> bool:
        return self.seen is not None

    def index(self, value: float | None) -> int:
        """Cell index of ``value`` along this axis (missing or NaN: the first cell)."""
        if value is None or not math.isfinite(value) or self.bins == 1:
            return 0
        if self.seen is None:
            scaled = (value - self.low) / (self.high - self.low)
        elif self.seen.low is None or self.seen.high is None:
            scaled = value  # nothing seen yet (OpenEvolve takes the value itself)
        elif self.seen.high == self.seen.low:
            scaled = 0.5
        else:
            scaled = (value - self.seen.low) / (self.seen.high - self.seen.low)
        return min(self.bins - 1, max(0, int(min(1.0, max(0.0, scaled)) * self.bins)))

    def describe(self) -> dict[str, object]:
        """The axis as plain data (the run's meta ``archive_dims``)."""
        return {"name": self.name, "bins": self.bins, "low": self.low, "high": self.high,
                "adaptive": self.adaptive}


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
            if dim.bins < 1 or (not dim.adaptive and not dim.low < dim.high):
                raise ValueError(f"dimension {dim.name!r}: need bins >= 1 and low < high, "
                                 f"got bins={dim.bins}, range=[{dim.low}, {dim.high}]")
        self.dims = tuple(dims)
        self._cells: dict[tuple[int, ...], Candidate] = {}
        self._ids: set[int] = set()
        self._keys: dict[int, tuple[int, ...]] = {}  # each elite's cell, as placed

    def cell(self, candidate: Candidate) -> tuple[int, ...]:
        """The cell a candidate falls in (an elite: the cell it was placed in, which an
        adaptive axis does not move later)."""
        key = self._keys.get(candidate.id)
        if key is not None:
            return key
        return tuple(dim.index(_lookup(candidate, dim.name)) for dim in self.dims)

    def add(self, candidate: Candidate) -> str:
        """Offer a scored candidate to the grid.

        Returns:
            ``new`` (it took an empty cell), ``improved`` (it beat the cell's elite) or
            ``rejected`` (not scored, already here, or not better).
        """
        if candidate.score is None or candidate.id in self._ids:
            return "rejected"
        for dim in self.dims:  # every scored candidate widens an adaptive axis's range
            if dim.seen is not None:
                dim.seen.observe(_lookup(candidate, dim.name))
        key = self.cell(candidate)
        current = self._cells.get(key)
        if current is not None and not candidate.score > current.score:  # type: ignore[operator]
            return "rejected"
        if current is not None:
            self._ids.discard(current.id)
            self._keys.pop(current.id, None)
        self._cells[key] = candidate
        self._ids.add(candidate.id)
        self._keys[candidate.id] = key
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
    if value is None and name == "score":
        value = candidate.score
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

    A problem feature or metric with no range given or declared gets an adaptive axis
    (:class:`Dimension`): scaled by the range its values have spanned so far.
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
                dims.append(Dimension(name, bins, 0.0, 1.0, ObservedRange()))
                continue
        dims.append(Dimension(name, bins, float(value_range[0]), float(value_range[1])))
    return dims
