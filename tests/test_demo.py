"""`sandmle demo`: bank, three baseline runs, summary and medal table."""
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from sandmle.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from conftest import build_task  # noqa: E402


def fixture_synthesize(selector, num_tasks, out_dir, workers=None, seed=0, progress=False):
    """Stands in for the procedural engine: fixture tasks of several metrics."""
    for metric in ("auc", "rmse", "accuracy")[:num_tasks]:
        if not (Path(out_dir) / f"demo-{metric}").exists():
            build_task(Path(out_dir), metric, task_id=f"demo-{metric}", seed=seed)
    return SimpleNamespace(funnel=SimpleNamespace(line=lambda: f"accepted {num_tasks}"),
                           request=SimpleNamespace(line=lambda: f"asked for {num_tasks}, accepted {num_tasks}"))


def test_demo_writes_runs_summary_and_table(tmp_path, monkeypatch, capsys):
    import sandmle.synth.pipeline

    monkeypatch.setattr(sandmle.synth.pipeline, "synthesize", fixture_synthesize)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--num-tasks", "3", "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "scripted baselines on 3 synthetic tasks" in printed
    for name in ("weak", "medium", "strong"):
        assert name in printed
        report = json.loads((out / "runs" / name / "grading_report.json").read_text())
        assert report["total_runs"] == 3 and report["total_valid_submissions"] == 3
    summary = json.loads((out / "demo_summary.json").read_text())
    assert list(summary["policies"]) == ["scripted:weak", "scripted:medium", "scripted:strong"]
    # A second run redoes the runs in place, and --json prints one object.
    assert main(["demo", "--out", str(out), "--num-tasks", "3", "--workers", "2", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["num_tasks"] == 3 and again["policies"]["scripted:strong"]["terminations"] == {"answered": 3}


def test_demo_refuses_a_foreign_runs_folder(tmp_path, monkeypatch, capsys):
    import sandmle.synth.pipeline

    monkeypatch.setattr(sandmle.synth.pipeline, "synthesize", fixture_synthesize)
    (tmp_path / "runs" / "weak").mkdir(parents=True)
    (tmp_path / "runs" / "weak" / "precious.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path), "--num-tasks", "1", "--workers", "1"]) == 2
    assert "not a demo run folder" in capsys.readouterr().err
    assert (tmp_path / "runs" / "weak" / "precious.txt").exists()


@pytest.mark.slow
def test_demo_with_the_procedural_engine(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--num-tasks", "1", "--workers", "2",
                 "--seeds", "tabular-regression-mae", "--json"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["num_tasks"] == 1
    assert summary["policies"]["scripted:strong"]["rates"]["valid_submission"]["rate"] == 1.0
