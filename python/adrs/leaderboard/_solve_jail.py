"""The jail side of loading a leaderboard solution: import ``solution.py``, call
``Solution().solve(spec_path)`` and send back the code it returns.

Both the import and ``solve()`` are the submission's code, so they run here, in the jail,
never in the judge. ``solve()`` may return the code in any of the three forms the
leaderboard documents: a code string, ``{"code": text}``, or ``{"program_path": path}``
(a path string that names a file counts as that too); a path is read here, inside the
jail, with the view the jail gives. The judge checks what comes back (a string within
size) and scores it in a jail of its own.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Mapping
from typing import Any

from adrs.jail import CandidateError, Handler
from adrs.jail.handler import call_candidate, describe, trace_of

MAX_CODE_CHARS = 2_000_000



def load_solution_class(program: str, path: str, filename: str, module_name: str) -> type:
    """Import a submission's source as module ``module_name`` from ``path`` (so it reads
    itself and the files beside it) and return its ``Solution`` class.

    Raises:
        CandidateError: A syntax error, an exception at import, or no ``Solution`` class.
    """
    module = types.ModuleType(module_name)
    module.__file__ = path
    try:
        code = compile(program, path, "exec")
    except SyntaxError as exc:
        raise CandidateError(f"syntax error in {filename} at line {exc.lineno}: "
                             f"{exc.msg}") from None
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)  # noqa: S102 - the submission's code, in the jail
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: the submission's
        raise CandidateError(f"{filename} raised at import: {describe(exc, path)}",
                             trace_of(exc)) from None
    solution_class = getattr(module, "Solution", None)
    if not isinstance(solution_class, type):
        raise CandidateError(f"{filename} defines no Solution class")
    return solution_class

class SolveHandler(Handler):
    """Imports the solution file; ``solve`` returns ``{"code": text}``."""

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        shared = prepared[0]
        path = stage(str(shared["path"]), shared.get("root"), shared.get("folder"), program)
        from adrs.problems.spot._strategy_jail import COMPAT_DIR

        # the file's own folder first, as importing it from there would; then the
        # stand-ins for the reference packages a solution file imports (sky_spot); then
        # the problem's resources, which the leaderboard's evaluators put on the path
        # (txn_scheduling's solution files import its txn_simulator at the top)
        staged = os.sep + os.path.join("execution_env", "solution_env", "solution.py")
        resources = path[:-len(staged)] if path.endswith(staged) else ""
        for folder in (resources, COMPAT_DIR, os.path.dirname(path)):
            if os.path.isdir(folder) and folder not in sys.path:
                sys.path.insert(0, folder)
        self.solution_class = load_solution_class(program, path, filename,
                                                  "submitted_solution")
        self.path = path

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, Any]) -> tuple[dict[str, Any], dict]:
        if op != "solve":
            return super().handle(op, header, arrays)
        solution = call_candidate(self.solution_class, what="Solution()",
                                  filename=self.path)
        solve = getattr(solution, "solve", None)
        if not callable(solve):
            raise CandidateError("the Solution class has no solve() method")
        result = call_candidate(solve, str(header.get("spec_path", "")),
                                what="Solution.solve()", filename=self.path)
        return {"code": materialize(result)}, {}


def stage(path: str, root: str | None, folder: str | None, program: str) -> str:
    """Where the solution file is imported from: as the leaderboard stages it,
    ``<root>/problems/<folder>/resources/execution_env/solution_env/solution.py``, so that
    the paths a solution computes from ``__file__`` (the problem's resources, the repo
    root five levels up) resolve as there. The staged tree is built in this process's own
    tmp: real folders down to the file, links to the checkout beside them (read-only).
    Without a checkout, the file's own path.
    """
    import tempfile

    from adrs.jail import handler

    if not root or not folder or not os.path.isdir(os.path.join(root, "problems", folder)):
        return path
    base = handler.PRIVATE_TMP or tempfile.mkdtemp(prefix="leaderboard-")
    # the folders down to the file are real (the file goes in the last); everything beside
    # them links back to the checkout
    chain = ["problems", folder, "resources", "execution_env"]
    here, source = os.path.join(base, "leaderboard"), root
    for step in chain:
        os.makedirs(here, exist_ok=True)
        if os.path.isdir(source):
            for entry in os.listdir(source):
                link = os.path.join(here, entry)
                if entry != step and not os.path.lexists(link):
                    os.symlink(os.path.join(source, entry), link)
        here, source = os.path.join(here, step), os.path.join(source, step)
    here = os.path.dirname(here)  # .../resources: execution_env is made below
    staged = os.path.join(here, "execution_env", "solution_env", "solution.py")
    os.makedirs(os.path.dirname(staged), exist_ok=True)
    with open(staged, "w") as handle:
        handle.write(program)
    return staged


def materialize(result: Any) -> str:
    """The code ``solve()`` returned, in whichever documented form.

    Raises:
        CandidateError: Not one of the three forms, or a path that cannot be read.
    """
    if isinstance(result, dict):
        if isinstance(result.get("program_path"), str) and result["program_path"].strip():
            return _read(result["program_path"].strip())
        if isinstance(result.get("code"), str):
            return _checked(result["code"])
        raise CandidateError("solve() returned a dict with neither a 'code' string nor a "
                             f"'program_path' (keys: {', '.join(map(str, list(result)[:8]))})")
    if isinstance(result, str):
        candidate = result.strip()
        if "\n" not in candidate and len(candidate) < 4096 and os.path.isfile(candidate):
            return _read(candidate)
        return _checked(result)
    raise CandidateError("solve() must return a code string, {'code': ...} or "
                         f"{{'program_path': ...}}; it returned {type(result).__name__}")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return _checked(handle.read(MAX_CODE_CHARS + 1))
    except (OSError, UnicodeDecodeError) as exc:
        raise CandidateError(f"solve() returned program_path {path!r}, which cannot be "
                             f"read: {exc}") from None


def _checked(code: str) -> str:
    if len(code) > MAX_CODE_CHARS:
        raise CandidateError(f"solve() returned more than {MAX_CODE_CHARS:,} characters of code")
    if not code.strip():
        raise CandidateError("solve() returned empty code")
    return code
