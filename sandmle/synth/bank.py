"""Bank statistics: what a task bank holds and how it was filtered.

    stats = bank_stats(Path("bank"))       # modality, domain, metric and size mix + the funnel
    write_chart(stats, Path("bank.png"))   # four bar charts (matplotlib, Agg backend)

The funnel comes from the bank's `_funnel.json` (written by `sandmle synth`); a bank made
some other way simply has none. A bank of twins made by `sandmle seeds fidelity --bank` also
carries `_fidelity.json`: how the reference solutions' ranking on the twins matches the real data.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sandmle.files import atomic_tmp
from sandmle.task import load_bank

SIZE_BUCKETS = ((0, 50), (50, 100), (100, 150), (150, 201), (201, 10**12))   # train rows, [low, high)


@dataclass(frozen=True)
class BankStats:
    path: str
    num_tasks: int
    by_modality: dict[str, int]
    by_domain: dict[str, int]
    by_metric: dict[str, int]
    by_train_rows: dict[str, int]      # bucket label -> tasks
    train_rows_min: int
    train_rows_max: int
    test_rows_total: int
    funnel: dict[str, Any] | None      # the bank's _funnel.json, when present
    fidelity: dict[str, Any] | None = None   # _fidelity.json of `sandmle seeds fidelity --bank`, when measured

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _bucket(rows: int) -> str:
    for low, high in SIZE_BUCKETS:
        if low <= rows < high:
            return f">= {low}" if high == SIZE_BUCKETS[-1][1] else f"{low}-{high - 1}"
    raise ValueError(f"train rows {rows} outside every bucket")


def _counted(values) -> dict[str, int]:
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def bank_stats(path: Path) -> BankStats:
    """Mix of a bank's tasks (validated with `load_bank`) and its funnel."""
    from sandmle.synth.fidelity import read_fidelity
    from sandmle.synth.funnel import FUNNEL_FILE

    tasks = load_bank(path)
    specs = [t.spec for t in tasks]
    rows = [s.train_rows for s in specs]
    order = [_bucket(low) for low, _ in SIZE_BUCKETS]
    sizes = Counter(_bucket(r) for r in rows)
    funnel_path = Path(path) / FUNNEL_FILE
    funnel = json.loads(funnel_path.read_text(encoding="utf-8")) if funnel_path.is_file() else None
    return BankStats(
        path=str(path), num_tasks=len(specs),
        by_modality=_counted(s.modality for s in specs),
        by_domain=_counted(s.domain for s in specs),
        by_metric=_counted(s.metric for s in specs),
        by_train_rows={label: sizes[label] for label in order if sizes[label]},
        train_rows_min=min(rows), train_rows_max=max(rows),
        test_rows_total=sum(s.test_rows for s in specs),
        funnel=funnel, fidelity=read_fidelity(Path(path)))


def write_chart(stats: BankStats, path: Path) -> None:
    """A PNG with one bar chart per mix (modality, domain, metric, train rows) and the funnel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = [("modality", stats.by_modality), ("domain", stats.by_domain),
              ("metric", stats.by_metric), ("train rows", stats.by_train_rows)]
    if stats.funnel:
        stages = [("attempted", stats.funnel["attempted"])] + [tuple(x) for x in stats.funnel["cumulative"]]
        stages.append(("accepted", stats.funnel["accepted"]))
        panels.append(("funnel", dict(stages)))
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels)))
    for ax, (title, counts) in zip(axes, panels):
        names, values = list(counts), list(counts.values())
        ax.barh(range(len(names)), values, color="#4c72b0")
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{title} ({stats.num_tasks} tasks)" if title != "funnel" else "funnel", fontsize=10)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v}", va="center", fontsize=8)
    fig.tight_layout()
    try:
        with atomic_tmp(path, ".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
