"""The jail side of a problem: what runs next to the candidate, inside the jail.

A problem names a :class:`Handler` subclass in its :class:`~adrs.jail.JailTask`. The
zygote imports it and calls :meth:`Handler.prepare` once with the task's inputs (trusted
code on trusted data: loads simulators, warms compilers); every jailed process then
builds one handler around one candidate program (its constructor loads the program:
that is the candidate's import, timed by the judge) and answers the judge's requests
with :meth:`Handler.handle`.

Nothing a handler returns is believed: the judge validates every output and recomputes
every figure itself. A handler exists to run the candidate on its inputs and send the
candidate's outputs back.
"""

from __future__ import annotations

import os
import sys
import traceback
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


Arrays = Mapping[str, "np.ndarray"]

# Set in a jailed process to its private tmp (fresh, its own): programs are written there.
PRIVATE_TMP: str | None = None


def in_jail() -> bool:
    """Whether this process is a jailed one (its process-wide settings are the
    candidate's to change; in a caller's own process they are not the handler's)."""
    return PRIVATE_TMP is not None


class CandidateError(Exception):
    """The candidate failed; ``str(exc)`` says how, for the judge's feedback.

    Args:
        message: What happened, naming the program's line where one is known.
        trace: Traceback lines worth showing the model, or "".
    """

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace


class Handler:
    """Runs one candidate on its inputs; subclasses override the three methods."""

    @classmethod
    def prepare(cls, shared: Mapping[str, Any], arrays: Arrays) -> Any:
        """Called once in the zygote, before any candidate exists.

        Args:
            shared: The task's plain data.
            arrays: The task's arrays (read-only).

        Returns:
            Whatever every handler of this jail receives as ``prepared``.
        """
        return shared, arrays

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        """Load the candidate program.

        Raises:
            CandidateError: The program does not load.
        """
        self.prepared = prepared
        self.program = program
        self.filename = filename

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Arrays) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Answer one request of the judge.

        Returns:
            The reply's header and arrays.

        Raises:
            CandidateError: The candidate failed on this request.
        """
        raise CandidateError(f"this problem's jail does not know the request {op!r}")


def load_module(program: str, filename: str, name: str | None = None) -> types.ModuleType:
    """Import ``program`` as a module from a file of its own (in the jail's private tmp),
    so tracebacks, ``inspect`` and Triton's ``jit`` see its source.

    Args:
        program: Source text.
        filename: The file's name (the user's own file name where there is one).
        name: Module name; default: the file name without ``.py``.

    Raises:
        CandidateError: A syntax error or an exception at import, with the line.
    """
    import importlib.util
    import tempfile

    base = os.path.basename(filename) or "candidate.py"
    if PRIVATE_TMP is not None:  # a jailed process: its own fresh tmp, nothing to clash with
        folder = os.path.join(PRIVATE_TMP, ".program")
        os.makedirs(folder, exist_ok=True)
    else:
        folder = tempfile.mkdtemp(prefix="program-")
    path = os.path.join(folder, base)
    with open(path, "w") as handle:
        handle.write(program)
    # never the file's own name: a candidate called triton.py must not shadow triton
    module_name = name or "candidate"
    try:
        code = compile(program, base, "exec")
    except SyntaxError as exc:
        raise CandidateError(f"syntax error in {base} at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise CandidateError(f"{base} cannot be compiled: {type(exc).__name__}: {exc}") \
            from None
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = path
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)  # noqa: S102 - candidate code, in the jail
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: the candidate's failure
        raise CandidateError(f"{base} raised at import: {describe(exc, base)}",
                             trace_of(exc)) from None
    return module


def entry_point(module: types.ModuleType, name: str, missing: str) -> Any:
    """The candidate's function ``name``.

    Raises:
        CandidateError: ``missing`` when the module has no callable of that name.
    """
    function = getattr(module, name, None)
    if not callable(function):
        raise CandidateError(missing)
    return function


def describe(exc: BaseException, filename: str) -> str:
    """``ValueError: message (line 7)``, the line being the innermost one in ``filename``."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, MemoryError):
        text = "MemoryError: memory limit exceeded"
    line = None
    tb = exc.__traceback__
    base = os.path.basename(filename)
    while tb is not None:
        if os.path.basename(tb.tb_frame.f_code.co_filename) == base:
            line = tb.tb_lineno
        tb = tb.tb_next
    return text if line is None else f"{text} (line {line})"


def trace_of(exc: BaseException, lines: int = 12) -> str:
    """The last traceback lines of ``exc``."""
    try:
        formatted = traceback.format_exception(type(exc), exc, exc.__traceback__)
    except Exception:  # noqa: BLE001 - a hostile exception may break formatting
        return ""
    return "".join(formatted[-lines:])[-4000:]


def call_candidate(function: Any, *args: Any, what: str, filename: str) -> Any:
    """Call candidate code, turning any failure into a :class:`CandidateError`."""
    try:
        return function(*args)
    except CandidateError:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: the candidate's failure
        raise CandidateError(f"{what} raised {describe(exc, filename)}", trace_of(exc)) \
            from None
