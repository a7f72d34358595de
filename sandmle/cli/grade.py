"""`sandmle grade TASK_DIR SUBMISSION.csv [--json] [--scheme paper|release|sparse]`.

Grades one submission against a task's hidden answers and shows the score, the tier, the
four thresholds, the metric's direction and the RL reward the grade earns (format rate 1.0).
Exit 0 for a valid submission, 1 for an invalid one (the reason is printed), 2 for a usage
error or a broken task folder. A submission path that does not exist is an invalid submission
(exit 1, `submission_exists` false), as an agent that wrote no file is graded.
"""
from __future__ import annotations

from pathlib import Path

SCHEMES = ("paper", "release", "sparse")      # sandmle.reward.SCHEMES, without importing it here


def register(subparsers) -> None:
    parser = subparsers.add_parser("grade", help="grade a submission CSV against a task's answers",
                                   description=__doc__.split("\n\n")[1])
    parser.add_argument("task_dir", type=Path, metavar="TASK_DIR", help="task folder (holding task.json)")
    parser.add_argument("submission", type=Path, metavar="SUBMISSION.csv", help="the submission file")
    parser.add_argument("--scheme", choices=SCHEMES, default="paper",
                        help="reward scheme of the reward shown (default paper)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from sandmle.grading import grade_submission
    from sandmle.reward import reward_for_grade
    from sandmle.task import load_task

    task = load_task(args.task_dir)
    grade = grade_submission(task, args.submission)
    reward = reward_for_grade(grade, format_rate=1.0, scheme=args.scheme)
    if args.json:
        from sandmle.console import print_json

        print_json({**grade.to_json(), "metric": task.spec.metric, "reward": reward, "scheme": args.scheme})
    else:
        print_grade(task, grade, reward, args.scheme)
    return 0 if grade.valid else 1


def print_grade(task, grade, reward: float, scheme: str) -> None:
    from rich.table import Table

    from sandmle.console import escape, make_console

    console = make_console()
    direction = "lower is better" if grade.is_lower_better else "higher is better"
    console.print(f"[bold]{task.id}[/]  metric [bold]{task.spec.metric}[/] ({direction})")
    if grade.valid:
        console.print(f"score [bold]{grade.score:.5f}[/]  tier [bold]{grade.tier}[/]")
    else:
        console.print(f"[bold red]invalid submission[/]: {escape(grade.reason or '')}")
    table = Table(show_header=True)
    for name in ("median", "bronze", "silver", "gold"):
        table.add_column(name, justify="right")
    table.add_row(*(f"{v:.5g}" for v in grade.thresholds.as_tuple()))
    console.print(table)
    note = (": a copy of the sample submission earns the format term only" if grade.sample_copy else
            ": an invalid submission earns the format term only" if not grade.valid else "")
    console.print(f"reward {reward:.3f} ({scheme} scheme, format rate 1.0){note}")
