"""`sandmle bench NAME [--json]`: benchmarks that time sandmle against a named baseline in
the same run and print the ratio. Each module in sandmle.bench adds one NAME."""
from __future__ import annotations

import importlib
import pkgutil

import sandmle.bench


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks with ratios against a baseline")
    names = parser.add_subparsers(dest="bench", metavar="NAME", parser_class=type(parser))
    for info in sorted(pkgutil.iter_modules(sandmle.bench.__path__), key=lambda m: m.name):
        importlib.import_module(f"sandmle.bench.{info.name}").register(names)
