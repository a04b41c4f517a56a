"""The task a strategy reads as ``self.task``."""

from __future__ import annotations


class Task:
    """A single job of ``duration_seconds`` of work; progress is the strategy's
    ``task_done_time`` list."""

    def __init__(self, duration_seconds: float) -> None:
        self.duration_seconds = duration_seconds
        self._progress: list[float] = []

    def set_progress_source(self, progress: list[float]) -> None:
        self._progress = progress

    def get_total_duration_seconds(self) -> float:
        return self.duration_seconds

    @property
    def is_done(self) -> bool:
        return self.duration_seconds - sum(self._progress) <= 1e-8

    def get_info(self) -> dict:
        return {"duration": self.duration_seconds, "done": sum(self._progress)}

    def get_config(self) -> dict:
        return {"duration": self.duration_seconds / 3600.0}


SingleTask = Task
ChainedTask = Task
