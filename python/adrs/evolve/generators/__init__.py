"""Generators: what proposes new programs (an LLM ensemble or the offline mutator)."""

from __future__ import annotations

from typing import Any

from adrs.evolve.generators._base import Generator, LLMCall, Proposal, ProposalContext
from adrs.evolve.generators.diffs import (
    DiffError,
    EditBlock,
    apply_blocks,
    extract_program,
    parse_blocks,
    program_from_reply,
)
from adrs.evolve.generators.mutator import OfflineMutator

__all__ = [
    "DiffError",
    "EditBlock",
    "Generator",
    "LLMCall",
    "OfflineMutator",
    "OpenAIEnsemble",
    "Proposal",
    "ProposalContext",
    "apply_blocks",
    "extract_program",
    "parse_blocks",
    "program_from_reply",
]


def __getattr__(name: str) -> Any:
    # the model client takes a second to import; load it only when asked for
    if name == "OpenAIEnsemble":
        from adrs.evolve.generators.openai_ensemble import OpenAIEnsemble

        return OpenAIEnsemble
    raise AttributeError(f"module 'adrs.evolve.generators' has no attribute {name!r}")
