"""The sweep driver: Optuna asks, the launcher runs the jobs (asynchronously), Optuna is told.

What it adds to the released hydra-optuna-sweeper (same keys):

- pruning: the jobs report intermediate values (``hpo_record.trial.current_trial()``) and the
  configured pruner (``hydra.sweeper.pruner``) stops them; a pruned job is told PRUNED;
- asynchronous dispatch: a new trial starts as soon as any running one finishes, instead of
  blocking batches of ``n_jobs`` (``_dispatch``, ``_runner``);
- resume, heartbeats and stale trials, job numbers that never collide (``_study``);
- failures: a failing trial is recorded FAIL and the sweep goes on, until more than
  ``max_failure_rate * n_trials`` trials of this run have failed;
- a time limit per trial (``trial_timeout``): past it the trial fails and its worker is killed
  (``_timeout``);
- a progress line per finished trial, and ``optimization_results.yaml`` kept up to date;
- a seam for the application it sweeps (``hooks``).

This module sets the sweep up (checks, search space, study) and ends it (exit codes, last lines).
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hpo_record.files import MULTIRUN_FILE
from hpo_record.job import one_line
from hpo_record.seam import FailedJob
from hpo_record.storage import storage_url
from hpo_record.study import ATTR_JOB_DIR, ATTR_JOB_NUM
from hpo_record.trial import build_pruner

from hydra_plugins.hpo_sweeper import _confirm, _launchers, _pbt, _pbt_settings, _private
from hydra_plugins.hpo_sweeper._dispatch import Dispatcher
from hydra_plugins.hpo_sweeper._identity import identity
from hydra_plugins.hpo_sweeper._preflight import SweepError, check_settings, opened, shown_storage, writable
from hydra_plugins.hpo_sweeper._results import results, shown_path, write_results
from hydra_plugins.hpo_sweeper._confirm import control_trial, member_control
from hydra_plugins.hpo_sweeper._confirm_run import recorded, run_confirmation
from hydra_plugins.hpo_sweeper._ending import end_sweep
from hydra_plugins.hpo_sweeper._pbt_verdict import record_verdict, rank_score, require_scores
from hydra_plugins.hpo_sweeper._runner import Runner, Sweep, _on_ctrl_c
from hydra_plugins.hpo_sweeper._schedule import PbtSchedule, SearchSchedule
from hydra_plugins.hpo_sweeper._space import SearchSpace, grid_size, parse, quoted
from hydra_plugins.hpo_sweeper._heartbeats import Heartbeats
from hydra_plugins.hpo_sweeper._study import build_sampler, count_finished, open_study, quiet_optuna, requeue_cut_points
from hydra_plugins.hpo_sweeper.hooks import call_job_failed, formatted, load_hook, next_lines

log = logging.getLogger("hydra_plugins.hpo_sweeper")


def _names(value: Any) -> list[str]:
    value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return [] if value is None else [str(v) for v in (value if isinstance(value, list) else [value])]


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
        trial_timeout: float | None = None,
        params: DictConfig | None,
        custom_search_space: str | None,
        hooks: DictConfig,
        resume_ignore: Any = (),
        pbt: DictConfig | None = None,
        control: bool = True,
        confirm: DictConfig | None = None,
        **unknown: Any,  # +hydra.sweeper.<typo>=...: refused in one line when the sweep starts
    ) -> None:
        self.unknown = sorted(unknown)
        self.sampler_cfg, self.pruner_cfg = sampler, pruner
        self.directions = _names(direction)
        self.metrics = _names(metric)
        self.storage = storage
        self.study_name = study_name or "study"
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.queue = queue
        self.max_failure_rate = max_failure_rate
        self.resume = resume
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.trial_timeout = trial_timeout
        self.params = params
        self.custom_search_space = custom_search_space
        self.hooks = hooks
        self.resume_ignore = _names(resume_ignore)
        self.pbt = pbt
        self.control = control
        self.confirm = confirm

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        """Set the sweep up, run it (the runner handles Ctrl-C from its first trial on) and end it.
        Ctrl-C during the set-up (data check, study, Ray start) is noted by a handler and acted on
        between two steps (a KeyboardInterrupt raised inside a library can be swallowed there): the
        sweep ends before its first trial, in one line."""
        self.runner = None
        self.setup_interrupted = False
        previous = _on_ctrl_c(self._setup_ctrl_c)
        try:
            self._sweep(arguments)
        except KeyboardInterrupt:
            if self.runner is not None:
                raise
            _launchers.Launcher(self.config).stop()
            print("Sweep interrupted (Ctrl-C) while it was being set up: no trial ran; run the command again "
                  "to start it", file=sys.stderr)
            sys.exit(130)
        finally:
            _on_ctrl_c(previous)

    def _setup_ctrl_c(self, signum: int, frame: Any) -> None:
        _on_ctrl_c(signal.default_int_handler)  # a second Ctrl-C stops at once
        self.setup_interrupted = True
        log.warning("Stopping: the sweep ends before its first trial (Ctrl-C again to stop at once)")

    def _stop_if_interrupted(self) -> None:
        if self.setup_interrupted:
            raise KeyboardInterrupt

    def _sweep(self, arguments: list[str]) -> None:
        quiet_optuna()
        for name in _private.LAUNCHER_LOGGERS:  # they log every job's overrides as they launch it;
            logging.getLogger(name).setLevel(logging.WARNING)  # the sweeper prints a line per trial
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        url = storage_url(self.storage, sweep_dir)
        try:
            check_settings(self)
            extender = load_hook(self.custom_search_space, "custom_search_space", root="hydra.sweeper")
            space = self._search_space(arguments)
            self.job_failed = load_hook(self.hooks.get("job_failed"), "job_failed")
            format_value = load_hook(self.hooks.get("format_value"), "format_value")
            next_steps = load_hook(self.hooks.get("next_steps"), "next_steps")
            config = self._check_config(space, load_hook(self.hooks.get("check"), "check"))
            pbt = None if self.pbt is None else _pbt_settings.settings(
                self.pbt, config, directions=self.directions, pruner=self.pruner, searched=list(space.distributions),
                level=float(self.confirm["level"]) if self.confirm is not None else 0.05)
            confirm = (_confirm.settings(self.confirm, config)
                       if self.confirm is not None and pbt is None and len(self.directions) == 1 else None)
            paired_scores = load_hook(self.hooks.get("paired_scores"), "paired_scores")
            require_scores(pbt, paired_scores)
            self._stop_if_interrupted()
            writable(sweep_dir)
            sweep_identity = identity(config, space, self.directions, self.metrics, self.resume_ignore)
            created: list[bool] = []
            study, storage = opened(url, lambda: open_study(
                url=url, study_name=self.study_name, sampler=self.sampler, pruner=self.pruner,
                directions=self.directions, metrics=self.metrics, resume=self.resume, heartbeat_interval=self.heartbeat_interval,
                grace_period=self.grace_period, on_stale=self._on_stale, identity=sweep_identity,
                where=shown_path(sweep_dir) if self.storage in (None, "journal") else None,
                on_created=lambda: created.append(True)))
            if self.resume and self.grid and requeue_cut_points(study):
                log.info("Grid points of interrupted trials are queued to run again")
        except ValueError as err:  # SweepError, SearchSpaceError, StudyError: one line, exit 2
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        if not (sweep_dir / MULTIRUN_FILE).exists():
            OmegaConf.save(self.config, sweep_dir / MULTIRUN_FILE)

        def save_results() -> None:
            pbt_settings = sweep.population.settings if sweep.population is not None else None
            write_results(sweep_dir, results(study, url=url, space=space, n_trials=self.n_trials, metrics=self.metrics,
                                             pbt=pbt_settings, recommendation=recorded(study, storage) if confirm else None))

        names = self.metrics or ["value"] * len(self.directions)

        def show_value(i: int, value: float) -> str:
            return formatted(format_value, names[i], value)

        control_values, control = control_trial(space.distributions, self.config, study, enabled=self.control,
                                                ordinary=pbt is None and not self.grid, confirming=confirm is not None,
                                                joining=bool(self.resume) and not created)
        self.heartbeats = Heartbeats(study, storage)
        self.heartbeats.start()  # fails the stale trials of drivers that died, first
        sweep = Sweep(study, storage, url, space, sweep_dir, int(self.n_trials), float(self.max_failure_rate), self.config,
                      extender, self.job_failed, save_results, show_value,
                      None if self.trial_timeout is None else float(self.trial_timeout))
        launcher = _launchers.Launcher(self.config)
        slots, queue = launcher.start(self.n_jobs, int(self.queue))
        if pbt is not None:
            control = member_control(space.distributions, self.config, enabled=self.control)
            sweep.population = population = _pbt.population(  # without a control, nothing to hold bars out for
                pbt, slots, space, self.directions[0], study, control, rank_score(pbt, paired_scores) if control is not None else None)
            sweep.n_trials = self.n_trials = population.settings.population_size * population.settings.n_intervals
            sweep.schedule = PbtSchedule(population, space.distributions, quoted)
        else:
            sweep.schedule = SearchSchedule(space.distributions, max(0, int(self.n_trials) - count_finished(study)),
                                            int(self.n_trials), control)
        dispatcher = Dispatcher(self.launcher, slots=slots, queue_depth=queue, serial=launcher.serial,
                                stop_jobs=launcher.stop_jobs)
        self.runner = runner = Runner(sweep, dispatcher, self.heartbeats)
        runner.stop_requested = self.setup_interrupted  # Ctrl-C since the last check: start no trial
        log.info(
            "Study %s in %s: %d trial(s) to run (%d done), %d in parallel, sampler %s, pruner %s",
            study.study_name, shown_storage(self.storage, url, sweep_dir), runner.to_start, runner.tally.done, dispatcher.slots,
            type(self.sampler).__name__, type(self.pruner).__name__,
        )
        try:
            runner.run()
            if not runner.stop_requested:
                self.heartbeats.settle()
        finally:
            self.heartbeats.stop()
        record_verdict(study, sweep.population, paired_scores)
        save_results()
        confirmed = None
        if (confirm is not None and not runner.stop_requested and not runner.too_many_failures
                and count_finished(study) >= int(self.n_trials)):
            confirmed = run_confirmation(confirm, sweep, dispatcher, control_values, paired_scores, runner.stop_requested)
            self.runner = confirmed.runner
            save_results()
        end_sweep(study, sweep, runner, confirmed, confirm is not None, max_failure_rate=self.max_failure_rate,
                  n_trials=int(self.n_trials), steps=next_lines(next_steps, shown_path(sweep_dir)),
                  format_value=lambda m, v: formatted(format_value, m, v), metrics=self.metrics)

    # -- set-up -----------------------------------------------------------------------------
    def _search_space(self, arguments: list[str]) -> SearchSpace:
        space = parse([f"{k}={v}" for k, v in (self.params or {}).items()], arguments)
        self.sampler = build_sampler(self.sampler_cfg)
        self.pruner = build_pruner(self.pruner_cfg)
        self.grid = callable(self.sampler) and not isinstance(self.sampler, optuna.samplers.BaseSampler)
        if self.grid:
            grid = space.grid()  # the grid sampler is configured as a partial: give it its points
            self.sampler = self.sampler(grid)
            self.n_trials = min(int(self.n_trials), grid_size(grid))
        if len(self.directions) > 1 and not isinstance(self.pruner, optuna.pruners.NopPruner):
            log.warning("Pruning is single-objective only in Optuna: the pruner is not used")
        return space

    def _check_config(self, space: SearchSpace, check: Any) -> DictConfig:
        """Compose a representative trial's config (a key the config lacks fails here), give
        it to the application's check (its data, its values) and return it; then check every
        choice and every range's high end the same way."""
        config = self._compose(space.representative())
        if check is not None:
            check(config, list(space.distributions))
            for overrides in space.extremes() if space.distributions else []:
                try:
                    check(self._compose(overrides), list(space.distributions))
                except ValueError as err:
                    raise SweepError(f"{err} (a value of the search space: a choice or a range's high end)") from None
        return config

    def _compose(self, overrides: list[str]) -> DictConfig:
        try:
            return self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        except Exception as err:  # noqa: BLE001 - Hydra raises several types for bad overrides
            raise SweepError(
                f"the search space does not fit the config: {one_line(err)} "
                "(a key the config lacks is added with +key=...)"
            ) from None

    def _on_stale(self, study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> None:
        """A RUNNING trial whose driver stopped sending heartbeats was just marked FAIL."""
        reason = (f"interrupted: its driver stopped sending heartbeats (none for "
                  f"{self.grace_period} s); marked FAIL by another driver")
        log.warning("Trial %d was left running by a driver that stopped: marked FAIL", trial.number)
        job_dir = trial.user_attrs.get(ATTR_JOB_DIR)
        if job_dir:
            call_job_failed(self.job_failed, FailedJob(Path(job_dir), trial.user_attrs.get(ATTR_JOB_NUM),
                                                       trial.number, study.study_name, reason, reason))

