"""The record contract: what a job and a sweep leave behind, and how the two sides of a sweep meet.

The application (``hpo_app``), the sweeper (``hydra_plugins.hpo_sweeper``), the analysis
(``analysis``) and the benchmarks (``bench``) all import this package; it imports none of them,
so each of them can change without the others as long as it keeps to what is written here:

- :mod:`hpo_record.files`    the names and layout of the files in a job and a sweep directory
- :mod:`hpo_record.job`      the job record (``metrics.json``): its schema, written and read there only
- :mod:`hpo_record.study`    the names of the attributes the sweep records in its Optuna study,
  and a population-based training trial's lineage
- :mod:`hpo_record.storage`  where a sweep's study is stored and how it is opened
- :mod:`hpo_record.trial`    the trial side: a job's link to its trial (report, prune, where it runs)
- :mod:`hpo_record.seam`     what the sweeper hands to the application's hooks

Nothing heavy is imported with it: Optuna, SQLAlchemy and Hydra are imported by the functions
that need them.
"""
