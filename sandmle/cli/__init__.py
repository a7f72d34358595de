"""The `sandmle` command line.

Every module in this package defines `register(subparsers)`, which adds its sub-commands and
sets `handler` on each: `handler(args) -> int` returns the exit code. Modules are discovered,
so adding a command is adding a file. Handlers import heavy libraries lazily so `sandmle
--help` stays fast.

Exit codes: 0 success, 1 a negative result the command reports (an invalid submission, a
failed check), 2 a usage error or bad input (one line on stderr).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from sandmle.errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other bad input
        self.exit(2, f"sandmle: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sandmle", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"sandmle: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sandmle: interrupted", file=sys.stderr)
        return 130
