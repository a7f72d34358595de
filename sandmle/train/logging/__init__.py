"""Training metrics sinks: JSONL per step, a rich live view, PNG curves, tensorboard / W&B."""
from sandmle.train.logging.metrics import MetricsLogger, plot_curves, read_metrics

__all__ = ["MetricsLogger", "plot_curves", "read_metrics"]
