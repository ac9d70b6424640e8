"""The sweep driver: Optuna asks, jobs run (asynchronously on Ray), Optuna is told.

Extends the released ``hydra-optuna-sweeper`` (same configuration keys) with what it lacks:

- pruning: the job reports each validation evaluation to the study (``hpo_app.trial_link``);
  a pruned job raises ``optuna.TrialPruned`` and is told PRUNED here;
- asynchronous dispatch: with the Ray launcher a new trial starts as soon as any running one
  finishes (``ray.wait``), instead of the released sweeper's blocking batches of ``n_jobs``;
  other launchers (``hydra/launcher=basic``) run batches through ``launcher.launch``;
- resume: ``hydra.sweeper.resume=true`` continues the study in ``storage``; finished trials
  count toward ``n_trials``, job numbers continue after the existing job directories, and
  trials that a killed driver left RUNNING are marked FAIL;
- failures: a failing trial is recorded FAIL (its traceback is in its job directory) and the
  sweep goes on until more than ``max_failure_rate * n_trials`` trials have failed;
- a progress line per finished trial, and ``optimization_results.yaml`` kept up to date.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from hpo_app import artifacts
from hpo_app.engine import one_line
from hpo_app.storage import make_storage
from hpo_app.trial_link import environment_variables

log = logging.getLogger(__name__)


INTERRUPTED = "interrupted: the sweep was stopped while this trial ran"


class SweepError(ValueError):
    """Invalid sweep input, found before any trial starts; the message is one line."""


RESULTS_EVERY_S = 5.0
"""optimization_results.yaml is rewritten at most this often during a sweep, and at its end."""


@dataclass
class _Outcome:
    """How one trial ended, as the driver reports it."""

    number: int
    job_num: int
    state: TrialState
    values: list[float] | None
    detail: str  # the error, or how the trial was pruned
    seconds: float = 0.0


Recorder = Callable[[optuna.study.Study, optuna.trial.Trial, int, Any, float], _Outcome]


@dataclass
class _Tally:
    """Counts and the best value so far, kept in memory from what the driver told Optuna."""

    done: int
    directions: list[str]
    failures: int = 0
    best: tuple[float, int] | None = None  # (value, trial number), single objective
    n_complete: int = 0

    def add(self, outcome: _Outcome) -> None:
        self.done += 1
        self.failures += outcome.state == TrialState.FAIL
        if outcome.state != TrialState.COMPLETE or not outcome.values:
            return
        self.n_complete += 1
        if len(self.directions) == 1:
            value = outcome.values[0]
            better = self.best is None or (
                value > self.best[0] if self.directions[0] == "maximize" else value < self.best[0]
            )
            if better:
                self.best = (value, outcome.number)

    def best_text(self) -> str:
        if len(self.directions) > 1:
            return f"see the Pareto front ({self.n_complete} complete)"
        return "-" if self.best is None else f"{self.best[0]:.4f} (trial {self.best[1]})"


@dataclass
class _Running:
    trial: optuna.trial.Trial
    job_num: int
    started: float


class HpoSweeperImpl(OptunaSweeperImpl):
    """See the module docstring."""

    def __init__(
        self,
        *,
        sampler: Any,
        direction: Any,
        storage: Any | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int | None,
        max_failure_rate: float,
        search_space: DictConfig | None = None,
        custom_search_space: str | None = None,
        params: DictConfig | None = None,
        pruner: Any = None,
        objective_metric: Any = None,
        resume: bool = False,
        cpus_per_trial: int = 1,
    ) -> None:
        if not 0.0 <= float(max_failure_rate) <= 1.0:
            _fail(f"hydra.sweeper.max_failure_rate={max_failure_rate}: must be between 0 and 1")
        super().__init__(
            sampler, direction, storage, study_name, n_trials, n_jobs or 1, max_failure_rate,
            search_space, custom_search_space, params,
        )
        self.auto_jobs = n_jobs is None
        if self.sampler is None:  # an app without a `sampler` group: Optuna's default
            self.sampler = optuna.samplers.TPESampler()
        self.pruner = pruner if pruner is not None else optuna.pruners.NopPruner()
        self.objective_metric = objective_metric
        self.resume = resume
        self.cpus_per_trial = max(1, int(cpus_per_trial))
        self.runner_stopped = False  # too many failures: start no new trial

    # -- entry -----------------------------------------------------------------------------
    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None and self.launcher is not None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            space, fixed = self._search_space(arguments)
            self._validate(space, fixed)
            study = self._create_study()
        except SweepError as err:
            _fail(str(err))
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if not (sweep_dir / artifacts.MULTIRUN_FILE).exists():
            OmegaConf.save(self.config, sweep_dir / artifacts.MULTIRUN_FILE)
        self.sweep_path = sweep_dir
        self.job_idx = self._next_job_num(study, sweep_dir)
        self._fail_leftovers(study, sweep_dir)
        done = _count_finished(study)
        to_start = max(0, self.n_trials - done)
        slots = self._slots()
        log.info(
            "Study %s in %s: %d trial(s) to run (%d done), %d in parallel, sampler %s, pruner %s",
            study.study_name, self.storage, to_start, done, slots,
            type(self.sampler).__name__,
            type(self.pruner).__name__,
        )
        runner = _RayRunner(self) if _is_ray(self.launcher) else _SerialRunner(self)
        # The failure budget counts this run's failures: a resumed sweep starts with a new budget.
        self.tally = _Tally(done=done, directions=[d.name.lower() for d in study.directions])
        if len(study.directions) == 1 and any(t.state == TrialState.COMPLETE for t in study.trials):
            self.tally.best = (float(study.best_value), study.best_trial.number)
        self.failure_budget = math.floor(self.max_failure_rate * self.n_trials + 1e-9)
        interrupted = False
        last_write = 0.0
        try:
            for outcome in runner.run(study, space, fixed, to_start, slots, self._record):
                self._progress(outcome, runner.n_running)
                if time.monotonic() - last_write > RESULTS_EVERY_S:  # cheap enough, not per trial
                    self._write_results(study, sweep_dir, space, fixed)
                    last_write = time.monotonic()
        except KeyboardInterrupt:
            interrupted = True
            for outcome in runner.finished_now(study, self._record):  # done, not yet collected
                self._progress(outcome, 0)
            runner.cancel(study)
        self._write_results(study, sweep_dir, space, fixed)
        if interrupted:
            log.warning(
                "Interrupted: %d finished trial(s) are in the study and on disk; continue with "
                "hydra.sweep.dir=%s hydra.sweeper.resume=true", _count_finished(study), sweep_dir,
            )
            sys.exit(130)
        if self.tally.failures > self.failure_budget:
            log.error("Sweep stopped: %d failed trial(s); errors are in each job's %s",
                      self.tally.failures, artifacts.ERROR_FILE)
            sys.exit(1)
        self._log_best(study)

    def _record(self, study: optuna.study.Study, trial: optuna.trial.Trial, job_num: int,
                ret: JobReturn | BaseException, seconds: float) -> _Outcome:
        """Tell Optuna how a job ended and keep the tally (called before the slot is refilled)."""
        outcome = self._tell(study, trial, ret)
        outcome = _Outcome(trial.number, job_num, outcome.state, outcome.values, outcome.detail, seconds)
        error_file = self.sweep_path / str(job_num) / artifacts.ERROR_FILE
        if isinstance(ret, BaseException) and not error_file.exists():
            # The job never ran (its config did not compose) or its worker died: say so there.
            error_file.parent.mkdir(parents=True, exist_ok=True)
            error_file.write_text("".join(traceback.format_exception(ret)))
        self.tally.add(outcome)
        if self.tally.failures > self.failure_budget and not self.runner_stopped:
            self.runner_stopped = True
            log.error(
                "%d of %d trials failed, more than max_failure_rate=%s allows; stopping after "
                "the running trial(s) finish", self.tally.failures, self.n_trials, self.max_failure_rate,
            )
        return outcome

    # -- set-up ----------------------------------------------------------------------------
    def _search_space(self, arguments: list[str]) -> tuple[dict[str, BaseDistribution], dict[str, Any]]:
        if int(self.n_trials) < 1:
            raise SweepError(f"hydra.sweeper.n_trials={self.n_trials}: must be at least 1")
        self._process_searchspace_config()
        overrides = _last_wins(self._parse_sweeper_params_config() + list(arguments))
        for override in overrides:  # one at a time, so that the error names the parameter
            try:
                create_params_from_overrides([override])
            except Exception as err:  # noqa: BLE001 - Hydra's parser and Optuna raise several types
                raise SweepError(f"{override}: {one_line(err)}") from None
        space, fixed = create_params_from_overrides(overrides)
        space.update(_range_distributions(overrides))
        for name in fixed:
            space.pop(name, None)
        for name, dist in space.items():
            if isinstance(dist, CategoricalDistribution) and len(dist.choices) == 0:
                raise SweepError(f"{name}: empty choice()")
        if _is_grid(self.sampler):
            try:
                grid = {name: self._to_grid_sampler_choices(d) for name, d in space.items()}
            except ValueError:
                continuous = [n for n, d in space.items() if not isinstance(d, CategoricalDistribution)]
                raise SweepError(
                    f"sampler=grid needs discrete parameters; {', '.join(continuous)} are intervals "
                    "(use choice(...) or another sampler)"
                ) from None
            self.sampler = self.sampler(grid)
            self.n_trials = min(int(self.n_trials), math.prod(len(v) for v in grid.values()))
        return space, fixed

    def _to_grid_sampler_choices(self, distribution: BaseDistribution) -> Any:
        """Grid points of a distribution, both ends included (ranges end at their last value)."""
        from optuna.distributions import DiscreteUniformDistribution, IntUniformDistribution

        if isinstance(distribution, IntUniformDistribution):
            return list(range(distribution.low, distribution.high + 1, distribution.step))
        if isinstance(distribution, DiscreteUniformDistribution):
            n = int(round((distribution.high - distribution.low) / distribution.q)) + 1
            return [distribution.low + i * distribution.q for i in range(n)]
        return super()._to_grid_sampler_choices(distribution)

    def _validate(self, space: dict[str, BaseDistribution], fixed: dict[str, Any]) -> None:
        """Compose one trial's config and build the engine from it: bad keys fail here."""
        from hpo_app.app import USER_ERRORS, engine_from_config

        sample = [f"{name}={_representative(dist)}" for name, dist in space.items()]
        sample += [f"{name}={value}" for name, value in fixed.items()]
        try:
            config = self.hydra_context.config_loader.load_sweep_config(self.config, sample)
        except Exception as err:  # noqa: BLE001 - Hydra raises several types for bad overrides
            raise SweepError(
                f"the search space does not fit the config: {one_line(err)} "
                "(a key the config lacks is added with +key=...)"
            ) from None
        if OmegaConf.select(config, "model.name") is None or "data" not in config:
            return  # another Hydra app's config: nothing of hpo_app's to check
        try:
            engine = engine_from_config(config, Path(os.devnull))
            if not any(name.lstrip("+").startswith("data.") for name in space):
                engine.prepare()  # the data every trial will use: a bad file fails here, once
        except USER_ERRORS as err:
            raise SweepError(str(err)) from None
        directions = self._get_directions()
        metrics = OmegaConf.to_object(self.objective_metric) if OmegaConf.is_config(self.objective_metric) else self.objective_metric
        metrics = [metrics] if isinstance(metrics, str) else list(metrics or [])
        if metrics and len(metrics) != len(directions):
            raise SweepError(f"objective: {len(metrics)} metric(s) but {len(directions)} direction(s)")
        if len(directions) > 1 and not isinstance(self.pruner, optuna.pruners.NopPruner):
            log.warning("Pruning is single-objective only in Optuna: the pruner is not used")

    def _create_study(self) -> optuna.study.Study:
        assert self.config is not None
        if self.storage is None:
            db = Path(str(self.config.hydra.sweep.dir)).absolute() / artifacts.STUDY_DB_FILE
            db.parent.mkdir(parents=True, exist_ok=True)
            self.storage = f"sqlite:///{db}"
        if self.study_name is None:
            self.study_name = str(OmegaConf.select(self.config, "model.name", default="study"))
        storage = make_storage(str(self.storage))
        directions = self._get_directions()
        existing = [s.study_name for s in optuna.study.get_all_study_summaries(storage)]
        if self.study_name in existing and not self.resume:
            n = len(optuna.load_study(study_name=self.study_name, storage=storage).trials)
            if n:
                raise SweepError(
                    f"study {self.study_name!r} in {self.storage} already has {n} trial(s): add "
                    "hydra.sweeper.resume=true to continue it, or use another hydra.sweep.dir"
                )
        study = optuna.create_study(
            study_name=self.study_name, storage=storage, sampler=self.sampler,
            pruner=self.pruner, directions=directions, load_if_exists=True,
        )
        if self.resume and study.trials and hasattr(self.sampler, "reseed_rng"):
            # A seeded sampler would start its random stream over and repeat the points it
            # already tried: a resumed sweep draws new ones.
            self.sampler.reseed_rng()
        # Optuna wraps an RDB storage in a cache that hides from the driver what the workers
        # write for the trials the driver asked (their intermediate values): use it directly.
        study._storage = storage
        if [d.name.lower() for d in study.directions] != [d.lower() for d in directions]:
            raise SweepError(
                f"study {self.study_name!r} was created with directions "
                f"{[d.name.lower() for d in study.directions]}, not {directions}"
            )
        self.study = study
        return study

    def _slots(self) -> int:
        if not self.auto_jobs:
            if int(self.n_jobs) < 1:
                _fail(f"hydra.sweeper.n_jobs={self.n_jobs}: must be at least 1")
            return int(self.n_jobs)
        if not _is_ray(self.launcher):
            return 1
        cpus = _ray_cpus(self.launcher)
        return max(1, cpus // self.cpus_per_trial)

    def _next_job_num(self, study: optuna.study.Study, sweep_dir: Path) -> int:
        numbers = [int(p.name) for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        numbers += [int(t.user_attrs["job_num"]) for t in study.trials if "job_num" in t.user_attrs]
        return max(numbers, default=-1) + 1

    def next_job_num(self) -> int:
        """The next job number whose directory this driver could create (never an existing one)."""
        while True:
            num, self.job_idx = self.job_idx, self.job_idx + 1
            try:
                (self.sweep_path / str(num)).mkdir(parents=True, exist_ok=False)
                return num
            except FileExistsError:
                continue

    def _fail_leftovers(self, study: optuna.study.Study, sweep_dir: Path) -> None:
        """Trials left RUNNING by a driver that died: mark them FAIL (this sweep's only)."""
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            job_dir = trial.user_attrs.get("job_dir")
            if job_dir is None or Path(job_dir).parent == sweep_dir:
                study._storage.set_trial_user_attr(trial._trial_id, "error", INTERRUPTED)
                study._storage.set_trial_state(trial._trial_id, TrialState.FAIL)
                log.warning("Trial %d was left running by an earlier driver: marked FAIL", trial.number)

    # -- per trial -------------------------------------------------------------------------
    def trial_overrides(self, study: optuna.study.Study, trial: optuna.trial.Trial, job_num: int,
                        space: dict[str, BaseDistribution], fixed: dict[str, Any]) -> list[str]:
        (overrides,) = self._configure_trials([trial], space, fixed)
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        trial.set_user_attr("job_num", job_num)
        trial.set_user_attr("job_dir", str(sweep_dir / str(job_num)))
        env = environment_variables(str(self.storage), study.study_name, trial)
        return list(overrides) + [f"++hydra.job.env_set.{k}='{v}'" for k, v in env.items()]

    def _tell(self, study: optuna.study.Study, trial: optuna.trial.Trial, ret: JobReturn | BaseException) -> _Outcome:
        directions = study.directions
        if isinstance(ret, BaseException):
            error: BaseException | None = ret
        elif ret.status == JobStatus.COMPLETED:
            error = None
        else:
            error = ret._return_value if isinstance(ret._return_value, BaseException) else RuntimeError(str(ret._return_value))
        if error is not None and type(error).__name__ == "TrialPruned":
            _tell(study, trial, state=TrialState.PRUNED)
            return _Outcome(trial.number, -1, TrialState.PRUNED, None, str(error))
        if error is None:
            values = _as_values(ret.return_value, len(directions))
            if isinstance(values, str):
                error = ValueError(values)
            else:
                _tell(study, trial, values=values)
                return _Outcome(trial.number, -1, TrialState.COMPLETE, values, "")
        message = one_line(error)
        study._storage.set_trial_user_attr(trial._trial_id, "error", message)
        _tell(study, trial, state=TrialState.FAIL)
        return _Outcome(trial.number, -1, TrialState.FAIL, None, message)

    def _progress(self, outcome: _Outcome, running: int) -> None:
        if outcome.state == TrialState.COMPLETE:
            text = "value " + ", ".join(f"{v:.4f}" for v in outcome.values or [])
        elif outcome.state == TrialState.PRUNED:
            text = outcome.detail  # "pruned at evaluation k (n steps), value v"
        else:
            text = "error: " + outcome.detail[:160]
        log.info(
            "[%d/%d] trial %d (job %d) %s in %.0fs: %s | best %s | %d running",
            self.tally.done, self.n_trials, outcome.number, outcome.job_num, outcome.state.name,
            outcome.seconds, text, self.tally.best_text(), running,
        )

    # -- results ---------------------------------------------------------------------------
    def _write_results(self, study: optuna.study.Study, sweep_dir: Path,
                       space: dict[str, BaseDistribution], fixed: dict[str, Any]) -> None:
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        results: dict[str, Any] = {"name": "optuna"}
        if len(study.directions) == 1:
            if complete:
                best = study.best_trial
                results["best_params"] = dict(best.params)
                results["best_value"] = float(best.value)
                results["best_trial"] = {
                    "number": best.number,
                    "job_num": best.user_attrs.get("job_num"),
                    "values": [float(best.value)],
                }
        else:
            results["solutions"] = [
                {"number": t.number, "job_num": t.user_attrs.get("job_num"),
                 "params": dict(t.params), "values": [float(v) for v in t.values]}
                for t in (study.best_trials if complete else [])
            ]
        metrics = self.objective_metric
        metrics = OmegaConf.to_object(metrics) if OmegaConf.is_config(metrics) else metrics
        results.update(
            study_name=study.study_name,
            storage=str(self.storage),
            directions=[d.name.lower() for d in study.directions],
            objective_metrics=[metrics] if isinstance(metrics, str) else list(metrics or []),
            search_space={name: _describe(d) for name, d in space.items()},
            fixed_params={k: _plain(v) for k, v in fixed.items()},
            n_trials=int(self.n_trials),
            counts={
                "complete": len(complete),
                "pruned": sum(t.state == TrialState.PRUNED for t in trials),
                "failed": sum(t.state == TrialState.FAIL for t in trials),
                "running": sum(t.state == TrialState.RUNNING for t in trials),
            },
        )
        target = sweep_dir / artifacts.RESULTS_FILE
        tmp = target.with_suffix(".yaml.tmp")
        OmegaConf.save(OmegaConf.create(results), tmp)
        tmp.replace(target)

    def _log_best(self, study: optuna.study.Study) -> None:
        if not any(t.state == TrialState.COMPLETE for t in study.trials):
            log.warning("No trial completed")
            return
        if len(study.directions) == 1:
            best = study.best_trial
            log.info("Best trial %d (job %s): value %.4f, params %s",
                     best.number, best.user_attrs.get("job_num"), best.value, best.params)
        else:
            log.info("Pareto front: %d trial(s)", len(study.best_trials))
            for t in study.best_trials:
                log.info("    trial %d: values %s, params %s", t.number, t.values, t.params)


# -- runners ------------------------------------------------------------------------------
class _RayRunner:
    """Keeps ``slots`` trials running on Ray; a new one starts when any finishes."""

    def __init__(self, sweeper: HpoSweeperImpl) -> None:
        self.sweeper = sweeper
        self.running: dict[Any, _Running] = {}
        self.asked: optuna.trial.Trial | None = None  # asked, not yet submitted
        self.stopping = False

    @property
    def n_running(self) -> int:
        return len(self.running)

    def run(self, study: optuna.study.Study, space: dict[str, BaseDistribution], fixed: dict[str, Any],
            to_start: int, slots: int, record: Recorder) -> Iterator[_Outcome]:
        """Keep the slots busy; each finished job is recorded, its slot refilled, then yielded."""
        import ray

        _start_ray(self.sweeper.launcher)
        outcomes: list[_Outcome] = []
        while (to_start > 0 and not self.stopping) or self.running:
            while len(self.running) < slots and to_start > 0 and not self.stopping:
                to_start -= 1
                self.asked = study.ask()
                job_num = self.sweeper.next_job_num()
                try:
                    overrides = self.sweeper.trial_overrides(study, self.asked, job_num, space, fixed)
                    ref = self._submit(overrides, job_num)
                except Exception as err:  # noqa: BLE001 - this trial's config, not the sweep, is bad
                    outcomes.append(record(study, self.asked, job_num, err, 0.0))
                    self.asked = None
                    self.stopping = self.stopping or self.sweeper.runner_stopped
                    continue
                self.running[ref] = _Running(self.asked, job_num, time.perf_counter())
                self.asked = None
            if outcomes:  # reported once the freed slots are busy again
                yield outcomes.pop(0)
                continue
            if not self.running:
                break
            ready, _ = ray.wait(list(self.running), num_returns=1)
            outcomes.append(self._collect(study, ready[0], record))
            self.stopping = self.stopping or self.sweeper.runner_stopped
        yield from outcomes

    def _collect(self, study: optuna.study.Study, ref: Any, record: Recorder) -> _Outcome:
        import ray

        item = self.running[ref]
        try:
            ret: JobReturn | BaseException = ray.get(ref)
        except Exception as err:  # noqa: BLE001 - a crashed worker is a failed trial
            ret = err
        outcome = record(study, item.trial, item.job_num, ret, time.perf_counter() - item.started)
        del self.running[ref]  # only once told: an interrupt before this still finds it here
        return outcome

    def _submit(self, overrides: Sequence[str], job_num: int) -> Any:
        from hydra.core.singleton import Singleton
        from hydra_plugins.hydra_ray_launcher._launcher_util import launch_job_on_ray

        launcher = self.sweeper.launcher
        sweep_config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"job_id_for_{job_num}"
            sweep_config.hydra.job.num = job_num
        return launch_job_on_ray(
            launcher.hydra_context, launcher.ray_cfg.remote, sweep_config,
            launcher.task_function, Singleton.get_state(),
        )

    def finished_now(self, study: optuna.study.Study, record: Recorder) -> list[_Outcome]:
        """Record the trials whose job has returned but that the driver has not collected yet."""
        import ray

        if not self.running:
            return []
        ready, _ = ray.wait(list(self.running), num_returns=len(self.running), timeout=0)
        return [self._collect(study, ref, record) for ref in ready]

    def cancel(self, study: optuna.study.Study) -> None:
        import ray

        for ref, item in self.running.items():
            ray.cancel(ref, force=True)
            _interrupted(study, item.trial)
        self.running.clear()
        if self.asked is not None:
            _interrupted(study, self.asked)
            self.asked = None


class _SerialRunner:
    """Any other launcher (e.g. ``hydra/launcher=basic``): ``launch()`` blocks until its jobs
    return, so trials are launched in batches of ``slots`` (one at a time for the basic
    launcher, which runs jobs one after another in this process anyway)."""

    def __init__(self, sweeper: HpoSweeperImpl) -> None:
        self.sweeper = sweeper
        self.pending: list[tuple[optuna.trial.Trial, int]] = []
        self.n_running = 0

    def run(self, study: optuna.study.Study, space: dict[str, BaseDistribution], fixed: dict[str, Any],
            to_start: int, slots: int, record: Recorder) -> Iterator[_Outcome]:
        from hydra._internal.core_plugins.basic_launcher import BasicLauncher

        if isinstance(self.sweeper.launcher, BasicLauncher):
            slots = 1  # nothing runs in parallel; a finished job is told before the next starts
        while to_start > 0 and not self.sweeper.runner_stopped:
            batch = min(slots, to_start)
            to_start -= batch
            self.pending, overrides = [], []
            for _ in range(batch):
                trial = study.ask()
                job_num = self.sweeper.next_job_num()
                try:
                    overrides.append(self.sweeper.trial_overrides(study, trial, job_num, space, fixed))
                except Exception as err:  # noqa: BLE001 - this trial's config is bad
                    yield record(study, trial, job_num, err, 0.0)
                    continue
                self.pending.append((trial, job_num))
            if not self.pending:
                continue
            started = time.perf_counter()
            returns = self.sweeper.launcher.launch(overrides, initial_job_idx=self.pending[0][1])
            seconds = time.perf_counter() - started
            done, self.pending = list(zip(self.pending, returns)), []
            for (trial, job_num), ret in done:
                yield record(study, trial, job_num, ret, seconds)

    def finished_now(self, study: optuna.study.Study, record: Recorder) -> list[_Outcome]:
        return []  # a blocking launch() returns all of its batch or nothing

    def cancel(self, study: optuna.study.Study) -> None:
        for trial, _ in self.pending:
            _interrupted(study, trial)
        self.pending = []


def _interrupted(study: optuna.study.Study, trial: optuna.trial.Trial) -> None:
    """Mark a trial that the sweep's interruption cut short (it does not count toward n_trials)."""
    frozen = study._storage.get_trial(trial._trial_id)
    if frozen.state.is_finished():
        return
    study._storage.set_trial_user_attr(trial._trial_id, "error", INTERRUPTED)
    _tell(study, trial, state=TrialState.FAIL)
    job_dir = frozen.user_attrs.get("job_dir")
    if job_dir and not (Path(job_dir) / artifacts.METRICS_FILE).exists():
        _write_interrupted(Path(job_dir), frozen, study.study_name)


def _write_interrupted(job_dir: Path, trial: optuna.trial.FrozenTrial, study_name: str) -> None:
    """The job directory of a trial cut short says so, as a failed job's would."""
    import json

    job_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "schema": artifacts.SCHEMA_VERSION,
        "state": artifacts.STATE_FAILED,
        "model": None,
        "objective": None,
        "metrics": {},
        "baselines": {},
        "timesteps": None,
        "seconds": None,
        "error": INTERRUPTED,
        "trial": {"number": trial.number, "study": study_name},
    }
    (job_dir / artifacts.METRICS_FILE).write_text(json.dumps(payload, indent=2))
    (job_dir / artifacts.ERROR_FILE).write_text(INTERRUPTED + "\n")


# -- helpers ------------------------------------------------------------------------------
def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _is_ray(launcher: Any) -> bool:
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher

    return isinstance(launcher, RayLauncher)


def _is_grid(sampler: Any) -> bool:
    import functools

    return isinstance(sampler, functools.partial) and sampler.func is optuna.samplers.GridSampler


def _ray_init_options(launcher: Any) -> dict[str, Any]:
    options = OmegaConf.to_container(launcher.ray_cfg.init, resolve=True) or {}
    assert isinstance(options, dict)
    return {k: v for k, v in options.items() if v is not None or k == "address"}


def _ray_cpus(launcher: Any) -> int:
    """The CPUs Ray schedules on (its own count: a container's limit, a cluster's total)."""
    import ray

    _start_ray(launcher)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _start_ray(launcher: Any) -> None:
    """Start (or connect to) Ray once. Unlike the released launcher, this does not set
    ``object_store_memory``, which breaks connecting to an existing cluster (Hydra #2893)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options = _ray_init_options(launcher)
    if options.get("address"):
        options.pop("num_cpus", None)
        options.pop("include_dashboard", None)
    level = options.pop("logging_level", "WARNING")
    options["logging_level"] = getattr(logging, str(level).upper(), logging.WARNING)
    ray.init(**options)


def _tell(study: optuna.study.Study, trial: optuna.trial.Trial, **kwargs: Any) -> None:
    """``study.tell``; the grid sampler calls ``study.stop()`` when its grid is exhausted, which
    Optuna 2.10 only allows inside ``optimize`` (the trial's state is stored all the same)."""
    try:
        study.tell(trial, **kwargs)
    except RuntimeError as err:
        if "Study.stop" in str(err):
            return
        if "finished" in str(err):  # another driver of a shared study already closed it
            log.warning("Trial %d was already finished elsewhere: %s", trial.number, err)
            return
        raise


def _count_finished(study: optuna.study.Study) -> int:
    """Trials that count toward ``n_trials``: all finished ones but those cut by an interruption."""
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False, states=states)
    return sum(t.user_attrs.get("error") != INTERRUPTED for t in trials)


def _as_values(value: Any, n: int) -> list[float] | str:
    """The job's return value as ``n`` finite floats, or a one-line reason why not."""
    raw = value if isinstance(value, (list, tuple)) or OmegaConf.is_list(value) else [value]
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError):
        return f"return value must be {n} float(s), got {value!r}"
    if len(values) != n:
        return f"return value has {len(values)} value(s), the study has {n} objective(s)"
    if not all(math.isfinite(v) for v in values):
        return f"return value is not finite: {values}"
    return values


def _range_distributions(overrides: list[str]) -> dict[str, BaseDistribution]:
    """``range(a, b, step)`` as Hydra means it: b excluded, like Python's range. (The released
    sweeper maps it to an Optuna distribution that includes b, and an empty range to {a}.)"""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Transformer
    from optuna.distributions import DiscreteUniformDistribution, IntUniformDistribution

    out: dict[str, BaseDistribution] = {}
    for override in OverridesParser.create().parse_overrides(overrides):
        if not override.is_range_sweep() or override.value().shuffle:
            continue
        name = override.get_key_element()
        values = list(override.sweep_iterator(transformer=Transformer.encode))
        if not values:
            raise SweepError(f"{name}: empty range()")
        sweep = override.value()
        step = abs(sweep.step)
        low, high = min(values), max(values)
        if all(isinstance(v, int) for v in values):
            out[name] = IntUniformDistribution(int(low), int(high), step=int(step))
        else:
            out[name] = DiscreteUniformDistribution(float(low), float(high), float(step))
    return out


def _last_wins(overrides: list[str]) -> list[str]:
    """Of several overrides of one key (the search space's, then the command line's), keep the
    last: ``model.gamma=0.99`` pins a searched parameter, ``x=choice(...)`` re-ranges a fixed one."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    by_key: dict[str, str] = {}
    for text, override in zip(overrides, parsed):
        key = override.key_or_group
        by_key.pop(key, None)
        by_key[key] = text
    return list(by_key.values())


def _representative(dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[0]
    return getattr(dist, "low")


def _describe(dist: BaseDistribution) -> dict[str, Any]:
    if isinstance(dist, CategoricalDistribution):
        return {"type": "categorical", "choices": [_plain(c) for c in dist.choices]}
    is_int = "Int" in type(dist).__name__
    out: dict[str, Any] = {
        "type": "int" if is_int else "float",
        "low": _plain(dist.low),  # type: ignore[attr-defined]
        "high": _plain(dist.high),  # type: ignore[attr-defined]
        "log": "Log" in type(dist).__name__,
    }
    step = getattr(dist, "step", None) or getattr(dist, "q", None)
    if step is not None:
        out["step"] = _plain(step)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)
