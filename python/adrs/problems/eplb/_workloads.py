"""Where the eplb problem's loads come from, and which windows make each split.

Recorded history (``expert-load.json``, fetched by ``adrs data fetch eplb``): its windows of
``interval`` records in time order; ``train`` is the first two thirds, ``test`` the rest
(held out, later in time), ``quick`` the first three windows of ``train``. Without it:
synthetic loads at production size (58 layers x 256 experts), ``train`` seed 0 and
``test`` seed 1, eight windows each, ``quick`` the first three of ``train``.

The leaderboard suite (``eplb@leaderboard``) reads the recorded history only, and scores,
as the leaderboard does, every window of it: ``train`` and ``test`` are all of them (it
holds nothing out), ``quick`` the first three.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adrs.simulators.eplb import LoadModel, generate_windows

DATA_ENV_VAR = "ADRS_DATA_DIR"
FILE_NAME = "expert-load.json"
SYNTHETIC_SEEDS = {"train": 0, "test": 1}
SYNTHETIC_WINDOWS = 8
QUICK_WINDOWS = 3


@dataclass(frozen=True)
class LoadSource:
    """Where loads come from: a recorded history file, or the generator (path None)."""

    path: Path | None
    label: str


@dataclass(frozen=True)
class Workload:
    """The windows of one split, in time order.

    Attributes:
        split: ``train``, ``test`` or ``quick``.
        windows: ``[windows, layers, experts]`` loads (int64, or float64 if recorded so).
        source: Where they came from, in words.
    """

    split: str
    windows: np.ndarray
    source: str


def resolve_source(data: str | os.PathLike[str] | None) -> LoadSource:
    """Find the recorded history, or decide on synthetic loads.

    Args:
        data: The history file, or a folder holding ``expert-load.json``. None: the folder
            in ``$ADRS_DATA_DIR`` when it holds that file (it may hold only other problems'
            data), else synthetic loads.

    Raises:
        FileNotFoundError: ``data`` was given and holds no history.
    """
    if data is None:
        folder = os.environ.get(DATA_ENV_VAR)
        if folder and (Path(folder) / FILE_NAME).is_file():
            path = Path(folder) / FILE_NAME
            return LoadSource(path, str(path))
        note = f"; ${DATA_ENV_VAR} has no {FILE_NAME}" if folder else ""
        return LoadSource(None, f"synthetic loads (seeds {SYNTHETIC_SEEDS['train']}/"
                                f"{SYNTHETIC_SEEDS['test']}{note})")
    path = Path(data).expanduser()
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no load history at {path} (get it with: adrs data fetch "
                                "eplb)")
    return LoadSource(path, str(path))


def recorded_splits(windows: np.ndarray, path: Path, interval: int) -> dict[str, np.ndarray]:
    """Split recorded windows in time order.

    Raises:
        ValueError: Fewer than 4 windows (two per split are the least that scores).
    """
    count = len(windows)
    if count < 4:
        raise ValueError(f"{path} holds {count} window(s) of {interval} records; the eplb "
                         "splits need at least 4 (fit on one window, score on the next)")
    cut = min(max(2, round(count * 2 / 3)), count - 2)
    return {"train": windows[:cut], "test": windows[cut:], "quick": windows[:min(cut, 3)]}


def synthetic_split(split: str, interval: int) -> np.ndarray:
    """The synthetic windows of a split (production size)."""
    seed = SYNTHETIC_SEEDS["test" if split == "test" else "train"]
    count = QUICK_WINDOWS if split == "quick" else SYNTHETIC_WINDOWS
    return generate_windows(LoadModel(), count, seed, interval)


def leaderboard_splits(windows: np.ndarray, path: Path, interval: int
                       ) -> dict[str, np.ndarray]:
    """The leaderboard suite's splits: every window for ``train`` and ``test``, the first
    three for ``quick``. Fractional loads become float32, the dtype the leaderboard's
    ``torch.tensor`` gives them.

    Raises:
        ValueError: Fewer than 2 windows (the leaderboard fits on one, scores on the next).
    """
    if len(windows) < 2:
        raise ValueError(f"{path} holds {len(windows)} window(s) of {interval} records; "
                         "eplb@leaderboard needs at least 2 (fit on one, score on the next)")
    if windows.dtype.kind == "f":
        windows = windows.astype(np.float32)
    return {"train": windows, "test": windows, "quick": windows[:QUICK_WINDOWS]}
