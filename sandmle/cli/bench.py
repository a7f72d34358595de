"""`sandmle bench NAME [--json]`: benchmarks that time sandmle against a named baseline in
the same run and print the ratio. Each module in sandmle.bench adds one NAME."""
from __future__ import annotations

import importlib
import pkgutil

import sandmle.bench
from sandmle.arguments import description


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks with ratios against a baseline",
                                   description=description(__doc__))
    names = parser.add_subparsers(dest="bench", metavar="NAME", parser_class=type(parser))
    add_parser = names.add_parser

    def add_with_description(name, **kwargs):      # `sandmle bench NAME --help` says what NAME measures
        what = kwargs.get("help") or ""
        kwargs.setdefault("description", f"{what[:1].upper()}{what[1:]}." if what else None)
        return add_parser(name, **kwargs)

    names.add_parser = add_with_description
    for info in sorted(pkgutil.iter_modules(sandmle.bench.__path__), key=lambda m: m.name):
        importlib.import_module(f"sandmle.bench.{info.name}").register(names)
