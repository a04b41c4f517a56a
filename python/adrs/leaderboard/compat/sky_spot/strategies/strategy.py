"""The base class of a leaderboard spot strategy (the reference API, specs/spot.md 1.6).

adrs's simulator owns the tick loop, the progress accounting, the strong guarantee and
the safety rule; a strategy here only proposes ``_step``'s decision. ``reset`` sets the
attributes the reference sets, and the simulator keeps them current.
"""

from __future__ import annotations

import typing

from sky_spot.utils import ClusterType


class Strategy:
    NAME = "abstract"
    SUBCLASSES: typing.ClassVar[dict[str, type]] = {}

    def __init__(self, args: typing.Any = None) -> None:
        self.args = args

    def __init_subclass__(cls, **kwargs: typing.Any) -> None:
        super().__init_subclass__(**kwargs)
        Strategy.SUBCLASSES[cls.NAME] = cls  # re-registration allowed, as the evaluator's

    def reset(self, env: typing.Any, task: typing.Any) -> None:
        args = self.args
        self.task = task
        self.env = env
        self.deadline = args.deadline_hours * 3600
        self.task_duration = task.get_total_duration_seconds()
        self.restart_overheads = [oh * 3600 for oh in args.restart_overhead_hours]
        self.restart_overhead = self.restart_overheads[0]
        self.inter_task_overheads = [0.0]
        self.inter_task_overhead = 0.0
        self.task_done_time: list[float] = []
        task.set_progress_source(self.task_done_time)
        self.remaining_restart_overhead = 0.0
        self.remaining_inter_task_overhead = 0

    def _step(self, last_cluster_type: ClusterType, has_spot: bool) -> ClusterType:
        raise NotImplementedError

    @property
    def task_done(self) -> bool:
        return self.task.is_done

    @property
    def name(self) -> str:
        return self.NAME

    @classmethod
    def _from_args(cls, parser: typing.Any) -> Strategy:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.NAME}()"


class MultiRegionStrategy(Strategy):
    """The multi-region base of the leaderboard's multi-region simulator: one cluster at
    a time, moved with ``self.env.switch_region``; the evaluator sets no region-switch
    overhead, so none is added."""

    NAME = "multi_region_strategy"

    def __init__(self, args: typing.Any = None) -> None:
        super().__init__(args)
        self.last_startup_region: int | None = None
        self.migration_overhead_seconds = 0.0

    @classmethod
    def _from_args(cls, parser: typing.Any) -> MultiRegionStrategy:
        args, _ = parser.parse_known_args()
        return cls(args)
