"""What every generator takes and returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from adrs.evolve._candidate import Candidate


@dataclass(frozen=True)
class LLMCall:
    """One request to a model, successful or not (a row of ``llm_calls``).

    Attributes:
        model: Model name.
        attempt: 0 for the first try, 1.. for retries.
        started_at: Unix time the request was sent.
        latency_s: Seconds until the reply or the error.
        prompt_tokens: Tokens the endpoint billed for the prompt (0 when unknown).
        completion_tokens: Tokens billed for the completion.
        cost_usd: From the model's configured prices.
        error: Why the request failed; None when it returned a reply.
    """

    model: str
    attempt: int
    started_at: float
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class ProposalContext:
    """What the controller tells a generator besides the parent.

    Attributes:
        seed: Seed for this proposal's random choices.
        top_programs: The island's best programs, best first.
        recent_errors: Why recent proposals from this parent were unusable (for the
            model to avoid repeating them).
        island: The island the child will belong to.
    """

    seed: int
    top_programs: Sequence[Candidate] = ()
    recent_errors: Sequence[str] = ()
    island: int = 0


@dataclass(frozen=True)
class Proposal:
    """A generator's answer: a new program, or why it could not make one.

    Attributes:
        program: Full source of the new program; None when ``error`` is set.
        diff: The edit as text (SEARCH/REPLACE blocks, the mutation list, the reply).
        generator: Who made it (``mutator``, or the model name).
        error: Why no program came out (a SEARCH block that does not match...).
        calls: Model requests made for it, for token and cost accounting.
        meta: Anything else worth keeping (JSON-safe).
        seconds: Wall time the proposal took.
    """

    program: str | None
    diff: str | None = None
    generator: str = ""
    error: str | None = None
    calls: Sequence[LLMCall] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class Generator(Protocol):
    """Makes new programs from a parent and inspirations.

    ``propose`` is a coroutine so that model requests run concurrently; an offline
    generator simply returns.
    """

    name: str

    async def propose(self, parent: Candidate, inspirations: Sequence[Candidate],
                      context: ProposalContext) -> Proposal:
        """Propose one new program.

        Args:
            parent: The program to improve.
            inspirations: Other good or different programs (may be empty).
            context: Seed and prompt material.

        Returns:
            The proposal; failures are proposals with ``error`` set, never exceptions.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
