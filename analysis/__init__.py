"""Reports of Optuna sweeps from the files they leave on disk (no live Ray or Optuna process).

Three steps, one module each (nothing is imported or drawn at package import):

- :mod:`analysis.load`    files -> one tidy table of trials (``load_sweeps(paths) -> DataFrame``)
- :mod:`analysis.tables`  the table -> best trial, counts, broken jobs, Pareto front, importance
  (:mod:`analysis.importance`) and the re-run command (:mod:`analysis.rerun`)
- :mod:`analysis.plots`   PNG plots (matplotlib, Agg backend)

:mod:`analysis.report` writes ``trials.csv``, ``summary.md`` and ``report.html`` and is the command
line: ``python -m analysis.report multirun/<date>``. :mod:`analysis.synthetic` writes synthetic
sweep directories that follow :mod:`hpo_app.artifacts` (for tests and the benchmark).
"""
