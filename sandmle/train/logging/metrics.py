"""Per-step metrics: `RUN/metrics.jsonl`, a live view, `RUN/curves.png`, optional trackers.

Every step appends one JSON object (reward mean and std, valid and medal rates, the share of
zero-variance groups, KL, entropy, clip fraction, response length, tokens per second,
rollout and update time, and at held-out steps the eval_* rates of the `[eval]` bank) to
metrics.jsonl and flushes it; a run with a held-out bank starts with a row of step 0.
The curves plot the held-out reward, valid and medal rates next to the training ones. On resume the file is cut back to the checkpoint's step, so a
resumed run's file reads like an uninterrupted one. With `live`, a rich table updates in
place on a terminal; otherwise each step prints one line on stderr (unless `quiet`); both
say the steps done of the target, the rate and the ETA when the target is given. Curves
are drawn with matplotlib's Agg backend and written atomically. tensorboard and W&B are used
only when the recipe asks, and a missing package is a one-line error naming the install
command.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sandmle.errors import UserError
from sandmle.files import atomic_tmp, write_text_atomic

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
LIVE_COLUMNS = (("step", "step", "{:d}"), ("reward", "reward_mean", "{:.3f}"), ("±", "reward_std", "{:.3f}"),
                ("valid", "valid_rate", "{:.2f}"), ("medal", "medal_rate", "{:.2f}"),
                ("0-var", "zero_variance_frac", "{:.2f}"), ("held-out", "eval_reward_mean", "{:.3f}"),
                ("kl", "kl", "{:.4f}"), ("entropy", "entropy", "{:.3f}"), ("clip", "clip_frac", "{:.3f}"),
                ("resp len", "response_len_mean", "{:.0f}"), ("tok/s", "tokens_per_s", "{:.0f}"),
                ("rollout s", "rollout_s", "{:.1f}"), ("update s", "update_s", "{:.1f}"))
PANELS = (("reward_mean", "reward (mean ± std)"), ("valid_rate", "valid rate"), ("medal_rate", "medal rate"),
          ("zero_variance_frac", "zero-variance share (no gradient)"),
          ("entropy", "entropy"), ("kl", "KL to reference"), ("clip_frac", "clip fraction"),
          ("response_len_mean", "response tokens"), ("step_s", "step time (s)"))
HELD_OUT = {"reward_mean": "eval_reward_mean", "valid_rate": "eval_valid_rate", "medal_rate": "eval_medal_rate"}


def read_metrics(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_curves(rows: list[dict[str, Any]], out: Path, title: str = "",
                panels: tuple[tuple[str, str], ...] = PANELS) -> None:
    """Draw `panels` ((key, title) pairs; default: GRPO's) of `rows` into a PNG, written
    atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = panel_series(rows, panels)
    if not panels:
        return
    cols = 4 if len(panels) > 4 else len(panels)
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), squeeze=False)
    for ax, (key, label, pts, held) in zip(axes.flat, panels):
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        ax.plot(xs, ys, marker="." if len(xs) < 60 else None, label="train")
        if key == "reward_mean":
            std = [r.get("reward_std", 0.0) for r in rows if _finite(r.get(key))]
            ax.fill_between(xs, [y - s for y, s in zip(ys, std)], [y + s for y, s in zip(ys, std)], alpha=0.2)
        if held:
            ax.plot([p[0] for p in held], [p[1] for p in held], marker="o", color="#c44e52", label="held-out")
            ax.legend(fontsize=8)
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_tmp(out, ".png") as tmp:
            fig.savefig(tmp, dpi=90)
    finally:
        plt.close(fig)


def panel_series(rows: list[dict[str, Any]],
                 panels: tuple[tuple[str, str], ...] = PANELS) -> list[tuple[str, str, list, list]]:
    """(metric, title, training (step, value) points, held-out points) of each panel with data."""
    out = []
    for key, label in panels:
        pts = [(r["step"], r[key]) for r in rows if _finite(r.get(key))]
        held = [(r["step"], r[HELD_OUT[key]]) for r in rows if key in HELD_OUT and _finite(r.get(HELD_OUT[key]))]
        if pts or held:
            out.append((key, label, pts, held))
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class MetricsLogger:
    """Writes each step's metrics to every configured sink (main process only)."""

    def __init__(self, run_dir: Path, *, live: bool = True, plot_every: int = 5, tensorboard: bool = False,
                 wandb_project: str = "", config: dict[str, Any] | None = None, resume_step: int = 0,
                 title: str = "", enabled: bool = True, quiet: bool = False, total_steps: int | None = None,
                 clock=None, columns: tuple = LIVE_COLUMNS, panels: tuple = PANELS, step_key: str = "reward_mean"):
        import time

        self.run_dir = Path(run_dir)
        self.columns = columns          # live table / log line: (name, key, format)
        self.panels = panels            # curves.png: (key, title)
        self.step_key = step_key        # a row holding it is a training step (not an evaluation)
        self.total_steps = total_steps          # the run's target: each line then says steps, rate and ETA
        self.resume_step = resume_step
        self.clock = clock or time.monotonic
        self.started = self.clock()
        self.path = self.run_dir / METRICS_FILE
        self.plot_every = plot_every
        self.title = title
        self.enabled = enabled
        self.quiet = quiet
        self.rows: list[dict[str, Any]] = []
        self._tb = self._wandb = self._live = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.rows = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
        self._rewrite()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UserError("[log] tensorboard=true needs the tensorboard package: pip install tensorboard") from None
            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        if wandb_project:
            try:
                import wandb
            except ImportError:
                raise UserError("[log] wandb_project is set but wandb is not installed: pip install wandb") from None
            self._wandb = wandb.init(project=wandb_project, config=config or {}, dir=str(self.run_dir),
                                     resume="allow", name=self.run_dir.name)
        from rich.console import Console

        self._console = Console(stderr=True, highlight=False)
        if live and self._console.is_terminal:
            from rich.live import Live

            self._live = Live(self._table(), console=self._console, refresh_per_second=2, transient=False)
            self._live.start()

    def _rewrite(self) -> None:
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in self.rows))

    def _table(self):
        from rich.table import Table

        table = Table(title=self.title or "sandmle train", expand=False, caption=self.progress_text())
        for name, _, _ in self.columns:
            table.add_column(name, justify="right")
        for row in self.rows[-12:]:
            table.add_row(*[_fmt(fmt, row.get(key)) for _, key, fmt in self.columns])
        return table

    def log(self, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {k: v for k, v in metrics.items()}
        self.rows.append(row)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
        step = int(row["step"])
        if self._tb is not None:
            for key, value in row.items():
                if _finite(value) and key != "step":
                    self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log({k: v for k, v in row.items() if _finite(v)}, step=step)
        if self._live is not None:
            self._live.update(self._table())
        elif not self.quiet:
            line = "  ".join(f"{name} {_fmt(fmt, row.get(key))}" for name, key, fmt in self.columns)
            progress = self.progress_text()
            self._console.print(line + (f"  [{progress}]" if progress else ""), soft_wrap=True, markup=False)
        if step % self.plot_every == 0:
            self.plot()

    def progress_text(self) -> str | None:
        """"3/12 steps, 1.2 steps/min, elapsed 2m30s, ETA 7m30s" (None before a step or
        without a target)."""
        from sandmle.progress import rate_and_eta

        steps = [r["step"] for r in self.rows if self.step_key in r]
        if self.total_steps is None or not steps:
            return None
        done = int(steps[-1])
        return (f"{done}/{self.total_steps} steps, "
                f"{rate_and_eta(done, self.total_steps, self.resume_step, self.clock() - self.started, 'steps')}")

    def plot(self) -> None:
        if self.enabled and self.rows:
            plot_curves(self.rows, self.run_dir / CURVES_FILE, self.title, self.panels)

    def close(self) -> None:
        if not self.enabled:
            return
        self.plot()
        if self._live is not None:
            self._live.stop()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def _fmt(fmt: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    try:
        return fmt.format(int(value) if fmt == "{:d}" else value)
    except (TypeError, ValueError):
        return str(value)
