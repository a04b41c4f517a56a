"""The jail side of a task folder: the folder's own evaluator, run next to the candidate.

In a task folder the evaluator is the judge the user chose, and it imports the candidate
itself, so both run together in a fresh jailed process per candidate. Nothing of the
evaluator is imported before that process is forked from the zygote, so a library that
starts threads at import (JAX, a BLAS or torch thread pool) starts them in the process
that uses them, never in one that forks afterwards, and no module of one candidate
(a program imported by its file name) survives into the next.

The process is laid out as the folder's own frameworks lay it out:

- the program is written to the jail's private ``/tmp`` under a name of its own
  (``tmp<hex>.py``, as OpenEvolve's temporary files), so an evaluator that imports it
  by its file name can never find a cached or a shadowing module of that name;
- the working directory is ``/tmp/folder``, whose entries are links to the folder's
  own (visible read-only at its real path): relative data paths resolve as in the
  folder, and files an evaluator writes there stay in the private ``/tmp``;
- the folder is first on ``sys.path`` (evaluators import their helpers), then the
  folders of packages given with ``--site``, and
  :mod:`adrs.evolve.compat` last (``from openevolve.evaluation_result import ...``).

What the evaluator returns is sent back as plain data (numbers and text); the judge
outside takes it as the folder's format defines it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import secrets
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from adrs.jail import CandidateError, Handler, call_candidate
from adrs.jail.handler import describe, trace_of

if TYPE_CHECKING:  # numpy is not imported here: a zygote whose evaluator never uses it
    import numpy as np  # forks faster without it (9 MB less memory to map per process)

EVALUATOR_MODULE = "evaluation_module"  # the name OpenEvolve imports evaluators under
WORK_DIR = "folder"
_TEXT_CHARS = 4000


class FolderHandler(Handler):
    """``evaluate {function, catch}``: the evaluator's function on the program's file;
    ``shinka {}``: ShinkaEvolve's ``main(program_path, results_dir)`` and its files."""

    @classmethod
    def prepare(cls, shared: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        """Compile the evaluator once, in the zygote: compiling runs none of its code (its
        imports and everything else run in each candidate's process), and each process
        then need not parse it again. One that does not compile is left to each process,
        which reports the error as the candidate's failure."""
        evaluator = str(shared["evaluator"])
        try:
            with open(evaluator, "rb") as handle:
                code = compile(handle.read(), evaluator, "exec", dont_inherit=True)
        except (OSError, SyntaxError, ValueError):
            code = None
        return shared, arrays, code

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        shared, _, code = prepared
        tmp = os.getcwd()  # the jail's private tmp, fresh for this candidate
        suffix = os.path.splitext(str(shared["program_name"]))[1] or ".py"
        self.path = os.path.join(tmp, f"tmp{secrets.token_hex(6)}{suffix}")
        with open(self.path, "w") as handle:
            handle.write(program)
        self.results_dir = os.path.join(tmp, "results")
        _enter_folder_view(str(shared["folder"]), os.path.join(tmp, WORK_DIR))
        evaluator = str(shared["evaluator"])
        folder = os.path.dirname(evaluator)
        # the folder's helpers first, then its own package versions (--site), then the
        # installed packages
        for entry in reversed([folder, *shared.get("site", ())]):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        compat = str(shared["compat"])
        if compat not in sys.path:
            sys.path.append(compat)  # after everything: an installed OpenEvolve wins
        spec = importlib.util.spec_from_file_location(EVALUATOR_MODULE, evaluator)
        if spec is None or spec.loader is None:
            raise CandidateError(f"{evaluator}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[EVALUATOR_MODULE] = module
        if code is not None:  # what exec_module does, without compiling again
            call_candidate(exec, code, module.__dict__, what="importing the evaluator",
                           filename=evaluator)
        else:
            call_candidate(spec.loader.exec_module, module, what="importing the evaluator",
                           filename=evaluator)
        self.module = module
        self.evaluator = evaluator

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op == "evaluate":
            name = str(header["function"])
            function = getattr(self.module, name, None)
            if not callable(function):
                raise CandidateError(f"{self.evaluator} defines no {name}(program_path)")
            return self._call(function, bool(header.get("catch")), self.path), {}
        if op == "shinka":
            function = getattr(self.module, "main", None)
            if not callable(function):
                raise CandidateError(f"{self.evaluator} defines no "
                                     "main(program_path, results_dir)")
            os.makedirs(self.results_dir, exist_ok=True)
            try:
                function(self.path, self.results_dir)
            except BaseException as exc:  # noqa: BLE001 - the evaluator ran candidate code
                raise CandidateError(f"{type(exc).__name__}: {exc}", trace_of(exc)) \
                    from None
            return shinka_result(self.results_dir), {}
        return super().handle(op, header, arrays)

    def _call(self, function: Any, catch: bool, path: str) -> dict[str, Any]:
        try:
            raw = function(path)
        except BaseException as exc:  # noqa: BLE001 - the evaluator ran candidate code
            if catch:  # a later cascade stage: the judge keeps the earlier stages' result
                return {"raised": describe(exc, self.path), "trace": trace_of(exc)}
            raise CandidateError(f"{type(exc).__name__}: {exc}", trace_of(exc)) from None
        return plain_result(raw)


def _enter_folder_view(folder: str, view: str) -> None:
    """Make ``view`` a writable folder whose entries link to ``folder``'s, and enter it."""
    os.makedirs(view, exist_ok=True)
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    for name in names:
        target = os.path.join(view, name)
        if not os.path.lexists(target):
            os.symlink(os.path.join(folder, name), target)
    os.chdir(view)


def plain_result(raw: Any) -> dict[str, Any]:
    """An evaluator's result as plain data: ``metrics`` (numbers, or text where the
    evaluator put text) and ``artifacts`` (text), from a dict or an OpenEvolve-style
    ``EvaluationResult``."""
    artifacts: Mapping[str, Any] = {}
    if hasattr(raw, "metrics") and not isinstance(raw, Mapping):
        artifacts = getattr(raw, "artifacts", None) or {}
        raw = raw.metrics
    if not isinstance(raw, Mapping):
        raise CandidateError(f"evaluate() returned {type(raw).__name__}, expected a dict of "
                             "metrics")
    return {"metrics": _plain_metrics(raw),
            "artifacts": {str(k): str(v)[:_TEXT_CHARS] for k, v in dict(artifacts).items()}}


def _plain_metrics(raw: Mapping[str, Any]) -> dict[str, Any]:
    numpy = sys.modules.get("numpy")  # an evaluator's numbers may be numpy's, if it has it
    numbers: tuple[type, ...] = (bool, int, float)
    if numpy is not None:
        numbers += (numpy.integer, numpy.floating)
    metrics: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, numbers):
            number = float(value)
            metrics[str(key)] = number if math.isfinite(number) else str(number)
        else:
            metrics[str(key)] = str(value)[:_TEXT_CHARS]
    return metrics


def shinka_result(results_dir: str) -> dict[str, Any]:
    """What a ShinkaEvolve evaluator left in ``results_dir``, as plain data:
    ``metrics.json`` (``combined_score``; the ``public`` metrics become metrics, the
    ``private`` ones are dropped as ShinkaEvolve keeps them from the model;
    ``text_feedback`` becomes an artifact) and ``correct.json`` (``correct``; when false,
    its ``error`` fails the candidate)."""
    def read(name: str) -> Any:
        path = os.path.join(results_dir, name)
        try:
            with open(path) as handle:
                return json.load(handle)
        except FileNotFoundError:
            raise CandidateError(f"the evaluator wrote no {name}") from None
        except (OSError, ValueError) as exc:
            raise CandidateError(f"{name} is not JSON: {exc}") from None

    metrics = read("metrics.json")
    correct = read("correct.json")
    if not isinstance(metrics, Mapping) or not isinstance(correct, Mapping):
        raise CandidateError("metrics.json and correct.json must each hold an object")
    flat: dict[str, Any] = {}
    artifacts: dict[str, str] = {}
    for key, value in metrics.items():
        if key == "public" and isinstance(value, Mapping):
            flat.update({str(sub): item for sub, item in value.items() if sub not in metrics})
        elif key == "private":
            continue  # ShinkaEvolve keeps these from the model
        elif isinstance(value, (Mapping, list)):
            artifacts[str(key)] = json.dumps(value)[:_TEXT_CHARS]
        elif key == "text_feedback":
            artifacts["text_feedback"] = str(value)[:_TEXT_CHARS]
        else:
            flat[str(key)] = value
    plain = _plain_metrics(flat)
    if not correct.get("correct"):
        plain["error"] = str(correct.get("error") or "correct.json says the program is "
                             "not correct")[:_TEXT_CHARS]
    return {"metrics": plain, "artifacts": artifacts}
