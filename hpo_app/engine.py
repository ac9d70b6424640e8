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
are written to the job directory (file names: ``hpo_record.files``; the record: ``hpo_record.job``).
"""

from __future__ import annotations

import copy
import csv
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from hpo_app import checks, fmt
from hpo_record import files, job as job_record
from hpo_app.market import load_market_data
from hpo_app.features import (
    PreparedData,
    feature_columns,
    fold_view,
    prepare_data,
    select_features,
)
from hpo_app.loggers import Loggers
from hpo_app.metrics import METRIC_NAMES
from hpo_app.model_schema import ModelConf
from hpo_record.job import one_line
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
    TrainingDiverged,
    baseline_records,
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


class _BestPolicy:
    """The best validation evaluation of one run so far, and a copy of its policy's weights."""

    def __init__(self, direction: str) -> None:
        self.sign = 1.0 if direction == "maximize" else -1.0
        self.value = -np.inf
        self.timesteps: int | None = None
        self.state: dict[str, Any] = {}

    def offer(self, value: float, timesteps: int, model: BaseAlgorithm) -> None:
        if self.sign * value > self.value:  # ties keep the earlier (the shorter-trained) policy
            self.value, self.timesteps = self.sign * value, timesteps
            self.state = copy.deepcopy(model.policy.state_dict())


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
        self.reference = data if data.source == "edge" else None  # a planted edge: its reference policy

    @property
    def metric(self) -> str:
        return self.objective_spec.metrics[0]

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Train, evaluate and write every output; failures are written before they propagate."""
        started = time.perf_counter()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(self.resources.cpus_per_trial)
        prepared: PreparedData | None = None
        try:
            prepared = self.prepare()
            folds = make_folds(self.validation, prepared.segments)
        except Exception as exc:
            self._write_failure(exc, prepared)
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
            self._write_failure(exc, prepared)
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
        best = _BestPolicy(direction) if self.train_spec.keep == "best" else None  # this run's best evaluation
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
                                  best: _BestPolicy | None) -> None:
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
        baselines = self._baselines(final[0].prepared)
        values = tuple(aggregate([r.val[m] for r in self.runs], self.validation) for m in self.objective_spec.metrics)
        for name, value in zip(self.objective_spec.metrics, values):
            check_finite(value, f"objective {name}", self.timesteps)
        self._write_equity(final[0])
        if self.train_spec.save_model:
            final[0].model.save(self.output_dir / files.MODEL_FILE)
            if self.train_spec.save_replay_buffer and isinstance(final[0].model, OffPolicyAlgorithm):
                final[0].model.save_replay_buffer(self.output_dir / files.REPLAY_BUFFER_FILE)
        result = RunResult(state, values, metrics, baselines, self.timesteps, time.perf_counter() - started,
                           self.output_dir)
        self._write_record(result, final[0].prepared, error=None)
        self.loggers.close(state, metrics, [self.output_dir / files.METRICS_FILE, self.output_dir / files.MODEL_FILE])
        self._log_summary(result)
        return result

    def _baselines(self, final: PreparedData) -> dict[str, dict[str, float]]:
        """The baselines on the last fold's training block and the test segment; on validation,
        the mean over the folds' validation blocks (what the agent's validation metrics average)."""
        out: dict[str, dict[str, float]] = {}
        for segment in ("train", "test"):
            for name, rec in baseline_records(final, segment, self.env_spec, self.reference).items():
                out.setdefault(name, {}).update(segment_metrics(rec, segment, final.periods_per_year))
        folds = {r.fold.index: r.prepared for r in self.runs}
        per_fold = [baseline_records(p, "val", self.env_spec, self.reference) for p in folds.values()]
        for name in per_fold[0]:
            each = [segment_metrics(recs[name], "val", final.periods_per_year) for recs in per_fold]
            out[name].update({k: float(np.mean([m[k] for m in each])) for k in each[0]})
        return out

    # -- files -----------------------------------------------------------------------------
    def _add_point(self, timesteps: int, val_metrics: dict[str, float], fold: Fold, seed: int) -> Evaluation:
        """Append an evaluation to the curve, in memory and on disk."""
        point = Evaluation(index=len(self.curve) + 1, step=timesteps // self.train_spec.eval_every,
                           timesteps=timesteps, objective=val_metrics[self.metric], metrics=val_metrics)
        self.curve.append(point)
        names = [f"val/{m}" for m in METRIC_NAMES]
        extra = [] if self.single else ["fold", "seed"]
        with (self.output_dir / files.EVAL_CURVE_FILE).open("w" if point.index == 1 else "a", newline="") as f:
            writer = csv.writer(f)
            if point.index == 1:
                writer.writerow(["timesteps", "objective", *names, *extra])
            writer.writerow([timesteps, point.objective, *(val_metrics[n] for n in names),
                             *([] if self.single else [fold.index, seed])])
        self.loggers.evaluation(timesteps, val_metrics)
        log.info("step %d: %s = %s", timesteps, self.metric, fmt.metric(self.metric, point.objective))
        return point

    def _write_equity(self, final: _Run) -> None:
        """The last fold's first agent on its training and validation blocks and on test, beside the
        baselines; with walk-forward, also each fold's validation block (first seed) as ``fold<k>``:
        together they are the agent's out-of-sample validation returns."""
        prepared = final.prepared
        frames = []
        for segment in ("train", "val", "test"):
            frames.append(equity_frame(segment, prepared, prepared.segments[segment], final.episodes[segment],
                                       baseline_records(prepared, segment, self.env_spec, self.reference)))
        if self.validation.kind == "walkforward":
            for run in self.runs:
                if run.seed == self.seed:
                    p = run.prepared
                    frames.append(equity_frame(f"fold{run.fold.index}", p, p.segments["val"], run.episodes["val"],
                                               baseline_records(p, "val", self.env_spec, self.reference)))
        pd.concat(frames).to_csv(self.output_dir / files.EQUITY_FILE, index=False)

    def _write_record(self, result: RunResult | None, prepared: PreparedData | None, error: str | None) -> None:
        segments = {}
        if prepared is not None:
            for segment, (start, end) in prepared.segments.items():
                stamps = prepared.index[[start, end]].astype(str)  # as in equity.csv
                segments[segment] = {"start": stamps[0], "end": stamps[1], "bars": int(end - start)}
        folds = [{"fold": r.fold.index, "seed": r.seed, "train": list(r.fold.train), "val": list(r.fold.val),
                  "timesteps": r.timesteps, "metrics": r.val} for r in self.runs] if not self.single else []
        first_seed = [r for r in self.runs if r.seed == self.seed]
        val_returns = [float(x) for r in first_seed for x in r.episodes["val"].net_returns] if result else []
        job_record.write(self.output_dir, job_record.JobRecord(
            state=result.state if result else files.STATE_FAILED,
            model=self.model_spec.name,
            objective=job_record.Objective(self.objective_spec.metrics, self.objective_spec.directions,
                                       result.objective_values if result else None),
            metrics=result.metrics if result else {},
            baselines=result.baselines if result else {},
            timesteps=self.timesteps,
            seconds=result.seconds if result else None,
            seed=self.seed,
            periods_per_year=prepared.periods_per_year if prepared is not None else None,
            data_source=prepared.source if prepared is not None else None,
            segments=segments,
            error=error,
            trial=self.trial_info,
            folds=folds,
            val_returns=val_returns,
            lineage={"init_from": self.train_spec.init_from, "from_timesteps": self.start_timesteps}
            if self.train_spec.init_from else None,
            kept={"rule": "best", "timesteps": [r.kept_timesteps for r in self.runs]}
            if self.train_spec.keep == "best" and self.runs else None,
        ))

    def write_failure(self, exc: BaseException) -> None:
        """Record a failure that happened outside ``run()`` (e.g. connecting to the study)."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._write_failure(exc, None)

    def _write_failure(self, exc: BaseException, prepared: PreparedData | None) -> None:
        (self.output_dir / files.ERROR_FILE).write_text("".join(traceback.format_exception(exc)))
        self._write_record(None, prepared, error=one_line(exc))
        self.loggers.close(files.STATE_FAILED, {}, [self.output_dir / files.METRICS_FILE, self.output_dir / files.ERROR_FILE])

    def _log_summary(self, result: RunResult) -> None:
        m, base = result.metrics, result.baselines
        log.info("%s %s: %d steps in %.1fs | objective %s = %s", self.model_spec.name, result.state,
                 result.timesteps, result.seconds, ",".join(self.objective_spec.metrics),
                 ", ".join(fmt.metric(n, v) for n, v in zip(self.objective_spec.metrics, result.objective_values)))
        if not self.single:
            per_run = ", ".join(fmt.metric(self.metric, r.val[self.metric]) for r in self.runs)
            log.info("  %s: %d run(s) (%d fold(s) x %d seed(s)), %s per run: %s -> %s %s",
                     self.validation.kind, len(self.runs), len({r.fold.index for r in self.runs}),
                     self.train_spec.n_seeds, self.metric, per_run, self.validation.aggregate,
                     fmt.metric(self.metric, result.objective_values[0]))
        for segment in files.SEGMENTS:
            ref = f" (reference {base['reference'][f'{segment}/sharpe']:6.2f})" if "reference" in base else ""
            log.info("  %-5s sharpe %6.2f (buy&hold %6.2f)%s | return %7.1f%% (buy&hold %7.1f%%) | max dd %5.1f%% "
                     "| trades %d", segment, m[f"{segment}/sharpe"], base["buy_and_hold"][f"{segment}/sharpe"], ref,
                     100 * m[f"{segment}/total_return"], 100 * base["buy_and_hold"][f"{segment}/total_return"],
                     100 * m[f"{segment}/max_drawdown"], int(m[f"{segment}/n_trades"]))
        gap = m["train/sharpe"] - m["val/sharpe"]
        ref_gap = ""
        if "reference" in base:
            ref = base["reference"]
            ref_gap = f" (reference {ref['train/sharpe'] - ref['val/sharpe']:5.2f})"
        log.info("  gap   train - val sharpe %5.2f%s", gap, ref_gap)
        if "reference" in base and m["train/sharpe"] > base["reference"]["train/sharpe"]:
            log.warning("  train sharpe %.2f beats the reference policy's %.2f, the best the market's edge allows: "
                        "the agent memorized its training bars", m["train/sharpe"], base["reference"]["train/sharpe"])
        if self.train_spec.keep == "best":
            log.info("  train.keep=best: validation chose the checkpoint too (one more selection on it); "
                     "test is untouched")
        log.info("  outputs in %s", fmt.path(self.output_dir))


