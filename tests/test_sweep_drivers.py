"""Drivers that die and drivers that share a study: staleness is decided by Optuna's heartbeat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hydra_plugins.hpo_sweeper._study import counts
from optuna.trial import TrialState

from hpo_record import files
from tests.sweep_helpers import REPO, TINY, explain, job_dirs, job_metrics, load_study, run_app

pytestmark = pytest.mark.slow

# Heartbeats every second, stale after four: the tests need not wait long.
GRACE_S = 4
FAST_HEARTBEAT = ["hydra.sweeper.heartbeat_interval=1", f"hydra.sweeper.grace_period={GRACE_S}"]


def _start(args: list[str], sweep: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "hpo_app", "-m", f"hydra.sweep.dir={sweep}", *args]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _trials(sweep: Path, state: TrialState) -> list:
    if not (sweep / files.MULTIRUN_FILE).exists():  # the study exists once this is written
        return []
    try:
        return load_study(sweep).get_trials(states=(state,))
    except Exception:  # noqa: BLE001 - the database may be mid-write
        return []


def _wait_for(predicate, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_trials_of_a_killed_driver_are_failed_by_heartbeat_and_the_resumed_sweep_completes(tmp_path):
    sweep = tmp_path / "sweep"
    n_trials = 5
    args = [*TINY, "train.total_timesteps=2400", "hydra.sweeper.n_jobs=2", f"hydra.sweeper.n_trials={n_trials}",
            *FAST_HEARTBEAT]
    proc = _start(args, sweep)
    _wait_for(lambda: len(_trials(sweep, TrialState.COMPLETE)) >= 1 and _trials(sweep, TrialState.RUNNING))
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started, at once
    proc.communicate(timeout=60)
    study = load_study(sweep)
    left = {t.number for t in study.trials if t.state == TrialState.RUNNING}
    assert left  # a killed driver leaves RUNNING trials behind
    time.sleep(GRACE_S + 1)  # longer than the grace period: their heartbeats have stopped

    proc2 = run_app([*args, "hydra.sweeper.resume=true"], sweep)
    assert proc2.returncode == 0, explain(proc2)
    study = load_study(sweep)
    for trial in study.trials:
        if trial.number in left:  # failed as stale, not counted, and their job directory says so
            assert trial.state == TrialState.FAIL and not counts(trial)
            if "job_num" not in trial.user_attrs:  # killed between asking for it and giving it a job
                continue
            metrics = job_metrics(sweep / str(trial.user_attrs["job_num"]))
            if metrics["state"] == files.STATE_FAILED:
                assert "stopped sending heartbeats" in metrics["error"]
    assert sum(counts(t) for t in study.trials) == n_trials
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    assert "left running by a driver that stopped" in proc2.stdout + proc2.stderr


def test_a_second_driver_does_not_fail_the_running_trials_of_a_live_one(tmp_path):
    sweep = tmp_path / "sweep"
    # One trial at a time on Ray (n_jobs=1 is below Ray's 2 CPUs here: no queue), long ones.
    first = _start([*TINY, "train.total_timesteps=40000", "train.eval_every=2000", "env.n_envs=1", "hydra.sweeper.n_jobs=1",
                    "hydra.sweeper.n_trials=1", *FAST_HEARTBEAT], sweep)
    # Until the first driver's trial has run longer than the grace period: a guess from the job
    # directories (or a heartbeat that was not kept) would fail it now.
    _wait_for(lambda: any(t.datetime_start < datetime.now() - timedelta(seconds=GRACE_S + 1)
                          for t in _trials(sweep, TrialState.RUNNING)))
    second_started = datetime.now()
    # Shorter trials than the first driver's: a change the resume must be told to allow.
    second = run_app([*TINY, "hydra/launcher=basic", "hydra.sweeper.n_trials=3", "hydra.sweeper.resume=true",
                      "hydra.sweeper.resume_ignore=[resources,train.device,train.save_model,train.total_timesteps,"
                      "train.eval_every,env.n_envs]", *FAST_HEARTBEAT], sweep)
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out[-3000:]
    assert second.returncode == 0, explain(second)
    assert "no queue" in out
    study = load_study(sweep)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * len(study.trials)
    # The first driver's trial ran, older than the grace period, while the second one started.
    first_trial = study.trials[0]
    assert first_trial.datetime_start < second_started - timedelta(seconds=GRACE_S)
    assert first_trial.datetime_complete > second_started
    for trial in study.trials:  # every trial's job directory is its own, and says complete
        assert job_metrics(sweep / str(trial.user_attrs["job_num"]))["state"] == files.STATE_COMPLETE
    assert len({t.user_attrs["job_num"] for t in study.trials}) == len(study.trials) == len(job_dirs(sweep))
    # n_trials is per driver: each ran its own count (the first 1, the second 3, as nothing had
    # finished when it started).
    assert len(study.trials) == 4


def test_ctrl_c_while_the_sweep_is_set_up_ends_it_in_one_line(tmp_path):
    """Ctrl-C as soon as the study exists, while Ray starts (or, if Ray was quick, just after the
    first trials were launched): exit 130 and a line saying so, never a traceback."""
    sweep = tmp_path / "sweep"
    driver = _start([*TINY, "hydra.sweeper.n_trials=2"], sweep)
    _wait_for(lambda: (sweep / files.MULTIRUN_FILE).exists(), seconds=120)
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=120)
    assert driver.returncode == 130, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert "interrupted" in out.strip().splitlines()[-1] or "Sweep interrupted (Ctrl-C)" in out, out[-3000:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has ended


def test_a_worker_that_stops_responding_is_timed_out_killed_and_the_sweep_goes_on(tmp_path):
    """SIGSTOP one trial's Ray worker mid-training: past hydra.sweeper.trial_timeout its trial is
    failed with the reason, in the study and its job directory, the worker is killed, and the other
    trials complete."""
    sweep, limit, n_trials = tmp_path / "sweep", 30, 3
    driver = _start([*TINY, "train.total_timesteps=6000", "train.eval_every=1000", "hydra.sweeper.n_jobs=2",
                     f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweeper.trial_timeout={limit}",
                     "hydra.sweeper.max_failure_rate=0.5"], sweep)
    stopped: dict = {}

    def stop_one() -> bool:
        for trial in _trials(sweep, TrialState.RUNNING):
            worker = trial.system_attrs.get("hpo:worker")
            # Mid-training for sure: it has reported an evaluation, and has five more to go.
            if worker and trial.intermediate_values:
                os.kill(worker["pid"], signal.SIGSTOP)
                stopped.update(number=trial.number, pid=worker["pid"])
                return True
        return False

    _wait_for(stop_one)
    out, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, out[-3000:]
    assert not _alive(stopped["pid"])
    study = load_study(sweep)
    hung = study.trials[stopped["number"]]
    assert hung.state == TrialState.FAIL
    error = hung.user_attrs["error"]
    assert error.startswith(f"TrialTimeout: timed out after {limit} s (hydra.sweeper.trial_timeout)"), error
    assert f"its process {stopped['pid']} on " in error and error.endswith("was killed"), error
    assert (hung.datetime_complete - hung.datetime_start).total_seconds() >= limit
    record = job_metrics(sweep / str(hung.user_attrs["job_num"]))
    assert record["state"] == files.STATE_FAILED and f"timed out after {limit} s" in record["error"]
    others = [t for t in study.trials if t.number != stopped["number"]]
    assert [t.state for t in others] == [TrialState.COMPLETE] * (n_trials - 1)
    assert f"trial {stopped['number']} (job {hung.user_attrs['job_num']}) FAIL" in out
    assert "timed out after" in out


def test_a_trial_timeout_that_is_not_a_positive_number_is_refused_in_one_line(tmp_path):
    proc = run_app([*TINY, "hydra.sweeper.trial_timeout=0"], tmp_path / "sweep")
    assert proc.returncode == 2, explain(proc)
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: hydra.sweeper.trial_timeout=0: must be a number of seconds above 0 (or null: no limit)")


def test_ray_left_running_by_a_killed_driver_is_stopped_by_the_next_sweep_and_a_sweep_leaves_none(tmp_path):
    """Every process of a driver's local Ray carries its mark (GCS and raylet from ray.init, and what
    the raylet starts: agents, workers); after kill -9 of the driver, the next sweep stops whatever
    of it is still there. (How long Ray's agents outlive their driver varies from none to a minute
    or more; which marked processes are stopped and which are not: tests/test_reaper.py.)"""
    from hydra_plugins.hpo_sweeper._launchers import ray_processes
    from hydra_plugins.hpo_sweeper._procs import processes

    def left_by(pid: int) -> set[int]:
        return set().union(*ray_processes(pid).values())

    first = _start([*TINY, "train.total_timesteps=20000", "train.eval_every=2000", "hydra.sweeper.n_trials=2"],
                   tmp_path / "first")
    _wait_for(lambda: _trials(tmp_path / "first", TrialState.RUNNING))
    table = processes()
    marked = [table[pid][1] for pid in left_by(first.pid) if pid in table]
    assert any("raylet" in cmd for cmd in marked) and any("gcs_server" in cmd for cmd in marked), marked
    assert any(cmd.startswith("ray::") for cmd in marked), marked  # started by the raylet, after ray.init
    os.kill(first.pid, signal.SIGKILL)  # the driver alone
    first.communicate(timeout=60)

    second = _start([*TINY, "hydra.sweeper.n_trials=1"], tmp_path / "second")
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out[-3000:]
    assert not left_by(first.pid)  # nothing of the first driver's Ray, whether it ended or was stopped
    _wait_for(lambda: not left_by(second.pid), seconds=20)  # a sweep that ends leaves none of its own
