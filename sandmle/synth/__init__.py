"""Synthesis: seed task DNA -> amplified micro-scale tasks -> calibrated, verified task bank.

dna.py (task structure), seeds.py + seeds/ (shipped seeds; seeds from your own data are
made in `sandmle.sources`), amplify.py + domains.py (re-targeting), generators/ (data per
modality), describe.py (description.md), generated.py (`generate_task`), solutions.py (the
reference population) + solution_scripts/ (the scripts it runs in the sandbox), then
calibrate.py, verify.py and pipeline.py turn generated tasks into a bank, funnel.py records
each task's outcome; llm/ is the language-model generator; bank.py (statistics) and
export.py (other benchmarks' layouts) read a finished bank.
"""
