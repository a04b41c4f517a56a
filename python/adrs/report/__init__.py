"""See a search: a self-contained HTML report of a run folder, and the same page live.

``read_run`` turns a run folder into plain data (read-only, safe beside a running
``adrs run``); ``render_page`` draws it as one HTML file; ``compare_runs`` puts several
runs on one page; ``serve`` (in :mod:`adrs.report.server`) serves the page live.
"""

from __future__ import annotations

from adrs.report._compare import compare_runs
from adrs.report._page import MissingReportExtra, render_page, to_json
from adrs.report._reader import RunReadError, read_candidate, read_run

__all__ = ["MissingReportExtra", "RunReadError", "compare_runs", "read_candidate", "read_run",
           "render_page", "to_json"]
