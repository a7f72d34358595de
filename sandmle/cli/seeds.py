"""`sandmle seeds list|show|from-csv`: the seed library and DNA extraction from a CSV.

    sandmle seeds list [--json]
    sandmle seeds show ID [--json]
    sandmle seeds from-csv DATA.csv --target COL[,COL] --metric NAME [--out FILE.json] [--json]
"""
from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("seeds", help="list, show and extract task DNA seeds")
    sub = parser.add_subparsers(dest="seeds_command", metavar="ACTION", parser_class=type(parser))
    p = sub.add_parser("list", help="every shipped seed")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_list)
    p = sub.add_parser("show", help="one seed's DNA")
    p.add_argument("seed_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_show)
    p = sub.add_parser("from-csv", help="extract a task DNA from a dataset")
    p.add_argument("csv", metavar="DATA.csv")
    p.add_argument("--target", required=True, help="target column (comma-separated for several)")
    p.add_argument("--metric", required=True, help="metric name (see sandmle.metrics)")
    p.add_argument("--id", dest="seed_id", default=None, help="seed id (default csv-<file stem>)")
    p.add_argument("--out", default=None, help="write the DNA to this JSON file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_from_csv)
    parser.set_defaults(handler=lambda args: (parser.print_help(), 2)[1])


def _row(dna) -> dict:
    width = dna.num_classes or dna.num_labels or dna.num_targets
    return {"id": dna.id, "suite": dna.suite, "modality": dna.modality, "target": dna.target_kind,
            "width": width, "metric": dna.metric}


def _list(args) -> int:
    from sandmle.synth.seeds import load_seeds

    seeds = load_seeds()
    if args.json:
        from sandmle.console import print_json

        print_json({"seeds": [_row(d) for d in seeds.values()], "count": len(seeds)})
        return 0
    from rich.table import Table

    from sandmle.console import make_console

    table = Table(title=f"{len(seeds)} seeds")
    for name in ("id", "suite", "modality", "target", "width", "metric"):
        table.add_column(name, overflow="fold")
    for dna in seeds.values():
        row = _row(dna)
        table.add_row(*(str(row[k]) for k in ("id", "suite", "modality", "target", "width", "metric")))
    make_console().print(table)
    return 0


def _show(args) -> int:
    from sandmle.synth.seeds import get_seed

    dna = get_seed(args.seed_id)
    if args.json:
        from sandmle.console import print_json

        print_json(dna.to_json())
    else:
        print(json.dumps(dna.to_json(), indent=2, ensure_ascii=False))
    return 0


def _from_csv(args) -> int:
    from sandmle.sources.csv_seed import dna_from_csv
    from sandmle.task import write_json_atomic

    targets = [t.strip() for t in args.target.split(",") if t.strip()]
    dna = dna_from_csv(args.csv, targets, args.metric, seed_id=args.seed_id)
    if args.out:
        write_json_atomic(Path(args.out), dna.to_json())
    if args.json:
        from sandmle.console import print_json

        print_json({"dna": dna.to_json(), "out": args.out})
    else:
        print(json.dumps(dna.to_json(), indent=2, ensure_ascii=False))
        if args.out:
            print(f"wrote {args.out}")
    return 0
