"""Pruning, asynchronous dispatch and resume, on real multiruns."""

from __future__ import annotations

import csv
import hashlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo_record import files
from hpo_record.study import INTERRUPTED
from hydra_plugins.hpo_sweeper._study import counts
from tests.sweep_helpers import (
    REPO,
    TINY,
    explain,
    job_dirs,
    job_metrics,
    load_study,
    n_complete,
    results,
    run_app,
)

pytestmark = pytest.mark.slow


def _create_study(sweep: Path, enqueued: list[dict]) -> optuna.study.Study:
    sweep.mkdir(parents=True)
    study = optuna.create_study(
        study_name="a2c", storage=f"sqlite:///{sweep / files.STUDY_DB_FILE}", direction="maximize"
    )
    for params in enqueued:
        study.enqueue_trial(params)
    return study


def test_median_pruner_prunes_a_clearly_worse_trial_and_keeps_its_partial_curve(tmp_path):
    sweep = tmp_path / "sweep"
    # Two ordinary trials, then one that pays 20% per trade: its first evaluation is far below
    # the median of the others at the same step.
    _create_study(sweep, [{"env.cost_bps": 0}, {"env.cost_bps": 0}, {"env.cost_bps": 2000}])
    proc = run_app(
        [*TINY, "train.total_timesteps=800", "hydra/launcher=basic", "search_space=none",
         "scheduler=median", "hydra.sweeper.pruner.n_startup_trials=2", "hydra.sweeper.pruner.n_warmup_steps=0", "env.cost_bps=choice(0, 2000)",
         "hydra.sweeper.n_trials=3", "hydra.sweeper.resume=true"],
        sweep,
    )
    assert proc.returncode == 0, explain(proc)
    study = load_study(sweep)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    pruned = study.trials[2]
    assert pruned.params == {"env.cost_bps": 2000}
    assert pruned.last_step == 1  # stopped at its first evaluation
    job = sweep / str(pruned.user_attrs["job_num"])
    metrics = job_metrics(job)
    assert metrics["state"] == files.STATE_PRUNED
    assert metrics["timesteps"] < 800
    with (job / files.EVAL_CURVE_FILE).open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and float(rows[0]["objective"]) == pruned.intermediate_values[1]
    full = list(csv.DictReader((sweep / "0" / files.EVAL_CURVE_FILE).open()))
    assert len(full) > 1 and int(full[-1]["timesteps"]) >= 800  # a complete trial's whole curve
    assert results(sweep)["counts"]["pruned"] == 1


def test_asha_prunes_during_a_ray_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_app(
        [*TINY, "train.total_timesteps=1800", "scheduler=asha", "hydra.sweeper.n_trials=8",
         "hydra.sweeper.n_jobs=2"],
        sweep,
    )
    assert proc.returncode == 0, explain(proc)
    study = load_study(sweep)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.PRUNED) >= 1, states
    for trial in study.trials:
        if trial.state == TrialState.PRUNED:
            metrics = job_metrics(sweep / str(trial.user_attrs["job_num"]))
            assert metrics["state"] == files.STATE_PRUNED and metrics["timesteps"] < 1800


def test_a_long_trial_does_not_hold_back_short_ones(tmp_path):
    """Two slots: the first trial is long; the three short ones run one after another in the
    other slot and all finish before it (the released sweeper would wait for the long one)."""
    sweep = tmp_path / "sweep"
    long, short = 9000, 400
    _create_study(sweep, [{"train.total_timesteps": long}] + [{"train.total_timesteps": short}] * 3)
    proc = run_app(
        [*TINY, "search_space=none", f"train.total_timesteps=choice({short}, {long})",
         "train.eval_every=400", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2",
         "hydra.sweeper.resume=true"],
        sweep,
    )
    assert proc.returncode == 0, explain(proc)
    study = load_study(sweep)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    long_trial = study.trials[0]
    shorts = study.trials[1:]
    assert long_trial.params["train.total_timesteps"] == long
    assert all(t.datetime_complete < long_trial.datetime_complete for t in shorts)
    # The last short trial started before the long one finished: no barrier between batches.
    assert max(t.datetime_start for t in shorts) < long_trial.datetime_complete


def _hash_tree(job: Path) -> dict[str, str]:
    return {
        str(p.relative_to(job)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(job.rglob("*")) if p.is_file()
    }


def test_interrupted_sweep_resumes_to_exactly_n_trials_without_overwriting(tmp_path):
    """Trials long enough (seconds each) that Ctrl-C after the second lands while others still run."""
    sweep = tmp_path / "sweep"
    n_trials = 6
    args = [*TINY, "train.total_timesteps=16000", "train.eval_every=2000", "hydra.sweeper.n_jobs=2", f"hydra.sweeper.n_trials={n_trials}"]
    command = [sys.executable, "-m", "hpo_app", "-m", f"hydra.sweep.dir={sweep}", *args]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # Ctrl-C once the driver has recorded two trials
        if n_complete(sweep) >= 2:
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    # The driver's last lines say how to continue: the same command, with the sweep and resume.
    resume = [line.split("resume:", 1)[1].strip() for line in out.splitlines() if "  resume:  " in line]
    assert len(resume) == 1, out[-3000:]
    resume_args = shlex.split(resume[0])
    assert resume_args[:4] == ["python", "-m", "hpo_app", "-m"], resume[0]
    assert resume_args[-2:] == [f"hydra.sweep.dir={sweep}", "hydra.sweeper.resume=true"]

    study = load_study(sweep)
    finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert 2 <= len(finished) < n_trials
    # Every job that wrote its metrics is recorded complete: nothing finished was lost.
    for job in job_dirs(sweep):
        metrics = job_metrics(job) if (job / files.METRICS_FILE).exists() else None
        if metrics and metrics["state"] == files.STATE_COMPLETE:
            assert any(t.user_attrs.get("job_num") == int(job.name) for t in finished), job.name
        if metrics and metrics["state"] == files.STATE_FAILED:  # cut short: says so on disk
            assert metrics["error"] == INTERRUPTED
    assert all(t.user_attrs.get("error") == INTERRUPTED for t in study.trials if t.state == TrialState.FAIL)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    before = {j.name: _hash_tree(j) for j in job_dirs(sweep)}
    first_new_job = max(int(name) for name in before) + 1

    proc2 = subprocess.run([sys.executable, *resume_args[1:]], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=300)  # the printed command, as it is
    assert proc2.returncode == 0, explain(proc2)
    assert "Sweep finished" in proc2.stdout + proc2.stderr and "  resume:  " not in proc2.stdout + proc2.stderr
    study = load_study(sweep)
    assert sum(counts(t) for t in study.trials) == n_trials
    for name, tree in before.items():  # nothing that existed was overwritten
        assert _hash_tree(sweep / name) == tree
    new_jobs = sorted(int(j.name) for j in job_dirs(sweep) if j.name not in before)
    assert new_jobs == list(range(first_new_job, first_new_job + n_trials - len(finished)))
    assert results(sweep)["counts"]["complete"] == n_trials
    # The seeded sampler was reseeded on resume: no resumed trial repeats an earlier point.
    earlier = [t.params for t in finished]
    resumed = [t for t in study.trials if t.user_attrs.get("job_num", -1) >= first_new_job]
    assert resumed and all(t.params not in earlier for t in resumed)


def test_ctrl_c_with_the_basic_launcher_stops_the_trial_running_in_the_driver(tmp_path):
    """The basic launcher runs the job in the driver's own thread: Ctrl-C stops that job, which
    is marked interrupted in the study and on disk."""
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "hpo_app", "-m", f"hydra.sweep.dir={sweep}", *TINY, "hydra/launcher=basic",
               "train.total_timesteps=20000", "train.eval_every=1000", "hydra.sweeper.n_trials=3"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (sweep / "0" / files.EVAL_CURVE_FILE).exists():
        time.sleep(0.3)  # the first job is training
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    study = load_study(sweep)
    assert [t.state for t in study.trials] == [TrialState.FAIL]
    assert study.trials[0].user_attrs["error"] == INTERRUPTED and not counts(study.trials[0])
    assert job_metrics(sweep / "0")["error"] == INTERRUPTED
    assert results(sweep)["counts"]["failed"] == 1
