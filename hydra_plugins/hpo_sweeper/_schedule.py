"""What the trial loop runs next: a small interface between the runner and the strategies that plan
trials (the search, population-based training, the raced confirmation).

The runner (``_runner``) keeps the slots busy and tells Optuna; a :class:`Schedule` says whether a
trial can start, plans it (:class:`Planned`: the parameters to enqueue, the trial's attributes, the
job's overrides), and hears how it ended. ``SearchSchedule`` asks the sampler ``n_trials`` times
(first the control, when there is one); ``PbtSchedule`` runs a population's intervals
(``_pbt``); ``ConfirmSchedule`` (``_confirm``) races the search's top candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from hpo_record.study import ATTR_ROLE, ROLE_CONTROL

from hydra_plugins.hpo_sweeper._pbt import Population, job_overrides


@dataclass
class Planned:
    """One trial to start: what to enqueue, set and pass to its job."""

    params: dict[str, Any] | None = None  # enqueued before the ask (None: the sampler's)
    attrs: dict[str, Any] = field(default_factory=dict)  # the trial's user attributes
    overrides: list[str] | None = None  # the job's overrides (None: the space's, from the trial's params)
    extra: list[str] = field(default_factory=list)  # overrides after those
    line: str = ""  # logged when it starts
    token: Any = None  # the schedule's own handle on it


class Schedule(Protocol):
    distributions: Mapping[str, BaseDistribution]  # what the trials are asked with

    def ready(self) -> bool: ...  # a trial can start now

    def remaining(self) -> int: ...  # trials still to start, as things stand

    def planned_total(self, done: int) -> int: ...  # trials in all, for the progress line

    def next(self) -> Planned: ...

    def started(self, planned: Planned, params: Mapping[str, Any]) -> None: ...

    def finished(self, planned: Planned, trial: Any, job_dir: str, state: TrialState,
                 values: list[float] | None) -> str: ...  # before Optuna is told; returns words for the line

    @property
    def complete(self) -> bool: ...


class SearchSchedule:
    """``to_start`` trials of the sampler's choice; the first is the control when ``control`` holds
    the default values of the searched keys."""

    def __init__(self, distributions: Mapping[str, BaseDistribution], to_start: int, n_trials: int,
                 control: dict[str, Any] | None) -> None:
        self.distributions, self.to_start, self.n_trials, self.control = distributions, to_start, n_trials, control

    def ready(self) -> bool:
        return self.to_start > 0

    def remaining(self) -> int:
        return self.to_start

    def planned_total(self, done: int) -> int:
        return self.n_trials

    def next(self) -> Planned:
        self.to_start -= 1
        if self.control is not None:
            params, self.control = self.control, None
            return Planned(params=params, attrs={ATTR_ROLE: ROLE_CONTROL},
                           line="the control: the untuned default configuration, first")
        return Planned()

    def started(self, planned: Planned, params: Mapping[str, Any]) -> None:
        pass

    def finished(self, planned: Planned, trial: Any, job_dir: str, state: TrialState,
                 values: list[float] | None) -> str:
        return ""

    @property
    def complete(self) -> bool:
        return self.to_start <= 0


class PbtSchedule:
    """A population's intervals (``_pbt.Population``) as trials."""

    def __init__(self, population: Population, distributions: Mapping[str, BaseDistribution],
                 quote: Callable[[str], str]) -> None:
        self.population, self.distributions, self.quote = population, distributions, quote

    def ready(self) -> bool:
        return self.population.ready()

    def remaining(self) -> int:
        return self.population.remaining()

    def planned_total(self, done: int) -> int:
        return done + self.population.remaining()

    def next(self) -> Planned:
        interval = self.population.next_interval()
        assert interval is not None
        line = (f"PBT: {interval.decided}; trains it from {interval.start} to {interval.end} steps"
                if interval.decided else "")
        return Planned(params=interval.params, attrs=interval.attrs(), line=line, token=interval,
                       extra=job_overrides(self.population.settings, interval, self.quote))

    def started(self, planned: Planned, params: Mapping[str, Any]) -> None:
        self.population.started(planned.token, params)

    def finished(self, planned: Planned, trial: Any, job_dir: str, state: TrialState,
                 values: list[float] | None) -> str:
        score = values[0] if state == TrialState.COMPLETE and values else None
        return self.population.finished_interval(planned.token, trial.number, job_dir, score)

    @property
    def complete(self) -> bool:
        return self.population.finished
