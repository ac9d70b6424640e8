"""Names and layout of the files a job and a sweep leave on disk.

This module is the one place these names are defined for the application: the TrainingEngine
and ``sweep_hooks`` (for jobs that ended without their own record) write the job files,
``analysis`` reads them. The sweep files are written by the sweeper plugin
(``hydra_plugins.hpo_sweeper``), which uses the same names.

Job directory (``multirun/<date>/<time>/<job_num>/`` or ``outputs/<date>/<time>/``)::

    .hydra/config.yaml, .hydra/overrides.yaml, .hydra/hydra.yaml   (written by Hydra)
    metrics.json      METRICS_FILE      final metrics, baselines, objective, state (see below)
    eval_curve.csv    EVAL_CURVE_FILE   one row per validation evaluation during training
    equity.csv        EQUITY_FILE       per-bar equity of agent, buy-and-hold, flat, per segment
    model.zip         MODEL_FILE        the trained stable-baselines3 model
    error.txt         ERROR_FILE        traceback of a failed trial (only when it failed)

``metrics.json``::

    {
      "schema": 1,
      "state": "complete" | "pruned" | "failed",
      "model": "ppo",
      "objective": {"metrics": ["val/sharpe"], "directions": ["maximize"], "values": [1.23]},
      "metrics": {"train/sharpe": ..., "val/sharpe": ..., "test/sharpe": ..., ...},
      "baselines": {"buy_and_hold": {"val/sharpe": ..., ...}, "flat": {...}},
      "timesteps": 20000,            # environment steps actually trained
      "seconds": 12.3,               # wall time of the job
      "seed": 0,
      "periods_per_year": 252.0,
      "segments": {"train": {"start": "2010-02-01", "end": "...", "bars": 1400}, ...},
      "error": null,                 # one-line message when state == "failed"
      "trial": {"number": 3, "study": "ppo_quick_test"} | null   # set when run by the sweeper
    }

Metric keys are ``<segment>/<metric>`` with segment in SEGMENTS and metric in
``hpo_app.metrics.METRIC_NAMES``.

``eval_curve.csv`` columns: ``timesteps``, ``objective`` (the first objective metric on
validation, the trial's intermediate value), then ``val/<metric>`` for every metric.

``equity.csv`` columns: ``segment``, ``timestamp``, ``position``, ``agent``, ``buy_and_hold``,
``flat`` (equity starting at 1.0 at the first bar of each segment).

Sweep directory (``multirun/<date>/<time>/``)::

    multirun.yaml                 MULTIRUN_FILE (Hydra)
    optimization_results.yaml     RESULTS_FILE (the sweeper)
    optuna.db                     STUDY_DB_FILE (the persisted Optuna study, sqlite)

``optimization_results.yaml`` (written by the sweeper; the first keys are those of the released
hydra-optuna-sweeper)::

    name: optuna
    best_params: {model.learning_rate: 0.0012, ...}    # single objective
    best_value: 1.23                                    # single objective
    solutions: [{params: {...}, values: [1.2, 0.1], number: 4}, ...]   # multi-objective Pareto front
    study_name: ppo_quick_test
    storage: sqlite:////abs/path/multirun/2026-11-28/10-00-00/optuna.db
    directions: [maximize]
    objective_metrics: [val/sharpe]
    best_trial: {number: 7, job_num: 7, values: [1.23]}   # single objective
    search_space:                                       # what was searched, Optuna's view
      model.learning_rate: {type: float, low: 1.0e-05, high: 0.01, log: true}
      model.batch_size: {type: categorical, choices: [32, 64, 128]}
      model.n_epochs: {type: int, low: 3, high: 20, log: false, step: 1}
    fixed_params: {model.gamma: 0.99}                   # pinned on the command line
    n_trials: 20
    counts: {complete: 17, pruned: 2, failed: 1, running: 0}

Each Optuna trial carries user attributes ``job_num`` (Hydra's job number, the job directory's
name) and ``job_dir`` (absolute path).
"""

from __future__ import annotations

SCHEMA_VERSION = 1

METRICS_FILE = "metrics.json"
EVAL_CURVE_FILE = "eval_curve.csv"
EQUITY_FILE = "equity.csv"
MODEL_FILE = "model.zip"
ERROR_FILE = "error.txt"

MULTIRUN_FILE = "multirun.yaml"
RESULTS_FILE = "optimization_results.yaml"
STUDY_DB_FILE = "optuna.db"
HYDRA_DIR = ".hydra"

SEGMENTS = ("train", "val", "test")
BASELINES = ("buy_and_hold", "flat")

STATE_COMPLETE = "complete"
STATE_PRUNED = "pruned"
STATE_FAILED = "failed"
