"""Strategy base classes (``strategy.Strategy``, ``multi_strategy.MultiRegionStrategy``)."""
