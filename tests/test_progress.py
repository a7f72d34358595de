"""Progress: plain periodic lines with rate and ETA when the stream is not a terminal, a rich
bar when it is (a fake clock: no timing assertions)."""
import io

from sandmle.progress import Progress, duration, rate_and_eta


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_duration_and_rate_text():
    assert [duration(s) for s in (0, 42, 700, 11105)] == ["0s", "42s", "11m40s", "3h05m"]
    assert rate_and_eta(12, 40, 0, 300.0, "episodes") == "2.4 episodes/min, elapsed 5m00s, ETA 11m40s"
    assert rate_and_eta(0, 40, 0, 10.0, "episodes") == "elapsed 10s"
    # a resumed run: the rate counts what this run did, the ETA the rest
    assert rate_and_eta(30, 40, 20, 600.0, "tasks") == "1 tasks/min, elapsed 10m00s, ETA 10m00s"


def test_plain_lines_every_interval_and_at_the_end():
    out, clock = io.StringIO(), Clock()
    with Progress("eval", 4, "episodes", stream=out, every_s=30, clock=clock) as bar:
        clock.now += 10
        bar.advance()                          # 10 s: too soon for a line
        bar.print("a-task-0: answered")         # episode lines always go out
        clock.now += 30
        bar.advance(note="1 failed")
        clock.now += 5
        bar.advance()
    lines = out.getvalue().splitlines()
    assert lines == ["a-task-0: answered",
                     "eval: 2/4 episodes (50%), 3 episodes/min, elapsed 40s, ETA 40s; 1 failed",
                     "eval: 3/4 episodes (75%), 4 episodes/min, elapsed 45s, ETA 15s; 1 failed"]
    # a periodic line that already says where the work ended is not repeated at the end
    out = io.StringIO()
    with Progress("eval", 1, "episodes", stream=out, every_s=30, clock=clock) as bar:
        clock.now += 60
        bar.advance()
    assert out.getvalue() == "eval: 1/1 episodes (100%), 1 episodes/min, elapsed 1m00s\n"


def test_the_rate_counts_from_where_the_work_starts():
    out, clock = io.StringIO(), Clock()
    with Progress("eval", 2, "episodes", stream=out, clock=clock) as bar:
        clock.now += 60                        # a pool starting: not part of the rate
        bar.restart_clock()
        clock.now += 30
        bar.advance(2)
    assert out.getvalue() == "eval: 2/2 episodes (100%), 4 episodes/min, elapsed 30s\n"


def test_control_characters_in_a_line_are_shown_not_obeyed():
    out = io.StringIO()
    with Progress("eval", 1, stream=out) as bar:
        bar.print("task\x1b[2J: done")
    assert "\x1b" not in out.getvalue() and "\\x1b[2J" in out.getvalue()


def test_a_terminal_gets_a_rich_bar_and_disabled_prints_nothing():
    tty = Tty()
    with Progress("synth", 3, "tasks", stream=tty) as bar:
        assert bar._bar is not None
        bar.advance(note="1 rejected")
    assert "synth" in tty.getvalue() and "1/3" in tty.getvalue()
    quiet = io.StringIO()
    with Progress("synth", 3, stream=quiet, enabled=False) as bar:
        bar.advance()
        bar.print("x")
    assert quiet.getvalue() == ""


def test_training_lines_say_steps_rate_and_eta(tmp_path, capsys):
    from sandmle.train.logging.metrics import MetricsLogger

    clock = Clock()
    logger = MetricsLogger(tmp_path, live=False, total_steps=4, clock=clock)
    for step in (1, 2):
        clock.now += 60
        logger.log({"step": step, "reward_mean": 0.5, "reward_std": 0.1})
    logger.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("[1/4 steps, 1 steps/min, elapsed 1m00s, ETA 3m00s]")
    assert lines[1].endswith("[2/4 steps, 1 steps/min, elapsed 2m00s, ETA 2m00s]")


def test_eval_prints_each_episode_and_its_progress(make_task, tmp_path, capsys):
    from sandmle.cli import main

    make_task("auc", task_id="a-task")
    make_task("rmse", task_id="b-task")
    assert main(["eval", "--policy", "scripted", "--bank", str(tmp_path / "tasks"), "--out", str(tmp_path / "run"),
                 "--workers", "2", "--max-turns", "6"]) == 0
    err = capsys.readouterr().err.splitlines()
    episodes = [line for line in err if ": answered, 4 turns" in line]
    assert len(episodes) == 2 and {line.split("-")[0] for line in episodes} == {"a", "b"}
    assert err[-1].startswith("eval: 2/2 episodes (100%), ") and "episodes/min" in err[-1]


def test_bench_kernels_reports_progress(capsys):
    from sandmle.bench.kernels import measure

    rows = measure([50], show_progress=True)
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"bench kernels: {len(rows)}/{len(rows)} timings (100%)")
