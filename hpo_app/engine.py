"""The TrainingEngine: data -> features -> folds -> one agent per fold and seed -> metrics -> record.

It is built from the schema's dataclasses (``hpo_app.schema``, ``hpo_app.model_schema``), checked
here (``hpo_app.checks``); ``hpo_app.app`` maps a Hydra config onto them.
Validation (``hpo_app.validation``) is a holdout split or walk-forward folds, each run with
``train.n_seeds`` seeds. Each run trains one agent (``hpo_app.training``); its deterministic
policy is evaluated on the fold's validation block every ``eval_every`` steps (the evaluation
curve). The objective is the runs' validation metric, aggregated. With ``train.keep=best`` each run's
agent is the policy of its best evaluation (a copy of its weights, restored when training ends).

What the ``on_evaluation`` hook (the sweeper's pruning) sees: with a single run, each evaluation
during training (step ``timesteps // eval_every``); with several, one point per finished run
(step = the run's number, value = the aggregate over the runs so far), so that a trial bad on its
first fold stops there.

At the end, the agents of the last fold are scored on the test segment (which nothing before saw),
and the metrics, beside buy-and-hold, flat and (on the planted-edge market) the reference policy,
are written to the job directory by ``hpo_app.run_output`` (file names: ``hpo_record.files``; the
record: ``hpo_record.job``). The calls go one way: the engine calls ``training`` and ``run_output``,
neither calls it back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from hpo_app import checks, fmt, run_output
from hpo_record import files
from hpo_app.market import load_market_data
from hpo_app.features import (
    PreparedData,
    feature_columns,
    fold_view,
    prepare_data,
    select_features,
)
from hpo_app.loggers import Loggers
from hpo_app.model_schema import ModelConf
from hpo_app.schema import DataConf, EnvConf, ResourcesConf, TrainConf, ValidationConf
from hpo_app.specs import (  # noqa: F401 - re-exported: the engine's public types
    ConfigError,
    Evaluation,
    EvaluationHook,
    ObjectiveSpec,
    RunResult,
    objective_spec,
)
from hpo_app.training import (  # noqa: F401 - TrainingDiverged re-exported
    AgentRun,
    BestPolicy,
    TrainingDiverged,
    baseline_metrics,
    check_finite,
    equity_frame,
    segment_metrics,
)
from hpo_app.validation import Fold, aggregate, make_folds

log = logging.getLogger(__name__)


@dataclass
class _Run:
    """What one finished run (fold x seed) left."""

    fold: Fold
    agent: AgentRun
    val: dict[str, float]
    timesteps: int
    model: BaseAlgorithm | None  # kept for the last fold only (scored on test at the end)
    episodes: dict[str, Any] = field(default_factory=dict)  # segment -> EpisodeRecord
    kept_timesteps: int | None = None  # train.keep=best: the step whose policy was kept

    @property
    def seed(self) -> int:
        return self.agent.seed

    @property
    def prepared(self) -> PreparedData:
        return self.agent.prepared


class TrainingEngine:
    """Trains the agents of one configuration and evaluates them; see the module docstring."""

    def __init__(
        self,
        *,
        data: DataConf,
        model: ModelConf,
        objective: ObjectiveSpec,
        output_dir: Path,
        seed: int,
        env: EnvConf | None = None,
        train: TrainConf | None = None,
        validation: ValidationConf | None = None,
        resources: ResourcesConf | None = None,
        on_evaluation: EvaluationHook | None = None,
        trial_info: dict[str, Any] | None = None,
    ) -> None:
        env, train = env or EnvConf(), train or TrainConf()
        validation, resources = validation or ValidationConf(), resources or ResourcesConf()
        checks.check_run(seed=seed, data=data, env=env, train=train, validation=validation, resources=resources,
                         model=model)
        self.data_spec, self.env_spec, self.model_spec = data, env, model
        self.train_spec, self.objective_spec = train, objective
        self.seed, self.resources = seed, resources
        self.validation = validation
        self.output_dir = Path(output_dir)
        self.on_evaluation = on_evaluation
        self.loggers = Loggers()  # experiment trackers (hpo_app.loggers); the app sets them
        self.trial_info = trial_info
        self.curve: list[Evaluation] = []
        self.runs: list[_Run] = []
        self.current_model: BaseAlgorithm | None = None  # the agent being trained
        self.single = True  # one run only (holdout, one seed); set when the plan is known
        self.timesteps = 0  # trained by this job (a continued model's earlier steps not counted)
        self.start_timesteps = 0  # the continued model's steps (train.init_from)
        self.final_values: tuple[float, ...] | None = None  # the objective, once computed
        self.reference = data if data.source == "edge" else None  # a planted edge: its reference policy

    @property
    def metric(self) -> str:
        return self.objective_spec.metrics[0]

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Train, evaluate and write every output; failures are written before they propagate."""
        started = time.perf_counter()
        with run_output.writing(self.output_dir, whole=False):
            self.output_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(self.resources.cpus_per_trial)
        prepared: PreparedData | None = None
        try:
            prepared = self.prepare()
            folds = make_folds(self.validation, prepared.segments)
        except Exception as exc:
            run_output.write_failure(self, exc, prepared)
            raise
        plan = [(fold, self.seed + j) for fold in folds for j in range(self.train_spec.n_seeds)]
        self.single = len(plan) == 1
        if self.train_spec.total_timesteps < 2 * self.train_spec.eval_every:
            log.warning("train.total_timesteps=%d < 2 x train.eval_every=%d: no evaluation during training, "
                        "so nothing for a pruner to act on (only the final one)",
                        self.train_spec.total_timesteps, self.train_spec.eval_every)
        state, pruned = files.STATE_COMPLETE, None
        outputs = self.loggers.sb3_outputs()  # stable-baselines3's own scalars, to the trackers
        try:
            for fold, seed in plan:
                view = fold_view(prepared, fold.train, fold.val) if self.validation.kind == "walkforward" else prepared
                agent = AgentRun(view, self.env_spec, self.model_spec, self.train_spec, seed, outputs)
                pruned = self._one_run(agent, fold)
                if pruned is not None:
                    state = files.STATE_PRUNED
                    break
            result = self._finish(prepared, state, started)
        except Exception as exc:
            run_output.write_failure(self, exc, prepared)
            if isinstance(exc, run_output.OutputError):  # a disk's failure: say what it would have lost
                raise run_output.OutputError(f"{exc}; {run_output.computed(self)}") from exc
            raise
        if pruned is not None:
            raise pruned
        return result

    def _one_run(self, agent: AgentRun, fold: Fold) -> BaseException | None:
        """Train and score one agent; returns the pruner's exception when it said stop. With
        ``train.keep=best`` the policy of the best validation evaluation replaces the last one."""
        init_from = self.train_spec.init_from
        model = self.current_model = agent.resume(init_from) if init_from else agent.build()
        direction = self.objective_spec.directions[0]
        best = BestPolicy(direction) if self.train_spec.keep == "best" else None  # this run's best evaluation
        pruned: BaseException | None = None
        start = self.start_timesteps = int(model.num_timesteps)
        try:
            if start:  # a continued model is first evaluated as it was saved
                self._evaluate_during_training(agent, model, fold, start, best)
            agent.learn(model, lambda steps: self._evaluate_during_training(agent, model, fold, steps, best))
        except Exception as exc:  # noqa: BLE001 - pruning is an exception by Optuna's design
            if type(exc).__name__ != "TrialPruned":
                self.timesteps += int(model.num_timesteps) - start
                raise
            pruned = exc
        timesteps = int(model.num_timesteps)
        self.timesteps += timesteps - start
        val, episode = agent.metrics(model, "val")
        check_finite(val[self.metric], f"validation {self.metric}", timesteps)
        if self.single and (not self.curve or self.curve[-1].timesteps < timesteps):
            # The fully trained policy closes the curve (the pruner never sees this point).
            self._add_point(timesteps, val, fold, agent.seed)
        kept = None
        if best is not None:
            best.offer(val[self.metric], timesteps, model)
            kept = best.timesteps
            if kept != timesteps:
                model.policy.load_state_dict(best.state)
                val, episode = agent.metrics(model, "val")
            log.info("train.keep=best: kept the policy of step %d (%s = %s)", kept, self.metric,
                     fmt.metric(self.metric, val[self.metric]))
        for earlier in self.runs:  # only the last fold's agents are scored on test: free the others
            if earlier.fold.index != fold.index:
                earlier.model = None
        self.runs.append(_Run(fold, agent, val, timesteps, model, {"val": episode}, kept))
        if not self.single and pruned is None:
            pruned = self._report_run(len(self.runs))
        return pruned

    def _evaluate_during_training(self, agent: AgentRun, model: BaseAlgorithm, fold: Fold, timesteps: int,
                                  best: BestPolicy | None) -> None:
        metrics, _ = agent.metrics(model, "val")
        check_finite(metrics[self.metric], f"validation {self.metric}", timesteps)
        point = self._add_point(timesteps, metrics, fold, agent.seed)
        if best is not None:
            best.offer(metrics[self.metric], timesteps, model)
        if self.single and self.on_evaluation is not None:
            self.on_evaluation(point)

    def _report_run(self, n: int) -> BaseException | None:
        """One point per finished run for the pruner: the aggregate over the runs so far."""
        if self.on_evaluation is None:
            return None
        values = [r.val[self.metric] for r in self.runs]
        means = {k: float(np.mean([r.val[k] for r in self.runs])) for k in self.runs[0].val}
        point = Evaluation(index=n, step=n, timesteps=self.timesteps, objective=aggregate(values, self.validation),
                           metrics=means)
        try:
            self.on_evaluation(point)
        except Exception as exc:  # noqa: BLE001 - optuna.TrialPruned
            if type(exc).__name__ == "TrialPruned":
                return exc
            raise
        return None

    def prepare(self) -> PreparedData:
        """Load the market data, compute features and split it (raises DataError on bad input)."""
        spec = self.data_spec
        market = load_market_data(spec)
        prepared = prepare_data(market.prices, window=self.env_spec.window, train_frac=spec.train_frac,
                                val_frac=spec.val_frac, periods_per_year=market.periods_per_year,
                                source=market.source)
        return select_features(prepared, feature_columns(self.env_spec.features))

    # -- the end -----------------------------------------------------------------------------
    def _finish(self, prepared: PreparedData, state: str, started: float) -> RunResult:
        """Aggregate the runs, score the last fold's agents on train and test, write everything."""
        final = [r for r in self.runs if r.fold.index == self.runs[-1].fold.index]
        metrics = {k: float(np.mean([r.val[k] for r in self.runs])) for k in self.runs[0].val}
        for segment in ("train", "test"):
            scored = [r.agent.metrics(r.model, segment) for r in final]
            metrics.update({k: float(np.mean([m[k] for m, _ in scored])) for k in scored[0][0]})
            final[0].episodes[segment] = scored[0][1]
        folds = list({r.fold.index: r.prepared for r in self.runs}.values())  # each fold's data, once
        baselines = baseline_metrics(final[0].prepared, folds, self.env_spec, self.reference)
        values = tuple(aggregate([r.val[m] for r in self.runs], self.validation) for m in self.objective_spec.metrics)
        for name, value in zip(self.objective_spec.metrics, values):
            check_finite(value, f"objective {name}", self.timesteps)
        self.final_values = values
        run_output.write_equity(self, final[0])
        if self.train_spec.save_model:
            model_file, buffer_file = self.output_dir / files.MODEL_FILE, self.output_dir / files.REPLAY_BUFFER_FILE
            with run_output.writing(model_file):
                final[0].model.save(model_file)
            if self.train_spec.save_replay_buffer and isinstance(final[0].model, OffPolicyAlgorithm):
                with run_output.writing(buffer_file):
                    final[0].model.save_replay_buffer(buffer_file)
        result = RunResult(state, values, metrics, baselines, self.timesteps, time.perf_counter() - started,
                           self.output_dir)
        run_output.write_record(self, result, final[0].prepared, error=None)
        self.loggers.close(state, metrics, [self.output_dir / files.METRICS_FILE, self.output_dir / files.MODEL_FILE])
        run_output.log_summary(self, result)
        return result

    # -- files -----------------------------------------------------------------------------
    def _add_point(self, timesteps: int, val_metrics: dict[str, float], fold: Fold, seed: int) -> Evaluation:
        """Append an evaluation to the curve, in memory and on disk."""
        point = Evaluation(index=len(self.curve) + 1, step=timesteps // self.train_spec.eval_every,
                           timesteps=timesteps, objective=val_metrics[self.metric], metrics=val_metrics)
        self.curve.append(point)
        run_output.append_evaluation(self, point, fold.index, seed)
        self.loggers.evaluation(timesteps, val_metrics)
        log.info("step %d: %s = %s", timesteps, self.metric, fmt.metric(self.metric, point.objective))
        return point

    def write_failure(self, exc: BaseException) -> None:
        """Record a failure that happened outside ``run()`` (e.g. connecting to the study)."""
        run_output.write_failure(self, exc, None)
