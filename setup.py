"""Build sandmle: the Python package plus its Cython kernels from csrc/.

Compiler directives are set once here. `SANDMLE_CYTHON_DEBUG=1 pip install -e .` turns
bounds checks, wraparound and initialisation checks back on for a debug build.
"""
import os
import re
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("SANDMLE_CYTHON_DEBUG", "0") == "1"

DIRECTIVES = {
    "language_level": "3",
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "nonecheck": DEBUG,
    "embedsignature": True,
}

# One extension per csrc/<name>.pyx, importable as sandmle._native.<name>.
EXTENSIONS = [
    Extension(
        f"sandmle._native.{path.stem}",
        [str(path)],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O0", "-g"] if DEBUG else ["-O3"],
    )
    for path in sorted(Path("csrc").glob("*.pyx"))
]



def _load_sources_module():
    """sandmle/_native/sources.py by path: the package itself cannot be imported before it is built."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_sandmle_sources", "sandmle/_native/sources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildExt(build_ext):
    """build_ext that records the sha256 of every csrc/ source next to the built kernels
    (sandmle/_native/sources.json): sandmle._native refuses to import kernels built from
    other sources than csrc/ holds, naming `make build`."""

    def run(self):
        super().run()
        out = Path(self.get_ext_fullpath(EXTENSIONS[0].name)).parent
        _load_sources_module().write_record(out, Path("csrc"))


# One place for the version: sandmle/__init__.py (`sandmle --version`, every run's metadata).
VERSION = re.search(r'^__version__ = "([^"]+)"', Path("sandmle/__init__.py").read_text(), re.M).group(1)

TRAIN = ["torch>=2.4", "accelerate>=1.0", "transformers>=4.45", "tokenizers>=0.20", "safetensors>=0.4"]
# The sandbox backend `--sandbox ray[:ADDRESS]` (sandmle/sandbox/ray_pool.py); ~250 MB, no CUDA.
RAY = ["ray>=2.50,<3"]

setup(
    name="sandmle",
    version=VERSION,
    description="Synthetic micro-scale ML-engineering tasks, a sandbox and GRPO for MLE agents",
    python_requires=">=3.11",
    packages=find_packages(include=["sandmle", "sandmle.*"]),
    package_data={"sandmle": ["seeds/*.json", "synth/seeds/*.json", "*.pxd"]},
    ext_modules=cythonize(EXTENSIONS, compiler_directives=DIRECTIVES),
    cmdclass={"build_ext": BuildExt},
    install_requires=[
        "numpy>=1.26",
        "scipy>=1.11",
        "scikit-learn>=1.4",
        "polars>=1.0",
        "pandas>=2.1",
        "rich>=13",
        "pillow>=10",
        "matplotlib>=3.8",
        "openai>=1.40",
        "threadpoolctl>=3",
    ],
    extras_require={
        "train": TRAIN,
        "vllm": TRAIN + ["vllm>=0.8"],
        "lora": TRAIN + ["peft>=0.13"],
        # `sandmle bench grpo` times TRL's GRPOTrainer as its baseline; TRL (with datasets and
        # pyarrow) is not needed to train, so it is not in `train`
        "bench": TRAIN + ["trl>=1.16"],
        "trackers": ["tensorboard>=2.15", "wandb>=0.17"],
        # the tests start a real local Ray cluster: the Ray backend's extra is part of dev
        "dev": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "pytest-timeout>=2.3"] + RAY,
        "ray": RAY,
    },
    entry_points={"console_scripts": ["sandmle=sandmle.cli:main"]},
)
