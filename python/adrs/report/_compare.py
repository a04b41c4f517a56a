"""Several runs on one page: best-so-far curves and a table of final numbers."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adrs.report._reader import read_run


def compare_runs(run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """The comparison data of these run folders, in the order given.

    Raises:
        RunReadError: One of them holds no readable run (naming it).
    """
    runs = []
    labels = _labels([Path(d) for d in run_dirs])
    for folder, label in zip(run_dirs, labels):
        data = read_run(folder, detail_ids=False)
        header = data["header"]
        runs.append({
            "label": label, "run_dir": str(folder), "problem": header["problem"],
            "done": header["done"], "counts": header["counts"],
            "best_train": data["best"]["score"] if data["best"] else None,
            "best_test": data["best"]["test_score"] if data["best"] else None,
            "initial_train": data["initial"]["score"] if data["initial"] else None,
            "cost_usd": header["llm"]["cost_usd"], "tokens": header["llm"]["tokens"],
            "rate_per_hour": header["rate_per_hour"], "wall_seconds": header["wall_seconds"],
            "curve": {"seq": data["curve"]["seq"], "best": data["curve"]["best"]}})
    return {"kind": "comparison", "generated_at": time.time(), "runs": runs}


def _labels(folders: list[Path]) -> list[str]:
    """Each folder's name, or its full path where two names are the same."""
    names = [f.name or str(f) for f in folders]
    return [name if names.count(name) == 1 else str(folder)
            for name, folder in zip(names, folders)]
