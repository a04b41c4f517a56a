"""Subcommands of the ``adrs`` command line, one module each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Interrupted(Exception):
    """Ctrl-C, with what the person should know (the run folder, how to go on). Here, not
    in ``adrs.cli``: ``python -m adrs.cli`` runs that module as ``__main__``."""


@dataclass(frozen=True)
class Output:
    """What a subcommand produced: text for people, data for ``--json``."""

    text: str
    data: Any = field(default_factory=dict)
    status: int = 0
