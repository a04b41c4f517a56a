"""Subcommands of the ``adrs`` command line, one module each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Output:
    """What a subcommand produced: text for people, data for ``--json``."""

    text: str
    data: Any = field(default_factory=dict)
    status: int = 0
