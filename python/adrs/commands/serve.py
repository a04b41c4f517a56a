"""``adrs serve``: the report page of a run folder, live, on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from adrs.commands import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from adrs.report.server import DEFAULT_PORT

    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder of 'adrs run'")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0: any free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")


def run(args: argparse.Namespace) -> Output:
    from adrs.report import read_run
    from adrs.report._page import _plotly_gz, _template
    from adrs.report.server import ReportServer

    _template(), _plotly_gz()  # the extra is there, before anything is bound
    read_run(args.run_dir, detail_ids=False)  # a folder with no readable run: one line
    server = ReportServer(args.run_dir, host=args.host, port=args.port)
    if args.json:
        print(json.dumps({"url": server.url}), flush=True)
    else:
        print(f"serving {Path(args.run_dir)} live at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return Output("stopped", {"url": server.url, "stopped": True})


def start_beside_run(run_dir: str | Path, port: int, stream: TextIO | None) -> object:
    """Start the live report of a run about to begin (``adrs run --serve``) in a thread.

    Raises:
        MissingReportExtra: The report extra is not installed.
        OSError: The port cannot be bound.
    """
    from adrs.report._page import _plotly_gz, _template
    from adrs.report.server import ReportServer

    _template(), _plotly_gz()
    server = ReportServer(run_dir, port=port).start()
    print(f"live report: {server.url}", file=stream or sys.stderr, flush=True)
    return server
