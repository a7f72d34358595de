"""Running a reference solution's script the way a sandbox job does, without the sandbox:
`python -c CODE` in a fresh folder whose `input/` links to a task's public files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_solution(code: str, public: Path, work: Path) -> subprocess.CompletedProcess:
    """Run `code` in `work` (created) with `work/input` -> `public`, one BLAS thread."""
    work.mkdir(parents=True)
    (work / "input").symlink_to(public)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True, timeout=300, env=env)


def submission_of(solution, public: Path, work: Path) -> Path:
    """The submission.csv that `solution` (a `sandmle.synth.solutions.Solution`) writes; a
    failed run fails the test with the end of its stderr."""
    result = run_solution(solution.code, public, work / solution.name)
    assert result.returncode == 0, f"{solution.name}: {result.stderr[-800:]}"
    return work / solution.name / "submission.csv"
