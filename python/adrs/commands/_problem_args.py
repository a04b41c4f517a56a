"""Options shared by the commands that build a problem (eval, baselines)."""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import Any

from adrs.problems import Problem, get_problem, problem_names


def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("problem", metavar="PROBLEM",
                        help=f"one of: {', '.join(problem_names())}")
    parser.add_argument("--split", default="train", choices=("train", "test", "quick"),
                        help="workload split (default: train)")
    parser.add_argument("--data", metavar="DIR",
                        help="folder with the real workloads (e.g. ../shared/data); default: "
                             "$ADRS_DATA_DIR, else synthetic workloads")
    parser.add_argument("--fidelity", choices=("reference", "corrected"),
                        help="simulator rules: reference (default) or corrected")
    parser.add_argument("--traces", metavar="PATH",
                        help="evaluate on these traces (file, folder or archive) instead")
    parser.add_argument("--scenario", action="append", metavar="DURATION:DEADLINE:OVERHEAD",
                        help="job grid for --traces, in hours (repeatable)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="any other problem option (repeatable), e.g. --option scorer=paper")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the program in this process, not in the jail: only for "
                             "your own trusted code (debugging)")


def build_runner(args: argparse.Namespace, limits: Any = None) -> Any:
    """The runner ``adrs eval``/``baselines`` score with: the jail (with ``limits``, a
    :class:`~adrs.jail.JailLimits`, or the defaults), unless --no-sandbox. When the jail
    cannot isolate the candidate, it says so in one line on stderr."""
    from adrs.jail import InProcessRunner, JailRunner

    if getattr(args, "no_sandbox", False):
        return InProcessRunner()
    return _WarningRunner(JailRunner(limits), lambda line: print(line, file=sys.stderr))


class _WarningRunner:
    """A jail runner that says once, when its first jail starts, if it is not isolated."""

    def __init__(self, runner: Any, warn: Any) -> None:
        self._runner = runner
        self._warn = warn
        self._warned = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)

    def session(self, *args: Any, **kwargs: Any) -> Any:
        session = self._runner.session(*args, **kwargs)
        if not self._warned:
            self._warned = True
            layers = self._runner.layers
            if self._warn is not None and not layers.isolated:
                self._warn(f"warning: the program is NOT isolated from this process: "
                           f"{layers.summary()} (see 'adrs doctor')")
        return session


def build_problem(args: argparse.Namespace) -> Problem:
    """Build the problem named on the command line with the options given, for
    ``adrs eval``/``baselines``: one evaluation or a few, so its jails start at once
    rather than warm up for a search.

    Raises:
        ValueError: Unknown problem, or an option that problem does not take.
    """
    options: dict[str, Any] = {}
    for option in ("data", "fidelity", "traces"):
        if getattr(args, option) is not None:
            options[option] = getattr(args, option)
    if args.scenario:
        options["scenarios"] = args.scenario
    options.update(parse_options(args.option))
    check_options(args.problem, options)
    problem = get_problem(args.problem, **options)
    problem.warm_jails = False
    return problem


_FLAGS = {"scenarios": "--scenario", "data": "--data", "fidelity": "--fidelity",
          "traces": "--traces"}


def option_flag(option: str) -> str:
    """How the user gave an option: its own flag (``--data``) or ``--option KEY``."""
    return _FLAGS.get(option, f"--option {option}")


def check_options(name: str, options: dict[str, Any]) -> None:
    """Refuse an option the problem does not take, or a value of the wrong kind, naming
    the option (and the ones it does take).

    Raises:
        ValueError: Unknown problem, unknown option, or a value of the wrong type.
    """
    from adrs.problems._registry import problem_factory

    parameters = inspect.signature(problem_factory(name)).parameters
    known = [p for p in parameters if p != "self"]
    for option, value in options.items():
        flag = option_flag(option)
        if option not in parameters:
            raise ValueError(f"problem {name!r} takes no option {flag}; its options: "
                             f"{', '.join(known)}")
        default = parameters[option].default
        kind = _kind_of(default)
        if kind is not None and value is not None and not _fits(value, kind):
            wanted = {bool: "true or false", int: "an integer", float: "a number"}[kind]
            raise ValueError(f"{flag}={value}: expected {wanted} (default {default!r})")


def _kind_of(default: Any) -> type | None:
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float)):
        return type(default)
    return None


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, int) and not isinstance(value, bool)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` pairs; numbers, booleans and null keep their YAML type.

    Raises:
        ValueError: A pair without ``=`` or with an empty key.
    """
    import yaml

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        keep = isinstance(parsed, (int, float, bool)) or parsed is None
        options[key.strip()] = parsed if keep else value
    return options
