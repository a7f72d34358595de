"""argparse types shared by every command line (`sandmle.cli` and the benchmarks' own
sub-commands): `count` (a whole number >= 1), `count_or_zero` (0 means none), `positive`
(seconds, megabytes), `share` (a number in [0, 1]), `out_folder` (refused when the path is a file) and `out_file`
(refused when it is a folder or its folder does not exist), and `--sandbox
local|ray[:ADDRESS]` (`add_sandbox_argument`, `sandmle.sandbox.backend`); `description(__doc__)` is a
command's `--help` description. A bad value raises
`argparse.ArgumentTypeError`, which the parser prints as one `sandmle: error:` line."""
from __future__ import annotations

import argparse
from pathlib import Path


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def count(text: str) -> int:
    """argparse type of a count: a whole number >= 1."""
    return _whole_number(text, 1)


def count_or_zero(text: str) -> int:
    """argparse type of a count where 0 means "none" (said in the flag's help)."""
    return _whole_number(text, 0)


def positive(text: str) -> float:
    """argparse type of a positive finite number (seconds, megabytes)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def share(text: str) -> float:
    """argparse type of a share: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


def out_folder(text: str) -> Path:
    """argparse type of an output folder: it may exist as a folder, or be made (its nearest
    existing ancestor must be a folder)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder: choose a folder")
    _check_ancestors(path, text)
    return path


def out_file(text: str) -> Path:
    """argparse type of an output file: not a folder, in a folder that exists."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: name a file")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text}: the folder {parent} {what}")
    return path


def _check_ancestors(path: Path, text: str) -> None:
    for ancestor in path.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise argparse.ArgumentTypeError(f"{text}: {ancestor} is a file, not a folder")
            return


TARGET_HELP = "target column; several as COL,COL or a repeated --target"


def add_target_argument(parser, single: bool = False) -> None:
    """--target COL[,COL...], repeatable: `target_columns(args.target)` gives the list."""
    parser.add_argument("--target", action="append", required=True, metavar="COL",
                        help="target column" if single else TARGET_HELP)


def target_columns(values: list[str]) -> list[str]:
    """The columns of every --target given, split at commas, blanks dropped, in order."""
    return [c.strip() for value in values for c in value.split(",") if c.strip()]


def description(doc: str) -> str:
    """A command's `--help` description: the first paragraph of its module docstring, whole
    (a first line alone may stop mid-sentence or inside a `code` span)."""
    return " ".join(doc.strip().split("\n\n")[0].split())


SANDBOX_HELP = ("where sandbox jobs run: local (this machine's pool, default) or ray[:ADDRESS] "
                "(one warm isolated pool per Ray node; ADDRESS: auto or HOST:6379, none for a "
                "private one-machine cluster)")


def sandbox(text: str):
    """argparse type of `--sandbox`: local, ray or ray:ADDRESS -> `SandboxSpec`."""
    from sandmle.sandbox.backend import parse_sandbox

    try:
        return parse_sandbox(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_sandbox_argument(parser: argparse.ArgumentParser) -> None:
    """`--sandbox local|ray[:ADDRESS]`, default local, parsed into a `SandboxSpec`."""
    parser.add_argument("--sandbox", type=sandbox, default="local", metavar="local|ray[:ADDRESS]",
                        help=SANDBOX_HELP)
