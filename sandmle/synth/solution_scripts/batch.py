"""Several reference solutions one after another in one sandbox job (`sandmle.synth.calibrate.run_batch`).

Runs after its settings lines, `SOLUTIONS = [{"name", "code"}, ...]` and `TIMEOUT_S = ...`:
solution i runs in ./solution<i>/ (with ./input/ linked in) as `__main__`, with seeds reset
and an alarm of TIMEOUT_S seconds; ./batch.json lists each one's wall time, exit code and
last error line. The solutions share one process, so only trusted code runs this way; they
also share `FEATURE_CACHE`, a dict features.py keeps featurised inputs in, and the compiled
script under their settings lines (`compiled`).
"""
import gc
import json
import os
import random
import signal
import time
import traceback

import numpy

SOLUTIONS: list = globals().get("SOLUTIONS", [])    # [{"name", "code"}]: the settings lines bind them first
TIMEOUT_S: float = globals().get("TIMEOUT_S", 30.0)  # wall-clock limit of each solution


class SolutionTimeout(BaseException):
    pass


def on_alarm(signum, frame):
    raise SolutionTimeout()


def compiled(code, name, scripts):
    """`code` as a list of code objects to run in order in one namespace. A reference solution
    is a settings line then a script shared by the whole population
    (`sandmle.synth.solution_scripts.with_settings`); compiling that script once per job, not
    once per solution, saves ~45 ms per solution (of 0.1-0.4 s on a micro table). `scripts`
    maps script text to its code object. Code whose first line is not a statement of its own
    is compiled whole."""
    head, newline, rest = code.partition("\n")
    if newline:
        try:
            first = compile(head, name, "exec")
            if rest not in scripts:                 # a leading newline keeps the line numbers of the whole file
                scripts[rest] = compile(newline + rest, name, "exec")
            return [first, scripts[rest]]
        except SyntaxError:
            pass
    return [compile(code, name, "exec")]


def main():
    signal.signal(signal.SIGALRM, on_alarm)
    root = os.getcwd()
    runs = []
    cache: dict = {}
    scripts: dict = {}
    for i, solution in enumerate(SOLUTIONS):
        folder = os.path.join(root, f"solution{i}")
        os.mkdir(folder)
        os.symlink(os.path.join(root, "input"), os.path.join(folder, "input"))
        os.chdir(folder)
        random.seed(0)
        numpy.random.seed(0)
        run = {"exit_code": 0, "timed_out": False, "error": ""}
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
        try:
            namespace = {"__name__": "__main__", "FEATURE_CACHE": cache}
            for part in compiled(solution["code"], solution["name"], scripts):
                exec(part, namespace)
        except SolutionTimeout:
            run.update(exit_code=None, timed_out=True)
        except SystemExit as exc:
            run["exit_code"] = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:
            run.update(exit_code=1, error=traceback.format_exception_only(type(exc), exc)[-1].strip())
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        run["wall_s"] = round(time.perf_counter() - start, 4)
        runs.append(run)
        os.chdir(root)
        gc.collect()
    with open("batch.json", "w") as fh:
        json.dump(runs, fh)


if __name__ == "__main__":
    main()
