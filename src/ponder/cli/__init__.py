"""The ``ponder`` command.

Heavy libraries (torch) are imported inside the commands that need them, so ``ponder --help``
and argument errors answer at once. A user mistake prints one line, ``ponder: error: ...``, and
exits with status 2.

Each module holds some commands, with their options next to their code; its ``add_parsers(sub)``
adds them. ``COMMANDS`` lists the modules in the order ``ponder --help`` lists their commands.
"""

from __future__ import annotations

import argparse
import sys

from ponder.cli import export, serve, solve, study, train
from ponder.cli.common import Parser, examples
from ponder.errors import UserError

COMMANDS = (solve, study, export, serve, train)
"""solve, eval | sweep, report, demo, strategies, problems | export | profile, serve | train"""


def build_parser() -> argparse.ArgumentParser:
    from ponder import __version__

    parser = Parser(prog="ponder", description="An open o1-style reasoning system: learn to reason, think before answering.",
                    epilog=examples('ponder solve "Make 66 from 25, 3, 7 and 10"', "ponder demo", "ponder serve",
                                    "ponder COMMAND --help   # each command's options and examples"))
    parser.add_argument("--version", action="version", version=f"ponder {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UserError as e:
        print(f"ponder: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


__all__ = ["build_parser", "main"]
