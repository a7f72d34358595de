"""sandmle: synthetic micro-scale ML-engineering tasks for training MLE agents with RL.

The package layout follows the data flow:
sources (your data) and synth (seeds -> synthetic tasks) -> task bank (task.py) -> sandbox ->
grading/metrics -> reward -> rollout/policies -> training (train) and evaluation. The command
line (cli/, `sandmle --help`) sits on top; library code never imports it.

`provenance()` is what every run folder records about the code that made it (evaluation
run.json and reports, training run.json and summaries, synthesis funnels).
"""
__version__ = "0.1.0"


def provenance() -> dict:
    """{"sandmle_version", "git_commit" (None outside a git checkout), "python"}."""
    import platform
    import subprocess
    from pathlib import Path

    commit = None
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=5)
        if done.returncode == 0:
            commit = done.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"sandmle_version": __version__, "git_commit": commit, "python": platform.python_version()}
