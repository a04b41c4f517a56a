"""``EvaluationResult``: an evaluator's metrics plus its artifacts (text or bytes shown to
the model), with the public methods OpenEvolve's own class offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvaluationResult:
    """What an evaluator returns besides a plain dict of metrics.

    Attributes:
        metrics: Metric name to number (``combined_score`` is the score).
        artifacts: Name to text or bytes (stderr, a failure's stage, hints).
    """

    metrics: dict[str, float]
    artifacts: dict[str, str | bytes] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, metrics: dict[str, Any]) -> EvaluationResult:
        """A result holding ``metrics`` and no artifacts (a plain dict's meaning)."""
        return cls(metrics=dict(metrics))

    def to_dict(self) -> dict[str, Any]:
        """The metrics alone, as evaluators returned them before artifacts existed."""
        return dict(self.metrics)

    def has_artifacts(self) -> bool:
        return bool(self.artifacts)

    def get_artifact_keys(self) -> list[str]:
        return list(self.artifacts)

    def get_artifact_size(self, key: str) -> int:
        """Size of one artifact: bytes for bytes, characters' UTF-8 bytes for text, 0
        when absent."""
        value = self.artifacts.get(key)
        if value is None:
            return 0
        if isinstance(value, bytes):
            return len(value)
        return len(str(value).encode("utf-8"))

    def get_total_artifact_size(self) -> int:
        return sum(self.get_artifact_size(key) for key in self.artifacts)
