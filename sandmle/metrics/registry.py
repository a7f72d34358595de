"""The metric table: every metric's name, direction and submission kind.

`kind` says how the grader reads submission and answer columns for the metric:
- binary_proba: one column, P(class 1) in [0, 1]; answers 0/1.
- multilabel_proba: one column per label, each P(label) in [0, 1]; answers 0/1 per column.
- multiclass_proba: one column per class (TaskSpec.classes), rows of probabilities;
  answers one-hot over the same columns.
- label: one column of class labels (strings or integers), compared for equality.
- ordinal: one column of integer grades (QWK).
- value: numeric columns, all cells pooled (rmse over every pixel, for example).
- multi_value: several numeric columns, scored per column and averaged.
- ranking: one column of space-separated predicted labels, best first; answers hold the
  true label(s), space-separated (MAP@K).
"""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("binary_proba", "multilabel_proba", "multiclass_proba", "label", "ordinal",
         "value", "multi_value", "ranking")


@dataclass(frozen=True)
class Metric:
    name: str
    is_lower_better: bool
    kind: str
    description: str


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("auc", False, "binary_proba", "area under the ROC curve (ties averaged)"),
    Metric("mean_column_auc", False, "multilabel_proba", "mean of per-column ROC AUC"),
    Metric("log_loss", True, "binary_proba", "binary cross-entropy, probabilities clipped to [1e-15, 1-1e-15]"),
    Metric("multiclass_log_loss", True, "multiclass_proba", "multi-class log loss, rows clipped to [1e-15, 1-1e-15] and renormalised"),
    Metric("rmse", True, "value", "root mean squared error"),
    Metric("rmsle", True, "value", "root mean squared logarithmic error"),
    Metric("mean_column_rmsle", True, "multi_value", "mean over columns of RMSLE"),
    Metric("mae", True, "value", "mean absolute error"),
    Metric("accuracy", False, "label", "share of exactly matching labels"),
    Metric("f1_macro", False, "label", "unweighted mean of per-class F1"),
    Metric("f1_micro", False, "label", "F1 over all decisions pooled"),
    Metric("qwk", False, "ordinal", "quadratic weighted Cohen's kappa"),
    Metric("map_at_k", False, "ranking", "mean average precision at k (param k, default 5)"),
    Metric("mcc", False, "label", "Matthews correlation coefficient"),
    Metric("spearman", False, "value", "Spearman rank correlation"),
    Metric("r2", False, "value", "coefficient of determination"),
    Metric("mape", True, "value", "mean absolute percentage error, a fraction (|y| floored at machine epsilon)"),
    Metric("smape", True, "value", "symmetric mean absolute percentage error in percent, 0-200"),
)}
