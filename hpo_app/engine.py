"""The TrainingEngine: data -> features -> split -> trading env -> SB3 model -> train -> metrics.

It is built from typed specs (``DataSpec``, ``EnvSpec``, ``ModelSpec``, ``TrainSpec``,
``ObjectiveSpec``); only ``hpo_app.__main__`` maps a Hydra config onto them. During training the
deterministic policy is evaluated on the validation segment every ``eval_every`` steps; each
evaluation is passed to the ``on_evaluation`` hook (the sweeper's pruning uses it) and written to
the evaluation curve. At the end, metrics on train, validation and test, beside buy-and-hold and
flat, are written to the job directory (file names: ``hpo_app.artifacts``).
"""

from __future__ import annotations

import csv
import logging
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.utils import set_random_seed

from hpo_app import artifacts, record
from hpo_app.record import one_line
from hpo_app.data import load_market_data
from hpo_app.features import PreparedData, prepare_data
from hpo_app.metrics import METRIC_NAMES, compute_metrics, equity_curve
from hpo_app.models import build_model, model_kwargs
from hpo_app.trading_env import (
    EpisodeRecord,
    TradingEnv,
    constant_position_record,
    model_policy,
    run_episode,
)

log = logging.getLogger(__name__)

DIRECTIONS = ("maximize", "minimize")


class TrainingDiverged(RuntimeError):
    """Training produced NaN (weights or objective); the trial is recorded as failed."""


class ConfigError(ValueError):
    """A configuration value the engine cannot use; the message is one line naming the key."""


@dataclass(frozen=True)
class DataSpec:
    source: str = "synthetic"
    path: str | None = None
    n_bars: int | None = 3000
    seed: int | None = 0
    use_adjusted: bool = True
    train_frac: float = 0.6
    val_frac: float = 0.2


@dataclass(frozen=True)
class EnvSpec:
    window: int = 30
    cost_bps: float = 5.0
    allow_short: bool = True
    episode_length: int | None = 256


@dataclass(frozen=True)
class ModelSpec:
    name: str
    hyperparams: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainSpec:
    total_timesteps: int = 30000
    eval_every: int = 5000
    seed: int = 0
    n_threads: int = 1
    save_model: bool = True
    device: str = "cpu"


@dataclass(frozen=True)
class ObjectiveSpec:
    metrics: tuple[str, ...] = ("val/sharpe",)
    directions: tuple[str, ...] = ("maximize",)

    def __post_init__(self) -> None:
        if len(self.metrics) != len(self.directions) or not self.metrics:
            raise ConfigError(
                f"objective: {len(self.metrics)} metric(s) but {len(self.directions)} direction(s)"
            )
        known = {f"{s}/{m}" for s in artifacts.SEGMENTS for m in METRIC_NAMES}
        for metric in self.metrics:
            if metric not in known:
                raise ConfigError(
                    f"objective.metric={metric!r}: unknown (use <segment>/<metric> with a metric "
                    f"of {', '.join(METRIC_NAMES)})"
                )
            if not metric.startswith("val/"):
                raise ConfigError(
                    f"objective.metric={metric!r}: the objective must be a validation metric (val/...)"
                )
        for direction in self.directions:
            if direction not in DIRECTIONS:
                raise ConfigError(f"objective.direction={direction!r}: use maximize or minimize")


@dataclass(frozen=True)
class Evaluation:
    """One deterministic evaluation on validation during training."""

    index: int  # 1, 2, ...: the evaluation's number
    step: int  # timesteps // eval_every: the pruner's step, comparable across rollout sizes
    timesteps: int
    objective: float  # the first objective metric
    metrics: dict[str, float]  # val/<metric>


EvaluationHook = Callable[[Evaluation], None]


@dataclass(frozen=True)
class RunResult:
    state: str
    objective_values: tuple[float, ...]
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    timesteps: int
    seconds: float
    output_dir: Path

    @property
    def objective(self) -> float | list[float]:
        """What the entry point returns: a float, or a list for multi-objective."""
        values = list(self.objective_values)
        return values[0] if len(values) == 1 else values


class _EvaluationCallback(BaseCallback):
    """Evaluates on validation once ``eval_every`` more steps have been trained.

    Evaluations happen at the start of a rollout, i.e. right after SB3's gradient update on the
    previous one, so that each point measures the policy as trained on every step counted so far.
    """

    def __init__(self, eval_every: int, evaluate: Callable[[int], None]) -> None:
        super().__init__(verbose=0)
        self._eval_every = eval_every
        self._evaluate = evaluate
        self.next_eval = eval_every

    def _on_rollout_start(self) -> None:
        # NaN weights make an on-policy rollout crash inside torch (Categorical of NaN logits):
        # catch them as a divergence first. Off-policy rollouts are a few steps long and act on
        # NaN Q-values without complaint, so DQN is checked at each evaluation instead.
        if not isinstance(self.model, OffPolicyAlgorithm):
            _check_finite_weights(self.model, self.num_timesteps)
        if self.num_timesteps >= self.next_eval:
            self.next_eval = (self.num_timesteps // self._eval_every + 1) * self._eval_every
            self._evaluate(self.num_timesteps)

    def _on_step(self) -> bool:
        return True


class TrainingEngine:
    """Trains one agent and evaluates it; see the module docstring."""

    def __init__(
        self,
        *,
        data: DataSpec,
        env: EnvSpec,
        model: ModelSpec,
        train: TrainSpec,
        objective: ObjectiveSpec,
        output_dir: Path,
        on_evaluation: EvaluationHook | None = None,
        trial_info: dict[str, Any] | None = None,
    ) -> None:
        if train.total_timesteps < 1:
            raise ConfigError(f"train.total_timesteps={train.total_timesteps}: must be positive")
        if train.eval_every < 1:
            raise ConfigError(f"train.eval_every={train.eval_every}: must be positive")
        model_kwargs(model.name, model.hyperparams)  # fail before any data work
        self.data_spec = data
        self.env_spec = env
        self.model_spec = model
        self.train_spec = train
        self.objective_spec = objective
        self.output_dir = Path(output_dir)
        self.on_evaluation = on_evaluation
        self.trial_info = trial_info
        self.curve: list[Evaluation] = []
        self._eval_envs: dict[str, TradingEnv] = {}
        self.timesteps = 0

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Train, evaluate and write every output; failures are written before they propagate."""
        started = time.perf_counter()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(max(1, self.train_spec.n_threads))
        set_random_seed(self.train_spec.seed)
        prepared: PreparedData | None = None
        try:
            prepared = self.prepare()
            model = self._build(prepared)
        except Exception as exc:
            self._write_failure(exc, started, prepared)
            raise
        if self.train_spec.total_timesteps < 2 * self.train_spec.eval_every:
            log.warning(
                "train.total_timesteps=%d < 2 x train.eval_every=%d: no evaluation during training, "
                "so nothing for a pruner to act on (only the final one)",
                self.train_spec.total_timesteps, self.train_spec.eval_every,
            )
        callback = _EvaluationCallback(
            self.train_spec.eval_every, lambda steps: self._evaluate_during_training(model, prepared, steps)
        )
        state = artifacts.STATE_COMPLETE
        pruned: BaseException | None = None
        try:
            model.learn(total_timesteps=self.train_spec.total_timesteps, callback=callback)
            self.timesteps = int(model.num_timesteps)
        except Exception as exc:  # noqa: BLE001 - pruning is an exception by Optuna's design
            self.timesteps = int(model.num_timesteps)
            if type(exc).__name__ != "TrialPruned":
                if not isinstance(exc, TrainingDiverged) and not _finite_weights(model):
                    exc = _diverged_from(exc, self.timesteps)  # a crash caused by NaN weights
                self._write_failure(exc, started, prepared)
                raise exc
            state, pruned = artifacts.STATE_PRUNED, exc
        try:
            result = self._finish(model, prepared, state, started)
        except Exception as exc:
            self._write_failure(exc, started, prepared)
            raise
        if pruned is not None:
            raise pruned
        return result

    def prepare(self) -> PreparedData:
        """Load the market data, compute features and split it (raises DataError on bad input)."""
        spec = self.data_spec
        market = load_market_data(
            spec.source,
            path=spec.path,
            n_bars=spec.n_bars or 3000,
            seed=spec.seed if spec.seed is not None else 0,
            use_adjusted=spec.use_adjusted,
        )
        return prepare_data(
            market.prices,
            window=self.env_spec.window,
            train_frac=spec.train_frac,
            val_frac=spec.val_frac,
            periods_per_year=market.periods_per_year,
            source=market.source,
        )

    def _segment_env(self, prepared: PreparedData, segment: str, *, training: bool) -> TradingEnv:
        start, end = prepared.segments[segment]
        episode_length = self.env_spec.episode_length if training else None
        if episode_length is not None and episode_length > end - start:
            episode_length = None  # a segment shorter than an episode is one whole episode
        return TradingEnv(
            prepared.features,
            prepared.close,
            start,
            end,
            window=self.env_spec.window,
            cost_bps=self.env_spec.cost_bps,
            allow_short=self.env_spec.allow_short,
            episode_length=episode_length,
            seed=self.train_spec.seed,
        )

    def _build(self, prepared: PreparedData) -> BaseAlgorithm:
        env = self._segment_env(prepared, "train", training=True)
        env.reset(seed=self.train_spec.seed)
        env.action_space.seed(self.train_spec.seed)
        return build_model(
            self.model_spec.name,
            env,
            self.model_spec.hyperparams,
            seed=self.train_spec.seed,
            device=self.train_spec.device,
        )

    # -- evaluation ------------------------------------------------------------------------
    def _episode(self, model: BaseAlgorithm, prepared: PreparedData, segment: str) -> EpisodeRecord:
        if segment not in self._eval_envs:  # built once; run_episode resets to the whole segment
            self._eval_envs[segment] = self._segment_env(prepared, segment, training=False)
        return run_episode(self._eval_envs[segment], model_policy(model))

    def _segment_metrics(self, record: EpisodeRecord, prepared: PreparedData, segment: str) -> dict[str, float]:
        values = compute_metrics(record.net_returns, record.positions, prepared.periods_per_year)
        return {f"{segment}/{name}": float(value) for name, value in values.items()}

    def _evaluate_during_training(self, model: BaseAlgorithm, prepared: PreparedData, timesteps: int) -> None:
        _check_finite_weights(model, timesteps)
        metrics = self._segment_metrics(self._episode(model, prepared, "val"), prepared, "val")
        value = metrics[self.objective_spec.metrics[0]]
        if not math.isfinite(value):
            raise TrainingDiverged(f"validation objective is {value} after {timesteps} steps")
        point = self._add_point(timesteps, metrics)
        if self.on_evaluation is not None:
            self.on_evaluation(point)

    def _add_point(self, timesteps: int, val_metrics: dict[str, float]) -> Evaluation:
        """Append an evaluation to the curve, in memory and on disk."""
        point = Evaluation(
            index=len(self.curve) + 1,
            step=timesteps // self.train_spec.eval_every,
            timesteps=timesteps,
            objective=val_metrics[self.objective_spec.metrics[0]],
            metrics=val_metrics,
        )
        self.curve.append(point)
        self._write_curve_row(point)
        log.info("step %d: %s = %.4f", timesteps, self.objective_spec.metrics[0], point.objective)
        return point

    def _finish(self, model: BaseAlgorithm, prepared: PreparedData, state: str, started: float) -> RunResult:
        _check_finite_weights(model, self.timesteps)
        metrics: dict[str, float] = {}
        baselines: dict[str, dict[str, float]] = {name: {} for name in artifacts.BASELINES}
        equity_rows: list[pd.DataFrame] = []
        for segment in artifacts.SEGMENTS:
            start, end = prepared.segments[segment]
            agent = self._episode(model, prepared, segment)
            records = {
                "buy_and_hold": constant_position_record(prepared.close, start, end, 1.0, self.env_spec.cost_bps),
                "flat": constant_position_record(prepared.close, start, end, 0.0, self.env_spec.cost_bps),
            }
            metrics.update(self._segment_metrics(agent, prepared, segment))
            for name, episode in records.items():
                baselines[name].update(self._segment_metrics(episode, prepared, segment))
            equity_rows.append(_equity_frame(segment, prepared, start, end, agent, records))
        values = tuple(metrics[m] for m in self.objective_spec.metrics)
        if not all(math.isfinite(v) for v in values):
            raise TrainingDiverged(f"objective {self.objective_spec.metrics} is {values}")
        if not self.curve or self.curve[-1].timesteps < self.timesteps:
            # The fully trained policy closes the curve (the validation episode above; the pruner
            # never sees this point: nothing is left to prune).
            self._add_point(self.timesteps, {k: v for k, v in metrics.items() if k.startswith("val/")})
        seconds = time.perf_counter() - started
        pd.concat(equity_rows).to_csv(self.output_dir / artifacts.EQUITY_FILE, index=False)
        if self.train_spec.save_model:
            model.save(self.output_dir / artifacts.MODEL_FILE)
        result = RunResult(state, values, metrics, baselines, self.timesteps, seconds, self.output_dir)
        self._write_metrics(result, prepared, error=None)
        self._log_summary(result)
        return result

    # -- files -----------------------------------------------------------------------------
    def _write_curve_row(self, point: Evaluation) -> None:
        """One row per evaluation, written as it happens: a pruned or killed run keeps its curve."""
        names = [f"val/{m}" for m in METRIC_NAMES]
        first = point.index == 1
        with (self.output_dir / artifacts.EVAL_CURVE_FILE).open("w" if first else "a", newline="") as handle:
            writer = csv.writer(handle)
            if first:
                writer.writerow(["timesteps", "objective", *names])
            writer.writerow([point.timesteps, point.objective, *(point.metrics[n] for n in names)])

    def _write_metrics(self, result: RunResult | None, prepared: PreparedData | None, error: str | None) -> None:
        segments = {}
        if prepared is not None:
            for segment, (start, end) in prepared.segments.items():
                stamps = prepared.index[[start, end]].astype(str)  # as in equity.csv
                segments[segment] = {
                    "start": stamps[0],
                    "end": stamps[1],
                    "bars": int(end - start),
                }
        record.write(self.output_dir, record.JobRecord(
            state=result.state if result else artifacts.STATE_FAILED,
            model=self.model_spec.name,
            objective=record.Objective(
                metrics=self.objective_spec.metrics,
                directions=self.objective_spec.directions,
                values=result.objective_values if result else None,
            ),
            metrics=result.metrics if result else {},
            baselines=result.baselines if result else {},
            timesteps=self.timesteps,
            seconds=result.seconds if result else None,
            seed=self.train_spec.seed,
            periods_per_year=prepared.periods_per_year if prepared is not None else None,
            data_source=prepared.source if prepared is not None else None,
            segments=segments,
            error=error,
            trial=self.trial_info,
        ))

    def write_failure(self, exc: BaseException) -> None:
        """Record a failure that happened outside ``run()`` (e.g. connecting to the study)."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._write_failure(exc, time.perf_counter(), None)

    def _write_failure(self, exc: BaseException, started: float, prepared: PreparedData | None) -> None:
        message = one_line(exc)
        (self.output_dir / artifacts.ERROR_FILE).write_text("".join(traceback.format_exception(exc)))
        self._write_metrics(None, prepared, error=message)

    def _log_summary(self, result: RunResult) -> None:
        m, bh = result.metrics, result.baselines["buy_and_hold"]
        log.info(
            "%s %s: %d steps in %.1fs | objective %s = %s",
            self.model_spec.name,
            result.state,
            result.timesteps,
            result.seconds,
            ",".join(self.objective_spec.metrics),
            ", ".join(f"{v:.4f}" for v in result.objective_values),
        )
        for segment in artifacts.SEGMENTS:
            log.info(
                "  %-5s sharpe %6.2f (buy&hold %6.2f) | return %7.2f%% (buy&hold %7.2f%%) | max dd %5.1f%% | trades %d",
                segment,
                m[f"{segment}/sharpe"],
                bh[f"{segment}/sharpe"],
                100 * m[f"{segment}/total_return"],
                100 * bh[f"{segment}/total_return"],
                100 * m[f"{segment}/max_drawdown"],
                int(m[f"{segment}/n_trades"]),
            )
        log.info("  outputs in %s", self.output_dir)


def _diverged_from(exc: BaseException, timesteps: int) -> TrainingDiverged:
    """A TrainingDiverged raised from ``exc``, with both tracebacks."""
    try:
        raise TrainingDiverged(f"training diverged: non-finite weights after {timesteps} steps") from exc
    except TrainingDiverged as diverged:
        return diverged


def _finite_weights(model: BaseAlgorithm) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.policy.parameters())


def _check_finite_weights(model: BaseAlgorithm, timesteps: int) -> None:
    for name, parameter in model.policy.named_parameters():
        if not torch.isfinite(parameter).all():
            raise TrainingDiverged(f"training diverged: non-finite weights in {name} after {timesteps} steps")


def _equity_frame(
    segment: str,
    prepared: PreparedData,
    start: int,
    end: int,
    agent: EpisodeRecord,
    baselines: dict[str, EpisodeRecord],
) -> pd.DataFrame:
    """Equity at bars start..end (1.0 at start) of the agent and the baselines."""
    return pd.DataFrame(
        {
            "segment": segment,
            "timestamp": prepared.index[start : end + 1].astype(str),
            "position": np.append(agent.positions, np.nan),
            "agent": equity_curve(agent.net_returns),
            **{name: equity_curve(record.net_returns) for name, record in baselines.items()},
        }
    )


def objective_spec(metric: str | Sequence[str], direction: str | Sequence[str]) -> ObjectiveSpec:
    """An ObjectiveSpec from ``objective.metric`` / ``objective.direction`` (scalars or lists)."""
    metrics = (metric,) if isinstance(metric, str) else tuple(metric)
    directions = (direction,) if isinstance(direction, str) else tuple(direction)
    return ObjectiveSpec(metrics=metrics, directions=directions)
