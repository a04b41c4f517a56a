"""Detect a candidate that patched the code scoring it.

A candidate runs in the same interpreter as the evaluator, so it could replace
``numpy.mean``, a scoring function of ``adrs.problems...`` or ``builtins.min`` to fake a
high score. The worker takes a snapshot before it forks the child that runs the
candidate; after the evaluation the child compares and reports every difference.

The snapshot holds, for every module whose name matches a protected prefix: the module
object in ``sys.modules`` and the identity of every attribute; for each class defined in
such a module (and the problem's own classes): the identity of every class attribute;
for every Python function found there: the identity of its ``__code__``,
``__defaults__`` and ``__kwdefaults__``; and the identity of every attribute of the
problem object.

Speed: comparing thousands of objects from Python touches their reference counts, and
in a forked child every touched page is copied (about 8 ms for numpy's modules). Where
the interpreter's layout allows it (checked by a self-test, CPython 3.10 to 3.13), the
check first reads each dictionary's version tag and each function's code/defaults
pointers straight from memory, which copies nothing, and compares attribute by
attribute only the dictionaries whose tag changed.
"""

from __future__ import annotations

import array
import ctypes
import operator
import struct
import sys
import types
from collections.abc import Iterable
from itertools import repeat
from typing import Any

_MISSING = object()
# caches Python itself adds: warnings' registry, pickle's slot-name cache
_IGNORED_KEYS = frozenset({"__warningregistry__", "__slotnames__"})
_POINTER = ctypes.sizeof(ctypes.c_void_p)
_DICT_USED = 2 * _POINTER  # PyDictObject: refcount, type, ma_used, ma_version_tag
_DICT_TAG = 3 * _POINTER
_FUNC_CODE = 6 * _POINTER  # PyFunctionObject: head, globals, builtins, name, qualname, code
_FUNC_FIELDS = 3 * _POINTER  # code, defaults, kwdefaults


class _Watched:
    """A dictionary under watch: its saved contents and how to name its keys."""

    __slots__ = ("address", "kind", "label", "mapping", "saved")

    def __init__(self, label: str, mapping: dict[str, Any], kind: str) -> None:
        self.label = label
        self.mapping = mapping
        self.saved = dict(mapping)
        self.kind = kind  # "module", "class" or "problem"
        self.address = id(mapping)

    def differences(self) -> list[str]:
        current = self.mapping
        found = []
        if not _same(self.saved, current):
            found += [f"{self.label}.{key}" for key, value in self.saved.items()
                      if key not in _IGNORED_KEYS and current.get(key, _MISSING) is not value]
        if len(current) != len(self.saved) or found:
            for key in current.keys() - self.saved.keys():
                # a lazily imported submodule is the module importing itself
                if key in _IGNORED_KEYS or (self.kind == "module"
                                            and isinstance(current[key], types.ModuleType)):
                    continue
                found.append(f"{self.label}.{key} (added)")
        return found


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
        self._dicts: list[_Watched] = []
        self._modules: list[tuple[str, types.ModuleType]] = []
        self._functions: list[tuple[str, types.FunctionType, tuple[Any, Any, Any]]] = []
        seen: set[int] = set()
        for name, module in sorted(sys.modules.items()):
            if not isinstance(module, types.ModuleType) or not _matches(name, prefixes):
                continue
            self._modules.append((name, module))
            contents = vars(module)
            self._dicts.append(_Watched(name, contents, "module"))
            for key, value in list(contents.items()):
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    self._add_class(f"{name}.{key}", value, seen)
                elif isinstance(value, types.FunctionType):
                    self._add_function(f"{name}.{key}", value, seen)
        self._problem: tuple[object, dict[str, Any]] | None = None
        if problem is not None:
            for cls in type(problem).__mro__:
                if cls is not object:
                    self._add_class(f"{cls.__module__}.{cls.__qualname__}", cls, seen)
            instance_dict = getattr(problem, "__dict__", None)
            if isinstance(instance_dict, dict):
                self._problem = (problem, instance_dict)
                self._dicts.append(_Watched("problem", instance_dict, "problem"))
        self._fast = _layout_known()
        if self._fast:
            # plain integers in arrays: iterating them creates fresh ints and touches
            # none of the watched objects
            self._tag_addresses = array.array("Q", [w.address + _DICT_TAG for w in self._dicts])
            self._tags = _gather(self._tag_addresses, 8)
            self._pointer_addresses = array.array(
                "Q", [id(f) + _FUNC_CODE for _, f, _ in self._functions])
            self._pointers = _gather(self._pointer_addresses, _FUNC_FIELDS)
            self._modules_tag_address = id(sys.modules) + _DICT_TAG
            self._modules_tag = _read(self._modules_tag_address, 8)

    def _add_class(self, label: str, cls: type, seen: set[int]) -> None:
        if id(cls) in seen:
            return
        seen.add(id(cls))
        # the real dict behind the read-only mappingproxy, so its version tag can be read
        real = next((r for r in _referents(cls.__dict__) if isinstance(r, dict)), None)
        if real is None:
            return
        self._dicts.append(_Watched(label, real, "class"))
        for key, value in list(real.items()):
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, types.FunctionType):
                self._add_function(f"{label}.{key}", value, seen)

    def _add_function(self, label: str, func: types.FunctionType, seen: set[int]) -> None:
        if id(func) in seen:
            return
        seen.add(id(func))
        self._functions.append((label, func, (func.__code__, func.__defaults__,
                                              func.__kwdefaults__)))

    def violations(self, limit: int = 5) -> list[str]:
        """Names of what changed since the snapshot (at most ``limit``)."""
        found = []
        if not self._fast or _read(self._modules_tag_address, 8) != self._modules_tag:
            found += [f"sys.modules[{name!r}]" for name, module in self._modules
                      if sys.modules.get(name, module) is not module]
        if self._problem is not None:
            problem, instance_dict = self._problem
            if getattr(problem, "__dict__", None) is not instance_dict:
                found.append("problem.__dict__ (replaced)")
        if self._fast:
            tags = _gather(self._tag_addresses, 8)
            if tags != self._tags:
                for index, watched in enumerate(self._dicts):
                    if tags[8 * index:8 * index + 8] != self._tags[8 * index:8 * index + 8]:
                        found += watched.differences()
            if _gather(self._pointer_addresses, _FUNC_FIELDS) != self._pointers:
                found += self._function_differences()
        else:
            for watched in self._dicts:
                found += watched.differences()
            found += self._function_differences()
        return found[:limit]

    def _function_differences(self) -> list[str]:
        return [f"{label} (code or defaults)" for label, func, (code, defaults, kwdefaults)
                in self._functions
                if func.__code__ is not code or func.__defaults__ is not defaults
                or func.__kwdefaults__ is not kwdefaults]


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _same(saved: dict[str, Any], current: dict[str, Any]) -> bool:
    # identity only: == could call a candidate's __eq__
    return all(map(operator.is_, saved.values(),
                   map(current.get, saved.keys(), repeat(_MISSING))))


def _referents(obj: object) -> list[Any]:
    import gc

    return gc.get_referents(obj)


def _read(address: int, size: int) -> bytes:
    return ctypes.string_at(address, size)


def _gather(addresses: array.array[int], size: int) -> bytes:
    return b"".join([ctypes.string_at(address, size) for address in addresses])


def _layout_known() -> bool:
    """Whether dict version tags and function fields sit where this module reads them."""
    if sys.implementation.name != "cpython" or not (3, 10) <= sys.version_info[:2] <= (3, 13):
        return False
    try:
        probe: dict[str, int] = {}
        tags = [_read(id(probe) + _DICT_TAG, 8)]
        for step in (lambda: probe.__setitem__("k", 1), lambda: probe.__setitem__("k", 2),
                     lambda: probe.__delitem__("k")):
            step()
            tags.append(_read(id(probe) + _DICT_TAG, 8))
        if len(set(tags)) != len(tags):
            return False
        probe["a"] = 1
        if struct.unpack("n", _read(id(probe) + _DICT_USED, _POINTER))[0] != 1:
            return False

        def sample(x: int = 1, *, y: int = 2) -> int:
            return x + y

        fields = struct.unpack("3P", _read(id(sample) + _FUNC_CODE, _FUNC_FIELDS))
        return fields == (id(sample.__code__), id(sample.__defaults__),
                          id(sample.__kwdefaults__))
    except Exception:  # noqa: BLE001 - any surprise means: use the slow, safe path
        return False
