"""The live progress display of a run, on stderr.

One line rewritten in place when the stream is a terminal (at most 10 times a second);
otherwise a full line every ``interval`` seconds; nothing at all when disabled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class ProgressStats:
    """Counters shown on the progress line."""

    done: int
    budget: int
    best: float | None
    failed: int
    duplicates: int
    invalid: int
    in_flight: int
    rate_per_hour: float
    tokens: int
    cost_usd: float
    nodes: str = ""  # per-node workers busy (a cluster executor), e.g. "10.0.0.5 2/4 busy"

    def line(self) -> str:
        best = "n/a" if self.best is None else f"{self.best:.6g}"
        text = (f"{self.done}/{self.budget} evaluated | best {best} | "
                f"{self.rate_per_hour:,.0f}/h | failed {self.failed} | dup {self.duplicates}"
                f" | unusable {self.invalid} | running {self.in_flight}")
        if self.tokens:
            text += f" | {self.tokens:,} tokens ${self.cost_usd:.4f}"
        if self.nodes:
            text += f" | nodes: {self.nodes}"
        return text


class Progress:
    """Shows :class:`ProgressStats` on a stream.

    Args:
        stream: Where to write (stderr); None disables the display.
        interval: Seconds between lines when the stream is not a terminal.
    """

    def __init__(self, stream: TextIO | None, interval: float = 10.0) -> None:
        self.stream = stream
        self.interval = interval
        self.tty = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
        self._last = 0.0
        self._width = 0

    def update(self, stats: ProgressStats, force: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not force and now - self._last < (0.1 if self.tty else self.interval):
            return
        self._last = now
        line = stats.line()
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own (a warning, a phase change)."""
        if self.stream is None:
            return
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, stats: ProgressStats) -> None:
        self.update(stats, force=True)
        if self.stream is not None and self.tty:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
