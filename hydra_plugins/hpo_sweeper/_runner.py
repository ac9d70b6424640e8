"""The trial loop: keep the launcher's slots busy, tell Optuna how each job ended, print progress.

A :class:`Runner` is made by the sweeper once the study is open. It asks a trial, gives it a job
directory and a heartbeat, launches its job (``_dispatch``), and, as jobs finish, tells Optuna,
refills the freed slots and prints a line per finished trial; a job past ``trial_timeout`` is
failed and its worker stopped (``_timeout``). Ctrl-C stops it between two storage
operations; it then records what had finished, stops the jobs still running and marks them
interrupted.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig
from optuna.trial import TrialState

from hpo_record.job import one_line
from hpo_record.seam import FailedJob
from hpo_record.study import ATTR_ERROR, ATTR_JOB_DIR, ATTR_JOB_NUM, ATTR_WORKER, INTERRUPTED
from hpo_record.trial import environment

from hydra_plugins.hpo_sweeper._dispatch import Dispatcher, Finished, Job
from hydra_plugins.hpo_sweeper._outcome import (
    Outcome,
    Tally,
    decode,
    progress_line,
)
from hydra_plugins.hpo_sweeper._pbt import Population
from hydra_plugins.hpo_sweeper._schedule import Schedule, SearchSchedule
from hydra_plugins.hpo_sweeper._space import SearchSpace, quoted
from hydra_plugins.hpo_sweeper._heartbeats import Heartbeats
from hydra_plugins.hpo_sweeper._study import (
    JobNumbers,
    count_finished,
    mark_interrupted,
    tell,
)
from hydra_plugins.hpo_sweeper._timeout import TrialTimeout, stop_workers
from hydra_plugins.hpo_sweeper.hooks import call_job_failed

log = logging.getLogger("hydra_plugins.hpo_sweeper")

RESULTS_EVERY_S = 5.0
"""optimization_results.yaml is rewritten at most this often during a sweep, and at its end."""


@dataclass
class Sweep:
    """What the loop needs to know about the sweep (set up by ``_impl``)."""

    study: optuna.study.Study
    storage: optuna.storages.BaseStorage
    url: str
    space: SearchSpace
    sweep_dir: Path
    n_trials: int
    max_failure_rate: float
    config: DictConfig
    custom_search_space: Callable[[DictConfig, optuna.trial.Trial], None] | None
    job_failed: Callable[[FailedJob], None] | None
    write_results: Callable[[], None]
    show_value: Callable[[int, float], str]  # objective i's value as the application shows it
    trial_timeout: float | None = None  # seconds a job may run (since a slot was free for it)
    population: Population | None = None  # population-based training: trials are its members' intervals
    schedule: Schedule | None = None  # what runs next (None: n_trials of the sampler's choice)


class Runner:
    def __init__(self, sweep: Sweep, dispatcher: Dispatcher, heartbeats: Heartbeats) -> None:
        self.sweep = sweep
        self.study = sweep.study
        self.dispatcher = dispatcher
        self.heartbeats = heartbeats
        self.study_id = sweep.storage.get_study_id_from_name(self.study.study_name)
        self.numbers = JobNumbers(sweep.sweep_dir, self.study)
        done = count_finished(self.study)
        if sweep.schedule is None:
            sweep.schedule = SearchSchedule(sweep.space.distributions, max(0, sweep.n_trials - done), sweep.n_trials,
                                            None)
        self.schedule = sweep.schedule
        self.tally = Tally(done=done, directions=[d.name.lower() for d in self.study.directions],
                           show=sweep.show_value)
        if len(self.study.directions) == 1:
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                self.tally.offer(float(t.value), t.number)
        self.failure_budget = math.floor(sweep.max_failure_rate * sweep.n_trials + 1e-9)
        self.stopping = False  # too many failures: start no new trial
        self.stop_requested = False  # Ctrl-C
        self._asked: optuna.trial.Trial | None = None  # asked, not yet launched
        self._pending: list[Outcome] = []  # recorded, progress line not yet printed

    @property
    def too_many_failures(self) -> bool:
        return self.tally.failures > self.failure_budget

    def run(self) -> None:
        """Run trials until ``n_trials`` count or the failure budget is spent; Ctrl-C stops.

        On any other error in the driver, the jobs still running are stopped and marked
        interrupted before the error propagates."""
        previous = _on_ctrl_c(self._ctrl_c)
        try:
            self._loop()
        except KeyboardInterrupt:
            self.stop_requested = True
        except BaseException:
            self._stop_all()
            raise
        finally:
            _on_ctrl_c(previous)
        if self.stop_requested:
            self._stop_all()

    def _print_pending(self) -> None:
        for outcome in self._pending:
            log.info(progress_line(outcome, self.tally, self._planned(), self.dispatcher.n_running))
        self._pending = []

    def _stop_all(self) -> None:
        self._print_pending()
        try:
            self._interrupt()
        except KeyboardInterrupt:  # a second Ctrl-C while cleaning up: leave the rest to heartbeats
            log.warning("Stopped at once: trials still RUNNING in the study will be marked failed "
                        "by the next driver, once their heartbeats are %s s old", self.grace_period)

    @property
    def grace_period(self) -> Any:
        return getattr(self.sweep.storage, "grace_period", None) or "grace_period"

    def _loop(self) -> None:
        last_write = time.monotonic()
        while True:
            while not (self.stopping or self.stop_requested) and self._more() and self.dispatcher.has_room:
                self._start_one()
            self._print_pending()  # once the freed slots are busy again
            if self.stop_requested or not self.dispatcher.in_flight:
                return
            self._pending = [self._record(f) for f in self.dispatcher.wait(timeout=1.0)] + self._time_out()
            if self._pending and time.monotonic() - last_write > RESULTS_EVERY_S:
                self.sweep.write_results()
                last_write = time.monotonic()

    @property
    def to_start(self) -> int:
        return self.schedule.remaining()

    def _planned(self) -> int:
        """Trials in all, as things stand (PBT: a failed member's interval runs again)."""
        return self.schedule.planned_total(self.tally.done)

    def _more(self) -> bool:
        """Whether a trial is to start now."""
        return self.schedule.ready()

    def _start_one(self) -> None:
        planned = self.schedule.next()
        if planned.params is not None:  # the schedule's (the control, a member's, a race's), not the sampler's
            self.study.enqueue_trial(planned.params, user_attrs=planned.attrs, skip_if_exists=False)
        trial = self._asked = self.study.ask(fixed_distributions=self.schedule.distributions)
        # The heartbeat first: a trial without one is never found stale if this driver dies.
        trial_id = self.sweep.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
        self.heartbeats.add(trial_id)
        job_num = self.numbers.claim()
        trial.set_user_attr(ATTR_JOB_NUM, job_num)
        trial.set_user_attr(ATTR_JOB_DIR, str(self.sweep.sweep_dir / str(job_num)))
        for key, value in planned.attrs.items():
            trial.set_user_attr(key, value)
        if self.sweep.custom_search_space is not None and planned.overrides is None:
            self.sweep.custom_search_space(self.sweep.config, trial)
        env = environment(self.sweep.url, self.study.study_name, trial_id, trial.number)
        overrides = planned.overrides if planned.overrides is not None else self.sweep.space.overrides(trial.params)
        overrides = [*overrides, *planned.extra, *(f"++hydra.job.env_set.{k}={quoted(v)}" for k, v in env.items())]
        self.schedule.started(planned, trial.params)
        if planned.line:
            log.info("%s: trial %d (job %d)", planned.line, trial.number, job_num)
        if self.stop_requested:  # Ctrl-C while this trial was being set up: it is cut, not run
            return
        self.dispatcher.submit(Job(job_num, overrides, payload=(trial, trial_id, planned)))
        self._asked = None

    def _record(self, finished: Finished) -> Outcome:
        """Tell Optuna how a job ended (the schedule hears it first) and keep the tally."""
        trial, trial_id, planned = finished.job.payload
        state, values, error = decode(finished.ret, len(self.study.directions))
        job_dir = str(self.sweep.sweep_dir / str(finished.job.job_num))
        decided = self.schedule.finished(planned, trial, job_dir, state, values)
        detail = ""
        if state == TrialState.COMPLETE:
            tell(self.study, trial, values=values)
        elif state == TrialState.PRUNED:
            detail = str(error)
            tell(self.study, trial, state=TrialState.PRUNED)
        else:
            assert error is not None
            detail = one_line(error)
            try:
                trial.set_user_attr(ATTR_ERROR, detail)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another driver finished it (found it stale): its verdict stands
            tell(self.study, trial, state=TrialState.FAIL)
            if isinstance(finished.ret, BaseException):  # the job never returned: say so on disk
                self.job_failed(trial.number, finished.job.job_num, detail,
                                "".join(traceback.format_exception(finished.ret)))
        self.heartbeats.discard(trial_id)
        if decided:
            detail = f"{detail}; {decided}" if detail else decided
        outcome = Outcome(trial.number, finished.job.job_num, state, values, detail, finished.seconds, error)
        self.tally.add(outcome)
        if self.too_many_failures and not self.stopping:
            self.stopping = True
            log.error(
                "%d of %d trials failed, more than max_failure_rate=%s allows; stopping after "
                "the running trial(s) finish", self.tally.failures, self.sweep.n_trials, self.sweep.max_failure_rate,
            )
        return outcome

    def _time_out(self) -> list[Outcome]:
        """Fail the trials whose jobs are past ``trial_timeout`` and stop their workers; the jobs
        that returned meanwhile are recorded first, as they ended."""
        limit = self.sweep.trial_timeout
        if not limit or self.dispatcher.serial or not self.dispatcher.overdue(limit):
            return []
        outcomes = [self._record(f) for f in self.dispatcher.collect_now()]
        late = self.dispatcher.overdue(limit)
        try:
            workers = [self.sweep.storage.get_trial(job.payload[1]).system_attrs.get(ATTR_WORKER) for job in late]
        except Exception as err:  # noqa: BLE001 - the storage did not answer: the next look tries again
            log.warning("Could not read the timed-out trials' workers (%s); trying again", one_line(err))
            return outcomes
        for job in late:
            self.dispatcher.forget(job)  # before the kill: its late return must not be recorded
        for job, fate in zip(late, stop_workers(workers)):
            error = TrialTimeout(f"timed out after {limit:g} s (hydra.sweeper.trial_timeout); {fate}")
            outcomes.append(self._record(Finished(job, error, time.perf_counter())))
        return outcomes

    def job_failed(self, number: int, job_num: int | None, error: str, details: str, job_dir: str | None = None) -> None:
        if job_dir is None and job_num is None:
            return  # cut before it had a job directory
        path = Path(job_dir) if job_dir else self.sweep.sweep_dir / str(job_num)
        call_job_failed(self.sweep.job_failed, FailedJob(path, job_num, number, self.study.study_name, error, details))

    def _ctrl_c(self, signum: int, frame: Any) -> None:
        """The first Ctrl-C stops the sweep between two storage operations (a KeyboardInterrupt
        in the middle of one would break the database session); a second stops at once."""
        _on_ctrl_c(signal.default_int_handler)
        self.stop_requested = True
        log.warning("Stopping: finished trials are kept, running ones will be marked interrupted "
                    "(Ctrl-C again to stop at once)")
        if self.dispatcher.inline_running:
            raise KeyboardInterrupt  # the job runs in this thread: stop it

    def _interrupt(self) -> None:
        """Record what has finished, stop the jobs still running, mark their trials interrupted
        (they do not count) and leave that in their job directories."""
        self._record_finished()
        self.dispatcher.stop()  # before the records: a job must not write after its hook
        self._record_finished(returned_only=True)  # those that ended just before they were stopped
        cut = [job.payload[0] for job in self.dispatcher.abandon()]
        if self._asked is not None and all(t.number != self._asked.number for t in cut):
            cut.append(self._asked)
        for trial in cut:
            if mark_interrupted(self.study, trial):
                self.job_failed(trial.number, trial.user_attrs.get(ATTR_JOB_NUM), INTERRUPTED, INTERRUPTED,
                                trial.user_attrs.get(ATTR_JOB_DIR))


    def _record_finished(self, returned_only: bool = False) -> None:
        for finished in self.dispatcher.collect_now():
            if returned_only and isinstance(finished.ret, BaseException):
                self.dispatcher.in_flight[finished.job.job_num] = finished.job  # cut: abandoned below
                continue
            self._pending.append(self._record(finished))
        self._print_pending()


def _on_ctrl_c(handler: Any) -> Any:
    """Install a SIGINT handler (main thread only); returns the previous one."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signal.SIGINT, handler)
