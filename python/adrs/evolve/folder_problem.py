"""OpenEvolve-style task folders as problems.

A folder holds an initial program with EVOLVE-BLOCK markers (``initial_program.py``, or
the only other ``.py`` file with markers), an ``evaluator.py`` defining
``evaluate(program_path) -> dict`` whose ``combined_score`` is the score (higher is
better), and optionally ``config.yaml``. ``adrs run DIR`` runs such a folder unchanged:
the evaluator and the candidate run together in a fresh jailed process per candidate
(:mod:`adrs.evolve._folder_jail`), with the folder visible read-only at its own path.

Splits: ``train`` calls ``evaluate``; ``quick`` calls ``evaluate_stage1`` when the
evaluator defines it (OpenEvolve's cascade), else ``evaluate``; ``test`` calls
``evaluate_test`` when defined, else ``evaluate`` (such folders have no held-out data,
and the summary's test score is then the train score computed again).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from adrs.evolve._program import BLOCK_START
from adrs.evolve.config import RunConfig
from adrs.jail import CandidateFailure, JailTask, Runner
from adrs.jail._wire import clean_text
from adrs.problems._base import Baseline, EvalResult, Problem, check_split

FAILURE_SCORE = -math.inf
_MAX_ENTRIES = 100  # metrics or artifacts kept from one reply (untrusted data)


class FolderProblem(Problem):
    """A problem defined by an OpenEvolve-style folder.

    Args:
        path: The folder.

    Raises:
        FileNotFoundError: The folder, its ``evaluator.py`` or an initial program is missing.
        ValueError: Several candidate initial programs, or an unreadable ``config.yaml``.
    """

    def __init__(self, path: str | Path) -> None:
        self.folder = Path(path).resolve()
        if not self.folder.is_dir():
            raise FileNotFoundError(f"no such folder: {self.folder}")
        self.evaluator_path = self.folder / "evaluator.py"
        if not self.evaluator_path.is_file():
            raise FileNotFoundError(f"{self.folder}: no evaluator.py (it must define "
                                    "evaluate(program_path))")
        self.program_path = _find_initial(self.folder)
        self._initial = self.program_path.read_text()
        self.config_path = self.folder / "config.yaml"
        self.raw_config: dict[str, Any] = {}
        if self.config_path.is_file():
            try:
                loaded = yaml.safe_load(self.config_path.read_text())
            except yaml.YAMLError as exc:
                raise ValueError(f"{self.config_path}: not valid YAML: {exc}") from None
            if loaded is not None and not isinstance(loaded, dict):
                raise ValueError(f"{self.config_path}: expected a mapping at the top level")
            self.raw_config = loaded or {}
        self.name = self.folder.name
        self._task: JailTask | None = None
        system = (self.raw_config.get("prompt") or {}).get("system_message") \
            if isinstance(self.raw_config.get("prompt"), dict) else None
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

    def jail_task(self, split: str) -> JailTask:
        """The folder, visible read-only; nothing of it is imported before the fork."""
        check_split(split)
        if self._task is None:
            shared = {"folder": str(self.folder), "evaluator": str(self.evaluator_path),
                      "program_name": self.program_path.name}
            self._task = JailTask("adrs.evolve._folder_jail:FolderHandler",
                                  f"folder:{self.folder}", shared, paths=(str(self.folder),))
        return self._task

    def evaluate(self, program: str, split: str = "train", runner: Runner | None = None,
                 filename: str = "candidate.py") -> EvalResult:
        """Run the folder's evaluator on ``program`` in a fresh process of its own."""
        check_split(split)
        started = time.perf_counter()
        name = {"quick": "evaluate_stage1", "test": "evaluate_test"}.get(split, "evaluate")
        try:
            with self.local_runner(runner).session(self.jail_task(split), program,
                                                   self.program_path.name) as session:
                reply = session.call("evaluate", {"function": name}, timeout=86400.0,
                                     doing="the evaluator")
        except CandidateFailure as exc:
            return _failed(str(exc), started)
        return _to_result(reply.header, started)

    def run_config(self) -> tuple[dict[str, Any], list[str]]:
        """The folder's ``config.yaml`` as ``adrs`` configuration.

        A file whose top-level keys are all ``adrs`` keys is taken as is; otherwise it is
        read as an OpenEvolve configuration and the keys with an ``adrs`` equivalent are
        translated.

        Returns:
            ``(mapping for config_from_mapping, OpenEvolve keys that were ignored)``.
        """
        return translate_openevolve_config(self.raw_config)


def _find_initial(folder: Path) -> Path:
    preferred = folder / "initial_program.py"
    if preferred.is_file():
        return preferred
    marked = [p for p in sorted(folder.glob("*.py"))
              if p.name != "evaluator.py" and BLOCK_START in p.read_text(errors="replace")]
    if not marked:
        raise FileNotFoundError(f"{folder}: no initial_program.py and no other .py file with "
                                f"{BLOCK_START} markers")
    if len(marked) > 1:
        names = ", ".join(p.name for p in marked)
        raise ValueError(f"{folder}: several programs with markers ({names}); name the "
                         "initial one initial_program.py")
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


def translate_openevolve_config(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Map an OpenEvolve ``config.yaml`` onto ``adrs`` configuration keys.

    Returns:
        ``(mapping, ignored)``: the translated mapping and the dotted OpenEvolve keys that
        have no equivalent (or are refused, like a literal ``api_key``).
    """
    ours = {f for f in RunConfig.__dataclass_fields__}
    if raw and set(raw) <= ours:
        return dict(raw), []
    out: dict[str, Any] = {}
    ignored: list[str] = []

    def section(name: str) -> dict[str, Any]:
        return out.setdefault(name, {})

    for key, value in raw.items():
        if key == "max_iterations":
            out["budget"] = value
        elif key == "random_seed" and value is not None:
            out["seed"] = value
        elif key == "diff_based_evolution":
            section("generator")["diff_mode"] = bool(value)
        elif key == "max_code_length":
            section("prompts")["max_program_chars"] = value
        elif key == "llm" and isinstance(value, dict):
            _translate_llm(value, section("generator"), ignored)
        elif key == "prompt" and isinstance(value, dict):
            for sub, item in value.items():
                if sub == "system_message":
                    section("prompts")["system_message"] = item
                else:
                    ignored.append(f"prompt.{sub}")
        elif key == "database" and isinstance(value, dict):
            _translate_database(value, out, ignored)
        elif key == "evaluator" and isinstance(value, dict):
            for sub, item in value.items():
                if sub == "timeout":
                    section("sandbox")["timeout_s"] = float(item)
                elif sub == "cascade_evaluation":
                    section("cascade")["enabled"] = bool(item)
                elif sub == "parallel_evaluations":
                    out["workers"] = int(item)
                else:
                    ignored.append(f"evaluator.{sub}")
        else:
            ignored.append(str(key))
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
            ignored.append("llm.models[].api_key (keys come from api_key_env variables)")
        models.append(entry)
    for prefix in ("primary", "secondary"):
        name = llm.get(f"{prefix}_model")
        if name and not any(m["name"] == name for m in models):
            models.append({**shared, "name": name,
                           "weight": float(llm.get(f"{prefix}_model_weight", 1.0))})
    if models:
        generator["models"] = models
    if llm.get("retries") is not None:
        generator["retries"] = int(llm["retries"])
    known = {"models", "api_base", "temperature", "max_tokens", "timeout", "retries",
             "primary_model", "primary_model_weight", "secondary_model",
             "secondary_model_weight"}
    ignored += [f"llm.{k}" for k in llm if k not in known]


def _translate_database(database: Mapping[str, Any], out: dict[str, Any],
                        ignored: list[str]) -> None:
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
        elif key == "num_inspirations":
            selection["num_inspirations"] = int(value)
        elif key == "random_seed" and value is not None:
            out.setdefault("seed", value)
        else:
            ignored.append(f"database.{key}")
    if "exploitation" in selection or "exploration" in selection:
        rest = 1.0 - selection.get("exploitation", 0.7) - selection.get("exploration", 0.2)
        selection["random"] = max(0.0, rest)
    if not islands:
        del out["islands"]
    if not selection:
        del out["selection"]
