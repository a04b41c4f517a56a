"""The environment a strategy reads as ``self.env``; adrs's simulator sets its fields."""

from __future__ import annotations

from sky_spot.utils import ClusterType


class Env:
    """One run's environment as the strategy sees it at the current tick.

    The simulator writes ``tick``, ``elapsed_seconds``, ``gap_seconds``, ``cluster_type``,
    the current region and every region's availability and spot price before each
    decision; ``switch_region`` records the region the strategy moves to.
    """

    NAME = "trace"

    def __init__(self, gap_seconds: float, num_regions: int) -> None:
        self.gap_seconds = gap_seconds
        self.tick = 0
        self.elapsed_seconds = 0.0
        self.cluster_type = ClusterType.NONE
        self.num_regions = num_regions
        self.current_region = 0
        self.region_has_spot: list[bool] = [False] * num_regions
        self.region_spot_prices: list[float] = [0.0] * num_regions

    def spot_available(self) -> bool:
        return self.region_has_spot[self.current_region]

    # -- the multi-region API (specs/spot.md 1.8) -----------------------------------------
    def get_num_regions(self) -> int:
        return self.num_regions

    def get_current_region(self) -> int:
        return self.current_region

    def switch_region(self, region: int) -> bool:
        """Move to ``region`` now; True, as the reference returns (strategies test it)."""
        region = int(region)
        if not 0 <= region < self.num_regions:
            raise ValueError(f"region {region} out of range 0..{self.num_regions - 1}")
        self.current_region = region
        return True

    def spot_available_in_region(self, region: int) -> bool:
        return self.region_has_spot[int(region)]

    def get_all_regions_spot_available(self) -> list[bool]:
        return list(self.region_has_spot)

    def get_all_regions_spot_prices(self) -> list[float | None]:
        return [price if has else None
                for price, has in zip(self.region_spot_prices, self.region_has_spot)]

    def get_all_regions_ondemand_prices(self) -> list[float]:
        return [3.06] * self.num_regions
