"""Generators: what proposes new programs (an LLM ensemble or the offline mutator)."""

from __future__ import annotations

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
from adrs.evolve.generators.openai_ensemble import OpenAIEnsemble

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
