"""Reports of Optuna sweeps: the study is the record, job directories add what only they hold.

Three steps, one module each (nothing is imported or drawn at package import):

- :mod:`analysis.load`    the studies and job records -> one tidy table of trials
- :mod:`analysis.tables`  the table and the study -> best trial, counts, broken jobs, Pareto front,
  Optuna's parameter importance, the re-run command (:mod:`analysis.rerun`)
- :mod:`analysis.plots`   PNG plots (Optuna's matplotlib plots and the project's own)

:mod:`analysis.report` writes ``trials.csv``, ``summary.md`` and ``report.html`` and is the command
line: ``python -m analysis.report multirun/<date>``.
"""
