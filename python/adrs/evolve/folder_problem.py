"""Task folders of other frameworks as problems: OpenEvolve's (and the ADRS paper's, a
fork of it) and ShinkaEvolve's, run unchanged.

An **OpenEvolve folder** holds an initial program with EVOLVE-BLOCK markers
(``initial_program.py``, or the only other ``.py`` file with markers), an
``evaluator.py`` defining ``evaluate(program_path)`` (a dict of metrics, or an
``EvaluationResult``) whose ``combined_score`` is the score (higher is better), and
optionally ``config.yaml``. A **ShinkaEvolve folder** holds ``initial.py`` and
``evaluate.py`` defining ``main(program_path, results_dir)``, which writes
``metrics.json`` and ``correct.json`` into ``results_dir``.

The evaluator and the candidate always run together in a fresh jailed process per
candidate (:mod:`adrs.evolve._folder_jail`), never in the judge's process.

Splits: ``train`` scores as the folder's framework does: OpenEvolve's cascade
(``evaluate_stage1``, its threshold, ``evaluate_stage2``, ... in one jailed process;
see :class:`Cascade`) when the evaluator defines the stages and the config does not turn
it off, else ``evaluate``; ShinkaEvolve's ``main``. ``quick`` calls ``evaluate_stage1``
when defined, else the same as ``train``. ``test`` calls ``evaluate_test`` when
defined; without it such folders have no held-out data and ``test`` is ``train`` again.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from adrs.evolve._program import BLOCK_START, has_block
from adrs.evolve.config import RunConfig
from adrs.jail import CandidateFailure, JailTask, Runner
from adrs.jail._wire import clean_text
from adrs.problems._base import Baseline, EvalResult, Problem, check_split

FAILURE_SCORE = -math.inf
_MAX_ENTRIES = 100  # metrics or artifacts kept from one reply (untrusted data)
# A call without a folder timeout is bounded only by the evaluation's budget
UNBOUNDED_CALL_S = 86400.0
# Beyond its stages' timeouts, an evaluation may take this long to start its process and
# import the evaluator
IMPORT_ALLOWANCE_S = 10.0
OPENEVOLVE_STAGES = ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3")
# OpenEvolve 0.3.2's defaults: cascade on, these thresholds before stages 2 and 3
DEFAULT_THRESHOLDS = (0.5, 0.75, 0.9)
FORMATS = ("openevolve", "shinka")
# Libraries whose import starts no thread and whose import costs more than the fork: the
# zygote imports the ones an evaluator uses once, instead of every candidate's process
# (JAX starts threads at import and torch pools: never these, see _folder_jail)
FORK_SAFE_LIBRARIES = ("numpy", "scipy", "pandas", "networkx", "sympy")


@dataclass(frozen=True)
class Cascade:
    """A staged evaluation: each stage runs only when the result so far passes.

    OpenEvolve's form (``cascade_evaluation: true`` plus ``cascade_thresholds``): the
    stages are ``evaluate_stage1`` .. ``evaluate_stage3`` as far as the evaluator defines
    them; stage ``i + 1`` runs when the result so far reaches ``thresholds[i]``, judged on
    its ``combined_score``, or else on the mean of its numeric metrics other than
    ``error``; with no threshold left the cascade stops. The ADRS fork's form
    (``cascade_evaluation: {stages: [...], pass_metric: NAME}``): the named functions in
    order, the next one running while the result so far has ``NAME`` > 0.

    A stage-1 result that stops the cascade is the result as it is; after stage 2 the
    result is the numeric metrics of every stage run, later stages overriding earlier
    ones (``error`` dropped), as OpenEvolve merges them. A later stage that raises keeps
    the result so far, with ``stage<N>_passed: 0`` and its error as feedback.

    Attributes:
        stages: The evaluator's functions, in order.
        thresholds: OpenEvolve's thresholds (used when ``pass_metric`` is None).
        pass_metric: The ADRS fork's pass metric.
    """

    stages: tuple[str, ...]
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    pass_metric: str | None = None

    def passes(self, metrics: Mapping[str, Any], done: int) -> bool:
        """Whether the result after ``done`` stages lets the next stage run."""
        if self.pass_metric is not None:
            value = metrics.get(self.pass_metric)
            return _is_number(value) and float(value) > 0
        if done > len(self.thresholds):
            return False
        threshold = self.thresholds[done - 1]
        score = metrics.get("combined_score")
        if _is_number(score):
            return float(score) >= threshold
        numbers = [float(v) for k, v in metrics.items() if k != "error" and _is_number(v)]
        return bool(numbers) and sum(numbers) / len(numbers) >= threshold


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bools too, as OpenEvolve counts them


class FolderProblem(Problem):
    """A problem defined by a task folder of OpenEvolve, the ADRS paper or ShinkaEvolve.

    Args:
        path: The folder.
        initial: The initial program (default: found in the folder, see the module).
        evaluator: The evaluator file (default: ``evaluator.py``, else ``evaluate.py``).
        config: An OpenEvolve configuration file (default: the folder's
            ``config.yaml``).
        pass_env: Names of environment variables the evaluator gets (an LLM-judged
            evaluator's key); none passes unless named here.
        site: Folders of packages the folder needs in versions other than the installed
            ones (``pip install --target DIR -r requirements.txt``): visible read-only in
            the jail, and on its ``sys.path`` after the folder, before the installed
            packages.

    Raises:
        FileNotFoundError: The folder, its evaluator, its initial program or a named
            file is missing.
        ValueError: Several candidate initial programs, an unreadable config, a
            variable of ``pass_env`` that is not set.
        NotADirectoryError: A ``site`` is no folder.
    """

    def __init__(self, path: str | Path, initial: str | Path | None = None,
                 evaluator: str | Path | None = None, config: str | Path | None = None,
                 pass_env: Sequence[str] = (), site: Sequence[str | Path] = ()) -> None:
        self.folder = Path(path).resolve()
        if not self.folder.is_dir():
            raise FileNotFoundError(f"no such folder: {self.folder}")
        self.evaluator_path = _find_evaluator(self.folder, evaluator)
        self.functions = _defined_names(self.evaluator_path)
        self.format = "openevolve" if "evaluate" in self.functions or not \
            ("main" in self.functions) else "shinka"
        self.config_path = Path(config).resolve() if config is not None \
            else self.folder / "config.yaml"
        if config is not None and not self.config_path.is_file():
            raise FileNotFoundError(f"no such file: {self.config_path}")
        self.raw_config = _read_config(self.config_path)
        self.program_path = _find_initial(self.folder, initial, self.raw_config,
                                          self.evaluator_path)
        self._initial = self.program_path.read_text()
        self.pass_env = tuple(pass_env)
        self.site = tuple(str(Path(folder).resolve()) for folder in site)
        for folder in self.site:
            if not Path(folder).is_dir():
                raise NotADirectoryError(f"--site {folder}: no such folder")
        missing = [name for name in self.pass_env if name not in os.environ]
        if missing:
            raise ValueError(f"--pass-env {missing[0]}: {missing[0]} is not set")
        self.cascade = _cascade(self.raw_config, self.functions)
        self.stage_timeout_s = _stage_timeout(self.raw_config)
        self.name = self.folder.name
        self._task: JailTask | None = None
        prompt = self.raw_config.get("prompt")
        system = prompt.get("system_message") if isinstance(prompt, dict) else None
        self.description = system or (
            f"Improve the program {self.program_path.name} of the task folder "
            f"{self.folder.name}. It is scored by the folder's evaluator (higher "
            "combined_score is better).")

    @property
    def initial_program(self) -> str:
        return self._initial

    @property
    def baselines(self) -> Mapping[str, Baseline]:
        return {"initial": Baseline("initial", f"{self.program_path.name} of the folder",
                                    self._initial)}

    def local_runner(self, runner: Runner | None) -> Runner:
        """``runner``, or a jail of this problem's own: a folder's evaluator runs the
        candidate, so it never runs in the caller's process."""
        if runner is not None:
            return runner
        local = self.__dict__.get("_own_jail_runner")
        if local is None:
            from adrs.jail import JailRunner

            local = JailRunner()
            self.__dict__["_own_jail_runner"] = local
        return local

    def close(self) -> None:
        """Stop the jail :meth:`local_runner` started, if any."""
        local = self.__dict__.pop("_own_jail_runner", None)
        if local is not None:
            local.close()

    def jail_task(self, split: str) -> JailTask:
        """The folder, visible read-only; nothing of it is imported before the fork."""
        check_split(split)
        if self._task is None:
            from adrs.evolve import compat

            shared = {"folder": str(self.folder), "evaluator": str(self.evaluator_path),
                      "program_name": self.program_path.name, "compat": compat.PATH,
                      "site": list(self.site)}
            paths = {str(self.folder), str(self.evaluator_path.parent), *self.site}
            env = {name: os.environ[name] for name in self.pass_env if name in os.environ}
            self._task = JailTask("adrs.evolve._folder_jail:FolderHandler",
                                  f"folder:{self.folder}:{':'.join(self.site)}", shared,
                                  paths=tuple(sorted(paths)),
                                  preload=preloadable(self.evaluator_path, self.site),
                                  env=env)
        return self._task

    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        """Score ``program`` as the folder's framework does, in a fresh jailed process."""
        check_split(split)
        started = time.perf_counter()
        try:
            with self.local_runner(runner).session(self.jail_task(split), program,
                                                   self.program_path.name) as session:
                reply = self._score(session, split)
        except CandidateFailure as exc:
            return _failed(str(exc), started)
        return _to_result(reply, started)

    def _score(self, session: Any, split: str) -> Mapping[str, Any]:
        # Each call (a cascade stage, evaluate(), Shinka's main) has the folder's
        # evaluator.timeout of its own, as in OpenEvolve; the whole evaluation is bounded
        # by the search's budget (sandbox.timeout_s, see run_config).
        timeout = self.stage_timeout_s or UNBOUNDED_CALL_S

        def call(function: str, catch: bool = False) -> Mapping[str, Any]:
            return session.call("evaluate", {"function": function, "catch": catch},
                                timeout=timeout, doing=f"the evaluator's {function}").header

        if self.format == "shinka":
            return session.call("shinka", {}, timeout=timeout,
                                doing="the evaluator's main").header
        if split == "quick" and "evaluate_stage1" in self.functions:
            return call("evaluate_stage1")
        if split == "test" and "evaluate_test" in self.functions:
            return call("evaluate_test")
        if self.cascade is None:
            return call("evaluate")
        return run_cascade(self.cascade, call)

    def run_config(self) -> tuple[dict[str, Any], list[str]]:
        """The folder's configuration as ``adrs`` configuration.

        A file whose top-level keys are all ``adrs`` keys is taken as is; otherwise it is
        read as an OpenEvolve configuration and the keys with an ``adrs`` equivalent are
        translated.

        Returns:
            ``(mapping for config_from_mapping, one warning per ignored key)``.
        """
        mapping, ignored = translate_openevolve_config(self.raw_config)
        if self.stage_timeout_s is not None:
            # evaluator.timeout bounds each stage; the evaluation runs them all, in one
            # fresh process whose start and evaluator import need a little more
            calls = len(self.cascade.stages) if self.cascade is not None else 1
            mapping.setdefault("sandbox", {})["timeout_s"] = \
                self.stage_timeout_s * calls + IMPORT_ALLOWANCE_S
        return mapping, ignored


def run_cascade(cascade: Cascade, call: Any) -> dict[str, Any]:
    """Run ``cascade``'s stages with ``call(function, catch)`` (a reply of the folder's
    jail: ``metrics``, ``artifacts``, or ``raised`` when a caught stage raised), and
    merge their results as :class:`Cascade` says.

    Raises:
        CandidateFailure: The first stage failed (later stages' failures are data).
    """
    first = call(cascade.stages[0])
    metrics = dict(first.get("metrics") or {})
    artifacts = dict(first.get("artifacts") or {})
    merged = False
    for done, stage in enumerate(cascade.stages[1:], start=1):
        if not cascade.passes(metrics, done):
            break
        try:
            reply = call(stage, True)
        except CandidateFailure as exc:  # killed (time limit): the stages so far stand
            reply = {"raised": str(exc)}
            if "timed out" in str(exc):  # as OpenEvolve marks a stage past its timeout
                metrics["timeout"] = True
                artifacts[f"stage{done + 1}_timeout"] = True
        if not merged:
            metrics = {k: v for k, v in metrics.items() if k != "error" and _is_number(v)}
            merged = True
        if "raised" in reply:
            metrics[f"stage{done + 1}_passed"] = 0.0
            artifacts.update({"failure_stage": f"stage{done + 1}",
                              f"stage{done + 1}_error": str(reply["raised"]),
                              f"stage{done + 1}_traceback": str(reply.get("trace", ""))})
            break
        metrics.update({k: v for k, v in dict(reply.get("metrics") or {}).items()
                        if k != "error" and _is_number(v)})
        artifacts.update(dict(reply.get("artifacts") or {}))
    return {"metrics": metrics, "artifacts": artifacts}


def _stage_timeout(raw: Mapping[str, Any]) -> float | None:
    """The folder's ``evaluator.timeout`` (seconds per evaluator call), or None.

    Raises:
        ValueError: It is not a positive number.
    """
    section = raw.get("evaluator")
    value = section.get("timeout") if isinstance(section, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"evaluator.timeout must be a positive number of seconds, got "
                         f"{value!r}")
    return float(value)


def _cascade(raw: Mapping[str, Any], functions: frozenset[str]) -> Cascade | None:
    """The folder's cascade: OpenEvolve's default is on, with its default thresholds."""
    section = raw.get("evaluator") if isinstance(raw.get("evaluator"), dict) else {}
    setting = section.get("cascade_evaluation", True)
    if isinstance(setting, dict):  # the ADRS fork: named stages and a pass metric
        stages = tuple(str(s) for s in setting.get("stages") or ())
        stages = tuple(s for s in stages if s in functions)
        metric = setting.get("pass_metric")
        if not stages:
            return None
        return Cascade(stages, (), str(metric) if metric is not None else "combined_score")
    if not setting or "evaluate_stage1" not in functions:
        return None
    stages = [OPENEVOLVE_STAGES[0]]
    for name in OPENEVOLVE_STAGES[1:]:  # OpenEvolve stops at the first stage missing
        if name not in functions:
            break
        stages.append(name)
    thresholds = section.get("cascade_thresholds", DEFAULT_THRESHOLDS)
    if not isinstance(thresholds, (list, tuple)) or not all(_is_number(t) for t in thresholds):
        raise ValueError(f"evaluator.cascade_thresholds must be a list of numbers, got "
                         f"{thresholds!r}")
    return Cascade(tuple(stages), tuple(float(t) for t in thresholds))


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return loaded or {}


def _defined_names(path: Path) -> frozenset[str]:
    """Top-level functions (and other names) the evaluator defines, read from its source
    without running it."""
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except SyntaxError as exc:
        raise ValueError(f"{path}: not valid Python (line {exc.lineno}: {exc.msg})") from None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def preloadable(evaluator: Path, site: Sequence[str] = ()) -> tuple[str, ...]:
    """The modules of :data:`FORK_SAFE_LIBRARIES` that ``evaluator`` imports (anywhere in
    its source) and that are installed: the folder's zygote imports them before forking.
    Nothing of the evaluator itself runs there. A library that a ``site`` folder holds
    is left to the candidate's process, which finds the site's version first."""
    try:
        tree = ast.parse(evaluator.read_text(errors="replace"))
    except SyntaxError:
        return ()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    found = []
    shadowed = {entry.split("-")[0].split(".")[0] for folder in site
                for entry in os.listdir(folder)}
    for name in sorted(names):
        top = name.split(".")[0]
        if top not in FORK_SAFE_LIBRARIES or top in shadowed:
            continue
        try:
            if importlib.util.find_spec(name) is not None:
                found.append(name)
        except (ImportError, ValueError):  # a parent that is not installed
            continue
    return tuple(found)


def _find_evaluator(folder: Path, evaluator: str | Path | None) -> Path:
    if evaluator is not None:
        path = Path(evaluator).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        return path
    for name in ("evaluator.py", "evaluate.py"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: no evaluator.py (it must define "
                            "evaluate(program_path)) and no evaluate.py (ShinkaEvolve's "
                            "main(program_path, results_dir))")


def _find_initial(folder: Path, initial: str | Path | None, raw: Mapping[str, Any],
                  evaluator: Path) -> Path:
    if initial is None and isinstance(raw.get("initial_program_path"), str):
        initial = folder / raw["initial_program_path"]  # the ADRS fork names it
    if initial is not None:
        path = Path(initial).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        return path
    for name in ("initial_program.py", "initial.py"):
        if (folder / name).is_file():
            return folder / name
    marked = [p for p in sorted(folder.glob("*.py"))
              if p != evaluator and has_block(p.read_text(errors="replace"))]
    if not marked:
        raise FileNotFoundError(f"{folder}: no initial_program.py and no other .py file with "
                                f"{BLOCK_START} markers")
    if len(marked) > 1:
        names = ", ".join(p.name for p in marked)
        raise ValueError(f"{folder}: several programs with markers ({names}); name the "
                         "initial one initial_program.py, or pass --initial FILE")
    return marked[0]


def _failed(error: str, started: float) -> EvalResult:
    return EvalResult(score=FAILURE_SCORE, feedback=error, error=error,
                      seconds=time.perf_counter() - started)


def _to_result(reply: Mapping[str, Any], started: float) -> EvalResult:
    """The score, metrics and feedback of an evaluator's reply (untrusted data)."""
    raw = reply.get("metrics")
    artifacts = reply.get("artifacts")
    if not isinstance(raw, Mapping):
        return _failed("the evaluator's reply holds no metrics", started)
    metrics: dict[str, float] = {}
    notes: list[str] = []
    for key, value in list(raw.items())[:_MAX_ENTRIES]:
        name = clean_text(key, 200)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                metrics[name] = float(value)
            except OverflowError:  # an integer of hundreds of digits: a forged reply
                return _failed(f"metric {name!r} is an integer too large for a float",
                               started)
        elif key != "error":
            notes.append(f"{name}: {clean_text(value, 2000)}")
    error = raw.get("error")
    error = clean_text(error, 2000) if error else None
    if "combined_score" in metrics:
        score = metrics["combined_score"]
    elif metrics:
        # OpenEvolve's rule when combined_score is missing: the mean of the numbers
        score = sum(metrics.values()) / len(metrics)
    else:
        score, error = FAILURE_SCORE, error or "evaluate() returned no numeric metric"
    if not math.isfinite(score) and error is None:
        error = f"combined_score is not finite: {score}"
    if isinstance(artifacts, Mapping):
        notes += [f"{clean_text(key, 200)}: {clean_text(value, 2000)}"
                  for key, value in list(artifacts.items())[:_MAX_ENTRIES]]
    feedback = "\n".join(notes)
    if error:
        feedback = f"{error}\n{feedback}".strip()
    return EvalResult(score=score, metrics=metrics, feedback=feedback, error=error,
                      seconds=time.perf_counter() - started)


# OpenEvolve keys honoured by the folder itself (its cascade, its files), or that need no
# setting here: every result is committed as it arrives (checkpoint_interval), and the
# evaluator always runs in the jail (a literal api_key is refused separately)
_FOLDER_KEYS = {"initial_program_path", "checkpoint_interval", "evaluator.cascade_evaluation",
                "evaluator.cascade_thresholds"}
_WHY = {
    "database.population_size": "adrs keeps every program; the grid cells and islands bound "
                                "what selection sees",
    "database.archive_size": "adrs keeps every program; the MAP-Elites grid is the archive",
    "evaluator.max_retries": "a failed evaluation is the candidate's result, not retried",
    "evaluator.use_llm_feedback": "no LLM judge of code quality",
    "log_level": "progress goes to stderr; the run database records everything",
}


def translate_openevolve_config(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Map an OpenEvolve ``config.yaml`` onto ``adrs`` configuration keys.

    Returns:
        ``(mapping, warnings)``: the translated mapping and one line per OpenEvolve key
        that has no equivalent or is refused (like a literal ``api_key``), naming it.
    """
    ours = {f for f in RunConfig.__dataclass_fields__}
    if raw and set(raw) <= ours:
        return dict(raw), []
    out: dict[str, Any] = {}
    ignored: list[str] = []

    def section(name: str) -> dict[str, Any]:
        return out.setdefault(name, {})

    def ignore(key: str) -> None:
        if key not in _FOLDER_KEYS:
            why = _WHY.get(key, "no adrs equivalent")
            ignored.append(f"{key} ignored ({why})")

    for key, value in raw.items():
        if key == "max_iterations":
            out["budget"] = value
        elif key == "random_seed" and value is not None:
            out["seed"] = value
        elif key == "diff_based_evolution":
            section("generator")["diff_mode"] = bool(value)
        elif key == "max_code_length":  # OpenEvolve rejects longer programs
            section("generator")["max_program_chars"] = value
            section("prompts")["max_program_chars"] = value  # and shows them whole
        elif key == "parallel_evaluations":
            out["workers"] = int(value)
        elif key == "llm" and isinstance(value, dict):
            _translate_llm(value, section("generator"), ignored)
        elif key == "prompt" and isinstance(value, dict):
            for sub, item in value.items():
                if sub == "system_message":
                    section("prompts")["system_message"] = item
                elif sub == "num_top_programs":
                    section("selection")["num_top"] = int(item)
                elif sub == "num_diverse_programs":
                    section("selection")["num_inspirations"] = int(item)
                else:
                    ignore(f"prompt.{sub}")
        elif key == "database" and isinstance(value, dict):
            _translate_database(value, out, ignore)
        elif key == "evaluator" and isinstance(value, dict):
            for sub, item in value.items():
                if sub == "timeout":
                    section("sandbox")["timeout_s"] = float(item)
                elif sub == "parallel_evaluations":
                    out["workers"] = int(item)
                else:
                    ignore(f"evaluator.{sub}")
        else:
            ignore(str(key))
    return out, ignored


def _translate_llm(llm: Mapping[str, Any], generator: dict[str, Any],
                   ignored: list[str]) -> None:
    shared = {"base_url": llm.get("api_base")}
    for ours, theirs in (("temperature", "temperature"), ("max_tokens", "max_tokens"),
                         ("timeout_s", "timeout")):
        if llm.get(theirs) is not None:
            shared[ours] = llm[theirs]
    models = []
    for model in llm.get("models") or []:
        if not isinstance(model, dict) or "name" not in model:
            continue
        entry = {**shared, "name": model["name"], "weight": float(model.get("weight", 1.0))}
        if model.get("api_base"):
            entry["base_url"] = model["api_base"]
        if "api_key" in model:
            variable = _env_reference(model["api_key"])
            if variable is not None:  # ${NAME}: the key's variable, read when it is used
                entry["api_key_env"] = variable
            else:
                ignored.append("llm.models[].api_key ignored (keys come from api_key_env "
                               "variables, never from a file)")
        models.append(entry)
    for prefix in ("primary", "secondary"):
        name = llm.get(f"{prefix}_model")
        if name and not any(m["name"] == name for m in models):
            models.append({**shared, "name": name,
                           "weight": float(llm.get(f"{prefix}_model_weight", 1.0))})
    if "api_key" in llm:
        variable = _env_reference(llm["api_key"])
        if variable is not None:
            for entry in models:
                entry.setdefault("api_key_env", variable)
        else:
            ignored.append("llm.api_key ignored (keys come from api_key_env variables, "
                           "never from a file)")
    if models:
        generator["models"] = models
    if llm.get("retries") is not None:
        generator["retries"] = int(llm["retries"])
    known = {"models", "api_base", "temperature", "max_tokens", "timeout", "retries",
             "primary_model", "primary_model_weight", "secondary_model",
             "secondary_model_weight", "api_key"}
    ignored += [f"llm.{k} ignored (no adrs equivalent)" for k in llm if k not in known]


def _env_reference(value: Any) -> str | None:
    """``NAME`` of a ``${NAME}`` value, else None."""
    text = str(value).strip()
    if text.startswith("${") and text.endswith("}") and text[2:-1].isidentifier():
        return text[2:-1]
    return None


# OpenEvolve's feature dimensions with an adrs equivalent
_FEATURES = {"complexity": "code_length", "diversity": "ast_distance"}


def _translate_database(database: Mapping[str, Any], out: dict[str, Any],
                        ignore: Any) -> None:
    islands = out.setdefault("islands", {})
    selection = out.setdefault("selection", {})
    for key, value in database.items():
        if key == "num_islands":
            islands["count"] = int(value)
        elif key == "migration_interval":
            islands["migration_interval"] = int(value)
        elif key == "exploitation_ratio":
            selection["exploitation"] = float(value)
        elif key == "exploration_ratio":
            selection["exploration"] = float(value)
        elif key == "num_top_programs":
            selection["num_top"] = int(value)
        elif key in ("num_inspirations", "num_diverse_programs"):
            selection["num_inspirations"] = int(value)
        elif key == "elite_selection_ratio":
            pass  # read with population_size below
        elif key == "random_seed" and value is not None:
            out.setdefault("seed", value)
        elif key in ("feature_dimensions", "feature_bins"):
            pass  # below, together
        else:
            ignore(f"database.{key}")
    _translate_features(database, out, ignore)
    if "exploitation" in selection or "exploration" in selection:
        rest = 1.0 - selection.get("exploitation", 0.7) - selection.get("exploration", 0.2)
        selection["random"] = max(0.0, rest)
    if "elite_selection_ratio" in database:
        size = database.get("population_size")
        if isinstance(size, int) and size > 0:  # the elites exploitation draws among
            selection["elite_pool"] = max(1, round(float(database["elite_selection_ratio"])
                                                   * size))
        else:
            ignore("database.elite_selection_ratio")
    if not islands:
        del out["islands"]
    if not selection:
        del out["selection"]


def _translate_features(database: Mapping[str, Any], out: dict[str, Any],
                        ignore: Any) -> None:
    """``feature_dimensions`` and ``feature_bins`` as ``archive.dims``: ``complexity`` and
    ``diversity`` as our ``code_length`` and ``ast_distance``; any other name (a metric
    the evaluator returns, or ``score``) as an adaptive axis of that name, scaled by the
    range its values have spanned so far, as OpenEvolve scales it."""
    names = database.get("feature_dimensions")
    bins = database.get("feature_bins")
    if names is None and bins is None:
        return
    names = list(names) if isinstance(names, (list, tuple)) else ["complexity", "diversity"]
    dims = []
    for name in names:
        if not isinstance(name, str) or not name:
            ignore(f"database.feature_dimensions[{name!r}]")
            continue
        ours = _FEATURES.get(name, name)
        count = bins.get(name) if isinstance(bins, dict) else bins
        dims.append({"name": ours, **({"bins": int(count)} if count else {})})
    if dims:
        out["archive"] = {"dims": dims}
