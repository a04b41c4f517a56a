"""A stand-in for the ``sky_spot`` package that the ADRS Leaderboard's spot strategies
import (``sky_spot.strategies.strategy.Strategy``, ``sky_spot.utils.ClusterType``...).

It is our own minimal re-statement of the reference API (specs/spot.md 1.6 and 1.8): the
classes a strategy subclasses and the names it reads. It holds no simulator: the
strategy's decisions are played by adrs's own simulator through
:mod:`adrs.problems.spot._strategy_jail`, which fills ``self.env`` and the task state in
at every tick. It is put on ``sys.path`` only inside the jail that runs a strategy.
"""
