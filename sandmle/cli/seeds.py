"""`sandmle seeds list|show|from-csv`: the seed library and DNA extraction from a CSV.

    sandmle seeds list [--json]
    sandmle seeds show ID [--json]
    sandmle seeds from-csv DATA.csv --target COL[,COL] --metric NAME [--out FILE.json] [--json]
    sandmle seeds fidelity DATA.csv --target COL --metric NAME [--twins K] [--chart FILE.png] [--json]
"""
from __future__ import annotations

import json
from pathlib import Path

from sandmle.arguments import add_target_argument, count, description, out_file, out_folder, target_columns


def register(subparsers) -> None:
    parser = subparsers.add_parser("seeds", help="list, show and extract task DNA seeds",
                                   description=description(__doc__))
    sub = parser.add_subparsers(dest="seeds_command", metavar="ACTION", parser_class=type(parser))
    p = sub.add_parser("list", help="every shipped seed", description="List every seed shipped with sandmle.")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_list)
    p = sub.add_parser("show", help="one seed's DNA", description="Show one seed's task DNA.")
    p.add_argument("seed_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_show)
    p = sub.add_parser("from-csv", help="extract a task DNA from a dataset",
                       description="Extract a task DNA (a seed) from a CSV dataset's structure.")
    p.add_argument("csv", metavar="DATA.csv")
    add_target_argument(p)
    p.add_argument("--metric", required=True, help="metric name (see sandmle.metrics)")
    p.add_argument("--id", dest="seed_id", default=None, help="seed id (default csv-<file stem>)")
    p.add_argument("--out", default=None, help="write the DNA to this JSON file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_from_csv)
    p.add_argument("--no-data-model", action="store_true",
                   help="structure only: no model of the data (twins then come from the procedural engine)")
    p = sub.add_parser("fidelity", help="do the reference solutions rank the same on a seed's twins as on its data?",
                       description="Run the reference population on micro tasks of the real data (repeated "
                                   "splits), on K twins from its data-conditioned seed and on K twins of a control "
                                   "seed; print the Spearman of the rankings, the real split-vs-split ceiling, "
                                   "twin acceptance and each solution's rank shift.")
    p.add_argument("csv", metavar="DATA.csv")
    add_target_argument(p, single=True)
    p.add_argument("--metric", required=True, help="metric name (see sandmle.metrics)")
    p.add_argument("--twins", type=count, default=5, metavar="K", help="twins to synthesise (default 5)")
    p.add_argument("--splits", type=count, default=8, metavar="R", help="micro tasks drawn from the real data (default 8)")
    p.add_argument("--seed-file", type=Path, default=None, metavar="SEED.json",
                   help="measure this seed (made from DATA.csv) instead of extracting one")
    p.add_argument("--control", default=None, metavar="SEED",
                   help="control seed file or shipped id (default: the shipped tabular seed of the same "
                        "target kind)")
    p.add_argument("--bank", type=out_folder, default=None, metavar="DIR",
                   help="keep the twins as a bank here, with the report in DIR/_fidelity.json")
    p.add_argument("--chart", type=out_file, default=None, metavar="FILE.png", help="write the rank scatter plot")
    p.add_argument("--workers", type=count, default=None, metavar="W", help="sandbox workers (default: CPU count)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_fidelity)
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

    targets = target_columns(args.target)
    dna = dna_from_csv(args.csv, targets, args.metric, seed_id=args.seed_id, data_model=not args.no_data_model)
    if args.out:
        write_json_atomic(Path(args.out), dna.to_json())
    if args.json:
        from sandmle.console import print_json

        print_json({"dna": dna.to_json(), "out": args.out})
    else:
        shown = dna.lineage_json()
        if dna.is_data_conditioned:
            from sandmle.synth.twin.model import DataModel

            model = DataModel.from_json(dna.data_model)
            shown["data_model"] = {"columns": len(model.columns), "missing_patterns": len(model.missing),
                                   "teacher": model.head.signal, "privacy": model.privacy}
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        if args.out:
            print(f"wrote {args.out}")
    return 0


def _fidelity(args) -> int:
    from sandmle.errors import UserError
    from sandmle.synth.fidelity import measure_fidelity, write_chart

    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    targets = target_columns(args.target)
    if len(targets) != 1:
        raise UserError(f"seeds fidelity takes one target column, got {len(targets)}: {', '.join(targets)}")
    log = None if args.json else (lambda line: print(line, flush=True))
    report = measure_fidelity(Path(args.csv), targets[0], args.metric, num_twins=args.twins,
                              real_splits=args.splits, control=args.control, bank=args.bank,
                              workers=args.workers, seed=args.seed, seed_file=args.seed_file, log=log)
    if args.chart is not None:
        write_chart(report, args.chart)
    if args.json:
        from sandmle.console import print_json

        print_json(report.to_json())
        return 0
    print_fidelity(report, args.chart)
    return 0


def print_fidelity(report, chart) -> None:
    from rich.table import Table

    from sandmle.console import make_console

    console = make_console()
    table = Table(title=f"fidelity of {report.seed_id} to {Path(report.data).name} ({report.rows} rows, "
                        f"{report.task_kind}, {report.metric})")
    for column in ("measure", "value"):
        table.add_column(column)
    gain = report.gain_over_control
    for name, value in (("Spearman real vs twins", report.spearman),
                        ("ceiling: real split-half vs split-half", report.ceiling),
                        (f"control: real vs {report.control_id}", report.control_spearman),
                        ("gain over the control", None if gain is None else round(gain, 4)),
                        ("twin acceptance", f"{report.twins_accepted}/{report.twins_attempted} ({report.acceptance:.0%})"),
                        ("teacher", report.teacher.get("teacher")),
                        ("privacy", "passed" if report.privacy.get("passed") else f"FAILED {report.privacy}")):
        table.add_row(name, "n/a" if value is None else str(value))
    console.print(table)
    shifts = Table(title="rank per solution (1 = best): real, twins, control")
    for column in ("solution", "real", "twins", "shift", "control"):
        shifts.add_column(column, justify="left" if column == "solution" else "right")
    for s in report.solutions:
        shifts.add_row(s.name, f"{s.real_rank:.1f}", f"{s.twin_rank:.1f}", f"{s.shift:+.1f}",
                       "" if s.control_rank is None else f"{s.control_rank:.1f}")
    console.print(shifts)
    for reason in report.rejected:
        console.print(f"[yellow]rejected twin[/]: {reason}")
    if chart is not None:
        console.print(f"chart written to {chart}")
