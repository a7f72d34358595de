"""sandmle: synthetic micro-scale ML-engineering tasks for training MLE agents with RL.

The package layout follows the data flow:
sources (your data) and synth (seeds -> synthetic tasks) -> task bank (task.py) -> sandbox ->
grading/metrics -> reward -> rollout/policies -> training (train) and evaluation. The command
line (cli/, `sandmle --help`) sits on top; library code never imports it.
"""
__version__ = "0.1.0"
