"""sandmle: synthetic micro-scale ML-engineering tasks for training MLE agents with RL.

The package layout follows the data flow:
seeds/synthesis -> task bank (task.py) -> sandbox -> grading/metrics -> reward -> rollout ->
training and evaluation. Run `sandmle --help` for the command line.
"""
__version__ = "0.1.0"
