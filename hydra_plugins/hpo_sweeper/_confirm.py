"""The raced confirmation (``hydra.sweeper.confirm``): after the search, its top candidates and the
control run again on fresh seeds, in a second study beside the search's, and ``_race`` decides.

- The candidates: the control (the configuration the user gets without sweeping: the config's own
  values of the searched keys) and the ``top_k`` best complete search trials with distinct
  parameters (the control's own search trial, if it is among them, is the control).
- The seeds: the task's ``seed_key`` is set to the config's value + ``seed_offset`` + r for round r:
  disjoint from the search's (which uses the config's seed, and seed + i for a few i).
- Each run is a trial of the study ``<study>:confirm`` (params ``candidate``, ``confirm_seed``;
  role ``confirmation``: never pruned), its job a directory of the sweep like any trial's. Its
  per-observation scores come from the application's ``paired_scores`` hook and are kept in the
  trial (``scores``), so that ``resume=true`` rebuilds the race from the study alone.
- The decision is stored in the study (``decision``) and summarized in the results file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import optuna
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from hpo_record.study import (
    ATTR_CANDIDATE,
    ATTR_CANDIDATES,
    ATTR_CONFIRM_SEED,
    ATTR_DECISION,
    ATTR_ERROR,
    ATTR_INTERRUPTED,
    ATTR_RACES,
    ATTR_ROLE,
    ATTR_SCORES,
    ATTR_SEEDS,
    CONFIRM_SUFFIX,
    ROLE_CONFIRMATION,
    ROLE_CONTROL,
)

from hydra_plugins.hpo_sweeper._race import CONTROL, Candidate, Race, Run
from hydra_plugins.hpo_sweeper._schedule import Planned

log = logging.getLogger("hydra_plugins.hpo_sweeper")


class ConfirmError(ValueError):
    """Confirmation settings that cannot work; one line naming the key."""


@dataclass(frozen=True)
class ConfirmSettings:
    top_k: int
    seeds: int
    level: float
    min_rounds: int
    seed_key: str
    seed_offset: int


def settings(conf: Mapping[str, Any], config: Any) -> ConfirmSettings | None:
    """The checked settings (None: ``top_k=0``, no confirmation). ``config``: the sweep's config."""
    s = ConfirmSettings(int(conf["top_k"]), int(conf["seeds"]), float(conf["level"]), int(conf["min_rounds"]),
                        str(conf["seed_key"] or ""), int(conf["seed_offset"]))
    if s.top_k < 0:
        raise ConfirmError(f"hydra.sweeper.confirm.top_k={s.top_k}: must be 0 (no confirmation) or more")
    if s.top_k == 0:
        return None
    if not s.seed_key:
        log.info("No confirmation: hydra.sweeper.confirm.seed_key names no seed key of the task")
        return None
    if s.seeds < 1:
        raise ConfirmError(f"hydra.sweeper.confirm.seeds={s.seeds}: must be at least 1")
    if not (0.0 < s.level < 1.0 and math.isfinite(s.level)):
        raise ConfirmError(f"hydra.sweeper.confirm.level={conf['level']}: must be a probability between 0 and 1")
    if s.min_rounds < 1:
        raise ConfirmError(f"hydra.sweeper.confirm.min_rounds={s.min_rounds}: must be at least 1")
    if s.seed_offset < 1:
        raise ConfirmError(f"hydra.sweeper.confirm.seed_offset={s.seed_offset}: must be at least 1 (the "
                           "confirmation seeds must differ from the search's)")
    if not isinstance(OmegaConf.select(config, s.seed_key, default=None), int):
        raise ConfirmError(f"hydra.sweeper.confirm.seed_key={s.seed_key or 'null'}: must name the task's integer "
                           "seed key (the confirmation runs each candidate on fresh seeds)")
    return s


def control_params(space_distributions: Mapping[str, BaseDistribution], config: Any) -> tuple[dict[str, Any], list[str]]:
    """The config's own values of the searched keys, and those that lie outside their range."""
    values, outside = {}, []
    for name, dist in space_distributions.items():
        value = OmegaConf.select(config, name.lstrip("+~"), default=None)
        value = OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
        values[name] = value
        if not _contains(dist, value):
            outside.append(f"{name}={value}")
    return values, outside


def control_trial(distributions: Mapping[str, BaseDistribution], config: Any, study: optuna.study.Study, *,
                  enabled: bool, ordinary: bool, confirming: bool,
                  joining: bool = False) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The control's values, and what to enqueue as the search's first trial: them, unless the
    control is off (``hydra.sweeper.control``), already in the study, a population-based training or
    grid sweep's (``ordinary`` false: the grid sampler visits its own points, an enqueued one would
    run twice), or not a point of the search space (one line then says which value lies outside).
    A driver ``joining`` a study that another driver created and that has no trial yet leaves the
    control to that driver: drivers started together on one study run it once."""
    values, outside = control_params(distributions, config)
    if not enabled or not ordinary or not distributions:
        return values, None
    if outside:
        log.info("The control (the untuned default) is not a point of the search space (%s is outside its "
                 "range): no search trial for it%s", ", ".join(outside),
                 "; the confirmation still races it" if confirming else "")
        return values, None
    trials = study.get_trials(deepcopy=False)
    if any(t.user_attrs.get(ATTR_ROLE) == ROLE_CONTROL for t in trials) or (joining and not trials):
        return values, None
    return values, values


def member_control(distributions: Mapping[str, BaseDistribution], config: Any, *, enabled: bool) -> dict[str, Any] | None:
    """Population-based training's control: the default values that member 0 trains throughout
    (never exploited, never explored), unless the control is off or a default lies outside its range."""
    values, outside = control_params(distributions, config)
    if not enabled or not distributions:
        return None
    if outside:
        log.info("The control (the untuned default) is not a point of the search space (%s is outside its "
                 "range): no control member", ", ".join(outside))
        return None
    return values


def _contains(dist: BaseDistribution, value: Any) -> bool:
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))  # Optuna has no public test of membership
    except (ValueError, TypeError):
        return False


def pick_candidates(study: optuna.study.Study, control: dict[str, Any], top_k: int) -> list[Candidate]:
    """The control, then the ``top_k`` best complete trials with parameters of their own."""
    sign = 1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1.0
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    own = next((t for t in complete if t.user_attrs.get(ATTR_ROLE) == ROLE_CONTROL), None)
    out = [Candidate(CONTROL, dict(control), None if own is None else float(own.value), None if own is None else own.number)]
    seen = [_key(control)]
    for t in sorted(complete, key=lambda t: (-sign * float(t.value), t.number)):
        if len(out) > top_k:
            break
        if _key(t.params) in seen:
            continue
        seen.append(_key(t.params))
        out.append(Candidate(f"trial {t.number}", dict(t.params), float(t.value), t.number))
    return out


def _key(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def open_confirmation(storage: Any, study: optuna.study.Study, candidates: list[Candidate],
                      seeds: list[int]) -> optuna.study.Study:
    """The confirmation study (created, or the one a resumed sweep left, with its own candidates)."""
    name = f"{study.study_name}{CONFIRM_SUFFIX}"
    cstudy = optuna.create_study(study_name=name, storage=storage, directions=study.directions, load_if_exists=True,
                                 sampler=optuna.samplers.RandomSampler())
    before = cstudy.user_attrs.get(ATTR_CANDIDATES)
    if before is not None and [(c["label"], _key(c["params"])) for c in before] != [(c.label, _key(c.params))
                                                                                   for c in candidates]:
        # A resume that added search trials: the race is about the top candidates now. The runs of
        # those still among them count again; the old decision no longer holds until it is raced.
        log.info("Confirmation: the search has changed since its race (%s); raced now: %s",
                 ", ".join(c["label"] for c in before), ", ".join(c.label for c in candidates))
        cstudy.set_user_attr(ATTR_DECISION, None)
        cstudy.set_user_attr(ATTR_RACES, int(cstudy.user_attrs.get(ATTR_RACES, 1)) + 1)
        before = None
    if before is None:
        cstudy.set_user_attr(ATTR_CANDIDATES, [asdict(c) for c in candidates])
        cstudy.set_user_attr(ATTR_SEEDS, list(seeds))
    return cstudy


class ConfirmSchedule:
    """The race (``_race.Race``) as trials of the confirmation study, for the runner."""

    def __init__(self, cstudy: optuna.study.Study, settings: ConfirmSettings, overrides_of: Callable[[dict[str, Any]], list[str]],
                 paired_scores: Callable[[str], Sequence[float]] | None, sign: float) -> None:
        candidates = [Candidate(**c) for c in cstudy.user_attrs[ATTR_CANDIDATES]]
        seeds = [int(s) for s in cstudy.user_attrs[ATTR_SEEDS]]
        self.study, self.settings, self.overrides_of, self.paired_scores = cstudy, settings, overrides_of, paired_scores
        self.candidates = {c.label: c for c in candidates}
        self.race = Race(candidates, seeds, level=settings.level, min_rounds=settings.min_rounds, sign=sign)
        self.races = int(cstudy.user_attrs.get(ATTR_RACES, 1))  # Optuna keeps a parameter's choices fixed in a study
        suffix = "" if self.races == 1 else f"_{self.races}"
        self.param, self.seed_param = f"candidate{suffix}", f"confirm_seed{suffix}"
        self.distributions: dict[str, BaseDistribution] = {
            self.param: CategoricalDistribution([c.label for c in candidates]),
            self.seed_param: CategoricalDistribution(seeds)}
        self.in_flight: set[tuple[str, int]] = set()
        self.closed = 0  # rounds whose losers have been stopped
        self._restore()

    def _restore(self) -> None:
        """A resumed race: every run that finished (not cut short) counts, round by round."""
        runs: dict[tuple[str, int], Run] = {}
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            key = (t.user_attrs.get(ATTR_CANDIDATE), t.user_attrs.get(ATTR_CONFIRM_SEED))
            if key[0] not in self.race.standings:
                continue  # a run of a candidate raced before the search changed
            if t.state == TrialState.FAIL and (t.user_attrs.get(ATTR_INTERRUPTED) or ATTR_ERROR not in t.user_attrs):
                continue  # cut short or found stale: it runs again
            scores = t.user_attrs.get(ATTR_SCORES)
            runs[key] = (Run(float(t.value), np.asarray(scores, dtype=float) if scores else None)
                         if t.state == TrialState.COMPLETE else Run(None, None, str(t.user_attrs.get(ATTR_ERROR))))
        for seed in self.race.seeds:
            pairs = [(label, s) for (label, s) in runs if s == seed]
            if not pairs:
                break
            for pair in pairs:
                if self.race.standings[pair[0]].out is None:
                    self.race.record(*pair, runs[pair])
            self._close("Confirmation (resumed)")
        if runs:
            log.info("Confirmation resumed: %d run(s) already finished", len(runs))

    def _waiting(self) -> list[tuple[str, int]]:
        return [p for p in self.race.pending() if p not in self.in_flight]

    def ready(self) -> bool:
        return bool(self._waiting())

    def remaining(self) -> int:
        left = 0
        for standing in self.race.alive():
            left += sum(1 for s in self.race.seeds if s not in standing.runs)
        return left

    def planned_total(self, done: int) -> int:
        return done + self.remaining()

    def next(self) -> Planned:
        label, seed = self._waiting()[0]
        self.in_flight.add((label, seed))
        candidate = self.candidates[label]
        params = {} if label == CONTROL else candidate.params  # the control: the config's own values
        return Planned(params={self.param: label, self.seed_param: seed}, token=(label, seed),
                       attrs={ATTR_ROLE: ROLE_CONFIRMATION, ATTR_CANDIDATE: label, ATTR_CONFIRM_SEED: seed},
                       overrides=[*self.overrides_of(params), f"{self.settings.seed_key}={seed}"])

    def started(self, planned: Planned, params: Mapping[str, Any]) -> None:
        pass

    def finished(self, planned: Planned, trial: Any, job_dir: str, state: TrialState,
                 values: list[float] | None) -> str:
        label, seed = planned.token
        self.in_flight.discard((label, seed))
        if state == TrialState.COMPLETE and values:
            scores, error = self._scores(job_dir)
            if scores is not None:
                trial.set_user_attr(ATTR_SCORES, [float(x) for x in scores])
            run = Run(float(values[0]), scores, None if scores is not None or self.paired_scores is None else error)
            if self.paired_scores is None:  # no per-observation scores: the run's value is its one observation
                run = Run(float(values[0]), np.array([float(values[0])]))
        else:
            run = Run(None, None, "its run did not complete")
        self.race.record(label, seed, run)
        if not self.in_flight:
            self._close("Confirmation")
        return f"{label}, seed {seed}"

    def _close(self, what: str) -> None:
        """Stop the losers once a round is complete (once per round)."""
        if self.race.round() > self.closed:
            for line in self.race.close_round():
                log.info("%s: %s", what, line)
            self.closed = self.race.round()

    def _scores(self, job_dir: str) -> tuple[np.ndarray | None, str]:
        if self.paired_scores is None:
            return None, ""
        try:
            return np.asarray(self.paired_scores(job_dir), dtype=float), ""
        except Exception as err:  # noqa: BLE001 - the application's hook: its failure takes the run out
            return None, f"hooks.paired_scores failed: {err}"

    @property
    def complete(self) -> bool:
        return self.race.done
