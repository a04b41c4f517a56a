"""The progress display: one rewritten line on a terminal, whole lines elsewhere."""

from __future__ import annotations

import io

from adrs.evolve._progress import Progress, ProgressStats

STATS = ProgressStats(done=5, budget=10, best=-0.25, failed=1, duplicates=2, invalid=0,
                      in_flight=2, rate_per_hour=3600.0, tokens=1500, cost_usd=0.0123)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_rewrites_one_line() -> None:
    stream = Terminal()
    progress = Progress(stream, interval=100.0)
    progress.update(STATS, force=True)
    progress.message("note")
    progress.finish(STATS)
    text = stream.getvalue()
    assert text.startswith("\r5/10 evaluated | best -0.25 | 3,600/h | failed 1 | dup 2")
    assert "1,500 tokens $0.0123" in text and "note\n" in text and text.endswith("\n")


def test_pipe_gets_whole_lines_and_disabled_gets_nothing() -> None:
    stream = io.StringIO()
    progress = Progress(stream, interval=100.0)
    progress.update(STATS)
    progress.update(STATS)  # within the interval: skipped
    assert stream.getvalue().count("\n") == 1 and "\r" not in stream.getvalue()
    Progress(None).update(STATS, force=True)  # no stream: nothing, no error
