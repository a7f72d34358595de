"""Compiled Cython kernels (built from csrc/ by `make build`). Only the Python wrappers in
sandmle.metrics and sandmle.reward import from here."""
