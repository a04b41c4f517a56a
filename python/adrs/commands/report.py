"""``adrs report``: a run folder (or several, compared) as one self-contained HTML page."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from adrs.commands import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="a run folder of 'adrs run'; several: a comparison page")
    parser.add_argument("--out", metavar="FILE.html",
                        help="where to write the page (default RUN_DIR/report.html; "
                             "comparison.html for several runs)")


def run(args: argparse.Namespace) -> Output:
    from adrs.report import compare_runs, read_run, render_page

    folders = [Path(d) for d in args.run_dirs]
    # everything is read and drawn before a byte is written: bad input writes nothing
    if len(folders) == 1:
        data = read_run(folders[0])
        problem = data["header"]["problem"]
        html = render_page(data, title=f"adrs report: {problem}", subtitle=str(folders[0]))
        out = Path(args.out) if args.out else folders[0] / "report.html"
        best = data["best"]
        summary = {"best_id": best["id"] if best else None,
                   "best_score": best["score"] if best else None,
                   "counts": data["header"]["counts"]}
    else:
        data = compare_runs(folders)
        html = render_page(data, title=f"adrs report: {len(folders)} runs compared",
                           subtitle=", ".join(str(f) for f in folders))
        out = Path(args.out) if args.out else Path("comparison.html")
        summary = {"runs": [{"run_dir": r["run_dir"], "best_train": r["best_train"],
                             "best_test": r["best_test"]} for r in data["runs"]]}
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; name the HTML file to write")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: no such folder {out.parent}")
    _write_atomically(out, html)
    size = out.stat().st_size
    text = f"wrote {out} ({size / 1e6:.2f} MB); open it in a browser"
    return Output(text, {"out": str(out), "bytes": size, **summary})


def _write_atomically(path: Path, text: str) -> None:
    # a reader (or a crash) never sees half a page
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
