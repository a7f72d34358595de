"""The `sandmle` command line.

Every module in this package defines `register(subparsers)`, which adds its sub-commands and
sets `handler` on each: `handler(args) -> int` returns the exit code. Modules are discovered,
so adding a command is adding a file. Handlers import heavy libraries lazily so `sandmle
--help` stays fast.

Exit codes: 0 success, 1 a negative result the command reports (an invalid submission, a
failed check), 2 a usage error, bad input or an infrastructure failure (one line on stderr,
`sandmle: error: ...`): a full disk, a denied permission, a sandbox that cannot start
(no namespaces, no `unshare`), wherever in the command it happens. Every writer in sandmle
writes to a temporary path and renames, so such a failure leaves nothing half-written.
An evaluation whose episodes fail at the policy or the sandbox more often than allowed
(`eval --max-error-share`) exits 1 and says so.

Argument types shared by the commands (`sandmle.arguments`): `count` (a whole number >= 1: every flag that counts
tasks, episodes, turns, tokens, workers or steps), `count_or_zero` (where 0 means none and
the help says so), `positive` (seconds, megabytes), `share` (0 to 1),
`out_folder` (an output folder: refused when the path is a file) and `out_file` (an output
file: refused when it is a folder or its folder does not exist). A bad value is one
`sandmle: error:` line naming the flag, before any work starts.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from sandmle import __version__
from sandmle.arguments import count, count_or_zero, out_file, out_folder, positive  # noqa: F401  (the commands' types)
from sandmle.errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other bad input
        self.exit(2, f"sandmle: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sandmle", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sandmle {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from sandmle.errors import NativeBuildError

    try:
        parser = build_parser()
    except NativeBuildError as exc:      # a command module imports a kernel built from other sources
        print(f"sandmle: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:            # --help, --version, or one line for a bad argument
        return exc.code if isinstance(exc.code, int) else 2
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
    except Exception as exc:
        line = infrastructure_error(exc)
        if line is None:
            raise                        # a bug: the traceback is the report
        print(f"sandmle: error: {line}", file=sys.stderr)
        return 2


_NO_SPACE = ("No space left on device", "Disk quota exceeded")


def infrastructure_error(exc: BaseException) -> str | None:
    """One line for a failure of the machine rather than of sandmle: an OSError anywhere in
    the exception's chain (a full disk, a denied permission, a missing file system feature),
    a `SandboxError`, or a library's error that reports a full disk in its message."""
    from sandmle.errors import NativeBuildError
    from sandmle.sandbox.protocol import SandboxError

    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NativeBuildError):
            return _one_line(str(current))
        if isinstance(current, SandboxError):
            return f"sandbox: {_one_line(str(current))}"
        if isinstance(current, OSError):
            what = current.strerror or _one_line(str(current)) or type(current).__name__
            where = current.filename if current.filename is not None else ""
            return f"{what}{f': {where}' if where else ''}" + (
                f" (errno {current.errno})" if current.errno else "")
        if any(text in str(current) for text in _NO_SPACE):
            return _one_line(str(current))
        current = current.__cause__ or current.__context__
    return None


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:500] if lines else ""
