"""The sweep driver: Optuna asks, the launcher runs the jobs (asynchronously), Optuna is told.

What it adds to the released hydra-optuna-sweeper (same keys):

- pruning: the jobs report intermediate values (``trial.current_trial()``) and the configured
  pruner (``hydra.sweeper.pruner``) stops them; a pruned job is told PRUNED;
- asynchronous dispatch: a new trial starts as soon as any running one finishes, instead of
  blocking batches of ``n_jobs`` (``_dispatch``);
- resume, heartbeats and stale trials, job numbers that never collide (``_study``);
- failures: a failing trial is recorded FAIL and the sweep goes on, until more than
  ``max_failure_rate * n_trials`` trials of this run have failed;
- a progress line per finished trial, and ``optimization_results.yaml`` kept up to date;
- a seam for the application it sweeps (``hooks``).
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from hydra_plugins.hpo_sweeper import _launchers
from hydra_plugins.hpo_sweeper._dispatch import Dispatcher, Finished, Job
from hydra_plugins.hpo_sweeper._outcome import Outcome, Tally, decode, one_line, progress_line
from hydra_plugins.hpo_sweeper._results import display_url, log_best, results, write_results
from hydra_plugins.hpo_sweeper._space import SearchSpace, grid_size, parse
from hydra_plugins.hpo_sweeper._storage import storage_url
from hydra_plugins.hpo_sweeper._study import (
    ATTR_ERROR,
    ATTR_JOB_DIR,
    ATTR_JOB_NUM,
    INTERRUPTED,
    Heartbeats,
    ask,
    JobNumbers,
    build_pruner,
    build_sampler,
    count_finished,
    mark_interrupted,
    open_study,
    plain,
    tell,
)
from hydra_plugins.hpo_sweeper.hooks import FailedJob, call_job_failed, load_hook
from hydra_plugins.hpo_sweeper.trial import environment

log = logging.getLogger("hydra_plugins.hpo_sweeper")

# The launchers log every job's overrides as they launch it; the sweeper prints one line per
# finished trial instead (and the overrides are in each job's .hydra/overrides.yaml).
QUIET_LOGGERS = ("hydra_plugins.hydra_ray_launcher", "hydra._internal.core_plugins.basic_launcher")

RESULTS_EVERY_S = 5.0
"""optimization_results.yaml is rewritten at most this often during a sweep, and at its end."""

MULTIRUN_FILE = "multirun.yaml"


def _on_ctrl_c(handler: Any) -> Any:
    """Install a SIGINT handler (main thread only); returns the previous one."""
    if threading.current_thread() is not threading.main_thread() or handler is None:
        return None
    return signal.signal(signal.SIGINT, handler)


class SweepError(ValueError):
    """Invalid sweep input, found before any trial starts; the message is one line."""


class HpoSweeperImpl(Sweeper):
    """See the module docstring; the keys are ``config.HpoSweeperConf``'s."""

    def __init__(
        self,
        *,
        sampler: Any,
        pruner: Any,
        direction: Any,
        metric: Any,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int | None,
        queue: int,
        max_failure_rate: float,
        resume: bool,
        heartbeat_interval: int,
        grace_period: int,
        params: DictConfig | None,
        custom_search_space: str | None,
        hooks: DictConfig,
    ) -> None:
        self.sampler_cfg, self.pruner_cfg = sampler, pruner
        directions = plain(direction)
        self.directions = [str(d) for d in (directions if isinstance(directions, list) else [directions])]
        metrics = plain(metric)
        self.metrics = [] if metrics is None else [str(m) for m in (metrics if isinstance(metrics, list) else [metrics])]
        self.storage = storage
        self.study_name = study_name or "study"
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.queue = queue
        self.max_failure_rate = max_failure_rate
        self.resume = resume
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.params = params
        self.custom_search_space = custom_search_space
        self.hooks = hooks
        self.stopping = False  # too many failures: start no new trial

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    # -- the sweep --------------------------------------------------------------------------
    def sweep(self, arguments: list[str]) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        self.sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        try:
            self._check_settings()
            self.space = self._search_space(arguments)
            self.job_failed = load_hook(self.hooks.get("job_failed"), "job_failed")
            self._check_config(load_hook(self.hooks.get("check"), "check"))
            self.url = storage_url(self.storage, self.sweep_dir)
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
            self.study, self.storage_obj = open_study(
                url=self.url, study_name=self.study_name, sampler=self.sampler, pruner=self.pruner,
                directions=self.directions, resume=self.resume, heartbeat_interval=self.heartbeat_interval,
                grace_period=self.grace_period, on_stale=self._on_stale,
            )
        except ValueError as err:  # SweepError, SearchSpaceError, StudyError: one line, exit 2
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        if not (self.sweep_dir / MULTIRUN_FILE).exists():
            OmegaConf.save(self.config, self.sweep_dir / MULTIRUN_FILE)
        self.heartbeats = Heartbeats(self.study, self.storage_obj)
        self.heartbeats.start()  # fails the stale trials of drivers that died, first
        self.study_id = self.storage_obj.get_study_id_from_name(self.study.study_name)
        self.numbers = JobNumbers(self.sweep_dir, self.study)
        done = count_finished(self.study)
        self.to_start = max(0, self.n_trials - done)
        self.tally = Tally(done=done, directions=self.directions)
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if len(self.directions) == 1:
                self.tally.offer(float(t.value), t.number)
        self.failure_budget = math.floor(self.max_failure_rate * self.n_trials + 1e-9)
        if _launchers.is_ray(self.config):
            _launchers.start_ray(self.config)
        slots = self._slots()
        self.dispatcher = Dispatcher(self.launcher, slots=slots, queue_depth=self.queue,
                                     serial=_launchers.is_serial(self.config))
        log.info(
            "Study %s in %s: %d trial(s) to run (%d done), %d in parallel, sampler %s, pruner %s",
            self.study.study_name, display_url(self.url), self.to_start, done, self.dispatcher.slots,
            type(self.sampler).__name__, type(self.pruner).__name__,
        )
        self._asked: optuna.trial.Trial | None = None
        self.stop_requested = False
        previous = _on_ctrl_c(self._ctrl_c)
        try:
            self._run()
        except KeyboardInterrupt:
            self.stop_requested = True
        finally:
            _on_ctrl_c(previous)
        if self.stop_requested:
            self._interrupt()
        self.heartbeats.stop()
        self._write_results()
        if self.stop_requested:
            log.warning(
                "Interrupted: %d finished trial(s) are in the study and on disk; continue with "
                "hydra.sweep.dir=%s hydra.sweeper.resume=true", count_finished(self.study), self.sweep_dir,
            )
            sys.exit(130)
        if self.tally.failures > self.failure_budget:
            log.error("Sweep stopped: %d failed trial(s) in this run; each job's error is in the study "
                      "(user attribute 'error') and in its job directory", self.tally.failures)
            sys.exit(1)
        log_best(self.study)

    def _run(self) -> None:
        last_write = time.monotonic()
        outcomes: list[Outcome] = []
        while not self.stop_requested:
            while not self.stopping and self.to_start > 0 and self.dispatcher.has_room:
                self._start_one()
            for outcome in outcomes:  # printed once the freed slots are busy again
                log.info(progress_line(outcome, self.tally, self.n_trials, self.dispatcher.n_running))
            if not self.dispatcher.in_flight:
                return
            outcomes = [self._record(f) for f in self.dispatcher.wait(timeout=1.0)]
            if outcomes and time.monotonic() - last_write > RESULTS_EVERY_S:
                self._write_results()
                last_write = time.monotonic()

    # -- set-up -----------------------------------------------------------------------------
    def _check_settings(self) -> None:
        if int(self.n_trials) < 1:
            raise SweepError(f"hydra.sweeper.n_trials={self.n_trials}: must be at least 1")
        if not 0.0 <= float(self.max_failure_rate) <= 1.0:
            raise SweepError(f"hydra.sweeper.max_failure_rate={self.max_failure_rate}: must be between 0 and 1")
        if self.n_jobs is not None and int(self.n_jobs) < 1:
            raise SweepError(f"hydra.sweeper.n_jobs={self.n_jobs}: must be at least 1 (or null: as many as CPUs)")
        if int(self.queue) < 0:
            raise SweepError(f"hydra.sweeper.queue={self.queue}: must be 0 or more")
        if int(self.heartbeat_interval) < 1 or int(self.grace_period) <= int(self.heartbeat_interval):
            raise SweepError(
                f"hydra.sweeper.heartbeat_interval={self.heartbeat_interval}, grace_period={self.grace_period}: "
                "the interval must be at least 1 s and the grace period longer than it"
            )
        for name, value in (("direction", d) for d in self.directions):
            if value not in ("minimize", "maximize"):
                raise SweepError(f"hydra.sweeper.{name}={value}: minimize or maximize")
        if self.metrics and len(self.metrics) != len(self.directions):
            raise SweepError(f"hydra.sweeper.metric: {len(self.metrics)} name(s) for {len(self.directions)} direction(s)")

    def _search_space(self, arguments: list[str]) -> SearchSpace:
        params = [f"{k}={v}" for k, v in (self.params or {}).items()]
        space = parse(params, arguments)
        self.sampler = build_sampler(self.sampler_cfg)
        self.pruner = build_pruner(self.pruner_cfg)
        if callable(self.sampler) and not isinstance(self.sampler, optuna.samplers.BaseSampler):
            grid = space.grid()  # the grid sampler is configured as a partial: give it its points
            self.sampler = self.sampler(grid)
            self.n_trials = min(int(self.n_trials), grid_size(grid))
        if len(self.directions) > 1 and not isinstance(self.pruner, optuna.pruners.NopPruner):
            log.warning("Pruning is single-objective only in Optuna: the pruner is not used")
        return space

    def _check_config(self, check: Any) -> None:
        """Compose a representative trial's config (a key the config lacks fails here) and give
        it to the application's check (its data, its values)."""
        try:
            config = self.hydra_context.config_loader.load_sweep_config(self.config, self.space.representative())
        except Exception as err:  # noqa: BLE001 - Hydra raises several types for bad overrides
            raise SweepError(
                f"the search space does not fit the config: {one_line(err)} "
                "(a key the config lacks is added with +key=...)"
            ) from None
        if check is not None:
            check(config, list(self.space.distributions))

    def _slots(self) -> int:
        if self.n_jobs is not None:
            return int(self.n_jobs)
        if _launchers.is_ray(self.config):
            return _launchers.ray_slots(self.config)
        return 1

    # -- per trial --------------------------------------------------------------------------
    def _start_one(self) -> None:
        trial = self._asked = ask(self.study, self.space.distributions)
        job_num = self.numbers.claim()
        job_dir = self.sweep_dir / str(job_num)
        trial.set_user_attr(ATTR_JOB_NUM, job_num)
        trial.set_user_attr(ATTR_JOB_DIR, str(job_dir))
        trial_id = self.storage_obj.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
        self.heartbeats.add(trial_id)
        if self.custom_search_space:
            from hydra.utils import get_method

            get_method(self.custom_search_space)(self.config, trial)
        env = environment(self.url, self.study.study_name, trial_id, trial.number)
        overrides = self.space.overrides(trial.params) + [f"++hydra.job.env_set.{k}='{v}'" for k, v in env.items()]
        self.to_start -= 1
        self.dispatcher.submit(Job(job_num, overrides, payload=(trial, trial_id)))
        self._asked = None

    def _record(self, finished: Finished) -> Outcome:
        """Tell Optuna how a job ended and keep the tally."""
        trial, trial_id = finished.job.payload
        state, values, error = decode(finished.ret, len(self.directions))
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
                self._job_failed(trial.number, finished.job.job_num, detail,
                                 "".join(traceback.format_exception(finished.ret)))
        self.heartbeats.discard(trial_id)
        outcome = Outcome(trial.number, finished.job.job_num, state, values, detail, finished.seconds, error)
        self.tally.add(outcome)
        if self.tally.failures > self.failure_budget and not self.stopping:
            self.stopping = True
            log.error(
                "%d of %d trials failed, more than max_failure_rate=%s allows; stopping after "
                "the running trial(s) finish", self.tally.failures, self.n_trials, self.max_failure_rate,
            )
        return outcome

    def _job_failed(self, number: int, job_num: int | None, error: str, details: str, job_dir: str | None = None) -> None:
        path = Path(job_dir) if job_dir else self.sweep_dir / str(job_num)
        call_job_failed(self.job_failed, FailedJob(path, job_num, number, self.study.study_name, error, details))

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
        """Ctrl-C: record what has finished, stop the jobs still running, mark their trials
        interrupted (they do not count) and leave that in their job directories."""
        for finished in self.dispatcher.collect_now():
            outcome = self._record(finished)
            log.info(progress_line(outcome, self.tally, self.n_trials, 0))
        if _launchers.is_ray(self.config):
            _launchers.stop_ray()  # before the records: a job must not write after its hook
        cut = [job.payload[0] for job in self.dispatcher.abandon()]
        if self._asked is not None:
            cut.append(self._asked)
        for trial in cut:
            if mark_interrupted(self.study, trial):
                self._job_failed(trial.number, trial.user_attrs.get(ATTR_JOB_NUM), INTERRUPTED, INTERRUPTED,
                                 trial.user_attrs.get(ATTR_JOB_DIR))

    def _on_stale(self, study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> None:
        reason = (f"interrupted: its driver stopped sending heartbeats (none for "
                  f"{self.grace_period} s); marked FAIL by another driver")
        log.warning("Trial %d was left running by a driver that stopped: marked FAIL", trial.number)
        job_dir = trial.user_attrs.get(ATTR_JOB_DIR)
        if job_dir:
            self._job_failed(trial.number, trial.user_attrs.get(ATTR_JOB_NUM), reason, reason, job_dir)

    def _write_results(self) -> None:
        write_results(self.sweep_dir, results(self.study, url=self.url, space=self.space,
                                              n_trials=self.n_trials, metrics=self.metrics))
