"""The candidate: one program the search proposed, as the database holds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

STATUSES = ("queued", "evaluated", "failed", "duplicate", "invalid")


@dataclass(frozen=True)
class Candidate:
    """One row of the ``candidates`` table.

    Attributes:
        id: Row id; also the order of creation.
        program: Full source text (empty for an unusable proposal).
        parent_id: The program it was derived from; None for the initial program.
        island: Island it belongs to.
        generation: Parent's generation + 1 (the initial program is 0).
        status: One of :data:`STATUSES`.
        score: Score on ``train`` (None until evaluated, or when the cascade stopped it).
        quick_score: Score on ``quick`` when the cascade ran.
        test_score: Score on the held-out ``test`` split, when computed.
        metrics: The problem's metrics on ``train`` (or ``quick`` when it stopped there).
        features: Problem features plus ``code_length`` and ``ast_distance``.
        feedback: The evaluator's text for the model.
        error: Why it failed or was unusable; None when fine.
        generator: Which generator made it (``initial``, ``mutator``, a model name...).
        diff: The change from its parent, as a unified diff.
        test_metrics: The problem's metrics on ``test``, when it was scored there.
    """

    id: int
    program: str
    parent_id: int | None = None
    island: int = 0
    generation: int = 0
    status: str = "queued"
    score: float | None = None
    quick_score: float | None = None
    test_score: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    features: Mapping[str, float] = field(default_factory=dict)
    feedback: str = ""
    error: str | None = None
    generator: str = ""
    diff: str | None = None
    test_metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def scored(self) -> bool:
        """Evaluated on ``train`` without error."""
        return self.status == "evaluated" and self.score is not None and self.error is None
