"""The sweeper plugin on a Hydra app that is not hpo_app (bench/trivial_app.py), and its trial side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from hpo_record.trial import TrialLink
from optuna.trial import TrialState

from tests.sweep_helpers import REPO, explain


def _trivial(args: list[str], sweep: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run([sys.executable, "bench/trivial_app.py", "-m", f"hydra.sweep.dir={sweep}", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["hpo_ray", "basic"])
def test_the_sweeper_runs_an_app_it_knows_nothing_about(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    proc = _trivial([f"hydra/launcher={launcher}", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2",
                     "mode=instant"], sweep)
    assert proc.returncode == 0, explain(proc)
    study = optuna.load_study(study_name="study", storage=f"sqlite:///{sweep / 'optuna.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    for trial in study.trials:  # each value is what the task returned for the trial's x
        timing = json.loads((sweep / str(trial.user_attrs["job_num"]) / "timing.json").read_text())
        assert trial.value == timing["value"] == trial.params["x"] ** 2
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == min(t.value for t in study.trials)
    assert results["counts"] == {"complete": 6, "pruned": 0, "failed": 0, "running": 0}
    assert sum("] trial " in line for line in (proc.stdout + proc.stderr).splitlines()) == 6


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_the_trial_side_reports_and_the_pruner_decides(tmp_path, direction):
    """A trial far worse than the others at the same step is pruned by the median rule."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(study_name="s", storage=storage, direction=direction)
    sign = 1 if direction == "maximize" else -1
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    for value in (1.0, 2.0):  # two finished trials with a value at step 1
        trial = study.ask()
        link = TrialLink(storage, study, storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name("s"), trial.number), trial.number, pruner)
        link.report(sign * value, 1)
        assert not link.should_prune()  # startup trials are never pruned
        study.tell(trial, sign * value)
    trial = study.ask()
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("s"), trial.number)
    link = TrialLink(storage, study, trial_id, trial.number, pruner)
    link.report(sign * 1.9, 1)
    assert not link.should_prune()  # better than the median (1.5) at step 1
    link.report(sign * -5.0, 2)
    assert not link.should_prune()  # no other trial reached step 2: nothing to compare with
    assert storage.get_trial(trial_id).intermediate_values == {1: sign * 1.9, 2: sign * -5.0}
    worse = study.ask()
    link = TrialLink(storage, study, storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name("s"), worse.number), worse.number, pruner)
    link.report(sign * 0.5, 1)
    assert link.should_prune()  # worse than the median of the finished trials at step 1


@pytest.mark.slow
def test_journal_storage_and_the_gp_sampler(tmp_path):
    """Optuna's journal file as the study's storage (several drivers on one file system), with
    Optuna's Gaussian-process sampler."""
    sweep = tmp_path / "sweep"
    proc = _trivial(["hydra/launcher=basic", "hydra.sweeper.storage=journal", "hydra/sweeper/sampler=gp",
                     "hydra.sweeper.sampler.n_startup_trials=3", "hydra.sweeper.n_trials=6", "mode=instant"], sweep)
    assert proc.returncode == 0, explain(proc)
    assert "sampler GPSampler" in proc.stdout + proc.stderr
    assert not (sweep / "optuna.db").exists()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(sweep / "optuna.journal")))
    study = optuna.load_study(study_name="study", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert all(t.value == t.params["x"] ** 2 for t in study.trials)


@pytest.mark.slow
def test_a_resumed_grid_sweep_runs_the_points_that_were_cut_and_nothing_twice(tmp_path):
    """Two grid points finished, two were interrupted: resuming runs exactly those two (the grid
    sampler alone would count them as visited)."""
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    grid = [0.0, 0.5, 1.0, 1.5]
    dist = {"x": optuna.distributions.CategoricalDistribution(grid)}
    study = optuna.create_study(study_name="study", storage=f"sqlite:///{sweep / 'optuna.db'}")
    for x in (0.0, 0.5):
        study.add_trial(optuna.trial.create_trial(params={"x": x}, distributions=dist, value=x * x))
    for x in (1.0, 1.5):
        study.add_trial(optuna.trial.create_trial(params={"x": x}, distributions=dist, state=TrialState.FAIL,
                                                  user_attrs={"interrupted": True, "error": "interrupted"}))
    proc = _trivial(["hydra/launcher=basic", "hydra/sweeper/sampler=grid", "x=choice(0.0, 0.5, 1.0, 1.5)",
                     "hydra.sweeper.n_trials=4", "hydra.sweeper.resume=true", "mode=instant"], sweep)
    assert proc.returncode == 0, explain(proc)
    study = optuna.load_study(study_name="study", storage=f"sqlite:///{sweep / 'optuna.db'}")
    new = [t for t in study.trials if t.number >= 4]
    assert sorted(t.params["x"] for t in new) == [1.0, 1.5]
    assert all(t.state == TrialState.COMPLETE for t in new)


def test_the_trial_link_from_the_jobs_environment(tmp_path, monkeypatch):
    """What the driver puts in a job's environment gives the job its trial (outside Hydra, the
    pruner is Optuna's NopPruner)."""
    from hpo_record.trial import current_trial, environment

    assert current_trial() is None  # not in a sweep
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("s"), trial.number)
    for key, value in environment(url, "s", trial_id, trial.number).items():
        monkeypatch.setenv(key, value)
    link = current_trial()
    assert (link.number, link.study_name, link.trial_id) == (trial.number, "s", trial_id)
    link.report(0.25, 3)
    assert not link.should_prune()
    assert study.trials[0].intermediate_values == {3: 0.25}


def test_a_pruned_trial_says_its_value_as_the_log_does(tmp_path):
    """The reason a pruned trial gives (the driver prints it) shows the objective as hpo_app's log and
    report show that metric, not with Optuna's raw digits."""
    from hpo_app import fmt
    from hpo_app.specs import Evaluation
    from hpo_app.trial_link import TrialLink
    from hpo_record.trial import TrialLink as SweepTrial

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("s"), trial.number)
    pruner = optuna.pruners.ThresholdPruner(lower=0.0)  # prunes any value below 0
    link = TrialLink(SweepTrial(storage=storage, study=study, trial_id=trial_id, number=trial.number,
                                pruner=pruner), "val/sharpe")
    value = -0.81234
    with pytest.raises(optuna.TrialPruned) as caught:
        link(Evaluation(index=2, step=2, timesteps=3000, objective=value, metrics={"val/sharpe": value}))
    assert str(caught.value) == f"pruned at evaluation 2 (3000 steps), value {fmt.metric('val/sharpe', value)}"
    assert fmt.metric("val/sharpe", value) != f"{value:.4f}"  # the log's form, not Optuna's 4 decimals
    assert study.trials[0].intermediate_values == {2: value}


@pytest.mark.parametrize("name", ["none", "median", "percentile", "asha", "hyperband"])
def test_every_pruner_config_builds_its_optuna_pruner(name):
    from hydra.core.config_store import ConfigStore
    from hydra_plugins.hpo_sweeper import config  # noqa: F401 - registers the pruner configs
    from hpo_record.trial import build_pruner

    node = ConfigStore.instance().load(f"hydra/sweeper/pruner/{name}.yaml").node
    pruner = build_pruner(node)
    assert isinstance(pruner, optuna.pruners.BasePruner)
    assert type(pruner).__name__ == node._target_.rsplit(".", 1)[1]
