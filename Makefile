# sandmle: `make demo` runs the main job on the embedded defaults, `make test` the CPU suite.
# Both install into .venv/ first when needed (Python 3.11+ and a C compiler are all they need).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NATIVE := $(wildcard csrc/*.pyx csrc/*.pxd)

.PHONY: install build test test-fast bench demo clean

install: $(STAMP)

$(STAMP): setup.py pyproject.toml constraints-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c constraints-cpu.txt "cython>=3.0" "numpy>=1.26"
	$(PY) -m pip install -q -c constraints-cpu.txt --no-build-isolation -e ".[train,lora,dev]"
	touch $(STAMP)

# Compiles csrc/*.pyx into sandmle/_native/ (SANDMLE_CYTHON_DEBUG=1 for bounds checks).
build: $(STAMP) $(NATIVE)
	$(PY) setup.py -q build_ext --inplace

test: build
	$(PY) -m pytest -q -m "not gpu" $(PYTEST_ARGS)

test-fast: build
	$(PY) -m pytest -q -m "not gpu and not slow" $(PYTEST_ARGS)

bench: build
	$(VENV)/bin/sandmle bench kernels
	$(VENV)/bin/sandmle bench sandbox
	$(VENV)/bin/sandmle bench synth --tasks 12 --modality-tasks 2

demo: build
	$(VENV)/bin/sandmle demo

clean:
	rm -rf build sandmle/_native/*.so sandmle/_native/*.c csrc/*.c $(VENV)
