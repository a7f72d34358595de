"""Synthesis: seed task DNA -> amplified micro-scale tasks -> calibrated, verified task bank.

dna.py (task structure), seeds.py (shipped seeds), amplify.py + domains.py (re-targeting),
generators/ (data per modality), describe.py (description.md), generated.py
(`generate_task`), solutions.py (reference solutions), then calibrate.py, verify.py and
pipeline.py turn generated tasks into a bank.
"""
