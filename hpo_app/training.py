"""One agent trained on one fold with one seed: build the SB3 model, train it while evaluating its
deterministic policy on the fold's validation block, and score it (and the baselines) on segments.

A fold's data is a :class:`~hpo_app.features.PreparedData` whose segments are that fold's
``train`` and ``val`` blocks and the (shared) ``test`` segment, its features scaled with its own
training bars (``features.fold_view``).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from hpo_record import job as job_record
from hpo_record.files import MODEL_FILE, REPLAY_BUFFER_FILE
from hpo_record.job import RecordError
from hpo_app.features import PreparedData
from hpo_app.metrics import compute_metrics, equity_curve
from hpo_app.models import (
    STRUCTURAL,
    ModelConfigError,
    algorithm_class,
    build_model,
    model_kwargs,
)
from hpo_app.model_schema import ModelConf
from hpo_app.reference import reference_positions
from hpo_app.schema import DataConf, EnvConf, TrainConf
from hpo_app.synthetic import REGIME_SWITCH
from hpo_app.trading_env import (
    EpisodeRecord,
    TradingEnv,
    constant_position_record,
    model_actions,
    positions_record,
    run_deterministic,
)

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """Training produced NaN (weights or objective); the trial is recorded as failed."""


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
            check_finite_weights(self.model, self.num_timesteps)
        if self.num_timesteps >= self.next_eval:
            self.next_eval = (self.num_timesteps // self._eval_every + 1) * self._eval_every
            self._evaluate(self.num_timesteps)
            if self.model.logger.output_formats:  # SB3's training scalars at every evaluation, at least
                self.model.logger.dump(self.num_timesteps)

    def _on_step(self) -> bool:
        return True


@dataclass
class AgentRun:
    """One model on one fold's data with one seed."""

    prepared: PreparedData
    env: EnvConf
    model_spec: ModelConf
    train: TrainConf
    seed: int
    outputs: list[Any] = field(default_factory=list)  # stable-baselines3 KVWriters (hpo_app.loggers)

    def __post_init__(self) -> None:
        self._eval_envs: dict[str, TradingEnv] = {}

    def _seeded_train_env(self) -> TradingEnv | VecEnv:
        """The training env: one, or ``env.n_envs`` copies stepped together (SB3's own DummyVecEnv
        through ``make_vec_env``: copy i seeded ``seed + i``)."""
        set_random_seed(self.seed)
        if self.env.n_envs > 1:
            return make_vec_env(lambda: self.segment_env("train", training=True), n_envs=self.env.n_envs,
                                seed=self.seed, vec_env_cls=DummyVecEnv)
        env = self.segment_env("train", training=True)
        env.reset(seed=self.seed)
        env.action_space.seed(self.seed)
        return env

    def build(self) -> BaseAlgorithm:
        env = self._seeded_train_env()
        return build_model(self.model_spec, env, seed=self.seed, device=self.train.device)

    def resume(self, job_dir: str | Path) -> BaseAlgorithm:
        """The model a job saved in ``job_dir`` (its weights, optimizer state and timestep counter;
        for an off-policy model its replay buffer, when saved), on this run's training env, with this
        run's hyperparameters in force from now on. The algorithm, network and observation must be
        the saved model's (a ModelConfigError names what differs). Its random streams are seeded from
        this run's seed and the saved step count (``continued_seed``): no replay of its first episodes."""
        path = Path(job_dir) / MODEL_FILE
        if not path.is_file():
            raise ModelConfigError(f"train.init_from={job_dir}: no {MODEL_FILE} there to continue from")
        env = self._seeded_train_env()
        kwargs = model_kwargs(self.model_spec)
        wanted = kwargs.pop("policy_kwargs")
        for key in ("policy", *STRUCTURAL):
            kwargs.pop(key, None)
        name = self.model_spec.name.lower()
        with suppress(RecordError):  # a directory with a record: the algorithm that trained it
            trained = job_record.read(Path(job_dir)).model
            if trained and trained.lower() != name:
                raise ModelConfigError(f"train.init_from={job_dir}: it holds a {trained.upper()} model, this run "
                                       f"trains {name.upper()} (model={trained.lower()} continues it)")
        try:
            model = algorithm_class(name).load(path, env=env, device=self.train.device, **kwargs)
        except AttributeError as err:  # SB3 loading another algorithm's policy
            raise ModelConfigError(f"train.init_from={job_dir}: its {MODEL_FILE} is not a {name.upper()} model ({err})") from err
        except (ValueError, KeyError) as err:  # SB3: observation or action space differs
            raise ModelConfigError(f"train.init_from={job_dir}: cannot continue its model here: "
                                   f"{str(err).splitlines()[0]}") from err
        except (AssertionError, EOFError, RuntimeError) as err:  # SB3 and torch on a file cut short
            raise ModelConfigError(f"train.init_from={job_dir}: its {MODEL_FILE} cannot be read ({str(err).splitlines()[0]}): "
                                   "cut short, by a job killed while saving it?") from err
        saved = {k: model.policy_kwargs.get(k) for k in ("net_arch", "activation_fn")}
        if saved != {k: wanted.get(k) for k in saved}:
            raise ModelConfigError(f"train.init_from={job_dir}: its network ({_network(saved)}) is not this "
                                   f"config's ({_network(wanted)}); net_width, net_depth and activation must match")
        buffer = Path(job_dir) / REPLAY_BUFFER_FILE
        if isinstance(model, OffPolicyAlgorithm) and buffer.is_file():
            model.load_replay_buffer(buffer)
        model.set_random_seed(continued_seed(self.seed, int(model.num_timesteps)))  # the env's next reset too
        return model

    def learn(self, model: BaseAlgorithm, evaluate: Callable[[int], None]) -> None:
        """Train until the model has ``train.total_timesteps`` steps (a resumed model continues its
        count), calling ``evaluate(timesteps)`` every ``eval_every``; a crash caused by NaN weights is
        raised as TrainingDiverged, and whatever ``evaluate`` raises (``optuna.TrialPruned``) passes through."""
        start = int(model.num_timesteps)
        if start >= self.train.total_timesteps:  # SB3 trains whole rollouts: an interval may end past its mark
            log.warning("train.total_timesteps=%d: the model of train.init_from=%s has %d steps already; "
                        "nothing left to train", self.train.total_timesteps, self.train.init_from, start)
            return
        callback = _EvaluationCallback(self.train.eval_every, evaluate)
        callback.next_eval = (start // self.train.eval_every + 1) * self.train.eval_every
        # SB3's default logger (no tensorboard, verbose 0) makes an empty /tmp/SB3-<time> directory
        # on every learn() and never removes it; ours writes to the trackers' outputs only.
        model.set_logger(Logger(folder=None, output_formats=list(self.outputs)))
        try:  # numpy's overflow warnings from SB3's buffers: a divergence is told below, once
            with np.errstate(over="ignore", invalid="ignore"):
                model.learn(total_timesteps=self.train.total_timesteps - start, callback=callback,
                            reset_num_timesteps=start == 0)
        except Exception as exc:  # noqa: BLE001 - classified, then raised again
            if type(exc).__name__ == "TrialPruned" or isinstance(exc, TrainingDiverged) or finite_weights(model):
                raise
            raise diverged_from(exc, int(model.num_timesteps))  # noqa: B904 - it chains exc itself

    def metrics(self, model: BaseAlgorithm, segment: str) -> tuple[dict[str, float], EpisodeRecord]:
        """The deterministic policy's metrics on a segment (``<segment>/<metric>``), and its record."""
        check_finite_weights(model, int(model.num_timesteps))
        if segment not in self._eval_envs:  # built once
            self._eval_envs[segment] = self.segment_env(segment, training=False)
        episode = run_deterministic(self._eval_envs[segment], model_actions(model))
        return segment_metrics(episode, segment, self.prepared.periods_per_year), episode

    def segment_env(self, segment: str, *, training: bool) -> TradingEnv:
        start, end = self.prepared.segments[segment]
        episode_length = self.env.episode_length if training else None
        if episode_length is not None and episode_length > end - start:
            episode_length = None  # a segment shorter than an episode is one whole episode
        regularization = {"obs_noise": self.env.obs_noise, "reward_scale": self.env.reward_scale} if training else {}
        return TradingEnv(self.prepared.features, self.prepared.close, start, end, window=self.env.window,
                          cost_bps=self.env.cost_bps, allow_short=self.env.allow_short,
                          episode_length=episode_length, seed=self.seed, **regularization)


def continued_seed(seed: int, timesteps: int) -> int:
    """The seed of a run that continues a model trained ``timesteps`` steps: one of its own for each
    (seed, timesteps), so that chained jobs (PBT's intervals) draw new episodes and noise, and
    reproducibly."""
    return int(np.random.SeedSequence([seed, timesteps]).generate_state(1)[0])


def segment_metrics(episode: EpisodeRecord, segment: str, periods_per_year: float) -> dict[str, float]:
    values = compute_metrics(episode.net_returns, episode.positions, periods_per_year)
    return {f"{segment}/{name}": float(value) for name, value in values.items()}


def baseline_records(prepared: PreparedData, segment: str, env: EnvConf,
                     reference: DataConf | None) -> dict[str, EpisodeRecord]:
    """Buy-and-hold, flat and (on a planted-edge market, ``reference``: its settings) the reference
    policy of its shape on a segment."""
    start, end = prepared.segments[segment]
    out = {
        "buy_and_hold": constant_position_record(prepared.close, start, end, 1.0, env.cost_bps),
        "flat": constant_position_record(prepared.close, start, end, 0.0, env.cost_bps),
    }
    if reference is not None:
        positions = reference_positions(prepared.close, start, end, env.allow_short, reference.shape, reference.lag,
                                        reference.edge, reference.vol, REGIME_SWITCH)
        out["reference"] = positions_record(prepared.close, start, end, positions, env.cost_bps)
    return out


def equity_frame(segment: str, prepared: PreparedData, bounds: tuple[int, int], agent: EpisodeRecord,
                 baselines: dict[str, EpisodeRecord]) -> pd.DataFrame:
    """Equity at bars start..end (1.0 at start) of the agent and the baselines."""
    start, end = bounds
    return pd.DataFrame({
        "segment": segment,
        "timestamp": prepared.index[start:end + 1].astype(str),
        "position": np.append(agent.positions, np.nan),
        "agent": equity_curve(agent.net_returns),
        **{name: equity_curve(rec.net_returns) for name, rec in baselines.items()},
    })


def _network(policy_kwargs: dict[str, Any]) -> str:
    activation = policy_kwargs.get("activation_fn")
    return f"{policy_kwargs.get('net_arch')}, {getattr(activation, '__name__', activation)}"


def diverged_from(exc: BaseException, timesteps: int) -> TrainingDiverged:
    """A TrainingDiverged raised from ``exc``, with both tracebacks."""
    try:
        raise TrainingDiverged(f"training diverged: non-finite weights after {timesteps} steps") from exc
    except TrainingDiverged as diverged:
        return diverged


def finite_weights(model: BaseAlgorithm) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.policy.parameters())


def check_finite_weights(model: BaseAlgorithm, timesteps: int) -> None:
    for name, parameter in model.policy.named_parameters():
        if not torch.isfinite(parameter).all():
            raise TrainingDiverged(f"training diverged: non-finite weights in {name} after {timesteps} steps")


def check_finite(value: float, what: str, timesteps: int) -> None:
    if not math.isfinite(value):
        raise TrainingDiverged(f"{what} is {value} after {timesteps} steps")


class BestPolicy:
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


def baseline_metrics(final: PreparedData, folds: list[PreparedData], env_spec: Any,
                     reference: Any) -> dict[str, dict[str, float]]:
    """The baselines on the last fold's training block and the test segment; on validation, the
    mean over the folds' validation blocks (``folds``: each fold's data, once)."""
    out: dict[str, dict[str, float]] = {}
    for segment in ("train", "test"):
        for name, rec in baseline_records(final, segment, env_spec, reference).items():
            out.setdefault(name, {}).update(segment_metrics(rec, segment, final.periods_per_year))
    per_fold = [baseline_records(p, "val", env_spec, reference) for p in folds]
    for name in per_fold[0]:
        each = [segment_metrics(recs[name], "val", final.periods_per_year) for recs in per_fold]
        out[name].update({k: float(np.mean([m[k] for m in each])) for k in each[0]})
    return out
