"""The trial side of a sweep: report each validation evaluation to the Optuna study and prune.

The sweeper passes the study and the trial to the job through environment variables that it
sets with ``hydra.job.env_set`` (so they reach a Ray worker as well as a basic-launcher job).
A single run (``python -m hpo_app``) has none of them and nothing is reported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from hydra.utils import instantiate

from hpo_app.engine import Evaluation
from hpo_app.storage import make_storage

log = logging.getLogger(__name__)

ENV_STORAGE = "HPO_STORAGE"
ENV_STUDY = "HPO_STUDY_NAME"
ENV_TRIAL_ID = "HPO_TRIAL_ID"
ENV_TRIAL_NUMBER = "HPO_TRIAL_NUMBER"


@dataclass
class TrialLink:
    """Reports evaluations to one Optuna trial and raises ``optuna.TrialPruned`` when told to."""

    trial: optuna.trial.Trial
    multi_objective: bool

    @property
    def info(self) -> dict[str, Any]:
        return {"number": self.trial.number, "study": self.trial.study.study_name}

    def __call__(self, point: Evaluation) -> None:
        if self.multi_objective:
            return  # Optuna prunes single-objective studies only
        self.trial.report(point.objective, step=point.step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at evaluation {point.index} ({point.timesteps} steps), value {point.objective:.4f}"
            )


def environment_variables(storage: str, study_name: str, trial: optuna.trial.Trial) -> dict[str, str]:
    """What the sweeper puts in ``hydra.job.env_set`` for ``trial``."""
    return {
        ENV_STORAGE: storage,
        ENV_STUDY: study_name,
        ENV_TRIAL_ID: str(trial._trial_id),
        ENV_TRIAL_NUMBER: str(trial.number),
    }


def from_environment(scheduler: Mapping[str, Any] | None, n_objectives: int) -> TrialLink | None:
    """The link for the trial this job runs, or None outside a sweep."""
    trial_id = os.environ.get(ENV_TRIAL_ID)
    if not trial_id:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = instantiate(scheduler) if scheduler else optuna.pruners.NopPruner()
    study = optuna.load_study(
        study_name=os.environ[ENV_STUDY],
        storage=make_storage(os.environ[ENV_STORAGE]),
        pruner=pruner,
        sampler=optuna.samplers.RandomSampler(),
    )
    trial = optuna.trial.Trial(study, int(trial_id))
    return TrialLink(trial=trial, multi_objective=n_objectives > 1)
