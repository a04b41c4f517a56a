"""The prompt a model sees: problem, parent with its feedback, best programs, inspirations.

The text comes from plain template files (``adrs/evolve/templates/*.txt``) with
``$placeholders`` (Python's ``string.Template``); a folder given as
``prompts.templates_dir`` replaces any of them by file name.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path

from adrs.evolve._candidate import Candidate
from adrs.evolve.config import PromptConfig
from adrs.evolve.generators._base import ProposalContext

TEMPLATE_DIR = Path(__file__).parent / "templates"

# file name -> placeholders it may use
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "system.txt": frozenset({"description"}),
    "user.txt": frozenset({
        "parent_id", "parent_score", "parent_metrics", "parent_feedback", "parent_program",
        "recent_errors", "top_programs", "inspirations", "instructions"}),
    "program.txt": frozenset({"id", "score", "metrics", "program"}),
    "diff_format.txt": frozenset(),
    "rewrite_format.txt": frozenset(),
}

_PLACEHOLDER = re.compile(r"\$(?:(\$)|([_a-z][_a-z0-9]*)|\{([_a-z][_a-z0-9]*)\})", re.IGNORECASE)


def load_templates(override_dir: str | Path | None = None) -> dict[str, string.Template]:
    """The built-in templates, replaced by those of ``override_dir`` of the same name.

    Raises:
        FileNotFoundError: ``override_dir`` does not exist.
        ValueError: A file there is not a known template, or a template uses a
            placeholder it may not (the message names the file and the placeholder).
    """
    texts = {name: (TEMPLATE_DIR / name).read_text() for name in TEMPLATE_FIELDS}
    if override_dir is not None:
        folder = Path(override_dir)
        if not folder.is_dir():
            raise FileNotFoundError(f"templates folder not found: {folder}")
        for path in sorted(folder.iterdir()):
            if path.name not in TEMPLATE_FIELDS:
                raise ValueError(f"{path}: not a template name; known: "
                                 f"{', '.join(TEMPLATE_FIELDS)}")
            texts[path.name] = path.read_text()
    templates = {}
    for name, text in texts.items():
        for match in _PLACEHOLDER.finditer(text):
            field = match.group(2) or match.group(3)
            if field and field not in TEMPLATE_FIELDS[name]:
                allowed = ", ".join(sorted(TEMPLATE_FIELDS[name])) or "none"
                raise ValueError(f"template {name}: unknown placeholder ${field}; "
                                 f"allowed: {allowed}")
        templates[name] = string.Template(text)
    return templates


class PromptBuilder:
    """Builds chat messages for one proposal.

    Args:
        description: What the model is told about the problem (and the contract of a
            candidate program).
        config: Template folder and size limits.
        diff_mode: Ask for SEARCH/REPLACE blocks (else for a full program).

    Raises:
        FileNotFoundError, ValueError: From :func:`load_templates`.
    """

    def __init__(self, description: str, config: PromptConfig | None = None,
                 diff_mode: bool = True) -> None:
        self.config = config or PromptConfig()
        self.description = self.config.system_message or description
        self.diff_mode = diff_mode
        self._templates = load_templates(self.config.templates_dir)

    def messages(self, parent: Candidate, inspirations: Sequence[Candidate],
                 context: ProposalContext) -> list[dict[str, str]]:
        """The ``[system, user]`` messages for a chat completion."""
        return [{"role": "system", "content": self.system()},
                {"role": "user", "content": self.user(parent, inspirations, context)}]

    def system(self) -> str:
        return self._templates["system.txt"].substitute(description=self.description.strip())

    def user(self, parent: Candidate, inspirations: Sequence[Candidate],
             context: ProposalContext) -> str:
        instructions = self._templates[
            "diff_format.txt" if self.diff_mode else "rewrite_format.txt"].substitute()
        errors = ""
        if context.recent_errors:
            listed = "\n".join(f"- {_clip(e, 1500)}" for e in context.recent_errors)
            errors = ("\n# Recent attempts from this program that could not be used\n\n"
                      f"{listed}\n")
        top = [c for c in context.top_programs if c.id != parent.id]
        return self._templates["user.txt"].substitute(
            parent_id=parent.id,
            parent_score=_score(parent.score),
            parent_metrics=_metrics(parent.metrics),
            parent_feedback=_clip(parent.feedback.strip() or parent.error or "(none)", 4000),
            parent_program=self._program_text(parent.program),
            recent_errors=errors,
            top_programs=self._entries(top) or "(none yet)",
            inspirations=self._entries(inspirations) or "(none yet)",
            instructions=instructions.strip(),
        )

    def _entries(self, candidates: Sequence[Candidate]) -> str:
        return "\n".join(self._templates["program.txt"].substitute(
            id=c.id, score=_score(c.score), metrics=_metrics(c.metrics),
            program=self._program_text(c.program)) for c in candidates)

    def _program_text(self, program: str) -> str:
        return _clip(program.rstrip(), self.config.max_program_chars)


def _score(score: float | None) -> str:
    if score is None:
        return "n/a"
    return f"{score:.6g}" if math.isfinite(score) else str(score)


def _metrics(metrics: Mapping[str, float]) -> str:
    if not metrics:
        return "(none)"
    shown = {k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in metrics.items()}
    return json.dumps(shown)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters cut)"
