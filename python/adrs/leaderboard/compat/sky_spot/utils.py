"""Cluster types and prices as the reference simulator names them."""

import enum


class ClusterType(str, enum.Enum):
    """What runs during one tick (the reference's names; values are ours)."""

    NONE = "NONE"
    SPOT = "SPOT"
    ON_DEMAND = "ON_DEMAND"


# The reference's price table: on-demand 3.06 $/h for every device the evaluators use,
# spot 0.9731 $/h (specs/spot.md 1.4).
COSTS = {ClusterType.ON_DEMAND: 3.06, ClusterType.SPOT: 0.9731, ClusterType.NONE: 0}
COST_K = COSTS[ClusterType.ON_DEMAND] / COSTS[ClusterType.SPOT]
DEVICE_COSTS = {"v100_1": 3.06, "v100_8": 3.06, "k80_1": 3.06, "k80_8": 3.06}
