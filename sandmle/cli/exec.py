"""`sandmle exec TASK_DIR SCRIPT.py`: run a script against a task in the sandbox, then grade
the `submission.csv` it wrote.

The script runs isolated as the sandbox pool isolates agent code, in a one-off worker
(nothing preloaded: the script pays its own imports, as a fresh `python` would). What it sees:

    /sandbox/work              its working directory (the cwd), read-write, fresh (kept on the
                               host with --keep-work DIR); write ./submission.csv here
    /sandbox/work/input/       the task's public folder, read-only: train.csv, test.csv,
                               sample_submission.csv, description.md (the task's own names)
    /tmp                       a private, empty tmpfs
    no network; an unprivileged uid; the timeout and memory limit below; the host's Python
    and its packages, read-only. Relative paths work anywhere: read ./input/train.csv.

With `--sandbox ray[:ADDRESS]` it runs so on a node of a Ray cluster, and the work folder
comes back. Where namespaces are unavailable (not root, not Linux) the script runs as a plain process
with rlimits, in the same layout on the host (the cwd is the work folder, ./input its
public folder), with one warning: it then sees the host's files and network.

Exit codes: 0 the job succeeded and wrote a valid submission; 1 the job failed or its
submission is missing or invalid; 2 a usage error (bad task folder, missing script).
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from sandmle.arguments import add_sandbox_argument
from sandmle.cli import count, out_folder, positive
from sandmle.errors import UserError

SUBMISSION = "submission.csv"
SHOWN_LINES = 20


def register(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser("exec", help="run a script on a task in the sandbox and grade it",
                                   description=__doc__.split("\n\nExit codes")[0],
                                   epilog="Exit codes" + __doc__.split("\n\nExit codes")[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task_dir", help="task folder (task.json, public/, private/)")
    parser.add_argument("script", help="Python file to run as __main__")
    parser.add_argument("--timeout-s", type=positive, default=300.0, help="wall-clock limit (300)")
    parser.add_argument("--memory-mb", type=count, default=4096, help="address-space budget (4096)")
    parser.add_argument("--keep-work", type=out_folder, metavar="DIR", help="work folder to use and keep")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_sandbox_argument(parser)
    parser.set_defaults(handler=run_exec)


def _submission_problem(path: Path) -> str | None:
    """Why the job's submission cannot be graded (None when it is a regular file)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return f"the job wrote no {SUBMISSION}"
    if not stat.S_ISREG(mode):
        return f"{SUBMISSION} is not a regular file"     # a symlink or FIFO planted by the job
    return None


def run_exec(args) -> int:
    from sandmle.sandbox import Job, Limits, run_job
    from sandmle.task import load_task

    task = load_task(args.task_dir)
    script = Path(args.script)
    if not script.is_file():
        raise UserError(f"script {script} is not a file")
    from sandmle.sandbox.workdir import remove_tree

    tmp = tempfile.mkdtemp(prefix="sandmle-exec-")
    try:
        work = Path(args.keep_work).resolve() if args.keep_work else Path(tmp) / "work"
        job = Job(work_dir=str(work), public_dir=str(task.public_dir), script=str(script),
                  limits=Limits(timeout_s=args.timeout_s, memory_mb=args.memory_mb),
                  name=script.name)
        if args.sandbox.kind == "local":
            result = run_job(job)
        else:                       # a one-worker pool on each node, nothing preloaded
            from sandmle.sandbox.backend import open_pool

            with open_pool(args.sandbox, num_workers=1, preload=()) as pool:
                result = pool.run(job)
        submission = work / SUBMISSION
        problem = _submission_problem(submission)
        grade = None
        if problem is None:
            from sandmle.grading import grade_submission

            grade = grade_submission(task, submission)
        graded = grade.to_json() if grade is not None else None
        if graded is not None and not args.keep_work:
            graded["submission_path"] = None       # in the work folder removed below
        report = {"task_id": task.id, "result": result.to_json(), "grade": graded,
                  "submission_problem": problem,
                  "work_dir": str(work) if args.keep_work else None}
    finally:
        remove_tree(tmp)            # iterative: a 3,000-level tree the job left is no problem
    code = 0 if result.ok and grade is not None and grade.valid else 1
    if args.json:
        from sandmle.console import print_json

        print_json(report)
    else:
        _print_human(result, grade, problem, report["work_dir"])
    return code


def _tail(text: str) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-SHOWN_LINES:])


def _print_human(result, grade, problem: str | None, work_dir: str | None) -> None:
    """Everything the job controls (output, file names, a reason quoting its submission)
    goes through `escape`: no markup or terminal escape of the job's reaches the console."""
    from sandmle.console import escape, make_console

    console = make_console()
    if result.timed_out:
        status = "[red]timed out[/red]"
    elif result.memory_exceeded:
        status = "[red]out of memory[/red]"
    elif result.work_exceeded:
        status = "[red]work folder over its limits[/red]"
    elif result.signal is not None:
        status = f"[red]killed by signal {result.signal}[/red]"
    else:
        colour = "green" if result.exit_code == 0 else "red"
        status = f"[{colour}]exit code {result.exit_code}[/{colour}]"
    peak = "" if result.memory_peak_mb is None else f", peak memory {result.memory_peak_mb:.0f} MB"
    console.print(f"job: {status}, {result.wall_s:.2f} s wall, {result.cpu_s:.2f} s CPU{peak}, "
                  f"isolation {result.isolation}, accounting {result.accounting}")
    for name, text in (("stdout", result.stdout_tail), ("stderr", result.stderr_tail)):
        if text.strip():
            console.print(f"--- {name} (last {SHOWN_LINES} lines) ---")
            console.print(escape(_tail(text)))
    if result.files_written:
        more = " ..." if result.files_truncated else ""
        console.print("files written: " + escape(", ".join(result.files_written)) + more)
    if work_dir:
        console.print(f"work folder kept: {escape(work_dir)}")
    if grade is None:
        console.print(f"grade: [red]none[/red] ({escape(problem or '')})")
    elif grade.valid:
        console.print(f"grade: score {grade.score} ({'lower' if grade.is_lower_better else 'higher'}"
                      f" is better), tier [bold]{grade.tier}[/bold]")
    else:
        console.print(f"grade: [red]invalid submission[/red]: {escape(grade.reason or '')}")
