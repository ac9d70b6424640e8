"""Real multiruns: Optuna trials through the Ray launcher (and the basic one), on tiny budgets."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpo_record import files
from tests.sweep_helpers import (
    TINY,
    explain,
    job_config,
    job_dirs,
    job_metrics,
    job_overrides,
    load_study,
    results,
    run_app,
)

pytestmark = pytest.mark.slow


def test_ray_sweep_writes_jobs_study_and_results_that_agree(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_app(
        [*TINY, "hpo=quick_test", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2",
         "model.gamma=0.97",  # pinned: leaves the search
         "model.learning_rate=tag(log, interval(1e-4, 2e-4))"],  # re-ranged
        sweep,
    )
    assert proc.returncode == 0, explain(proc)
    study = load_study(sweep)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    # The driver printed a line per finished trial with the best so far.
    progress = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "] trial " in line]
    assert len(progress) == 4 and all("best" in line for line in progress)
    assert (sweep / files.MULTIRUN_FILE).exists()

    jobs = job_dirs(sweep)
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    by_job = {t.user_attrs["job_num"]: t for t in study.trials}
    for job in jobs:
        trial = by_job[int(job.name)]
        metrics = job_metrics(job)
        for name in (files.EVAL_CURVE_FILE, files.EQUITY_FILE, files.MODEL_FILE):
            assert (job / name).stat().st_size > 0
        # The trial's value is the job's validation objective.
        assert trial.value == metrics["objective"]["values"][0] == metrics["metrics"]["val/sharpe"]
        role = {"role": "control"} if trial.number == 0 else {}  # the first trial: the untuned default
        assert metrics["trial"] == {"number": trial.number, "study": "a2c", **role}
        # The re-range and the pin reached the model's config.
        config = job_config(job)
        assert 1e-4 <= config["model"]["learning_rate"] <= 2e-4
        assert config["model"]["gamma"] == 0.97
        # Every searched parameter is in the job's overrides with the trial's value.
        overrides = job_overrides(job)
        for name, value in trial.params.items():
            assert overrides[name] == value

    res = results(sweep)
    best = study.best_trial
    assert res["best_value"] == best.value and res["best_params"] == best.params
    assert res["best_trial"]["job_num"] == best.user_attrs["job_num"]
    assert res["search_space"]["model.learning_rate"] == {"type": "float", "low": 1e-4, "high": 2e-4, "log": True}
    assert "model.gamma" not in res["search_space"] and res["fixed_params"]["model.gamma"] == "0.97"
    assert res["counts"] == {"complete": 4, "pruned": 0, "failed": 0, "running": 0}


def test_failing_trial_is_recorded_and_the_sweep_completes(tmp_path):
    """Basic launcher; the grid makes one trial read a missing file."""
    sweep = tmp_path / "sweep"
    good = tmp_path / "prices.csv"
    from hpo_app.synthetic import synthetic_prices

    synthetic_prices(800, seed=1).to_csv(good)
    proc = run_app(
        [*TINY, "hydra/launcher=basic", "sampler=grid", "search_space=none", "data=csv", "hydra.sweeper.n_trials=4",
         f"data.path=choice({good},{tmp_path / 'missing.csv'})", "hydra.sweeper.max_failure_rate=0.5"],
        sweep,
    )
    assert proc.returncode == 0, explain(proc)
    study = load_study(sweep)
    states = sorted(t.state.name for t in study.trials)
    assert states == ["COMPLETE", "FAIL"]  # the grid has two points
    failed = next(t for t in study.trials if t.state == TrialState.FAIL)
    assert "missing.csv" in failed.user_attrs["error"]
    job = sweep / str(failed.user_attrs["job_num"])
    assert job_metrics(job)["state"] == files.STATE_FAILED
    assert "missing.csv" in job_metrics(job)["error"]
    assert "DataError" in (job / files.ERROR_FILE).read_text()
    assert results(sweep)["counts"]["failed"] == 1


def test_too_many_failures_stop_the_sweep_with_a_clear_message(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_app(
        [*TINY, "hydra/launcher=basic", "data=csv", "search_space=none", "sampler=random",
         f"data.path=choice({tmp_path / 'missing.csv'}, {tmp_path / 'absent.csv'})",
         "hydra.sweeper.n_trials=5", "hydra.sweeper.max_failure_rate=0.2"],
        sweep,
    )
    assert proc.returncode == 1, explain(proc)
    assert "more than max_failure_rate=0.2" in proc.stdout + proc.stderr
    study = load_study(sweep)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2  # budget: 0.2 * 5 = 1 failure
    assert results(sweep)["counts"]["failed"] == 2


def test_multi_objective_sweep_writes_the_pareto_front(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_app(
        [*TINY, "hydra/launcher=basic", "objective=sharpe_drawdown", "hydra.sweeper.n_trials=4"],
        sweep,
    )
    assert proc.returncode == 0, explain(proc)
    points = {}
    for job in job_dirs(sweep):
        m = job_metrics(job)
        points[int(job.name)] = (m["metrics"]["val/sharpe"], m["metrics"]["val/max_drawdown"])
    # Non-dominated set computed from the jobs' metrics files: max sharpe, min drawdown.
    def dominated(p, q):
        return q[0] >= p[0] and q[1] <= p[1] and q != p
    front = {j for j, p in points.items() if not any(dominated(p, q) for q in points.values())}
    solutions = results(sweep)["solutions"]
    assert {s["job_num"] for s in solutions} == front
    for s in solutions:
        assert s["values"] == list(points[s["job_num"]])


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.learning_rate=tag(log, interval(1e-3, 1e-5))", "model.learning_rate"),
        ("+model.not_a_param=choice(1, 2)", "model.not_a_param"),
        ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0"),
        ("model.n_steps=interval(0.5, 0.9)", "model.n_steps"),
        ("data.n_bars=100", "too few rows"),  # the data every trial would use is checked once
        ("+env.typo=choice(1, 2)", "env.typo"),
        ("hydra.sweep.subdir=trial_${hydra.job.num}", "hydra.sweep.subdir=trial_${hydra.job.num}: this sweeper"),
        ("model.n_steps=range(16, 16)", "model.n_steps=range(16, 16): ValueError: An Optuna range sweep must contain at least one value"),
        ("data=choice(synthetic, no_such_data)", "no_such_data"),  # every choice is composed and checked
        ("model.gamma=choice(0.9, 1.5, 0.99)", "model.gamma=1.5: must be a number in [0, 1]"),
        ("+hydra.sweeper.bogus=1", "hydra.sweeper.bogus: unknown key (known: confirm, control,"),
        ("+foo=choice(1, 2)", "foo: unknown key"),  # a searched key that would reach nothing
        ("objective=glob(sh*)", "objective=glob(sh*): glob() is not a search space here"),
    ],
)
def test_invalid_sweep_input_fails_before_any_trial(tmp_path, override, message):
    sweep = tmp_path / "sweep"
    proc = run_app([*TINY, "hydra/launcher=basic", override], sweep, timeout=120)
    assert proc.returncode == 2, explain(proc)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], explain(proc)
    assert "Traceback" not in proc.stderr
    assert not sweep.exists() or not job_dirs(sweep)


def test_a_trial_whose_config_does_not_compose_fails_alone_on_ray(tmp_path):
    """The grid gives one trial a data option that does not exist: that trial is FAIL with its
    error in its job directory, the other completes, and the sweep ends normally. (hpo_app's check
    hook composes every choice before any trial and would refuse this sweep: it is switched off,
    as an app without that hook would have it.)"""
    sweep = tmp_path / "sweep"
    proc = run_app(
        [*TINY, "sampler=grid", "search_space=none", "data=choice(synthetic, no_such_data)", "hydra.sweeper.hooks.check=null",
         "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "hydra.sweeper.max_failure_rate=0.5"],
        sweep,
    )
    assert proc.returncode == 0, explain(proc)
    study = load_study(sweep)
    by_state = {t.state: t for t in study.trials}
    assert set(by_state) == {TrialState.COMPLETE, TrialState.FAIL}
    failed = by_state[TrialState.FAIL]
    assert failed.params == {"data": "no_such_data"}
    assert "no_such_data" in failed.user_attrs["error"]
    assert "no_such_data" in (sweep / str(failed.user_attrs["job_num"]) / files.ERROR_FILE).read_text()
