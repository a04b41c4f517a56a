"""The policy bridge: a candidate's ``decide(obs, mem) -> int`` made callable from C++.

A candidate program is Python written in the Numba subset. :func:`compile_policy` runs
it once per candidate: ``numba.njit`` infers its return type (an integer action, or the
candidate is rejected), and a ``numba.cfunc`` wrapper exposes it to the C++ loop as a C
function address. The same compiled function, wrapped for Numba's first-class function
type, runs in the Numba loop. If the program does not compile, it still runs,
interpreted, and the compile error is kept as feedback for the model.

Every function the program defines is jit-compiled, so a policy may call helpers.
An exception raised inside the compiled policy cannot cross the C function: the C entry
point returns 0 instead of ``action + 1`` and the simulators report the run as failed;
index errors are checked (``boundscheck``), so a policy cannot read past its arrays.
"""

from __future__ import annotations

import inspect
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType
from typing import Any

import numpy as np

POLICY_RAISED = np.iinfo(np.int64).min

_MAX_ERROR_LINES = 12


@dataclass(frozen=True)
class CompiledPolicy:
    """One candidate policy, ready for every simulator path.

    Attributes:
        interpreted: The plain Python function (the fallback path, and for messages).
        address: C address of the cfunc wrapper for the C++ loop (it returns the action
            plus one, or 0 when the policy raised); None when not compiled.
        compile_error: Why Numba could not compile it (the policy then runs interpreted).
        compile_seconds: Time spent compiling.
    """

    interpreted: Callable[[np.ndarray, np.ndarray], Any]
    address: int | None
    compile_error: str | None
    compile_seconds: float
    _keepalive: Any = None  # the cfunc object: its address is valid while it lives
    _numba: Any = None

    @property
    def compiled(self) -> bool:
        return self.address is not None

    def numba_function(self) -> Any:
        """The policy as a Numba function of type ``int64(float64[::1], float64[::1])``
        returning :data:`POLICY_RAISED` instead of raising, for the Numba loop.

        Raises:
            ValueError: The program did not compile.
        """
        if self._numba is None:
            raise ValueError(f"the policy did not compile: {self.compile_error}")
        return self._numba.get()


def load_program(source: str, entry: str = "decide",
                 filename: str = "<candidate>") -> dict[str, Any]:
    """Execute a program's source and return its namespace.

    Raises:
        ValueError: Syntax error, an exception at import time, or no function ``entry``
            taking two arguments; the message says which and where.
    """
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        raise ValueError(
            f"syntax error in {filename} at line {exc.lineno}: {exc.msg}") from None
    namespace: dict[str, Any] = {"__name__": "adrs_candidate", "__file__": filename}
    try:
        exec(code, namespace)  # noqa: S102 - candidate code; callers sandbox the process
    except Exception as exc:  # noqa: BLE001 - any error of the candidate is its failure
        raise ValueError(f"{filename} raised at import: {_describe(exc)}") from None
    function = namespace.get(entry)
    if not isinstance(function, FunctionType):
        # ValueError, not TypeError: a bad candidate is bad input (the CLI's one-line errors)
        raise ValueError(f"{filename} defines no function {entry!r}")  # noqa: TRY004
    try:
        inspect.signature(function).bind(None, None)
    except TypeError:
        raise ValueError(
            f"{filename}: {entry}() must take two arguments (obs, mem)") from None
    return namespace


def compile_policy(source: str, entry: str = "decide",
                   filename: str = "<candidate>") -> CompiledPolicy:
    """Compile a candidate's policy for the C++ and Numba loops.

    Args:
        source: Program text defining ``entry(obs, mem) -> int``.
        entry: Name of the policy function.
        filename: Shown in error messages.

    Returns:
        The compiled policy; when Numba cannot compile the program, a policy with only
        the interpreted path and ``compile_error`` set.

    Raises:
        ValueError: The program does not load (see :func:`load_program`), or its policy
            compiles but does not return an integer action.
    """
    interpreted = load_program(source, entry, filename)[entry]
    started = time.perf_counter()
    from numba import carray, cfunc, njit, types  # deferred: numba import costs ~0.3 s

    namespace = load_program(source, entry, filename)
    for name, value in list(namespace.items()):
        # jit every function the program defines so that decide() may call helpers
        if isinstance(value, FunctionType) and value.__code__.co_filename == filename:
            # no wrappers: these are only called from compiled code, and skipping the
            # wrappers saves a third of the compile time
            namespace[name] = njit(boundscheck=True, no_cpython_wrapper=True,
                                   no_cfunc_wrapper=True)(value)
    decide = namespace[entry]
    array = types.float64[::1]
    try:
        decide.compile((array, array))
    except Exception as exc:  # noqa: BLE001 - any Numba failure means "run interpreted"
        return CompiledPolicy(interpreted, None, _numba_message(exc),
                              time.perf_counter() - started)
    return_type = decide.nopython_signatures[0].return_type
    if not isinstance(return_type, types.Integer):
        raise ValueError(  # noqa: TRY004 - a bad candidate is bad input, as above
            f"{entry}() returns {return_type}, not an integer action "
            "(return 0 NONE, 1 SPOT or 2 ON_DEMAND as an int)")

    raised = POLICY_RAISED
    _silence_cfunc_exceptions()

    # The C entry point returns action + 1, and 0 when the policy raised: a cfunc cannot
    # propagate an exception and returns 0 after reporting it, and a try/except here would
    # double the compile time. The C++ side decodes (adrs::spot AddressPolicy).
    def entry_point(obs_ptr, n_obs, mem_ptr, n_mem):  # pragma: no cover - runs compiled
        return np.int64(decide(carray(obs_ptr, (n_obs,)), carray(mem_ptr, (n_mem,)))) + 1

    c_signature = types.int64(types.CPointer(types.float64), types.int64,
                              types.CPointer(types.float64), types.int64)
    c_function = cfunc(c_signature)(entry_point)

    def safe(obs, mem):  # pragma: no cover - runs compiled
        try:
            return np.int64(decide(obs, mem))
        except Exception:  # noqa: BLE001
            return raised

    # The Numba-loop wrapper compiles on first use: the official path is C++.
    return CompiledPolicy(interpreted, c_function.address, None,
                          time.perf_counter() - started,
                          _keepalive=c_function, _numba=_LazyJit(safe, types.int64(array, array)))


def _silence_cfunc_exceptions() -> None:
    """Keep exceptions raised inside compiled policies off stderr.

    Numba reports them through :func:`sys.unraisablehook` (the C entry point then returns
    0, which the simulators read as "the policy raised"); the evaluator names the exception
    itself by replaying the run interpreted. Other unraisable exceptions go to the hook
    that was installed before.
    """
    global _previous_hook
    if _previous_hook is not None:
        return
    _previous_hook = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        source = unraisable.object
        if isinstance(source, str) and source.startswith("<numba."):
            return
        _previous_hook(unraisable)

    sys.unraisablehook = hook


_previous_hook: Any = None


class _LazyJit:
    """Defers the Numba-loop wrapper's compile until a Numba loop asks for it."""

    def __init__(self, function: Callable, signature: Any) -> None:
        self._function = function
        self._signature = signature
        self._dispatcher: Any = None

    def get(self) -> Any:
        if self._dispatcher is None:
            from numba import njit

            self._dispatcher = njit(self._signature)(self._function)
        return self._dispatcher


def _numba_message(exc: BaseException) -> str:
    # Numba's errors carry pages of context; the first lines say what went wrong.
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if not lines:
        lines = [type(exc).__name__]
    text = "\n".join(lines[:_MAX_ERROR_LINES])
    return f"Numba could not compile the policy ({type(exc).__name__}): {text}"


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f"line {f.lineno}" for f in reversed(frames) if f.filename.startswith("<")),
                 None)
    text = f"{type(exc).__name__}: {exc}"
    return f"{text} ({where})" if where else text
