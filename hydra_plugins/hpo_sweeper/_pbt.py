"""Population-based training (Jaderberg et al. 2017, "Population Based Training of Neural
Networks"), asynchronous, with Ray Tune's ``PopulationBasedTraining`` defaults as the reference.

A population of ``population_size`` members trains in intervals of ``perturbation_interval``
steps. Each interval is one job (one Optuna trial, one job directory): it continues the member's
checkpoint (the job directory of its last interval, passed to the job as ``checkpoint_key``) until
the member has ``(k + 1) * perturbation_interval`` steps (``budget_key``), and returns the
member's validation score. The first interval's hyperparameters are the sampler's.

Before a member starts its next interval, it is ranked by its latest score among the latest scores
of the others that are not done (no generation barrier; with fewer slots than members the others
have mostly reached its steps by then): in the bottom ``quantile_fraction`` it **exploits** a member
of the top quantile that is at least as far on (its next interval continues that member's
checkpoint: weights, optimizer state, timestep counter, with that member's hyperparameters; a
member never goes back in steps), then **explores**: each mutable
hyperparameter is resampled from the search space with probability ``resample_probability``,
else perturbed (x0.8 or x1.2 for numbers, clipped to the range; the neighbouring choice of an
ordered choice). The others (structural: network shape, rollout length...) are inherited as
they are. A member whose interval fails is replaced by a clone of a top member in the same way
(when no other member can be cloned: its own last model with explored hyperparameters, or a
fresh member when it has none). A member is done when it has the whole budget.

Nothing here touches Optuna's storage or the launcher: :class:`Population` decides, the runner
asks, launches and tells; each trial records its member, its interval's steps and where it
started from (``ATTR_*`` of :mod:`hpo_record.study`; :mod:`hydra_plugins.hpo_sweeper._pbt_record`),
so a resumed sweep rebuilds the population from the study.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
)

from hpo_record.study import (
    ATTR_END,
    ATTR_ROLE,
    ATTR_EXPLOITED,
    ATTR_JOB_DIR,
    ATTR_MEMBER,
    ATTR_PARENT,
    ATTR_REASON,
    ATTR_START,
    ROLE_CONTROL,
)

from hydra_plugins.hpo_sweeper._explore import perturb, sample
from hydra_plugins.hpo_sweeper._pbt_record import discard_waiting
from hydra_plugins.hpo_sweeper._pbt_settings import PbtSettings

log = logging.getLogger("hydra_plugins.hpo_sweeper")

@dataclass(frozen=True)
class Interval:
    """One job to launch: a member's next interval."""

    member: int
    params: dict[str, Any] | None  # None: the sampler's (a member's first interval)
    start: int
    end: int
    checkpoint: str | None  # the job directory it continues
    parent: int | None  # that job's trial number
    exploited: int | None  # the member whose checkpoint was cloned for it
    reason: str  # first, continue, exploit, replace, retry, restart
    decided: str = ""  # the exploit or replacement decided for it, in words
    control: bool = False  # the control member's: the untuned default, never exploited nor explored

    def attrs(self) -> dict[str, Any]:
        return {ATTR_MEMBER: self.member, ATTR_START: self.start, ATTR_END: self.end, ATTR_PARENT: self.parent,
                ATTR_EXPLOITED: self.exploited, ATTR_REASON: self.reason,
                **({ATTR_ROLE: ROLE_CONTROL} if self.control else {})}


@dataclass
class Member:
    index: int
    params: dict[str, Any] | None = None  # in force for the next interval (None: sample them)
    timesteps: int = 0  # steps of its checkpoint
    checkpoint: str | None = None  # job directory of its checkpoint
    parent: int | None = None  # the trial that wrote the checkpoint
    score: float | None = None  # its latest validation score
    exploited: int | None = None  # member cloned for the next interval
    reason: str = "first"  # of its next interval; "ranked" / "failed": its last one ended, not yet decided
    running: bool = False
    control: bool = False  # trains the default values throughout: never exploits, never explores


class Population:
    def __init__(self, settings: PbtSettings, distributions: Mapping[str, BaseDistribution], direction: str,
                 control: Mapping[str, Any] | None = None, rank_score: Callable[[str], float] | None = None) -> None:
        """``rank_score``: a finished interval's ranking score from its job directory (higher is better;
        ``_pbt_verdict.rank_score``); None: members rank on the objective."""
        self.settings = settings
        self.distributions = dict(distributions)
        self.rank_score = rank_score
        self.sign = 1.0 if direction == "maximize" or rank_score is not None else -1.0
        self.rng = np.random.default_rng(settings.seed)
        self.members = [Member(i) for i in range(settings.population_size)]
        if control is not None:  # member 0: the untuned default, at the same budget (others may clone it)
            self.members[0].params, self.members[0].control = dict(control), True

    # -- scheduling ------------------------------------------------------------------------
    def done(self, member: Member) -> bool:
        return member.timesteps >= self.settings.total

    @property
    def finished(self) -> bool:
        return all(self.done(m) and not m.running for m in self.members)

    def remaining(self) -> int:
        """Intervals still to run (the running ones included), as things stand."""
        return sum(math.ceil((self.settings.total - m.timesteps) / self.settings.interval) for m in self.members)

    def ready(self) -> bool:
        return any(not m.running and not self.done(m) for m in self.members)

    def next_interval(self) -> Interval | None:
        """The next interval of the idle member that is furthest behind (None: all busy or done).
        Its exploit decision is made now, against the others' latest scores: with fewer slots than
        members, the others have mostly reached its steps by then (no barrier: none is waited for)."""
        idle = [m for m in self.members if not m.running and not self.done(m)]
        if not idle:
            return None
        m = min(idle, key=lambda x: (x.timesteps, x.index))
        decided = self._replace(m) if m.reason == "failed" else self._exploit(m) if m.reason == "ranked" else ""
        m.running = True
        end = min(self.settings.total, (m.timesteps // self.settings.interval + 1) * self.settings.interval)
        return Interval(m.index, None if m.params is None else dict(m.params), m.timesteps, end, m.checkpoint,
                        m.parent, m.exploited, m.reason, decided, m.control)

    def started(self, interval: Interval, params: Mapping[str, Any]) -> None:
        """The interval's trial was asked: these are its hyperparameters (the sampler's, for a first one)."""
        self.members[interval.member].params = dict(params)

    # -- exploit and explore ---------------------------------------------------------------
    def finished_interval(self, interval: Interval, trial: int, job_dir: str, score: float | None) -> str:
        """Take an interval's result (``score`` None: it failed); returns it in words, for the
        progress line. What the member does next is decided when its next interval starts."""
        m = self.members[interval.member]
        m.running = False
        m.exploited = None
        unranked = ""
        if score is not None and self.rank_score is not None and interval.end < self.settings.total:
            try:  # (a member done is ranked no more)
                score = self.rank_score(job_dir)
            except Exception as err:  # noqa: BLE001 - it goes on, ranked last (as a resume would rank it)
                score, unranked = -math.inf, f" (ranked last: no ranking score, {err})"
        if score is None:
            m.reason = "failed"
            return f"member {m.index} failed at {interval.start} steps"
        m.timesteps, m.checkpoint, m.parent, m.score, m.reason = interval.end, job_dir, trial, float(score), "ranked"
        if self.done(m):
            return f"member {m.index} done ({interval.end} steps)"
        return f"member {m.index} at {interval.end} steps{unranked}"

    def _exploit(self, m: Member) -> str:
        """A member in the bottom quantile clones a top one (at least as far on) and explores."""
        m.reason = "continue"
        bottom, top = self._quantiles()
        if m.control or m.index not in {b.index for b in bottom}:
            return ""
        # Only a donor at least as far as this member: a member never goes back in steps, so each
        # runs at most n_intervals intervals (one that cloned a member further on, fewer).
        donors = [d for d in top if d.index != m.index and d.timesteps >= m.timesteps]
        if not donors:
            return f"member {m.index} is in the bottom quantile; no top member as far on to clone: it continues"
        donor = donors[int(self.rng.integers(len(donors)))]
        self._clone(m, donor, "exploit")
        return (f"member {m.index} (score {m.score:.4g}) exploits member {donor.index} (score "
                f"{donor.score:.4g}, {donor.timesteps} steps) and explores")

    def _replace(self, m: Member) -> str:
        if m.control:  # the control keeps its values: from its own last model, or from scratch
            m.reason = "retry" if m.checkpoint is not None else "restart"
            return f"member {m.index} (the control) failed; {m.reason}s with the default values"
        others = [x for x in self.members if x.index != m.index and x.score is not None and not self.done(x)]
        if not others and m.checkpoint is not None and m.params is not None:
            m.params, m.reason = self.explore(m.params), "retry"
            return f"member {m.index} failed; retries from its own last model with explored hyperparameters (no member to clone)"
        if not others:
            m.params, m.timesteps, m.checkpoint, m.parent, m.score, m.reason = None, 0, None, None, None, "restart"
            return f"member {m.index} failed; restarts from scratch with new hyperparameters (no member to clone)"
        _, top = self._quantiles(others)
        donors = top or [max(others, key=lambda x: self.sign * float(x.score))]
        donor = donors[int(self.rng.integers(len(donors)))]
        self._clone(m, donor, "replace")
        return f"member {m.index} failed; replaced by a clone of member {donor.index} ({donor.timesteps} steps)"

    def _clone(self, m: Member, donor: Member, reason: str) -> None:
        assert donor.params is not None
        m.params = self.explore(donor.params)
        # Its own latest score stays until its next interval reports (as in Ray Tune).
        m.timesteps, m.checkpoint, m.parent = donor.timesteps, donor.checkpoint, donor.parent
        m.exploited, m.reason = donor.index, reason

    def _quantiles(self, members: Sequence[Member] | None = None) -> tuple[list[Member], list[Member]]:
        """(bottom, top) of the members with a score that are not done, by latest score; Ray
        Tune's sizes: ceil(n * q), at most half."""
        pool = members if members is not None else self.members
        scored = sorted((x for x in pool if x.score is not None and not self.done(x)),
                        key=lambda x: (self.sign * float(x.score), -x.index))
        k = math.ceil(len(scored) * self.settings.quantile_fraction)
        k = min(k, len(scored) // 2)
        if k == 0:
            return [], []
        return scored[:k], scored[-k:]

    def explore(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with each mutable one resampled (probability ``resample_probability``) or perturbed."""
        out = dict(params)
        for name in self.settings.mutable:
            dist = self.distributions.get(name)
            if dist is None or name not in out:
                continue
            if self.rng.random() < self.settings.resample_probability:
                out[name] = sample(dist, self.rng)
            else:
                out[name] = perturb(dist, out[name], float(self.rng.choice(self.settings.factors)), self.rng)
        return out

    # -- resume ----------------------------------------------------------------------------
    def restore(self, trials: Sequence[Any]) -> int:
        """Rebuild the members from a study's finished intervals (``FrozenTrial`` with the
        ``ATTR_*`` user attributes); each continues from its latest complete interval (an
        interval cut by the interruption runs again). Returns the intervals found."""
        found = 0
        for t in sorted(trials, key=lambda t: t.number):
            index = t.user_attrs.get(ATTR_MEMBER)
            if index is None or not 0 <= int(index) < len(self.members) or t.state.name != "COMPLETE":
                continue
            found += 1
            m = self.members[int(index)]
            end = int(t.user_attrs[ATTR_END])
            if end >= m.timesteps:
                m.params, m.timesteps, m.parent, m.score = dict(t.params), end, t.number, float(t.value)
                m.checkpoint, m.reason = t.user_attrs.get(ATTR_JOB_DIR), "ranked"
                if self.rank_score is not None:
                    try:
                        m.score = self.rank_score(str(m.checkpoint))
                    except Exception:  # noqa: BLE001 - its record is gone: it ranks last until it trains again
                        m.score = -math.inf
        return found


def job_overrides(settings: PbtSettings, interval: Interval, quote: Any) -> list[str]:
    """What an interval's job is told beyond its hyperparameters: the steps to reach, the checkpoint."""
    out = [f"{settings.budget_key}={interval.end}"]
    if settings.seed_key:  # a member's own seed: a clone does not replay its donor's next interval
        out.append(f"{settings.seed_key}={settings.base_seed + interval.member}")
    if interval.checkpoint is not None:
        out.append(f"{settings.checkpoint_key}={quote(interval.checkpoint)}")
    return out


def population(settings: PbtSettings, slots: int, space: Any, direction: str, study: Any,
               control: Mapping[str, Any] | None = None,
               rank_score: Callable[[str], float] | None = None) -> Population:
    """The sweep's population: ``population_size`` members (null: twice ``slots``, at least 4),
    member 0 the ``control`` when given, rebuilt from the study's finished intervals when it has
    some (a resumed sweep)."""
    if not settings.population_size:
        settings = replace(settings, population_size=max(4, 2 * slots))
    pop = Population(settings, space.distributions, direction, control, rank_score)
    found = pop.restore(study.get_trials(deepcopy=False))
    stale = discard_waiting(study)
    if stale:
        log.warning("%d interval(s) enqueued by a driver that stopped before starting them: marked FAIL", stale)
    explored = [k for k in settings.mutable if k in space.distributions]
    ignored = [k for k in settings.mutable if k not in space.distributions]
    log.info("Population-based training: %d members x %d interval(s) of %d steps (%d in all)%s; explored: %s; "
             "inherited: %s%s%s", settings.population_size, settings.n_intervals, settings.interval, settings.total,
             ", member 0 the control (the untuned default)" if control is not None else "",
             ", ".join(explored) or "none", ", ".join(k for k in space.distributions if k not in explored) or "none",
             f"; mutable but not searched here (ignored): {', '.join(ignored)}" if ignored else "",
             f"; resumed from {found} finished interval(s)" if found else "")
    return pop
