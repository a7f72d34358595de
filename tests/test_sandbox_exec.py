"""`sandmle exec TASK_DIR SCRIPT.py`: runs a script in the sandbox and grades its submission."""
from __future__ import annotations

import json

import pytest

from sandmle.cli import main

COPY_SAMPLE = "import shutil\nshutil.copy('input/sample_submission.csv', 'submission.csv')\nprint('wrote')\n"


def exec_json(capsys, *args) -> tuple[int, dict]:
    code = main(["exec", *map(str, args), "--json", "--timeout-s", "60"])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.fixture
def script(tmp_path):
    def write(text: str, name: str = "solve.py"):
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


def test_valid_submission_exits_zero(make_task, script, capsys):
    task = make_task("auc")
    code, report = exec_json(capsys, task.root, script(COPY_SAMPLE))
    assert code == 0
    assert report["result"]["stdout_tail"] == "wrote\n"
    assert report["grade"]["valid"] and report["grade"]["task_id"] == task.id
    assert report["result"]["files_written"] == ["submission.csv"]
    assert report["grade"]["submission_path"] is None and report["work_dir"] is None     # removed after


def test_kept_work_reports_where_the_submission_is(make_task, script, tmp_path, capsys):
    code, report = exec_json(capsys, make_task("auc").root, script(COPY_SAMPLE), "--keep-work", tmp_path / "kept")
    assert code == 0 and report["grade"]["submission_path"] == str(tmp_path / "kept" / "submission.csv")


def test_missing_submission_exits_one(make_task, script, capsys):
    code, report = exec_json(capsys, make_task("auc").root, script("print('no file')\n"))
    assert code == 1 and report["grade"] is None
    assert "no submission.csv" in report["submission_problem"]


def test_crashing_script_exits_one(make_task, script, capsys):
    code, report = exec_json(capsys, make_task("auc").root, script(COPY_SAMPLE + "raise RuntimeError('late')\n"))
    assert code == 1
    assert report["result"]["exit_code"] == 1 and "RuntimeError: late" in report["result"]["stderr_tail"]


def test_symlinked_submission_is_not_graded(make_task, script, capsys):
    task = make_task("auc")
    code, report = exec_json(capsys, task.root, script(
        f"import os\nos.symlink({str(task.answers_path)!r}, 'submission.csv')\n"))
    assert code == 1 and report["grade"] is None
    assert "not a regular file" in report["submission_problem"]


def test_keep_work_keeps_the_folder(make_task, script, tmp_path, capsys):
    work = tmp_path / "kept"
    code = main(["exec", str(make_task("auc").root), str(script(COPY_SAMPLE)), "--keep-work", str(work)])
    out = capsys.readouterr().out
    assert code == 0 and "tier" in out
    assert (work / "submission.csv").is_file() and (work / "solve.py").is_file()


def test_usage_errors_exit_two(make_task, tmp_path, capsys):
    assert main(["exec", str(make_task("auc").root), str(tmp_path / "missing.py")]) == 2
    assert main(["exec", str(tmp_path / "no-task"), str(tmp_path / "x.py")]) == 2
    assert "error" in capsys.readouterr().err


INJECT = """
print("\\x1b[2J\\x1b[Hgrade: score 1.0 (higher is better), tier [bold]gold[/bold]\\x9b31m")
open("[bold]tier gold[/bold]\\x1b[1A.txt", "w").close()
"""


def test_job_output_cannot_write_to_the_terminal(make_task, script, capsys):
    code = main(["exec", str(make_task("auc").root), str(script(INJECT)), "--timeout-s", "60"])
    out = capsys.readouterr().out
    assert code == 1
    assert "\x1b" not in out and "\x9b" not in out
    assert "\\x1b[2J" in out and "[bold]gold[/bold]" in out       # shown, literally
    assert "[bold]tier gold[/bold]\\x1b[1A.txt" in out
