"""A bank of 8 micro-scale tabular tasks from scikit-learn's bundled tables (`[bank] source = "sklearn"`).

Used by the CPU learning recipe (`[bank] source = "sklearn"`): no download, no LLM, built in
seconds with `sandmle.sources.csv_task.make_task_from_csv` (stratified split, thresholds from a
leaderboard of scikit-learn baselines by MLE-bench's medal rule). Rows are subsampled so
every task has at most about 175 training rows, as the paper's micro-scale tasks
(REFERENCE §1: 50-200).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

# (task id, dataset loader, metric, rows kept, subsample seed)
TASKS = (
    ("sk-breast-cancer-auc", "load_breast_cancer", "auc", 250, 0),
    ("sk-breast-cancer-accuracy", "load_breast_cancer", "accuracy", 250, 1),
    ("sk-wine-accuracy", "load_wine", "accuracy", 178, 0),
    ("sk-wine-logloss", "load_wine", "multiclass_log_loss", 178, 1),
    ("sk-iris-f1", "load_iris", "f1_macro", 150, 0),
    ("sk-diabetes-rmse", "load_diabetes", "rmse", 250, 0),
    ("sk-diabetes-mae", "load_diabetes", "mae", 250, 1),
    ("sk-digits-accuracy", "load_digits", "accuracy", 250, 0),
)


def build_sklearn_bank(out_dir: Path, seed: int = 0, names: Sequence[str] | None = None) -> list[Path]:
    """Write the tasks (all 8, or those named) into `out_dir`; existing task folders are kept."""
    import numpy as np
    import sklearn.datasets as datasets

    from sandmle.sources.csv_task import make_task_from_csv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    with tempfile.TemporaryDirectory(prefix="sandmle-sklearn-bank-") as tmp:
        for task_id, loader, metric, rows, sub_seed in TASKS:
            if names is not None and task_id not in names:
                continue
            dest = out_dir / task_id
            if (dest / "task.json").is_file():
                made.append(dest)
                continue
            data = getattr(datasets, loader)(as_frame=True)
            frame = data.frame.rename(columns=lambda c: str(c).replace(" ", "_"))
            if len(frame) > rows:
                keep = np.random.default_rng(seed * 1000 + sub_seed).choice(len(frame), rows, replace=False)
                frame = frame.iloc[np.sort(keep)]
            csv_path = Path(tmp) / f"{task_id}.csv"
            frame.to_csv(csv_path, index=False)
            make_task_from_csv(csv_path, "target", metric, dest, seed=seed + sub_seed, task_id=task_id,
                               title=f"{loader.removeprefix('load_').replace('_', ' ')} ({metric})")
            made.append(dest)
    return made
