"""Where tasks and seeds come from: data outside sandmle -> task folders or seed DNA.

One module per source; each writes task folders in the bank format of `sandmle.task` (or a
`TaskDNA` seed for `sandmle.synth`), checked the same way (`sandmle task check`). How
synthetic tasks are generated from seeds is `sandmle.synth`; how any task is graded is
`sandmle.grading`.

    csv_task.py       a user's CSV file -> a task folder         `sandmle task from-csv`
    csv_plan.py         its checks, split and hidden answers
    csv_baselines.py    its leaderboard of scikit-learn baselines (the medal thresholds)
    csv_seed.py       a user's CSV file -> a seed's DNA           `sandmle seeds from-csv`
    sklearn_bank.py   scikit-learn's bundled tables -> a bank     recipes' `[bank] source = "sklearn"`
"""
