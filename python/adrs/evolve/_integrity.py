"""Detect a candidate that patched the code scoring it.

A candidate runs in the same interpreter as the evaluator, so it could replace
``numpy.mean``, a scoring function of ``adrs.problems...`` or ``builtins.min`` to fake a
high score. The worker takes a snapshot before it forks the child that runs the
candidate; after the evaluation the child compares and reports every difference.

The snapshot holds, for every module whose name matches a protected prefix: the module
object in ``sys.modules``, the identity of every attribute; for each class defined in
such a module (and the problem's own classes): the identity of every class attribute;
for every function found there: the identity of its ``__code__``, ``__defaults__`` and
``__kwdefaults__``; and the identity of every attribute of the problem object.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Iterable

_MISSING = object()
_IGNORED_KEYS = frozenset({"__warningregistry__"})


class EvaluatorSnapshot:
    """Identities of the evaluator's modules, classes, functions and problem object."""

    def __init__(self, prefixes: Iterable[str], problem: object | None = None) -> None:
        """Take the snapshot now.

        Args:
            prefixes: Module name prefixes (``numpy`` covers ``numpy`` and
                ``numpy.linalg``...).
            problem: The problem object; its attributes and classes are covered too.
        """
        prefixes = tuple(prefixes)
        self._modules: list[tuple[str, types.ModuleType, dict[str, Any]]] = []
        self._classes: list[tuple[str, type, dict[str, Any]]] = []
        self._functions: list[tuple[str, types.FunctionType, tuple[Any, Any, Any]]] = []
        seen_classes: set[int] = set()
        seen_functions: set[int] = set()
        for name, module in sorted(sys.modules.items()):
            if not isinstance(module, types.ModuleType) or not _matches(name, prefixes):
                continue
            contents = dict(vars(module))
            self._modules.append((name, module, contents))
            for key, value in contents.items():
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    self._add_class(f"{name}.{key}", value, seen_classes, seen_functions)
                elif isinstance(value, types.FunctionType):
                    self._add_function(f"{name}.{key}", value, seen_functions)
        self._problem: tuple[object, dict[str, Any]] | None = None
        if problem is not None:
            for cls in type(problem).__mro__:
                if cls is not object:
                    self._add_class(f"{cls.__module__}.{cls.__qualname__}", cls,
                                    seen_classes, seen_functions)
            self._problem = (problem, dict(getattr(problem, "__dict__", {})))

    def _add_class(self, label: str, cls: type, seen: set[int], functions: set[int]) -> None:
        if id(cls) in seen:
            return
        seen.add(id(cls))
        contents = dict(vars(cls))
        self._classes.append((label, cls, contents))
        for key, value in contents.items():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, types.FunctionType):
                self._add_function(f"{label}.{key}", value, functions)

    def _add_function(self, label: str, func: types.FunctionType, seen: set[int]) -> None:
        if id(func) in seen:
            return
        seen.add(id(func))
        self._functions.append((label, func, (func.__code__, func.__defaults__,
                                              func.__kwdefaults__)))

    def violations(self, limit: int = 5) -> list[str]:
        """Names of what changed since the snapshot (at most ``limit``)."""
        found: list[str] = []
        for name, module, contents in self._modules:
            if sys.modules.get(name, module) is not module:
                found.append(f"sys.modules[{name!r}]")
            current = vars(module)
            for key, value in contents.items():
                if key not in _IGNORED_KEYS and current.get(key, _MISSING) is not value:
                    found.append(f"{name}.{key}")
            if len(current) != len(contents):
                for key in current.keys() - contents.keys():
                    added = current[key]
                    # a lazily imported submodule is the module importing itself
                    if key in _IGNORED_KEYS or isinstance(added, types.ModuleType):
                        continue
                    found.append(f"{name}.{key} (added)")
            if len(found) >= limit:
                return found[:limit]
        for label, cls, contents in self._classes:
            current = vars(cls)
            for key, value in contents.items():
                if current.get(key, _MISSING) is not value:
                    found.append(label + "." + key)
            for key in current.keys() - contents.keys():
                found.append(f"{label}.{key} (added)")
            if len(found) >= limit:
                return found[:limit]
        for label, func, (code, defaults, kwdefaults) in self._functions:
            if (func.__code__ is not code or func.__defaults__ is not defaults
                    or func.__kwdefaults__ is not kwdefaults):
                found.append(f"{label} (code or defaults)")
        if self._problem is not None:
            problem, contents = self._problem
            current = getattr(problem, "__dict__", {})
            for key, value in contents.items():
                if current.get(key, _MISSING) is not value:
                    found.append(f"problem.{key}")
            for key in current.keys() - contents.keys():
                found.append(f"problem.{key} (added)")
        return found[:limit]


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)
