"""The multi-region base class, where the reference's multi-region strategies import it."""

from sky_spot.strategies.strategy import MultiRegionStrategy, Strategy

__all__ = ["MultiRegionStrategy", "Strategy"]
