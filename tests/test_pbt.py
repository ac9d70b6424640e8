"""Population-based training's decisions (``hydra_plugins.hpo_sweeper._pbt``) on real Optuna
distributions and studies: exploit, explore, failure replacement, resume, settings.

The end-to-end sweep (real jobs on Ray, weights really copied) is in ``tests/test_sweep_pbt.py``.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from hpo_record.study import ATTR_END, ATTR_MEMBER, ATTR_PARENT, ATTR_START
from hydra_plugins.hpo_sweeper import _pbt, _pbt_settings
from hydra_plugins.hpo_sweeper._explore import perturb, sample
from hydra_plugins.hpo_sweeper._pbt import Interval, Population
from hydra_plugins.hpo_sweeper._pbt_record import STALE_WAITING
from hydra_plugins.hpo_sweeper._pbt_settings import PbtError, PbtSettings

SPACE = {
    "model.learning_rate": FloatDistribution(1e-5, 1e-2, log=True),
    "model.ent_coef": FloatDistribution(0.0, 0.1),
    "model.n_epochs": IntDistribution(1, 20),
    "model.gae_lambda": CategoricalDistribution([0.8, 0.9, 0.95, 1.0]),
    "model.activation": CategoricalDistribution(["tanh", "relu"]),
    "model.net_width": CategoricalDistribution([32, 64, 128]),
}
MUTABLE = ("model.learning_rate", "model.ent_coef", "model.gae_lambda", "model.activation")
START = {"model.learning_rate": 1e-3, "model.ent_coef": 0.05, "model.n_epochs": 10, "model.gae_lambda": 0.9,
         "model.activation": "tanh", "model.net_width": 64}


def _settings(**kw: object) -> PbtSettings:
    values = {"population_size": 4, "interval": 100, "total": 300, "quantile_fraction": 0.25, "mutable": MUTABLE,
              "seed": 0}
    values.update(kw)
    return PbtSettings(**values)  # type: ignore[arg-type]


def _contains(dist: optuna.distributions.BaseDistribution, value: object) -> bool:
    return dist._contains(dist.to_internal_repr(value))


def test_perturb_multiplies_clips_and_steps_to_neighbouring_choices() -> None:
    rng = np.random.default_rng(0)
    lr = SPACE["model.learning_rate"]
    assert perturb(lr, 1e-3, 1.2, rng) == pytest.approx(1.2e-3)
    assert perturb(lr, 1e-3, 0.8, rng) == pytest.approx(0.8e-3)
    assert perturb(lr, 9e-3, 1.2, rng) == 1e-2  # clipped to the range
    assert perturb(SPACE["model.n_epochs"], 10, 1.2, rng) == 12
    assert perturb(SPACE["model.n_epochs"], 20, 1.2, rng) == 20
    gae = SPACE["model.gae_lambda"]
    assert perturb(gae, 0.9, 1.2, rng) == 0.95 and perturb(gae, 0.9, 0.8, rng) == 0.8
    assert perturb(gae, 1.0, 1.2, rng) == 1.0 and perturb(gae, 0.8, 0.8, rng) == 0.8
    stepped = FloatDistribution(0.0, 1.0, step=0.25)
    assert perturb(stepped, 0.5, 1.2, rng) == 0.5 and perturb(stepped, 0.75, 1.2, rng) == 1.0
    names = {perturb(SPACE["model.activation"], "tanh", 1.2, rng) for _ in range(50)}
    assert names == {"tanh", "relu"}  # not ordered: a choice drawn at random


def test_resampled_values_are_in_their_distributions_and_log_spaced() -> None:
    rng = np.random.default_rng(1)
    for dist in SPACE.values():
        assert all(_contains(dist, sample(dist, rng)) for _ in range(200))
    draws = np.array([sample(SPACE["model.learning_rate"], rng) for _ in range(4000)])
    below = np.mean(draws < 1e-4)  # log-uniform over 3 decades: a third below 1e-4 (uniform: 0.9 %)
    assert 0.28 < below < 0.39


def _run_first_intervals(pop: Population, scores: list[float]) -> list[Interval]:
    firsts = [pop.next_interval() for _ in scores]
    for i, (interval, score) in enumerate(zip(firsts, scores)):
        assert interval is not None and interval.params is None and interval.reason == "first"
        params = {**START, "model.learning_rate": 1e-3 * (i + 1)}
        pop.started(interval, params)
        pop.finished_interval(interval, trial=i, job_dir=f"/sweep/{i}", score=score)
    return firsts  # type: ignore[return-value]


def test_a_bottom_member_clones_a_top_one_explores_its_mutable_keys_and_inherits_the_rest() -> None:
    pop = Population(_settings(), SPACE, "maximize")
    _run_first_intervals(pop, [0.5, -1.0, 2.0, 0.1])
    started = [pop.next_interval() for _ in range(4)]
    by_member = {i.member: i for i in started if i is not None}
    assert set(by_member) == {0, 1, 2, 3}
    clone = by_member[1]  # the worst: bottom quarter of four is one member
    assert clone.reason == "exploit" and clone.exploited == 2 and clone.parent == 2
    assert clone.checkpoint == "/sweep/2" and (clone.start, clone.end) == (100, 200)
    donor = {**START, "model.learning_rate": 3e-3}
    assert clone.params is not None
    assert any(clone.params[k] != donor[k] for k in MUTABLE if k != "model.activation")
    for key in ("model.n_epochs", "model.net_width"):  # structural: inherited as they are
        assert clone.params[key] == donor[key]
    assert all(_contains(SPACE[k], v) for k, v in clone.params.items())
    assert "member 1" in clone.decided and "exploits member 2" in clone.decided
    for member in (0, 2, 3):  # the others continue their own
        assert by_member[member].reason == "continue" and by_member[member].checkpoint == f"/sweep/{member}"
        assert by_member[member].params == {**START, "model.learning_rate": 1e-3 * (member + 1)}


def test_the_control_member_trains_the_defaults_throughout_and_may_be_cloned() -> None:
    """Member 0 is the control: its intervals carry the default values and role control; in the
    bottom quantile it neither exploits nor explores, and when it fails it keeps its values."""
    defaults = {**START, "model.learning_rate": 3e-4}
    pop = Population(_settings(), SPACE, "maximize", control=defaults)
    first = pop.next_interval()
    assert first is not None and first.member == 0 and first.params == defaults
    assert first.attrs()["role"] == "control"
    pop.started(first, defaults)
    pop.finished_interval(first, trial=0, job_dir="/sweep/0", score=-3.0)  # the worst of four
    others = [pop.next_interval() for _ in range(3)]
    for i, interval in enumerate(others, start=1):
        assert interval is not None and interval.params is None and "role" not in interval.attrs()
        pop.started(interval, {**START, "model.learning_rate": 1e-3 * i})
        pop.finished_interval(interval, trial=i, job_dir=f"/sweep/{i}", score=float(i))
    nxt = {i.member: i for i in (pop.next_interval() for _ in range(4)) if i is not None}
    assert nxt[0].reason == "continue" and nxt[0].params == defaults and nxt[0].checkpoint == "/sweep/0"
    assert nxt[0].attrs()["role"] == "control"
    pop.finished_interval(nxt[0], trial=4, job_dir="/sweep/4", score=None)  # fails: retried as it was
    again = pop.next_interval()
    assert again is not None and again.member == 0 and again.params == defaults and again.reason == "retry"


def test_minimize_ranks_the_other_way() -> None:
    pop = Population(_settings(), SPACE, "minimize")
    _run_first_intervals(pop, [0.5, -1.0, 2.0, 0.1])
    started = {i.member: i for i in (pop.next_interval() for _ in range(4)) if i is not None}
    assert started[2].reason == "exploit" and started[2].exploited == 1


def test_members_never_go_back_and_the_population_ends_within_its_interval_budget() -> None:
    rng = np.random.default_rng(3)
    pop = Population(_settings(population_size=6, quantile_fraction=0.5, total=1000), SPACE, "maximize")
    jobs, trial, running = 0, 0, []
    while not pop.finished:
        while len(running) < 2 and pop.ready():  # two slots
            interval = pop.next_interval()
            assert interval is not None
            assert interval.start == pop.members[interval.member].timesteps
            pop.started(interval, interval.params or dict(START))
            running.append(interval)
        interval = running.pop(int(rng.integers(len(running))))
        before = pop.members[interval.member].timesteps
        pop.finished_interval(interval, trial, f"/sweep/{trial}", float(rng.normal()))
        assert pop.members[interval.member].timesteps >= before
        trial += 1
        jobs += 1
    assert jobs <= 6 * 10
    assert all(m.timesteps == 1000 for m in pop.members)
    assert not pop.ready() and pop.next_interval() is None


def test_a_failed_member_is_replaced_by_a_clone_or_restarts_when_none_has_a_score() -> None:
    pop = Population(_settings(), SPACE, "maximize")
    first = pop.next_interval()
    assert first is not None
    pop.started(first, START)
    pop.finished_interval(first, 0, "/sweep/0", None)  # failed before any member had a score
    again = pop.next_interval()
    assert again is not None and again.member == 0 and again.reason == "restart" and again.params is None
    assert again.start == 0 and again.checkpoint is None
    pop.started(again, START)
    others = [pop.next_interval() for _ in range(3)]
    for n, interval in enumerate(others, start=1):
        assert interval is not None
        pop.started(interval, START)
        pop.finished_interval(interval, n, f"/sweep/{n}", float(n))
    pop.finished_interval(again, 4, "/sweep/4", None)  # member 0 fails again: members 1-3 have scores
    replaced = pop.next_interval()
    assert replaced is not None and replaced.member == 0 and replaced.reason == "replace"
    assert replaced.exploited == 3 and replaced.checkpoint == "/sweep/3" and replaced.start == 100
    assert "replaced by a clone of member 3" in replaced.decided


def test_resume_rebuilds_each_member_from_its_latest_complete_interval() -> None:
    study = optuna.create_study(direction="maximize")
    dists = {"model.learning_rate": SPACE["model.learning_rate"]}

    def add(number_member: int, start: int, end: int, value: float | None, parent: int | None) -> None:
        state = TrialState.COMPLETE if value is not None else TrialState.FAIL
        study.add_trial(optuna.trial.create_trial(
            params={"model.learning_rate": 1e-3 * (number_member + 1)}, distributions=dists, value=value, state=state,
            user_attrs={ATTR_MEMBER: number_member, ATTR_START: start, ATTR_END: end,
                        ATTR_PARENT: parent, "job_dir": f"/sweep/{len(study.trials)}"}))

    add(0, 0, 100, 1.0, None)   # trial 0
    add(1, 0, 100, 0.5, None)   # trial 1
    add(0, 100, 200, 1.5, 0)    # trial 2
    add(1, 100, 200, None, 1)   # trial 3: cut by Ctrl-C
    pop = Population(_settings(population_size=3), dists, "maximize")
    assert pop.restore(study.get_trials()) == 3
    m0, m1, m2 = pop.members
    assert (m0.timesteps, m0.checkpoint, m0.parent, m0.score) == (200, "/sweep/2", 2, 1.5)
    assert (m1.timesteps, m1.checkpoint, m1.parent, m1.score) == (100, "/sweep/1", 1, 0.5)
    assert (m2.timesteps, m2.params) == (0, None)
    nxt = pop.next_interval()
    assert nxt is not None and nxt.member == 2 and nxt.reason == "first"


def test_settings_are_checked_in_one_line() -> None:
    config = OmegaConf.create({"train": {"total_timesteps": 300, "init_from": None}})
    conf = {"population_size": None, "perturbation_interval": 100, "quantile_fraction": 0.25,
            "resample_probability": 0.25, "perturbation_factors": [0.8, 1.2], "mutable": list(MUTABLE),
            "budget_key": "train.total_timesteps", "checkpoint_key": "train.init_from", "seed": 0}
    nop = optuna.pruners.NopPruner()
    ok = _pbt_settings.settings(conf, config, directions=["maximize"], pruner=nop, level=0.05)
    assert ok.total == 300 and ok.n_intervals == 3 and ok.population_size == 0 and ok.rank_fraction is None
    bad = [
        (dict(conf), ["maximize", "minimize"], nop, "2 objectives"),
        (dict(conf), ["maximize"], optuna.pruners.MedianPruner(), "pruner MedianPruner"),
        ({**conf, "budget_key": "train.steps"}, ["maximize"], nop, "budget_key=train.steps"),
        ({**conf, "checkpoint_key": "train.resume"}, ["maximize"], nop, "checkpoint_key=train.resume"),
        ({**conf, "population_size": 1}, ["maximize"], nop, "population_size=1"),
        ({**conf, "quantile_fraction": 0.7}, ["maximize"], nop, "quantile_fraction=0.7"),
        ({**conf, "perturbation_interval": 0}, ["maximize"], nop, "perturbation_interval=0"),
        ({**conf, "rank_fraction": 1.0}, ["maximize"], nop, "rank_fraction=1.0"),
        ({**conf, "rank_fraction": 0}, ["maximize"], nop, "rank_fraction=0.0"),
    ]
    for c, directions, pruner, words in bad:
        with pytest.raises(PbtError) as info:
            _pbt_settings.settings(c, config, directions=directions, pruner=pruner, level=0.05)
        assert words in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(PbtError, match="confirm.level=1.5"):
        _pbt_settings.settings(conf, config, directions=["maximize"], pruner=nop, level=1.5)
    assert math.ceil(250 / 100) == _settings(total=250).n_intervals


def test_a_failed_member_with_no_one_to_clone_retries_its_own_model_explored() -> None:
    pop = Population(_settings(population_size=2, total=200), SPACE, "maximize")
    a, b = pop.next_interval(), pop.next_interval()
    assert a is not None and b is not None
    pop.started(a, START)
    pop.started(b, START)
    pop.finished_interval(a, 0, "/sweep/0", 1.0)
    pop.finished_interval(b, 1, "/sweep/1", 0.5)
    a2, b2 = pop.next_interval(), pop.next_interval()
    assert a2 is not None and b2 is not None
    pop.started(a2, a2.params or START)
    pop.started(b2, b2.params or START)
    pop.finished_interval(a2, 2, "/sweep/2", 2.0)  # member 0 is done
    pop.finished_interval(b2, 3, "/sweep/3", None)  # member 1 fails its last interval
    retry = pop.next_interval()
    assert retry is not None and retry.member == 1 and retry.reason == "retry"
    # It continues the model its failed interval started from (member 1 had cloned member 0's).
    assert (retry.checkpoint, retry.start, retry.end) == (b2.checkpoint, 100, 200)
    assert retry.params is not None and b2.params is not None
    assert any(retry.params[k] != b2.params[k] for k in MUTABLE if k != "model.activation")
    assert "retries from its own last model" in retry.decided


def test_an_interval_left_waiting_by_a_killed_driver_is_failed_before_the_population_resumes() -> None:
    dists = {"model.learning_rate": SPACE["model.learning_rate"]}
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(
        params={"model.learning_rate": 1e-3}, distributions=dists, value=1.0,
        user_attrs={ATTR_MEMBER: 0, ATTR_START: 0, ATTR_END: 100, ATTR_PARENT: None,
                    "job_dir": "/sweep/0"}))
    study.enqueue_trial({"model.learning_rate": 5e-3})  # the driver died before its ask

    class Space:
        distributions = dists

    pop = _pbt.population(_settings(population_size=2), 1, Space(), "maximize", study)
    assert pop.members[0].timesteps == 100
    assert not study.get_trials(states=(TrialState.WAITING,))
    (stale,) = study.get_trials(states=(TrialState.FAIL,))
    assert stale.user_attrs["error"] == STALE_WAITING
    fresh = study.ask(fixed_distributions=dists)  # the next ask is the sampler's, not the stale point
    assert fresh.number == 2 and "fixed_params" not in study.trials[2].system_attrs
    assert "fixed_params" in study.trials[1].system_attrs  # (the stale one was the enqueued point)
