"""``adrs data fetch NAME``: download a public workload that a problem can read.

Only ``eplb`` for now: the recorded expert-load history that the reference EPLB evaluator
reads (``expert-load.json``, a public dataset; about 224 MB). The file is streamed to a
temporary name beside the target and renamed once complete, so an interrupted download
never leaves a truncated history behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from adrs.commands import Output


@dataclass(frozen=True)
class Dataset:
    """A downloadable workload: where it is, what to call it, how to recognise it."""

    url: str
    file_name: str
    marker: bytes  # must appear near the start of the file
    summary: str


DATASETS = {
    "eplb": Dataset(
        url="https://huggingface.co/datasets/abmfy/eplb-openevolve/resolve/main/"
            "expert-load.json",
        file_name="expert-load.json",
        marker=b'"load_history"',
        summary="recorded vLLM expert loads read by the reference EPLB evaluator",
    ),
}
TIMEOUT_S = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("fetch",), help="fetch: download a dataset")
    parser.add_argument("dataset", choices=sorted(DATASETS), metavar="NAME",
                        help=f"one of: {', '.join(sorted(DATASETS))}")
    parser.add_argument("--url", help="download from here instead: a mirror's URL, or a "
                                      "local copy (a path or a file:// URL)")
    parser.add_argument("--out", metavar="DIR",
                        help="folder to save into (default: $ADRS_DATA_DIR, else ./data)")


def run(args: argparse.Namespace) -> Output:
    dataset = DATASETS[args.dataset]
    url = args.url or dataset.url
    if "://" not in url:  # a plain local path: the file itself
        local = Path(url).expanduser().resolve()
        if not local.is_file():
            raise FileNotFoundError(f"--url {url}: no such file")
        url = local.as_uri()
    folder = Path(args.out or os.environ.get("ADRS_DATA_DIR") or "data").expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / dataset.file_name
    size = download(url, target, dataset.marker)
    text = (f"saved {dataset.summary} to {target} ({size:,} bytes)\n"
            f"use it with: adrs eval {args.dataset} PROGRAM.py --data {folder}")
    return Output(text, {"dataset": args.dataset, "url": url, "path": str(target),
                         "bytes": size})


def download(url: str, target: Path, marker: bytes) -> int:
    """Stream ``url`` into ``target``; returns the bytes written.

    Raises:
        ValueError: The server answered with an error, or the content is not the dataset.
        OSError: The connection failed or the file could not be written.
    """
    partial = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed or removed below
        dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False)
    try:
        with partial:
            try:
                with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                    head = response.read(4096)
                    if marker not in head:
                        raise ValueError(f"{url} does not look like the dataset (no "
                                         f"{marker.decode()} near its start)")
                    partial.write(head)
                    shutil.copyfileobj(response, partial, 1 << 20)
            except urllib.error.HTTPError as exc:
                raise ValueError(f"{url}: HTTP {exc.code} {exc.reason}") from None
            except urllib.error.URLError as exc:
                raise OSError(f"cannot reach {url}: {exc.reason}") from None
        size = os.path.getsize(partial.name)
        os.replace(partial.name, target)
        return size
    except BaseException:
        Path(partial.name).unlink(missing_ok=True)
        raise
