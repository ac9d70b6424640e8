"""Names and layout of the files a job and a sweep leave on disk.

This module is the one place these names are defined: the TrainingEngine and ``sweep_hooks`` (for
jobs that ended without their own record) write the job files, the sweeper writes the sweep
files, ``analysis`` and ``bench`` read both.

Job directory (``multirun/<date>/<time>/<job_num>/`` or ``outputs/<date>/<time>/``)::

    .hydra/config.yaml, .hydra/overrides.yaml, .hydra/hydra.yaml   (written by Hydra)
    metrics.json      METRICS_FILE      the job record: state, objective, metrics, baselines (hpo_record.job)
    eval_curve.csv    EVAL_CURVE_FILE   one row per validation evaluation during training
    equity.csv        EQUITY_FILE       per-bar equity of agent and baselines, per segment (and fold)
    model.zip         MODEL_FILE        the trained stable-baselines3 model (weights, optimizer, timestep counter)
    replay_buffer.pkl REPLAY_BUFFER_FILE DQN's replay buffer (only with train.save_replay_buffer)
    error.txt         ERROR_FILE        traceback of a failed trial (only when it failed)

``metrics.json`` is the job record: its schema is in :mod:`hpo_record.job`, which alone writes
and reads it.

``eval_curve.csv`` columns: ``timesteps``, ``objective`` (the first objective metric on
validation, the trial's intermediate value), then ``val/<metric>`` for every metric.

``equity.csv`` columns: ``segment``, ``timestamp``, ``position``, ``agent``, ``buy_and_hold``,
``flat`` and, on the planted-edge market, ``reference`` (equity starting at 1.0 at the first bar of
each segment). Segments ``train``, ``val``, ``test`` of the last fold's first agent; with walk-forward
validation also ``fold1``, ``fold2``, ... (each fold's validation block, first seed): together the
agent's out-of-sample validation returns.

``eval_curve.csv`` with several runs (walk-forward, ``train.n_seeds > 1``) has two more columns,
``fold`` and ``seed``: one curve per run.

Sweep directory (``multirun/<date>/<time>/``)::

    multirun.yaml                 MULTIRUN_FILE (Hydra's, written by the sweeper)
    optimization_results.yaml     RESULTS_FILE (the sweeper)
    optuna.db                     STUDY_DB_FILE (the Optuna study, SQLite: hydra.sweeper.storage unset)
    optuna.journal                STUDY_JOURNAL_FILE (the study in Optuna's journal file: storage=journal)

``optimization_results.yaml`` is the sweeper's summary of the study for people (its keys:
``hydra_plugins/hpo_sweeper/_results.py``); the study itself is the sweep's record, and the names
of what each trial carries in it are in :mod:`hpo_record.study`.
"""

from __future__ import annotations

METRICS_FILE = "metrics.json"
EVAL_CURVE_FILE = "eval_curve.csv"
EQUITY_FILE = "equity.csv"
MODEL_FILE = "model.zip"
REPLAY_BUFFER_FILE = "replay_buffer.pkl"
ERROR_FILE = "error.txt"
HYDRA_DIR = ".hydra"

MULTIRUN_FILE = "multirun.yaml"
RESULTS_FILE = "optimization_results.yaml"
STUDY_DB_FILE = "optuna.db"
STUDY_JOURNAL_FILE = "optuna.journal"

SEGMENTS = ("train", "val", "test")
BASELINES = ("buy_and_hold", "flat", "reference")
"""Policies every agent is shown beside; ``reference`` (hold the sign of the last return) only on the
planted-edge market (``data=edge``), where it is the edge a good agent should approach."""

STATE_COMPLETE = "complete"
STATE_PRUNED = "pruned"
STATE_FAILED = "failed"
"""A job record's ``state`` (:mod:`hpo_record.job`)."""
