"""The ``adrs`` command line.

Each subcommand lives in ``adrs/commands/<name>.py`` and exposes ``add_arguments(parser)``
and ``run(args) -> Output``. This module only wires them up and turns every expected
error into one line (or one JSON object with ``--json``) and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from adrs import __version__
from adrs.commands import Interrupted, Output

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "problems": ("adrs.commands.problems", "list the built-in problems"),
    "eval": ("adrs.commands.evaluate", "score a program (or a baseline) on a problem"),
    "baselines": ("adrs.commands.baselines", "score every baseline of a problem side by side"),
    "run": ("adrs.commands.run", "evolve programs for a problem or an OpenEvolve-style folder"),
    "data": ("adrs.commands.data", "download a public workload (adrs data fetch eplb)"),
    "leaderboard": ("adrs.commands.leaderboard",
                    "score every solution of an ADRS Leaderboard checkout on its 0-100 scale"),
    "doctor": ("adrs.commands.doctor", "list the sandbox layers this machine gives candidates"),
    "report": ("adrs.commands.report", "write a run folder (or several, compared) as one HTML page"),
    "serve": ("adrs.commands.serve", "serve a run folder's report live on 127.0.0.1"),
}


class CommandError(Exception):
    """An error the user can fix; printed as one line."""


class _ArgumentError(Exception):
    """A command line argparse refused (turned into one line, or JSON with --json)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgumentError(f"{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="adrs", description="AI-Driven Research for Systems."
    )
    parser.add_argument("--version", action="version", version=f"adrs {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument(
            "--json", action="store_true", help="print one JSON object for scripts"
        )
        importlib.import_module(module_name).add_arguments(command)
        command.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(words)
    except _ArgumentError as exc:
        message = " ".join(str(exc).split())
        if "--json" in words:
            print(json.dumps({"error": message}))
        else:
            print(parser.format_usage().strip(), file=sys.stderr)
            print(message, file=sys.stderr)
        return 2
    module = importlib.import_module(args._module)
    try:
        output: Output = module.run(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError,
            CommandError) as exc:
        return _fail(args, str(exc))
    except OSError as exc:
        return _fail(args, f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except Interrupted as exc:
        return _fail(args, str(exc), status=130)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", status=130)
    try:
        if args.json:
            print(json.dumps(output.data, default=_json_default))
        elif output.text:
            print(output.text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head: not an error of ours
        sys.stdout = None  # type: ignore[assignment]  # silence the flush at exit
    return output.status


def _fail(args: argparse.Namespace, message: str, status: int = 2) -> int:
    message = " ".join(message.split())  # one line, whatever the exception held
    if getattr(args, "json", False):
        print(json.dumps({"error": message}))
    else:
        print(f"adrs {args.command}: error: {message}", file=sys.stderr)
    return status


def _json_default(value: object) -> object:
    # numpy scalars and arrays reach the JSON output through result details
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
