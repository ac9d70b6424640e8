"""Reports of Optuna sweeps: the study is the record, job directories add what only they hold.

Three steps (nothing is imported or drawn at package import):

- :mod:`analysis.load`    the studies and job records -> one tidy table of trials
- :mod:`analysis.tables`  the table and the study -> best trial, counts, broken jobs, Pareto front,
  Optuna's parameter importance, the significance of the best trial, the re-run command
  (:mod:`analysis.rerun`)
- :mod:`analysis.drawing` PNG plots (:mod:`analysis.plots`: Optuna's matplotlib plots and the
  project's own)

:mod:`analysis.report` writes ``trials.csv``, ``summary.md`` and ``report.html`` (the section on
each sweep: :mod:`analysis.sections`) and is the command line:
``python -m analysis.report multirun/<date>``. What a report computed is kept for the next one
into the same directory (:mod:`analysis.cache`).
"""
