"""Functional tests of the sandbox pool: __main__ semantics, argv, tracebacks, files,
environment, random state, concurrency, worker replacement and the rlimits fallback."""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandmle.sandbox import Job, JobResult, Limits, Pool, SandboxError, isolate

NAMESPACES = isolate.unavailable_reason() is None
PRELOAD = ("numpy", "threadpoolctl")


@pytest.fixture(scope="module")
def pool():
    os.environ["SANDMLE_TEST_PARENT_SECRET"] = "parent-env-value"
    try:
        with Pool(num_workers=2, preload=PRELOAD) as p:
            yield p
    finally:
        os.environ.pop("SANDMLE_TEST_PARENT_SECRET", None)


@pytest.fixture
def public(tmp_path):
    folder = tmp_path / "public"
    folder.mkdir()
    (folder / "train.csv").write_text("id,x\n1,2\n")
    return folder


def run(pool, tmp_path, code, **kw):
    limits = kw.pop("limits", Limits(timeout_s=30.0))
    return pool.run(Job(work_dir=str(tmp_path / "work"), code=code, limits=limits, **kw))


def test_pool_uses_namespaces_where_available(pool):
    assert pool.isolation == ("namespaces" if NAMESPACES else "rlimits")


def test_code_runs_as_main(pool, tmp_path):
    result = run(pool, tmp_path, "import sys\nif __name__ == '__main__':\n"
                                 "    print('main', __file__.endswith('main.py'), sys.argv[0])\n")
    assert result.ok, result.stderr_tail
    assert result.stdout_tail.startswith("main True ")
    assert result.stdout_tail.split()[-1].endswith("main.py")
    assert result.isolation == pool.isolation


def test_argv_passed(pool, tmp_path):
    result = run(pool, tmp_path, "import sys\nprint(sys.argv[1:])\n", argv=("--lr", "0.1"))
    assert result.stdout_tail.strip() == "['--lr', '0.1']"


def test_traceback_points_at_agent_file_and_line(pool, tmp_path):
    result = run(pool, tmp_path, "x = 1\n\ndef f():\n    return 1 / 0\n\nf()\n")
    assert result.exit_code == 1 and not result.ok
    assert 'main.py", line 4, in f' in result.stderr_tail
    assert 'main.py", line 6, in <module>' in result.stderr_tail
    assert "ZeroDivisionError" in result.stderr_tail
    assert "sandmle" not in result.stderr_tail            # no sandbox frames


def test_syntax_error_names_line(pool, tmp_path):
    result = run(pool, tmp_path, "a = 1\nb = (\n")
    assert result.exit_code == 1
    assert 'main.py", line 2' in result.stderr_tail and "SyntaxError" in result.stderr_tail


@pytest.mark.parametrize("code, status, text", [
    ("import sys\nsys.exit(3)\n", 3, ""),
    ("raise SystemExit('bad input')\n", 1, "bad input"),
    ("import sys\nsys.exit()\n", 0, ""),
])
def test_exit_status(pool, tmp_path, code, status, text):
    result = run(pool, tmp_path, code)
    assert result.exit_code == status and text in result.stderr_tail


def test_script_file_keeps_its_name(pool, tmp_path):
    script = tmp_path / "train_model.py"
    script.write_text("print('hello')\nraise ValueError('boom')\n")
    result = pool.run(Job(work_dir=str(tmp_path / "work"), script=str(script),
                          limits=Limits(timeout_s=30.0)))
    assert result.stdout_tail == "hello\n"
    assert 'train_model.py", line 2' in result.stderr_tail


def test_files_written_lists_new_and_changed_files_only(pool, tmp_path, public):
    work = tmp_path / "work"
    work.mkdir()
    (work / "old.txt").write_text("unchanged")
    (work / "edit.txt").write_text("before")
    code = ("import os\nos.makedirs('out/deep', exist_ok=True)\n"
            "open('out/deep/model.bin', 'wb').write(b'x')\n"
            "open('submission.csv', 'w').write('id,y\\n')\n"
            "open('edit.txt', 'w').write('after, longer')\n"
            "print(open('input/train.csv').read())\n")
    result = pool.run(Job(work_dir=str(work), public_dir=str(public), code=code,
                          limits=Limits(timeout_s=30.0)))
    assert result.ok, result.stderr_tail
    assert "id,x" in result.stdout_tail
    assert result.files_written == ("edit.txt", "out/deep/model.bin", "submission.csv")


def test_work_folder_persists_between_jobs(pool, tmp_path, public):
    work = str(tmp_path / "work")
    first = pool.run(Job(work_dir=work, public_dir=str(public), code="open('a.txt','w').write('1')"))
    second = pool.run(Job(work_dir=work, public_dir=str(public),
                          code="print(open('a.txt').read(), sorted(__import__('os').listdir('input')))"))
    assert first.ok and second.ok, second.stderr_tail
    assert second.stdout_tail.strip() == "1 ['train.csv']"


def test_environment_is_scrubbed_and_threads_set(pool, tmp_path):
    code = ("import os, threadpoolctl\n"
            "print(os.environ.get('SANDMLE_TEST_PARENT_SECRET'))\n"
            "print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'])\n"
            "print(os.environ['EXTRA'], os.path.realpath(os.environ['HOME']) == os.getcwd())\n"
            "print(max(i['num_threads'] for i in threadpoolctl.threadpool_info()))\n")
    result = run(pool, tmp_path, code, env={"EXTRA": "yes"},
                 limits=Limits(timeout_s=30.0, threads=3))
    assert result.ok, result.stderr_tail
    assert result.stdout_tail.split("\n")[:4] == ["None", "3 3", "yes True", "3"]


def test_random_state_differs_between_jobs_unless_seeded(pool, tmp_path):
    code = "import random, numpy\nprint(random.random(), numpy.random.rand())\n"
    outputs = [run(pool, tmp_path, code).stdout_tail for _ in range(4)]
    assert len(set(outputs)) == 4
    seeded = [run(pool, tmp_path, code, seed=7).stdout_tail for _ in range(3)]
    assert len(set(seeded)) == 1


def test_concurrent_jobs_from_threads(pool, tmp_path):
    def one(i):
        return pool.run(Job(work_dir=str(tmp_path / f"w{i}"), code=f"print({i} * 2)",
                            limits=Limits(timeout_s=30.0)))

    with ThreadPoolExecutor(6) as ex:
        results = list(ex.map(one, range(6)))
    assert [r.stdout_tail.strip() for r in results] == [str(i * 2) for i in range(6)]


def test_concurrent_jobs_from_asyncio_with_own_timeouts(pool, tmp_path):
    async def main():
        slow = pool.arun(Job(work_dir=str(tmp_path / "slow"), code="import time\ntime.sleep(30)",
                             limits=Limits(timeout_s=1.0)))
        fast = [pool.arun(Job(work_dir=str(tmp_path / f"f{i}"), code=f"print({i})"))
                for i in range(3)]
        return await asyncio.gather(slow, *fast)

    slow, *fast = asyncio.run(main())
    assert slow.timed_out and not slow.ok
    assert [r.stdout_tail.strip() for r in fast] == ["0", "1", "2"]


def test_crashed_worker_is_replaced(tmp_path):
    with Pool(num_workers=1, preload=()) as pool:
        before = pool.worker_pids()
        work = str(tmp_path / "w")
        holder = {}
        thread = threading.Thread(target=lambda: holder.update(
            r=pool.run(Job(work_dir=work, code="import time\ntime.sleep(20)"))))
        thread.start()
        time.sleep(1.0)
        os.kill(before[0], signal.SIGKILL)
        thread.join(30)
        died = holder["r"]
        assert died.exit_code is None and "died" in died.stderr_tail
        after = pool.run(Job(work_dir=work, code="print('alive')"))
        assert after.ok and after.stdout_tail == "alive\n"
        assert pool.worker_pids() != before


def test_fallback_reports_rlimits(tmp_path):
    with Pool(num_workers=1, preload=(), isolate=False) as pool:
        assert pool.isolation == "rlimits"
        result = pool.run(Job(work_dir=str(tmp_path / "w"), code="print('plain')"))
    assert result.ok and result.isolation == "rlimits" and result.stdout_tail == "plain\n"


def test_bad_jobs_raise(pool, tmp_path):
    with pytest.raises(ValueError):
        Job(work_dir=str(tmp_path), code="1", script="x.py")
    with pytest.raises(ValueError):
        Limits(timeout_s=0)
    with pytest.raises(ValueError):
        pool.run(Job(work_dir=str(tmp_path), script=str(tmp_path / "missing.py")))


def test_non_empty_input_folder_is_a_sandbox_error(pool, tmp_path, public):
    work = tmp_path / "work"
    (work / "input").mkdir(parents=True)
    (work / "input" / "stray.txt").write_text("x")
    with pytest.raises(SandboxError):
        pool.run(Job(work_dir=str(work), public_dir=str(public), code="pass"))


def test_closed_pool_refuses_jobs(tmp_path):
    pool = Pool(num_workers=1, preload=())
    pool.close()
    with pytest.raises(SandboxError):
        pool.run(Job(work_dir=str(tmp_path), code="pass"))


def test_job_and_result_round_trip_json():
    job = Job(work_dir="/w", code="print(1)", argv=("a",), limits=Limits(threads=2), seed=3)
    assert Job.from_json(job.to_json()) == job
    result = JobResult(exit_code=0, signal=None, timed_out=False, memory_exceeded=False,
                       wall_s=0.1, cpu_s=0.05, stdout_tail="x", stderr_tail="",
                       files_written=("a",), isolation="namespaces")
    assert JobResult.from_json(result.to_json()) == result


def test_common_library_calls_work_inside(tmp_path):
    """joblib processes, multiprocessing, a python subprocess, matplotlib, polars."""
    code = """
import multiprocessing, os, subprocess, sys
import numpy as np
from sklearn.ensemble import RandomForestClassifier

def square(v):
    return v * v

if __name__ == "__main__":
    x = np.random.rand(60, 3)
    y = (x[:, 0] > 0.5).astype(int)
    print("rf", RandomForestClassifier(n_estimators=4, n_jobs=2).fit(x, y).score(x, y) > 0.5)
    with multiprocessing.Pool(2) as p:
        print("mp", p.map(square, range(4)))
    print("sub", subprocess.run([sys.executable, "-c", "print(42)"], capture_output=True,
                                text=True).stdout.strip())
    import matplotlib.pyplot as plt
    plt.plot([1, 2])
    plt.savefig("plot.png")
    import polars as pl
    print("polars", pl.DataFrame({"a": [1, 2]}).select(pl.col("a").sum()).item())
"""
    with Pool(num_workers=1, preload=("numpy", "sklearn.ensemble", "polars")) as pool:
        result = pool.run(Job(work_dir=str(tmp_path / "w"), code=code,
                              limits=Limits(timeout_s=120.0)))
    assert result.ok, result.stderr_tail
    assert result.stdout_tail == "rf True\nmp [0, 1, 4, 9]\nsub 42\npolars 3\n"
    assert result.files_written == ("plot.png",)


def test_run_job_one_shot(tmp_path):
    from sandmle.sandbox import run_job

    result = run_job(Job(work_dir=str(tmp_path / "w"), code="import sys\nprint(sys.version_info[0])"))
    assert result.ok and result.stdout_tail == "3\n"


def test_close_while_a_job_runs_kills_it(tmp_path):
    pool = Pool(num_workers=1, preload=())
    work = tmp_path / "w"
    outcome = {}

    def run_long():
        try:
            pool.run(Job(work_dir=str(work), code="import time\ntime.sleep(2)\n"
                                                  "open('late.txt', 'w').write('x')"))
        except SandboxError as exc:
            outcome["error"] = str(exc)

    thread = threading.Thread(target=run_long)
    thread.start()
    time.sleep(0.8)
    pool.close()
    thread.join(30)
    time.sleep(2.5)
    assert "closed" in outcome["error"]
    assert not (work / "late.txt").exists()


def test_fallback_warning_is_printed_once_per_process(capsys):
    from sandmle.sandbox.pool import _warn_once

    _warn_once("test message for the once-only warning")
    _warn_once("test message for the once-only warning")
    assert capsys.readouterr().err.count("test message for the once-only warning") == 1


def test_relative_paths_are_the_callers(pool, tmp_path, public, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = pool.run(Job(work_dir="rel-work", public_dir="public", code="print(open('input/train.csv').read())"))
    assert result.ok and "id,x" in result.stdout_tail
    assert (tmp_path / "rel-work" / "main.py").is_file()


def test_failed_replacement_leaves_an_error_not_a_hang(tmp_path, monkeypatch):
    import sandmle.sandbox.pool as pool_module

    with Pool(num_workers=1, preload=()) as pool:
        os.kill(pool.worker_pids()[0], signal.SIGKILL)

        def broken(*args, **kwargs):
            raise SandboxError("cannot start")

        monkeypatch.setattr(pool_module, "_Worker", broken)
        with pytest.raises(SandboxError, match="cannot start"):
            pool.run(Job(work_dir=str(tmp_path / "w"), code="pass"))
        with pytest.raises(SandboxError, match="no workers left"):
            pool.run(Job(work_dir=str(tmp_path / "w"), code="pass"))


def test_fallback_timeout_kills_the_process_group(tmp_path):
    code = """
import os, time
if os.fork() == 0:
    time.sleep(2)
    open('late.txt', 'w').write('x')
    os._exit(0)
time.sleep(30)
"""
    with Pool(num_workers=1, preload=(), isolate=False) as pool:
        result = pool.run(Job(work_dir=str(tmp_path / "w"), code=code, limits=Limits(timeout_s=1.0)))
    time.sleep(2.5)
    assert result.timed_out and result.isolation == "rlimits"
    assert not (tmp_path / "w" / "late.txt").exists()


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return kids


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def test_spare_process_killed_while_idle_is_replaced(tmp_path):
    with Pool(num_workers=1, preload=()) as pool:
        worker = pool.worker_pids()[0]
        deadline = time.monotonic() + 60              # the second one is forked asynchronously
        while True:
            spares = [p for p in _children(_parent(worker)) if p != worker]
            if len(spares) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(spares) == 2                       # the next jobs' processes, forked ahead
        for spare in spares:
            os.kill(spare, signal.SIGKILL)
        time.sleep(0.3)
        result = pool.run(Job(work_dir=str(tmp_path / "w"), code="print('fine')"))
    assert result.ok and result.stdout_tail == "fine\n"
