"""``adrs problems``: list the built-in problems."""

from __future__ import annotations

import argparse

from adrs.commands import Output
from adrs.problems import problem_summaries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options beyond --json


def run(args: argparse.Namespace) -> Output:
    del args
    summaries = problem_summaries()
    width = max(len(name) for name in summaries)
    text = "\n".join(f"{name:<{width}}  {summary}" for name, summary in summaries.items())
    data = {"problems": [{"name": n, "summary": s} for n, s in summaries.items()]}
    return Output(text, data)
