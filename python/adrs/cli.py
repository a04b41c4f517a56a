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

from adrs.commands import Output

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "problems": ("adrs.commands.problems", "list the built-in problems"),
    "eval": ("adrs.commands.evaluate", "score a program (or a baseline) on a problem"),
    "baselines": ("adrs.commands.baselines", "score every baseline of a problem side by side"),
    "run": ("adrs.commands.run", "evolve programs for a problem or an OpenEvolve-style folder"),
    "data": ("adrs.commands.data", "download a public workload (adrs data fetch eplb)"),
    "doctor": ("adrs.commands.doctor", "list the sandbox layers this machine gives candidates"),
}


class CommandError(Exception):
    """An error the user can fix; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adrs", description="AI-Driven Research for Systems."
    )
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
    args = parser.parse_args(argv)
    module = importlib.import_module(args._module)
    try:
        output: Output = module.run(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError,
            CommandError) as exc:
        return _fail(args, str(exc))
    except OSError as exc:
        return _fail(args, f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
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
