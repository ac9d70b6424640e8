"""A resumed sweep must be the same sweep: its identity is recorded when the study starts and
compared on resume (hydra_plugins/hpo_sweeper/_identity.py), on real configs and studies, and
end to end with the real command."""

from __future__ import annotations

import optuna
import pytest

from hpo_record.study import ATTR_IDENTITY
from hydra_plugins.hpo_sweeper._identity import (
    differences,
    identity,
    refusal,
)
from hydra_plugins.hpo_sweeper._space import parse
from hydra_plugins.hpo_sweeper._study import StudyError, open_study, quiet_optuna
from tests.conftest import compose_config as compose
from tests.sweep_helpers import TINY, explain, load_study, run_app

SPACE = ["model.learning_rate=tag(log, interval(1e-5, 1e-3))", "model.gamma=choice(0.9, 0.99)"]
IGNORE = ["resources", "train.device"]


def _identity(overrides: list[str], space: list[str] = SPACE, metric: str = "val/sharpe") -> dict:
    config = compose(overrides)
    return identity(config, parse(space, []), ["maximize"], [metric], IGNORE)


def test_the_same_command_has_the_same_identity_and_searched_keys_are_not_part_of_it():
    a = _identity(["model=ppo", "model.learning_rate=0.001"])
    b = _identity(["model=ppo", "model.learning_rate=0.0002"])  # a searched key: differs by trial
    assert differences(a, b) == []
    assert "model.learning_rate" not in a["config"] and "model.n_steps" in a["config"]
    assert a["space"]["model.learning_rate"] == "[1e-05, 0.001], log"


def test_each_kind_of_difference_is_named():
    base = _identity(["model=ppo"])
    assert "model.name is a2c here, ppo in the sweep" in differences(base, _identity(["model=a2c"]))
    assert differences(base, _identity(["model=ppo", "data.edge=0"])) == ["data.edge is 0 here, 0.15 in the sweep"]
    assert differences(base, _identity(["model=ppo"], metric="val/sortino")) == [
        "objective maximize val/sortino here, maximize val/sharpe in the sweep"]
    wider = ["model.learning_rate=tag(log, interval(1e-5, 1e-2))", "model.gamma=choice(0.9, 0.99)"]
    assert differences(base, _identity(["model=ppo"], space=wider)) == [
        "model.learning_rate is searched in [1e-05, 0.01], log here, [1e-05, 0.001], log in the sweep"]
    assert differences(base, _identity(["model=ppo"], space=SPACE[:1])) == [
        "model.gamma is searched in the sweep, not here", "model.gamma=0.99 is set here, not in the sweep"]


def test_keys_a_user_may_change_are_ignored():
    base = _identity(["model=ppo"])
    assert differences(base, _identity(["model=ppo", "resources.cpus_per_trial=2", "train.device=cuda"])) == []


def test_a_key_added_to_resume_ignore_on_resume_is_ignored_in_the_recorded_sweep_too():
    base = _identity(["model=ppo"])  # recorded without model.learning_rate in its ignore list
    wider = ["model.learning_rate=tag(log, interval(1e-5, 1e-2))", "model.gamma=choice(0.9, 0.99)"]
    resumed = identity(compose(["model=ppo"]), parse(wider, []), ["maximize"], ["val/sharpe"],
                       [*IGNORE, "model.learning_rate"])
    assert differences(base, resumed) == []
    assert differences(base, _identity(["model=ppo"], space=wider)) != []  # without it: refused


def test_a_key_the_sweep_ignored_stays_ignored_when_the_resume_list_leaves_it_out():
    recorded = _identity(["model=ppo"])  # IGNORE holds train.device
    resumed = identity(compose(["model=ppo", "train.device=cuda"]), parse(SPACE, []), ["maximize"], ["val/sharpe"],
                       ["resources"])
    assert differences(recorded, resumed) == []


def test_the_refusal_is_one_line_naming_the_first_differences():
    differ = differences(_identity(["model=ppo"]), _identity(["model=ppo", "seed=3", "data.edge=0", "env.cost_bps=1",
                                                               "data.n_bars=900"]))
    assert len(differ) == 4
    text = refusal(differ, "multirun/x", "ppo")
    assert "\n" not in text and "study 'ppo' in multirun/x" in text
    assert "data.edge is 0 here, 0.15 in the sweep" in text and "; and 1 more" in text


def test_open_study_records_the_identity_and_refuses_another_on_resume(tmp_path):
    quiet_optuna()
    url = f"sqlite:///{tmp_path / 'optuna.db'}"

    def open_(ident: dict, resume: bool) -> optuna.study.Study:
        return open_study(url=url, study_name="ppo", sampler=optuna.samplers.RandomSampler(),
                          pruner=optuna.pruners.NopPruner(), directions=["maximize"], metrics=["val/sharpe"],
                          resume=resume, heartbeat_interval=30, grace_period=120, on_stale=lambda s, t: None,
                          identity=ident, where="multirun/x")[0]

    first = _identity(["model=ppo"])
    study = open_(first, resume=False)
    assert study.user_attrs[ATTR_IDENTITY] == first
    study.add_trial(optuna.trial.create_trial(value=1.0))
    assert open_(_identity(["model=ppo", "train.device=cuda"]), resume=True).user_attrs[ATTR_IDENTITY] == first
    with pytest.raises(StudyError, match=r"train.total_timesteps is 999 here, 30000 in the sweep"):
        open_(_identity(["model=ppo", "train.total_timesteps=999"]), resume=True)


@pytest.mark.slow
def test_end_lines_and_resume_refusals_with_the_real_command(tmp_path):
    sweep = tmp_path / "sweep"
    base = [*TINY, "hydra/launcher=basic", "hydra.sweeper.n_trials=1"]
    first = run_app(base, sweep)
    assert first.returncode == 0, explain(first)
    out = first.stdout + first.stderr
    assert "Sweep finished: 1 trial(s) in study 'a2c' (1 complete, 0 pruned, 0 failed; n_trials=1)" in out
    assert "Best: trial 0, val/sharpe " in out
    assert f"  report:  python -m analysis.report {sweep}" in out and "  resume:  " not in out

    def refused(args: list[str], *needles: str) -> None:
        proc = run_app(args, sweep)
        assert proc.returncode == 2, explain(proc)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), explain(proc)
        for needle in needles:
            assert needle in lines[0], lines[0]

    resume = "hydra.sweeper.resume=true"
    refused([*base, "model=dqn", resume], "holds study 'a2c', not 'dqn'")
    refused([*base, "train.total_timesteps=800", resume], "train.total_timesteps is 800 here, 600 in the sweep")
    refused([*base, "model.gamma=choice(0.9, 0.95)", resume], "model.gamma is searched in choice(0.9, 0.95) here")
    refused([*base, "model=dqn"], "already holds the sweep of study 'a2c'")
    assert len(load_study(sweep).trials) == 1  # nothing was run by the refused commands

    allowed = run_app([*TINY, "hydra/launcher=basic", "hydra.sweeper.n_trials=2", "train.save_model=false", resume], sweep)
    assert allowed.returncode == 0, explain(allowed)
    assert len(load_study(sweep).trials) == 2


def test_drivers_started_together_on_one_study_do_not_draw_the_same_points(tmp_path):
    """Two drivers with the same seed, both resume=true on a study that has no trial yet: the
    sampler is reseeded for each, so their first points differ (without resume, one seed gives
    one sequence: a sweep can be repeated)."""
    quiet_optuna()
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    dist = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}

    def first_point(resume: bool, name: str) -> float:
        study = open_study(url=url, study_name=name, sampler=optuna.samplers.RandomSampler(seed=0),
                           pruner=optuna.pruners.NopPruner(), directions=["maximize"], metrics=None,
                           resume=resume, heartbeat_interval=30, grace_period=120, on_stale=lambda s, t: None)[0]
        return float(study.ask(dist).params["x"])

    assert first_point(True, "shared") != first_point(True, "shared")
    assert first_point(False, "a") == first_point(False, "b")
