"""MoE expert placement: ``eplb`` (evolve ``rebalance_experts``; needs ``adrs[moe]``)."""

from adrs.problems.eplb._problem import ExpertPlacementProblem, MissingDependency

__all__ = ["ExpertPlacementProblem", "MissingDependency"]
