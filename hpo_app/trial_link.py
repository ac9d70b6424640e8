"""The trial side of a sweep: each validation evaluation goes to the Optuna trial, which may prune.

The record contract's trial side (``hpo_record.trial``) gives the job its trial; a single run
(``python -m hpo_app``) has none and reports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from hpo_app import fmt
from hpo_app.engine import Evaluation
from hpo_record.trial import TrialLink as SweepTrial
from hpo_record.trial import current_trial


@dataclass
class TrialLink:
    """The engine's evaluation hook: reports to the trial, raises ``optuna.TrialPruned`` when told."""

    trial: SweepTrial
    metric: str  # the objective's first metric, shown as the log and the report show it

    @property
    def info(self) -> dict[str, Any]:
        info = {"number": self.trial.number, "study": self.trial.study_name}
        return {**info, "role": self.trial.role} if self.trial.role else info

    def __call__(self, point: Evaluation) -> None:
        self.trial.report(point.objective, step=point.step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at evaluation {point.index} ({point.timesteps} steps), value "
                f"{fmt.metric(self.metric, point.objective)}"
            )


def from_sweep(metric: str) -> TrialLink | None:
    """The link for the trial this job runs (its objective's first metric ``metric``), or None outside
    a sweep."""
    trial = current_trial()
    return None if trial is None else TrialLink(trial, metric)
