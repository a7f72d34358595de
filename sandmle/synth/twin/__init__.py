"""Twins: synthetic tasks drawn from a data-conditioned seed's model of a real table.

`model.py` holds the row-free `DataModel` (marginals, Gaussian copula, joint missingness, a
teacher for the labels), `sample.py` draws rows and labels from it, `generate.py` turns them
into a task's tables (re-targeted to a domain, mutations on top), and `privacy.py` checks that
twin rows do not sit on real rows. The model is fitted in `sandmle.sources.csv_twin`.
"""
