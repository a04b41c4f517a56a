"""The jail side of a leaderboard spot strategy: a ``sky_spot`` ``Strategy`` subclass (the
ADRS Leaderboard's candidate API) played on adrs's simulator.

The strategy is a person's submission, plain Python with state, so it runs interpreted:
the C++ loop calls :class:`StrategyPolicy` at every tick, which keeps one strategy
instance per run, fills in the fields the reference simulator gives a strategy
(``self.env``, ``self.task_done_time``, ``self.remaining_restart_overhead``...) from the
tick's observation, and turns ``_step``'s answer (and any ``env.switch_region``) into an
action. Everything else (progress, the strong guarantee, the safety rule, billing) is the
simulator's, as for every other spot candidate. The judge replays the recorded actions.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from adrs import _core
from adrs.jail import CandidateError
from adrs.jail.handler import load_module
from adrs.problems.spot._jail import SpotHandler
from adrs.simulators import spot_layout as L

COMPAT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "leaderboard", "compat")


def strategy_class(module: Any) -> type:
    """The first ``Strategy`` subclass the module defines, in definition order (the
    reference evaluators' rule; the base classes themselves do not count).

    Raises:
        CandidateError: It defines none.
    """
    from sky_spot.strategies.strategy import MultiRegionStrategy, Strategy

    for value in list(vars(module).values()):
        if isinstance(value, type) and issubclass(value, Strategy) \
                and value not in (Strategy, MultiRegionStrategy) \
                and value.__module__ == module.__name__:
            return value
    raise CandidateError("the program defines no sky_spot Strategy subclass "
                         "(class X(Strategy) with _step and _from_args)")


class _PresetParser(argparse.ArgumentParser):
    """What ``_from_args(parser)`` receives: its ``parse_known_args()`` reads the run's
    job, as the reference's command line gives it."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(add_help=False)
        self._argv = argv
        self.add_argument("--deadline-hours", type=float, default=52.0)
        self.add_argument("--task-duration-hours", type=float, nargs="+", default=[48.0])
        self.add_argument("--restart-overhead-hours", type=float, nargs="+", default=[0.0])
        self.add_argument("--env-start-hours", type=float, default=0.0)
        self.add_argument("--strategy", type=str, default="custom")
        self.add_argument("--env", type=str, default="trace")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        return super().parse_known_args(self._argv if args is None else args, namespace)


class StrategyPolicy:
    """``decide(obs, mem)`` for the C++ loop, backed by one strategy instance per run.

    Args:
        cls: The strategy class.
        scenarios_hours: ``[n_runs, 3]`` duration, deadline, overhead of each run, in the
            order the loop plays them.
        multi_region: Whether the strategy may move between regions.
    """

    def __init__(self, cls: type, scenarios_hours: np.ndarray, multi_region: bool) -> None:
        from sky_spot.utils import ClusterType

        self.cls = cls
        self.scenarios = scenarios_hours
        self.multi_region = multi_region
        self.types = (ClusterType.NONE, ClusterType.SPOT, ClusterType.ON_DEMAND)
        self.actions = {kind: code for code, kind in enumerate(self.types)}
        self.run = -1
        self.strategy: Any = None

    def _start_run(self, obs: np.ndarray) -> None:
        from sky_spot.env import Env
        from sky_spot.task import Task

        self.run += 1
        duration, deadline, overhead = (float(x) for x in self.scenarios[self.run])
        parser = _PresetParser(["--deadline-hours", str(deadline), "--task-duration-hours",
                                str(duration), "--restart-overhead-hours", str(overhead)])
        from sky_spot.strategies.strategy import Strategy

        strategy = self.cls._from_args(parser)
        if not isinstance(strategy, Strategy):
            raise CandidateError(f"{self.cls.__name__}._from_args returned "
                                 f"{type(strategy).__name__}, not a Strategy")
        env = Env(float(obs[L.GAP]), int(obs[L.NUM_REGIONS]))
        task = Task(duration * 3600)
        # the reference resets a strategy twice before a run (specs/spot.md 1.6)
        strategy.reset(env, task)
        strategy.reset(env, task)
        self.strategy, self.env, self.done = strategy, env, 0.0

    def __call__(self, obs: np.ndarray, mem: np.ndarray) -> int:
        o = obs.tolist()  # Python floats: reading them is far cheaper than numpy items
        if o[L.TIME] == 0.0:
            self._start_run(obs)
        strategy, env = self.strategy, self.env
        progress = o[L.PROGRESS]
        strategy.task_done_time.append(progress - self.done)
        self.done = progress
        strategy.remaining_restart_overhead = o[L.REMAINING_OVERHEAD]
        region = int(o[L.CURRENT_REGION])
        env.elapsed_seconds = o[L.TIME]
        env.tick = round(o[L.TIME] / o[L.GAP])
        env.cluster_type = self.types[int(o[L.CLUSTER_TYPE])]
        env.current_region = region
        if self.multi_region:
            n = int(o[L.NUM_REGIONS])
            first = L.REGION_HAS_SPOT
            env.region_has_spot = [x > 0.5 for x in o[first:first + n]]
            env.region_spot_prices = o[first + n:first + 2 * n]
        else:
            env.region_has_spot = [o[L.HAS_SPOT] > 0.5]
        decision = strategy._step(self.types[int(o[L.LAST_CLUSTER_TYPE])], o[L.HAS_SPOT] > 0.5)
        try:
            action = self.actions[decision]
        except (KeyError, TypeError):
            raise CandidateError(f"_step returned {decision!r}, not a ClusterType") from None
        if env.current_region != region:
            if not self.multi_region:
                raise CandidateError("switch_region in a single-region problem")
            action += 3 * (env.current_region + 1)
        return action


class StrategyHandler(SpotHandler):
    """Loads one strategy program; ``simulate {split}`` plays it and returns its actions."""

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        self.prepared = prepared
        self.program = program
        self.filename = filename
        if COMPAT_DIR not in sys.path:
            sys.path.insert(0, COMPAT_DIR)
        module = load_module(program, filename, name="leaderboard_strategy")
        self.cls = strategy_class(module)

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "simulate":
            raise CandidateError(f"this problem's jail does not know the request {op!r}")
        shared, workloads = self.prepared
        packed = workloads[str(header["split"])]
        multi = bool(shared["multi_region"])
        policy = StrategyPolicy(self.cls, packed[-1], multi)
        args = (*packed, multi, str(shared["fidelity"]))
        runs = _core.spot_simulate(*args, policy, False, True)
        out = {"actions": runs["actions"], "action_offsets": runs["action_offsets"]}
        return {"messages": self._strategy_messages(runs)}, out

    @staticmethod
    def _strategy_messages(runs: Mapping[str, Any]) -> dict[str, str]:
        failed = np.flatnonzero(np.asarray(runs["status"]) != 0)
        if failed.size == 0:
            return {}
        i = int(failed[0])
        message = str(runs["messages"][i]) if "messages" in runs else ""
        return {str(i): message[:2000]} if message else {}
