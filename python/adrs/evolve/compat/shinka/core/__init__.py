"""``run_shinka_eval``: run a program's experiment function, validate and aggregate its
results, and write ``metrics.json`` and ``correct.json`` as ShinkaEvolve's evaluators
expect (adrs's own implementation of the documented behaviour)."""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

_ON_ERROR = {"combined_score": 0.0, "execution_time_mean": 0.0, "execution_time_std": 0.0,
             "num_successful_runs": 0, "num_valid_runs": 0, "num_invalid_runs": 0,
             "all_validation_errors": []}


def run_shinka_eval(program_path: str, results_dir: str, experiment_fn_name: str,
                    num_runs: int,
                    get_experiment_kwargs: Callable[[int], dict[str, Any]] | None = None,
                    aggregate_metrics_fn: Callable[[list[Any]], dict[str, Any]] | None = None,
                    validate_fn: Callable[[Any], tuple[bool, str | None]] | None = None,
                    default_metrics_on_error: dict[str, Any] | None = None,
                    ) -> tuple[dict[str, Any], bool, str | None]:
    """Call ``experiment_fn_name`` of the program ``num_runs`` times and report.

    Args:
        program_path: The program file.
        results_dir: Where ``metrics.json`` and ``correct.json`` are written.
        experiment_fn_name: The program's function to call.
        num_runs: Calls.
        get_experiment_kwargs: Run index -> keyword arguments (default: ``seed=i + 1``).
        aggregate_metrics_fn: Results -> metrics (default: the number of runs).
        validate_fn: Result -> ``(valid, error)``; an invalid run makes it incorrect.
        default_metrics_on_error: Metrics reported when a run raises.

    Returns:
        ``(metrics, correct, first error or None)``.
    """
    correct, first_error = True, None
    errors: list[str] = []
    valid = invalid = 0
    results: list[Any] = []
    seconds: list[float] = []
    try:
        spec = importlib.util.spec_from_file_location("program", program_path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {program_path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        experiment = getattr(module, experiment_fn_name, None)
        if experiment is None:
            raise AttributeError(f"Experiment function '{experiment_fn_name}' not found in "
                                 f"{program_path}")
        for index in range(num_runs):
            kwargs = get_experiment_kwargs(index) if get_experiment_kwargs \
                else {"seed": index + 1}
            started = time.perf_counter()
            result = experiment(**kwargs)
            seconds.append(time.perf_counter() - started)
            results.append(result)
            if validate_fn is None:
                continue
            ok, message = validate_fn(result)
            if ok:
                valid += 1
                continue
            invalid += 1
            correct = False
            if message:
                first_error = first_error or f"Validation failed: {message}"
                if message not in errors:
                    errors.append(message)
        metrics = aggregate_metrics_fn(results) if aggregate_metrics_fn \
            else {"num_successful_runs": len(results)}
        metrics["execution_time_mean"] = statistics.fmean(seconds) if seconds else 0.0
        metrics["execution_time_std"] = statistics.pstdev(seconds) if seconds else 0.0
        if validate_fn is not None:
            metrics.update(num_valid_runs=valid, num_invalid_runs=invalid,
                           all_validation_errors=errors)
    except Exception as exc:  # noqa: BLE001 - the program's failure is the report
        defaults = default_metrics_on_error or {}
        metrics = {key: defaults.get(key, value) for key, value in _ON_ERROR.items()}
        if validate_fn is not None:
            metrics["num_invalid_runs"] = len(results) or num_runs
            metrics["all_validation_errors"] = [str(exc)]
        first_error, correct = str(exc), False
    metrics.pop("extra_data", None)  # ShinkaEvolve pickles it aside; no judge reads it
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "correct.json"), "w") as handle:
        json.dump({"correct": correct, "error": first_error}, handle, indent=4)
    with open(os.path.join(results_dir, "metrics.json"), "w") as handle:
        json.dump(metrics, handle, indent=4, default=float)
    return metrics, correct, first_error
