"""Benchmarks, kept apart from the tests: each module times a piece of sandmle against a
baseline measured in the same run and prints ratios (`sandmle bench NAME [--json]`).
Each module defines `register(subparsers)`; heavy imports stay inside its handler."""
