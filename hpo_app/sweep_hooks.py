"""hpo_app's side of the sweeper's seam (``hydra.sweeper.hooks`` in ``conf/config.yaml``).

- ``check``: before any trial, build the engine from a representative trial's config, at both
  ends of the search space (a bad key or value fails here) and load the data every trial will use (a bad file fails once, here,
  instead of in every trial). Raises the app's user errors, which are ValueErrors: the sweeper
  prints their one line and exits with code 2.
- ``job_failed``: a trial whose job ended without its own record (interrupted, stale, config
  not composed, worker died) gets a failed job record and ``error.txt`` in its directory.
- ``format_value``: the sweep's progress and end lines show values as the run's log and the
  report do (``hpo_app.fmt``).
- ``next_steps``: the sweep's last lines name the commands that report on it and export its agent.
- ``paired_scores``: a confirmation run's per-bar net returns on validation (the job record's
  ``val_returns``: every fold's block in order), the observations the raced confirmation pairs
  candidates on; the same bars for every configuration of a sweep.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hpo_app import fmt
from hpo_record import files, job as job_record
from hpo_record.seam import FailedJob
from hpo_app.checks import check_continuable


_PREPARED: set[str] = set()
"""The data configs already loaded by ``check`` in this process (it is called at both ends of the
search space, with the same data)."""


def check(config: DictConfig, searched: Sequence[str]) -> None:
    from hpo_app.app import engine_from_config

    engine = engine_from_config(config, Path(os.devnull))
    if OmegaConf.select(config, "hydra.sweeper.pbt", default=None) is not None:
        check_continuable(engine.validation.kind, engine.train_spec.n_seeds, "scheduler=pbt")
    if any(name.lstrip("+") == "data" or name.lstrip("+").startswith("data.") for name in searched):
        return
    data = OmegaConf.to_yaml({k: config.get(k) for k in ("data", "env", "validation")}, resolve=True)
    if data not in _PREPARED:
        loader = logging.getLogger("hpo_app.market")
        level = loader.level
        if _PREPARED:  # the same file again (another window or feature set): its loading was logged once
            loader.setLevel(logging.WARNING)
        try:
            engine.prepare()
        finally:
            loader.setLevel(level)
        _PREPARED.add(data)


def job_failed(job: FailedJob) -> None:
    """Write the failure where the job's own record would be, unless the job left one."""
    try:
        if job_record.read(job.job_dir).state != files.STATE_FAILED:
            return  # the job finished on its own just before it was cut: its record stands
    except job_record.RecordError:
        pass  # none, or half of one
    trial = {"number": job.trial_number, "study": job.study_name}
    job_record.write(job.job_dir, job_record.failed(job.error, trial=trial))
    (job.job_dir / files.ERROR_FILE).write_text(job.details.rstrip("\n") + "\n")


def format_value(metric: str, value: float) -> str:
    """An objective value as the run's log and the report show it (``hpo_app.fmt``)."""
    return fmt.metric(metric, value)


def next_steps(sweep_dir: str) -> list[str]:
    """Below the sweep's best trial: the commands that report on it and export its agent."""
    return [f"report:  python -m analysis.report {shlex.quote(sweep_dir)}",
            f"export:  python -m hpo_app.export {shlex.quote(sweep_dir)} --out agent"]


def paired_scores(job_dir: str) -> list[float]:
    """The job's per-bar validation returns (higher is better), from its record."""
    returns = job_record.read(Path(job_dir)).val_returns
    if not returns:
        raise ValueError(f"{job_dir}: its job record has no validation returns")
    return [float(x) for x in returns]
