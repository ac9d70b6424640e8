"""The sweeper's trial loop on a real Optuna study, with a launcher whose jobs take a set time.

The launcher here is a stand-in for the *launcher* (which the end-to-end tests exercise for
real), not for the code under test: the runner, dispatcher and study bookkeeping are the real ones.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra_plugins.hpo_sweeper._dispatch import Dispatcher, Job
from hydra_plugins.hpo_sweeper._runner import Runner, Sweep
from hydra_plugins.hpo_sweeper._space import parse
from hpo_record.seam import FailedJob
from hpo_record.study import ATTR_INTERRUPTED, INTERRUPTED
from hydra_plugins.hpo_sweeper._heartbeats import Heartbeats
from hydra_plugins.hpo_sweeper._study import (
    count_finished,
    counts,
    mark_interrupted,
    open_study,
    quiet_optuna,
)
from omegaconf import OmegaConf
from optuna.trial import TrialState


class TimedLauncher(Launcher):
    """Each job sleeps ``seconds`` then returns x**2 (or raises ``fail(job_num)``'s error)."""

    def __init__(self, seconds: float, fail: Callable[[int], BaseException | None] = lambda n: None,
                 during: Callable[[int], None] = lambda n: None) -> None:
        self.seconds, self.fail, self.during = seconds, fail, during
        self.running = 0
        self.max_running = 0
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def setup(self, **kwargs) -> None:  # pragma: no cover - never called here
        pass

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        (overrides,) = job_overrides
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.calls.append(initial_job_idx)
        try:
            self.during(initial_job_idx)
            time.sleep(self.seconds)
            error = self.fail(initial_job_idx)
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
            if error is not None:
                ret.status = JobStatus.FAILED
                ret.return_value = error
            else:
                x = float(next(o.split("=", 1)[1] for o in overrides if o.startswith("x=")))
                ret.return_value = x * x
            return [ret]
        finally:
            with self._lock:
                self.running -= 1


def make_runner(tmp_path: Path, launcher: Launcher, *, n_trials: int, slots: int, queue: int, serial: bool = False,
                max_failure_rate: float = 0.0, failed: list[FailedJob] | None = None) -> Runner:
    quiet_optuna()
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir(exist_ok=True)
    url = f"sqlite:///{sweep_dir / 'optuna.db'}"
    import optuna

    study, storage = open_study(url=url, study_name="s", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.NopPruner(), directions=["minimize"], metrics=["x_squared"], resume=True,
                                heartbeat_interval=1, grace_period=4, on_stale=lambda s, t: None)
    space = parse([], ["x=interval(-1.0, 1.0)"])
    sweep = Sweep(study, storage, url, space, sweep_dir, n_trials, max_failure_rate, OmegaConf.create({}), None,
                  (failed.append if failed is not None else None), lambda: None, lambda i, v: f"{v:.4f}")
    heartbeats = Heartbeats(study, storage)
    return Runner(sweep, Dispatcher(launcher, slots=slots, queue_depth=queue, serial=serial), heartbeats)


def test_runs_exactly_n_trials_with_slots_plus_queue_in_flight(tmp_path, caplog):
    launcher = TimedLauncher(0.2)
    runner = make_runner(tmp_path, launcher, n_trials=7, slots=2, queue=1)
    with caplog.at_level(logging.INFO, logger="hydra_plugins.hpo_sweeper"):
        runner.run()
    trials = runner.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 7
    assert all(t.value == t.params["x"] ** 2 for t in trials)
    assert launcher.max_running <= 3  # two slots and one queued, never more
    assert sorted(launcher.calls) == list(range(7)) == sorted(t.user_attrs["job_num"] for t in trials)
    lines = [r.message for r in caplog.records if "] trial " in r.message]
    assert len(lines) == 7 and lines[-1].startswith("[7/7] ")
    best = min(trials, key=lambda t: t.value)
    assert f"best {best.value:.4f} (trial {best.number})" in lines[-1]


def test_a_queued_job_is_timed_from_when_a_slot_freed():
    """One slot, one queued job: the queued job's start is the moment the first one finished."""
    release = {0: threading.Event(), 1: threading.Event()}

    class Gated(Launcher):
        def setup(self, **kwargs) -> None:  # pragma: no cover - never called here
            pass

        def launch(self, job_overrides, initial_job_idx):
            release[initial_job_idx].wait(timeout=30)
            return [JobReturn(status=JobStatus.COMPLETED, _return_value=0.0)]

    assert Dispatcher(Gated(), slots=2, queue_depth=1, serial=False).capacity == 3
    dispatcher = Dispatcher(Gated(), slots=1, queue_depth=1, serial=False)
    first, second = Job(0, [], None), Job(1, [], None)
    dispatcher.submit(first)
    dispatcher.submit(second)
    assert first.started is not None and second.started is None and not dispatcher.has_room
    release[0].set()
    (done,) = dispatcher.wait(timeout=30)
    assert done.job is first and second.started == done.ended
    release[1].set()
    (done2,) = dispatcher.wait(timeout=30)
    assert done2.job is second and done2.seconds == done2.ended - done.ended


def test_failed_jobs_reach_the_study_and_the_hook_and_the_budget_stops_new_trials(tmp_path):
    failed: list[FailedJob] = []
    launcher = TimedLauncher(0.05, fail=lambda n: ValueError(f"bad input in job {n}") if n in (1, 2) else None)
    runner = make_runner(tmp_path, launcher, n_trials=6, slots=1, queue=0, max_failure_rate=0.2, failed=failed)
    runner.run()
    states = [t.state for t in runner.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]  # budget 0.2 * 6 = 1 failure
    assert runner.too_many_failures
    assert runner.study.trials[1].user_attrs["error"] == "ValueError: bad input in job 1"
    assert all(counts(t) for t in runner.study.trials)  # a job's own failure counts
    assert failed == []  # these jobs returned: they left their own record; the hook is for the others


def test_a_job_whose_launch_raises_fails_alone_and_the_app_is_told(tmp_path):
    class Broken(TimedLauncher):
        def launch(self, job_overrides, initial_job_idx):
            if initial_job_idx == 0:
                raise RuntimeError("worker died")
            return super().launch(job_overrides, initial_job_idx)

    failed: list[FailedJob] = []
    runner = make_runner(tmp_path, Broken(0.05), n_trials=3, slots=2, queue=0, max_failure_rate=0.5, failed=failed)
    runner.run()
    assert [t.state for t in runner.study.trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    (job,) = failed
    assert (job.job_num, job.trial_number, job.error) == (0, 0, "RuntimeError: worker died")
    assert job.job_dir == tmp_path / "sweep" / "0" and "Traceback" in job.details


@pytest.mark.parametrize("serial", [False, True])
def test_ctrl_c_keeps_what_finished_marks_the_rest_and_starts_nothing_new(tmp_path, caplog, serial):
    """SIGINT while the fourth job runs: with the Ray-like launcher it lands in the driver's main
    thread between storage calls; with a serial launcher inside the running job itself."""
    def during(job_num: int) -> None:
        if job_num == 3:
            signal.raise_signal(signal.SIGINT) if serial else signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    failed: list[FailedJob] = []
    launcher = TimedLauncher(0.2, during=during)
    runner = make_runner(tmp_path, launcher, n_trials=20, slots=1 if serial else 2, queue=0, serial=serial,
                         failed=failed)
    with caplog.at_level(logging.INFO, logger="hydra_plugins.hpo_sweeper"):
        runner.run()
    assert runner.stop_requested
    study = runner.study
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    cut = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(complete) + len(cut) == len(study.trials) and cut and complete
    assert all(t.user_attrs[ATTR_INTERRUPTED] and not counts(t) for t in cut)
    assert max(launcher.calls) <= 4  # nothing new after the Ctrl-C (job 4 may have been launched just before)
    assert {j.trial_number for j in failed} == {t.number for t in cut} and all(j.error == INTERRUPTED for j in failed)
    lines = [r.message for r in caplog.records if "] trial " in r.message]
    assert len(lines) == runner.tally.done == len(complete)  # every recorded trial has its line


def test_counting_rules(tmp_path):
    runner = make_runner(tmp_path, TimedLauncher(0.0), n_trials=1, slots=1, queue=0)
    study = runner.study
    done = study.ask()
    study.tell(done, 1.0)
    failed = study.ask()
    failed.set_user_attr("error", "ValueError: bad")
    study.tell(failed, state=TrialState.FAIL)
    cut = study.ask()
    assert mark_interrupted(study, cut)
    assert not mark_interrupted(study, cut)  # already finished: left as it is
    stale = study.ask()
    study.tell(stale, state=TrialState.FAIL)  # what Optuna's fail_stale_trials leaves: no error
    running = study.ask()
    assert [counts(t) for t in study.trials[:4]] == [True, True, False, False]
    assert count_finished(study) == 2 and running.number == 4


def test_a_trial_abandoned_before_its_first_heartbeat_is_failed_once_older_than_the_grace_period(tmp_path):
    """A driver killed between asking for a trial and recording its heartbeat leaves a RUNNING
    trial without a heartbeat, which Optuna's own stale check never finds; a live driver's fresh
    trial (asked, no job number yet) is left alone."""
    import optuna

    quiet_optuna()
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study, storage = open_study(url=url, study_name="s", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.NopPruner(), directions=["minimize"], metrics=["x"], resume=True,
                                heartbeat_interval=1, grace_period=4, on_stale=lambda s, t: None)
    abandoned = study.ask()  # no heartbeat, no job number: its driver died right here
    heartbeats = Heartbeats(study, storage)
    heartbeats.fail_stale()
    assert study.trials[abandoned.number].state == TrialState.RUNNING  # younger than the grace period
    time.sleep(5)
    fresh = study.ask()  # another driver's trial, just asked
    heartbeats.fail_stale()
    states = {t.number: t.state for t in study.trials}
    assert states == {abandoned.number: TrialState.FAIL, fresh.number: TrialState.RUNNING}
    assert not counts(study.trials[abandoned.number])  # it does not count toward n_trials
