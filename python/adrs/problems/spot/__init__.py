"""Spot-instance scheduling problems: ``spot`` (one region) and ``spot-multi`` (many)."""

from adrs.problems.spot._problem import (
    FIDELITIES,
    MultiRegionSpotProblem,
    SingleRegionSpotProblem,
    SpotProblem,
)

__all__ = ["FIDELITIES", "MultiRegionSpotProblem", "SingleRegionSpotProblem", "SpotProblem"]
