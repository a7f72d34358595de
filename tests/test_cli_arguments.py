"""Every count flag refuses 0 and below, every output path that cannot be written is refused,
and both are one `sandmle: error:` line with exit 2 before any work starts."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from sandmle import __version__
from sandmle.cli import build_parser, main

RECIPE = "recipes/smoke-cpu.toml"


def _one_line(capsys, *words) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sandmle: error: ") and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def test_version_flag():
    proc = subprocess.run([sys.executable, "-m", "sandmle", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"sandmle {__version__}"


@pytest.mark.parametrize("argv, flag", [
    (["synth", "--num-tasks", "0", "--out", "B"], "--num-tasks"),
    (["synth", "--num-tasks", "2", "--out", "B", "--workers", "0"], "--workers"),
    (["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--limit-tasks", "0"], "--limit-tasks"),
    (["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--limit-tasks", "-3"], "--limit-tasks"),
    (["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--num-episodes-per-task", "0"],
     "--num-episodes-per-task"),
    (["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--max-turns", "0"], "--max-turns"),
    (["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--max-new-tokens", "-1"], "--max-new-tokens"),
    (["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--max-context-tokens", "0"],
     "--max-context-tokens"),
    (["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--workers", "0"], "--workers"),
    (["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--step-timeout", "0"], "--step-timeout"),
    (["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--episode-timeout", "-1"], "--episode-timeout"),
    (["train", RECIPE, "--steps", "0"], "--steps"),
    (["sft", "--steps", "0"], "--steps"),
    (["demo", "--num-tasks", "0"], "--num-tasks"),
    (["demo", "--workers", "-1"], "--workers"),
    (["exec", "T", "s.py", "--memory-mb", "0"], "--memory-mb"),
    (["exec", "T", "s.py", "--timeout-s", "0"], "--timeout-s"),
    (["seeds", "fidelity", "d.csv", "--target", "y", "--metric", "auc", "--twins", "0"], "--twins"),
    (["seeds", "fidelity", "d.csv", "--target", "y", "--metric", "auc", "--splits", "0"], "--splits"),
    (["bench", "sandbox", "--repeats", "0"], "--repeats"),
    (["bench", "synth", "--tasks", "0"], "--tasks"),
    (["bench", "synth", "--modality-tasks", "-1"], "--modality-tasks"),
    (["bench", "grpo", "--tokens", "0"], "--tokens"),
    (["bench", "grpo", "--threads", "0"], "--threads"),
    (["export-model", "RUN", "--out", "M", "--step", "0"], "--step"),
])
def test_counts_of_zero_or_below_are_refused(argv, flag, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    _one_line(capsys, flag)


def test_every_integer_count_flag_is_checked():
    """No sub-command takes a plain `int` count: each uses `count` (>= 1) or `count_or_zero`
    (0 documented as "none"); seeds stay plain integers."""
    unchecked = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif action.type in (int, float) and action.dest != "seed":
                unchecked.append(f"{path} {action.option_strings}")

    walk(build_parser(), "sandmle")
    allowed = {"sandmle eval ['--temperature']", "sandmle eval ['--top-p']", "sandmle eval ['--min-reward']",
               "sandmle sft ['--min-reward']",
               "sandmle eval ['--max-error-share']", "sandmle synth ['--separation']",
               "sandmle synth ['--max-repairs']", "sandmle bench synth ['--separation']",
               "sandmle task from-csv ['--test-fraction']"}
    assert set(unchecked) <= allowed, set(unchecked) - allowed


@pytest.mark.parametrize("argv", [
    ["synth", "--num-tasks", "1", "--out", "{file}"],
    ["train", RECIPE, "--out", "{file}"],
    ["sft", "--out", "{file}"],
    ["eval", "--policy", "scripted", "--bank", "B", "--out", "{file}"],
    ["bank", "export", "B", "--format", "mlebench", "--out", "{file}"],
    ["eval", "--policy", "scripted", "--bank", "B", "--out", "{file}/run"],
    ["task", "from-csv", "d.csv", "--target", "y", "--metric", "auc", "--out", "{file}"],
    ["export-model", "RUN", "--out", "{file}"],
])
def test_out_naming_an_existing_file_is_one_line(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("keep me")
    argv = [a.replace("{file}", "a-file") for a in argv]
    assert main(argv) == 2
    _one_line(capsys, "a-file")
    assert (tmp_path / "a-file").read_text() == "keep me"


@pytest.mark.parametrize("argv", [
    ["bank", "stats", "B", "--chart", "nodir/x.png"],
    ["seeds", "fidelity", "d.csv", "--target", "y", "--metric", "auc", "--chart", "nodir/x.png"],
    ["eval", "--policy", "scripted", "--bank", "B", "--out", "R", "--sft-out", "nodir/x.jsonl"],
])
def test_output_file_in_a_missing_folder_is_one_line(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    _one_line(capsys, "nodir")
    assert list(tmp_path.iterdir()) == []


def _sub_commands(parser, name="sandmle"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _sub_commands(sub, f"{name} {sub_name}")


def test_help_descriptions_are_whole_sentences():
    commands = dict(_sub_commands(build_parser()))
    assert {"sandmle report", "sandmle sft", "sandmle train", "sandmle eval", "sandmle bank stats"} <= set(commands)
    for name, parser in commands.items():
        text = parser.description
        assert text and text.rstrip().endswith("."), (name, text)
        assert text.count("`") % 2 == 0, (name, text)


def test_every_eval_option_says_what_it_does_and_its_default():
    commands = dict(_sub_commands(build_parser()))
    parser = commands["sandmle eval"]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        assert action.help, action.option_strings
        shown = formatter._expand_help(action)
        if action.default is not None and action.default is not False:
            assert "default" in shown, (action.option_strings, shown)
            assert str(action.default) in shown or action.option_strings == ["--sandbox"], shown


@pytest.mark.parametrize("argv, expected", [
    (["task", "check", "FILE"], "task folder FILE is a file, not a folder"),
    (["bank", "stats", "FILE"], "bank folder FILE is a file, not a folder"),
    (["eval", "--policy", "scripted", "--bank", "FILE", "--out", "run"], "bank folder FILE is a file, not a folder"),
    (["report", "FILE"], "run folder FILE is a file, not a folder"),
    (["task", "from-csv", "FOLDER", "--target", "y", "--metric", "auc", "--out", "task"],
     "data file FOLDER is a folder, not a file"),
    (["seeds", "from-csv", "FOLDER", "--target", "y", "--metric", "auc"], "data file FOLDER is a folder, not a file"),
    (["train", "FOLDER"], "recipe FOLDER is a folder, not a file"),
])
def test_a_file_for_a_folder_and_a_folder_for_a_file_are_named(argv, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder\n")
    (tmp_path / "FOLDER").mkdir()
    assert main(argv) == 2
    _one_line(capsys, expected)
    assert not (tmp_path / "run").exists() and not (tmp_path / "task").exists()
