"""Synthesis with a language model: the paper's four roles (REFERENCE §2) over any policy backend.

schema.py (JSON answers and their validator), prompts.py (every prompt and its hash),
cache.py (caching, logging policy wrapper), leaks.py (description leak checks), plan.py
(the Data Strategist's plan, its checks and the file layout it implies), outputs.py (the
check report on a generator script's files), roles.py (Data Strategist, ML Developer,
MLOps Engineer, Technical Writer), pipeline.py (`synthesize_llm`, `dry_run_text`; the
command-line flags are in `sandmle.cli.synth`). Calibration and verification are the
procedural engine's (`sandmle.synth.calibrate`, `sandmle.synth.verify`).
"""
