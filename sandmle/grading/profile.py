"""Grading profiles: how one task reads, checks and pairs a submission, as data.

A task's `task.json` may hold a `grader` block; every key is optional and the defaults are
sandmle's own rules. Imported MLE-bench competitions (`sandmle.sources.mlebench`) and
synthetic tasks seeded from them carry the block that reproduces that competition's
`mlebench/competitions/<id>/grade.py` as MLE-bench runs it (pandas 2.2, scikit-learn 1.5):

    reader            "sandmle": cells and header names stripped of blanks, text as written.
                      "pandas": cells as MLE-bench's `read_csv` (pandas.read_csv) gives them:
                      blank lines before the header are skipped, NA tokens ("", "NA", "N/A",
                      "null", "nan", "None", ...) are missing, a column is numeric only
                      when every cell is, numbers may carry blanks,
                      nothing else is stripped, "Unnamed: i" for blank header names, "x.1"
                      for a repeated one.
    columns           "named": the id and the scored columns are found by name; other columns
                      are ignored (noted). "exact": the header is exactly the id and the target
                      columns, in any order. "id_first": exactly the id column first, then the
                      target columns in any order. "positional": the id by name; every other
                      column, in file order, is paired with the target columns in order.
    rows              "id": the sorted ids equal the answers' sorted ids (every id once).
                      "id_set": the id sets and the row counts are equal.
                      "id_members": every id is an answer id and the row counts are equal.
                      "sorted": both files sorted by id and paired by position; ids unchecked.
                      "file_order": rows paired in file order; ids unchecked.
    scored_columns    the target columns that are scored, and so required (default all).
    skip_answer_rows_below   answer rows whose scored values sum below this are not scored.
    probability_range true: probabilities outside [0, 1] are invalid (false: any number).
    row_sum           [atol, rtol]: multi-class rows must sum to 1 as `numpy.isclose(sum, 1,
                      atol, rtol)` accepts; null: rows are clipped and renormalised instead.
    clip_eps          probability clip of log losses: a number, or "machine" for float64's
                      epsilon (2.22e-16, scikit-learn's log_loss since 1.3).
    compare           "label": labels compared as values ("2.0" equals "2"). "text": as the
                      strings pandas' `astype(str)` makes of the cells (NA tokens are "nan").
    era               "sandmle": the metric library's rules (scikit-learn's current ones).
                      "mlebench": also scikit-learn 1.5's refusals that later releases dropped
                      (RMSLE of negative values, binary log loss of one-class answers).

Errors in a block are listed by `profile_problems`, which `sandmle.task.load_task` reports.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

READERS = ("sandmle", "pandas")
COLUMN_RULES = ("named", "exact", "id_first", "positional")
ROW_RULES = ("id", "id_set", "id_members", "sorted", "file_order")
COMPARES = ("label", "text")
ERAS = ("sandmle", "mlebench")
MACHINE_EPS = 2.220446049250313e-16       # numpy.finfo(numpy.float64).eps
KAGGLE_EPS = 1e-15
MLEBENCH_ROW_SUM = (1e-6, 1e-5)           # np.isclose(s, 1, atol=1e-6) with its default rtol


@dataclass(frozen=True)
class GraderProfile:
    reader: str = "sandmle"
    columns: str = "named"
    rows: str = "id"
    scored_columns: tuple[str, ...] = ()
    skip_answer_rows_below: float | None = None
    probability_range: bool = True
    row_sum: tuple[float, float] | None = None
    clip_eps: float = KAGGLE_EPS
    compare: str = "label"
    era: str = "sandmle"

    def scored(self, target_columns: tuple[str, ...]) -> tuple[str, ...]:
        return self.scored_columns or tuple(target_columns)

    def to_json(self) -> dict[str, Any]:
        """Only the keys that differ from the defaults."""
        default = GraderProfile()
        data = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                data[f.name] = "machine" if f.name == "clip_eps" and value == MACHINE_EPS else (
                    list(value) if isinstance(value, tuple) else value)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "GraderProfile":
        """The profile of a `grader` block; raises ValueError listing every problem."""
        data = dict(data or {})
        problems = profile_problems(data)
        if problems:
            raise ValueError("; ".join(problems))
        if "scored_columns" in data:
            data["scored_columns"] = tuple(data["scored_columns"])
        if data.get("row_sum") is not None:
            data["row_sum"] = tuple(float(v) for v in data["row_sum"])
        if data.get("clip_eps") == "machine":
            data["clip_eps"] = MACHINE_EPS
        return cls(**data)


_CHOICES = {"reader": READERS, "columns": COLUMN_RULES, "rows": ROW_RULES, "compare": COMPARES,
            "era": ERAS}


def profile_problems(data: Any, target_columns: list | None = None) -> list[str]:
    """Every problem of a `grader` block, as short phrases (empty when it is valid)."""
    if not isinstance(data, dict):
        return ["'grader' must be a JSON object"]
    known = {f.name for f in fields(GraderProfile)}
    problems = [f"grader has unknown key {key!r} (known: {', '.join(sorted(known))})"
                for key in data if key not in known]
    for key, choices in _CHOICES.items():
        if key in data and data[key] not in choices:
            problems.append(f"grader.{key} must be one of {', '.join(choices)}, got {data[key]!r}")
    scored = data.get("scored_columns")
    if scored is not None:
        if not isinstance(scored, list) or not scored or not all(isinstance(c, str) and c for c in scored):
            problems.append("grader.scored_columns must be a non-empty list of column names")
        elif target_columns is not None and not set(scored) <= set(target_columns):
            problems.append(f"grader.scored_columns {sorted(set(scored) - set(target_columns))} "
                            "are not target columns")
    below = data.get("skip_answer_rows_below")
    if below is not None and (not isinstance(below, (int, float)) or isinstance(below, bool)):
        problems.append("grader.skip_answer_rows_below must be a number or null")
    if "probability_range" in data and not isinstance(data["probability_range"], bool):
        problems.append("grader.probability_range must be true or false")
    row_sum = data.get("row_sum")
    if row_sum is not None and not (isinstance(row_sum, list) and len(row_sum) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in row_sum)):
        problems.append("grader.row_sum must be [atol, rtol] (two non-negative numbers) or null")
    eps = data.get("clip_eps")
    if eps is not None and eps != "machine" and not (
            isinstance(eps, (int, float)) and not isinstance(eps, bool) and 0 < eps < 0.5):
        problems.append(f"grader.clip_eps must be \"machine\" or a number in (0, 0.5), got {eps!r}")
    return problems


def mlebench_profile(**overrides: Any) -> dict[str, Any]:
    """The `grader` block of MLE-bench's common pattern (read with pandas, named columns,
    rows matched by sorted id, machine-epsilon clipping, scikit-learn 1.5's refusals), with
    `overrides` on top."""
    return GraderProfile.from_json({"reader": "pandas", "clip_eps": "machine", "era": "mlebench",
                                    **overrides}).to_json()


def describe_rules(profile: GraderProfile, spec) -> list[str]:
    """The profile's validity rules as sentences for a task's prompt or description (what a
    submission must satisfy beyond its columns and ids). `spec`: anything with `metric`,
    `id_column` and `target_columns` (a TaskSpec)."""
    from sandmle.metrics.registry import METRICS

    kind = METRICS[spec.metric].kind
    rules = []
    if profile.columns == "exact":
        rules.append("The header must hold exactly these columns, no others (not even an index column).")
    elif profile.columns == "id_first":
        rules.append(f"The header must hold exactly these columns, {spec.id_column!r} first, no others.")
    elif profile.columns == "positional":
        rules.append(f"Besides {spec.id_column!r} write exactly the target columns, in this order: "
                     "they are scored by position.")
    if profile.scored_columns and set(profile.scored_columns) != set(spec.target_columns):
        rules.append("Only these columns are scored: " + ", ".join(profile.scored_columns) + ".")
    if kind == "multiclass_proba":
        if profile.row_sum is not None:
            tolerance = profile.row_sum[0] + profile.row_sum[1]
            rules.append(f"Each row's class probabilities must sum to 1 (within {tolerance:.1e}); rows are "
                         "not renormalised, so write enough decimals.")
        else:
            rules.append("Each row's class probabilities are clipped and renormalised to sum to 1.")
    if kind in ("binary_proba", "multilabel_proba", "multiclass_proba") and profile.probability_range:
        rules.append("Probabilities must lie in [0, 1].")
    if profile.rows == "file_order":
        rules.append("Rows are scored in the test table's order: keep that order.")
    elif profile.rows == "sorted":
        rules.append(f"Rows are matched to the answers by sorting both on {spec.id_column!r}.")
    if profile.compare == "text":
        rules.append("Predictions are compared as text exactly as written (no trimming).")
    if profile.era == "mlebench" and spec.metric in ("rmsle", "mean_column_rmsle"):
        rules.append("Negative predictions are invalid.")
    return rules
