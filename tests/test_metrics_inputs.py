"""The metric wrapper's edge: undefined metrics and malformed inputs raise MetricError
naming the bad value, kernels release the GIL, and a missing build is a clear ImportError."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from sandmle.errors import MetricError
from sandmle.metrics import compute


@pytest.mark.parametrize("name, y, p, message", [
    ("auc", [1, 1, 1], [0.2, 0.5, 0.9], "undefined because y_true holds only class 1"),
    ("auc", [0, 0], [0.2, 0.5], "holds only class 0"),
    ("mean_column_auc", [[0, 1], [1, 1]], [[0.1, 0.2], [0.3, 0.4]],
     r"y_true\[:, 1\] holds only class 1"),
    ("spearman", [1.0, 2.0, 3.0], [0.5, 0.5, 0.5], "y_pred is constant"),
    ("spearman", [4, 4, 4], [0.1, 0.5, 0.3], "y_true is constant"),
    ("r2", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "y_true is constant"),
    ("qwk", [3, 3, 3], [3, 3, 3], "same label"),
])
def test_undefined_cases_raise(name, y, p, message):
    with pytest.raises(MetricError, match=message):
        compute(name, y, p)


@pytest.mark.parametrize("name, y, p, message", [
    ("rmse", [1.0, np.nan], [1.0, 2.0], r"rmse: y_true\[1\] is nan"),
    ("mae", [1.0, 2.0], [np.inf, 2.0], r"mae: y_pred\[0\] is inf"),
    ("r2", [1.0, 2.0, np.nan], [1.0, 2.0, 3.0], r"y_true\[2\] is nan"),
    ("spearman", [1.0, 2.0, 3.0], [1.0, -np.inf, 3.0], r"y_pred\[1\] is -inf"),
    ("auc", [0, 1, 1], [0.1, np.nan, 0.3], r"y_pred\[1\] is nan"),
    ("auc", [0, 2, 1], [0.1, 0.2, 0.3], r"y_true\[1\] is 2.0; labels must be 0 or 1"),
    ("log_loss", [0, 1], [0.5, 1.5], r"y_pred\[1\] is 1.5; probabilities must be in \[0, 1\]"),
    ("log_loss", [0, 1], [0.5, np.nan], r"y_pred\[1\] is nan"),
    ("log_loss", [0, 3], [0.5, 0.5], r"y_true\[1\] is 3.0"),
    ("rmsle", [0.0, -1.0], [1.0, 1.0], r"y_true\[1\] is -1.0; values must be > -1"),
    ("rmsle", [0.0, 1.0], [1.0, -3.0], r"y_pred\[1\] is -3.0"),
    ("mean_column_rmsle", [[0.0, 1.0]], [[1.0, -2.0]],
     r"y_pred\[0, 1\] is -2.0; values must be > -1"),
    ("mean_column_rmsle", [[0.0, np.nan]], [[1.0, 2.0]], r"y_true\[0, 1\] is nan"),
    ("rmse", [1.0, 2.0], [1.0, 2.0, 3.0], "shape"),
    ("rmse", [], [], "no rows"),
    ("rmse", ["a", "b"], [1.0, 2.0], "y_true must be numeric"),
    ("accuracy", [1, 2], [1, 2, 3], "y_true has 2 rows but y_pred has 3"),
    ("accuracy", [[1, 2]], [[1, 2]], "labels must be 1-D"),
    ("f1_macro", [1, 2], ["a", "b"], "labels must be all numbers or all strings"),
    ("mcc", [1.0, np.nan], [1.0, 2.0], r"y_true\[1\] is nan; labels must be finite"),
    ("qwk", np.array(["a", None], dtype=object), np.array(["a", "b"], dtype=object),
     "labels cannot be ordered"),
    ("mean_column_auc", [0, 1], [0.1, 0.2], "must be 2-D"),
    ("multiclass_log_loss", [0, 3], [[0.5, 0.5], [0.5, 0.5]], r"y_true\[1\] is 3"),
    ("multiclass_log_loss", [0, 0.5], [[0.5, 0.5], [0.5, 0.5]], "whole numbers"),
    ("multiclass_log_loss", [[1, 1], [0, 1]], [[0.5, 0.5], [0.5, 0.5]], "y_true row 0"),
    ("multiclass_log_loss", [0, 1], [[0.5, 0.5], [0.5, -0.1]], r"y_pred\[3\] is -0.1"),
    ("multiclass_log_loss", [0, 1], [0.5, 0.5], "at least 2 classes"),
    ("map_at_k", [1, 2], [[1], [2], [3]], "y_true has 2 rows but y_pred has 3"),
])
def test_malformed_inputs_raise_one_line(name, y, p, message):
    with pytest.raises(MetricError, match=message) as info:
        compute(name, y, p)
    assert "\n" not in str(info.value)


def test_unknown_metric_and_parameters():
    with pytest.raises(MetricError, match="unknown metric 'f2'"):
        compute("f2", [1], [1])
    with pytest.raises(MetricError, match=r"unknown parameter\(s\) \['k'\]"):
        compute("rmse", [1.0], [1.0], k=3)
    with pytest.raises(MetricError, match="k must be a positive integer"):
        compute("map_at_k", [1], [[1]], k=0)


def test_metric_error_is_a_value_error():
    with pytest.raises(ValueError):
        compute("auc", [1, 1], [0.1, 0.2])


def _big_inputs(name):
    rng = np.random.default_rng(0)
    if name == "spearman":  # about 0.3 s of sorting in our kernel
        return rng.random(2_000_000), rng.random(2_000_000)
    if name == "mcc":
        return rng.integers(0, 5, 10_000_000), rng.integers(0, 5, 10_000_000)
    y = rng.integers(0, 2, 5_000_000).astype(np.float64)  # no cast inside compute
    return y, rng.random(5_000_000)  # log_loss: 5e6 logs


# Each path below runs only sandmle kernels while the arrays are processed (no numpy call
# that drops the GIL itself), so the test tells a releasing kernel from a holding one.
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["spearman", "mcc", "log_loss"])
def test_kernel_releases_the_gil(name):
    """With a huge switch interval a thread waiting for the GIL only runs when the holder
    releases it. The main thread waits while a worker runs a long metric: it wakes (and
    counts) before the worker has finished only if the kernel dropped the GIL."""
    y, p = _big_inputs(name)
    started, finished = threading.Event(), threading.Event()
    counted_during_kernel = []

    def worker():
        started.set()
        compute(name, y, p)
        finished.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        counter = 0
        for _ in range(1000):
            counter += 1
        counted_during_kernel.append(counter if not finished.is_set() else 0)
    finally:
        sys.setswitchinterval(old)
    thread.join()
    assert finished.is_set()
    assert counted_during_kernel == [1000]


def test_missing_extension_names_the_build_command():
    code = ("import sys; sys.modules['sandmle._native.metrics'] = None\n"
            "from sandmle.metrics import METRICS\n"
            "print(len(METRICS))\n"
            "try:\n    from sandmle.metrics import compute\nexcept ImportError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    table_size, message = out.splitlines()
    from sandmle.metrics.registry import METRICS

    assert int(table_size) == len(METRICS)  # the table needs no build
    assert "sandmle._native.metrics" in message and "make build" in message


@pytest.mark.parametrize("n", [10, 100_000])  # the scalar and the blocked numpy-log paths
def test_rmsle_rejects_values_at_or_below_minus_one(n):
    y, p = np.ones(n), np.ones(n)
    y[n - 3], p[n - 3] = -3.0, -2.0  # their log ratio alone would look finite
    message = rf"rmsle: y_true\[{n - 3}\] is -3.0; values must be > -1"
    with pytest.raises(MetricError, match=message):
        compute("rmsle", y, p)
    p[n - 3], y[n - 3] = np.nan, 1.0
    with pytest.raises(MetricError, match=rf"y_pred\[{n - 3}\] is nan"):
        compute("rmsle", y, p)


@pytest.mark.parametrize("bad", [2.0, 0.5, -1.0, np.nan, np.inf, "two ones", "no one"])
def test_onehot_columns_agree_with_onehot_rows(bad):
    """Class indices of one-hot rows held as columns: the same indices as from the rows, and
    the same first bad row in the error."""
    from sandmle.metrics.inputs import class_indices, onehot_column_indices

    rng = np.random.default_rng(0)
    rows = np.eye(4)[rng.integers(0, 4, 50)]
    assert np.array_equal(onehot_column_indices(list(rows.T), "answers"), class_indices(rows, 50, 4, "answers"))
    broken = rows.copy()
    for row in (37, 41):
        if bad == "two ones":
            broken[row] = [1.0, 1.0, 0.0, 0.0]
        elif bad == "no one":
            broken[row] = 0.0
        else:
            broken[row, 2] = bad
    with pytest.raises(MetricError) as by_rows:
        class_indices(broken, 50, 4, "answers")
    with pytest.raises(MetricError) as by_columns:
        onehot_column_indices(list(broken.T.copy()), "answers")
    assert "y_true row 37 is" in str(by_columns.value)
    assert str(by_columns.value) == str(by_rows.value)


def test_kernels_built_from_other_sources_are_refused(tmp_path):
    from sandmle._native import SOURCES_FILE, source_digests, stale_sources

    csrc, native = tmp_path / "csrc", tmp_path / "native"
    csrc.mkdir(), native.mkdir()
    (csrc / "metrics.pyx").write_text("def auc(): pass\n")
    (csrc / "arrays.pxd").write_text("cdef int x\n")
    (csrc / "notes.txt").write_text("not a source\n")
    assert stale_sources(native, csrc) == ["(no build record)"]
    (native / SOURCES_FILE).write_text(json.dumps(source_digests(csrc)))
    assert stale_sources(native, csrc) == []
    (csrc / "metrics.pyx").write_text("def auc(): pass\ndef onehot_columns(): pass\n")
    (csrc / "reward.pyx").write_text("def reward(): pass\n")
    assert stale_sources(native, csrc) == ["metrics.pyx", "reward.pyx"]
    assert stale_sources(native, tmp_path / "absent") == []      # an installed copy: nothing to compare


def test_this_checkout_runs_the_kernels_its_sources_build():
    from pathlib import Path

    import sandmle._native as native
    from sandmle._native import stale_sources

    package = Path(native.__file__).resolve().parent
    assert stale_sources(package, package.parents[1] / "csrc") == []


def test_a_stale_build_is_one_line_naming_the_command():
    from sandmle.cli import infrastructure_error
    from sandmle.errors import NativeBuildError

    exc = NativeBuildError("sandmle's compiled kernels were built from other sources than csrc/ holds now "
                           "(metrics.pyx): run `make build` in the sandmle checkout")
    assert infrastructure_error(exc) == str(exc)


def test_a_stale_build_found_while_building_the_parser_is_one_line(monkeypatch, capsys):
    import sandmle.cli as cli
    from sandmle.errors import NativeBuildError

    def stale():
        raise NativeBuildError("sandmle's compiled kernels were built from other sources than csrc/ holds now "
                               "(plaincsv.pyx): run `make build` in /x\nsecond line")
    monkeypatch.setattr(cli, "build_parser", stale)
    assert cli.main(["grade", "t", "s.csv"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sandmle: error: ") and "make build" in err


def test_the_command_line_parser_loads_no_numeric_library():
    import subprocess
    import sys

    code = ("import sys, sandmle.cli as c; c.build_parser(); "
            "print(sorted(m for m in ('numpy', 'polars', 'torch', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_kernel_never_compiled_names_the_build_command():
    from sandmle.errors import NativeBuildError, native_module

    with pytest.raises(NativeBuildError, match=r"compiled CSV reader \(sandmle._native.absent\) is missing: run "
                                               r"`make build`"):
        native_module("absent", "CSV reader")
    assert native_module("reward", "reward kernel").__name__ == "sandmle._native.reward"
